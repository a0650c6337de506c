/*
 * kdumpkit's one native helper: read-only memory maps of a dump file as ArrayBuffers.
 *
 * Why: read(2) copies every page of /proc/vmcore (or of an ELF vmcore on disk) into a buffer
 * before it is checked for zeros and compressed; makedumpfile maps the dump instead
 * (makedumpfile.c read_with_mmap / update_mmap_range, 4 MiB windows, --non-mmap to turn it off)
 * and compresses straight from the mapping. On /proc/vmcore the kernel remaps the old memory
 * once per window (fs/proc/vmcore.c mmap_vmcore) instead of setting up a temporary mapping per
 * page read (arch/x86/kernel/crash_dump_64.c __copy_oldmem_page), so this matters most in the
 * capture kernel.
 *
 * map(fd, offset, length) -> ArrayBuffer over mmap(PROT_READ, MAP_SHARED); unmap(buffer)
 * munmaps it at once and detaches the buffer, so views of it read as empty instead of
 * faulting. A buffer never unmapped is unmapped when it is garbage collected.
 *
 * Node-API only (node_api.h from the Node.js installation): built by scripts/build-native.mjs
 * with the C compiler, no node-gyp and no download. When it is missing, kdumpkit reads with
 * pread (src/collect/mapped-source.ts).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct mapping {
    void *addr;
    size_t length;
    int unmapped;
};

static napi_value throw_errno(napi_env env, int err, const char *what) {
    char msg[160];
    const char *code = err == ENODEV ? "ENODEV" : err == EACCES ? "EACCES" : err == EINVAL ? "EINVAL" : err == ENOMEM ? "ENOMEM" : err == EPERM ? "EPERM" : err == EBADF ? "EBADF" : "EIO";
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
    napi_throw_error(env, code, msg);
    return NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
    struct mapping *m = hint;
    (void)env;
    (void)data;
    if (!m->unmapped) munmap(m->addr, m->length);
    free(m);
}

static int get_number(napi_env env, napi_value v, double *out) {
    return napi_get_value_double(env, v, out) == napi_ok;
}

static napi_value js_map(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    double fd, offset, length;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
        !get_number(env, argv[0], &fd) || !get_number(env, argv[1], &offset) || !get_number(env, argv[2], &length) ||
        fd < 0 || offset < 0 || length <= 0 || offset > 9007199254740991.0 || length > 9007199254740991.0) {
        napi_throw_type_error(env, "EINVAL", "map(fd, offset, length): non-negative numbers, length > 0");
        return NULL;
    }
    void *addr = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, (int)fd, (off_t)offset);
    if (addr == MAP_FAILED) return throw_errno(env, errno, "mmap");
    struct mapping *m = malloc(sizeof *m);
    if (!m) {
        munmap(addr, (size_t)length);
        return throw_errno(env, ENOMEM, "mmap");
    }
    m->addr = addr;
    m->length = (size_t)length;
    m->unmapped = 0;
    napi_value ab;
    if (napi_create_external_arraybuffer(env, addr, (size_t)length, finalize, m, &ab) != napi_ok) {
        munmap(addr, (size_t)length);
        free(m);
        napi_throw_error(env, "EIO", "napi_create_external_arraybuffer failed");
        return NULL;
    }
    /* unmap() finds the mapping again through this. */
    if (napi_wrap(env, ab, m, NULL, NULL, NULL) != napi_ok) {
        napi_throw_error(env, "EIO", "napi_wrap failed");
        return NULL;
    }
    return ab;
}

static napi_value js_unmap(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    void *p = NULL;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_unwrap(env, argv[0], &p) != napi_ok || !p) {
        napi_throw_type_error(env, "EINVAL", "unmap(buffer): a buffer from map()");
        return NULL;
    }
    struct mapping *m = p;
    if (!m->unmapped) {
        /* munmap first, then detach: no JavaScript runs in between, and detaching may run the
           finalizer (which frees m) at once. */
        munmap(m->addr, m->length);
        m->unmapped = 1;
        napi_detach_arraybuffer(env, argv[0]);
    }
    return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
    napi_property_descriptor props[] = {
        {"map", NULL, js_map, NULL, NULL, NULL, napi_default, NULL},
        {"unmap", NULL, js_unmap, NULL, NULL, NULL, napi_default, NULL},
    };
    napi_define_properties(env, exports, 2, props);
    return exports;
}

NAPI_MODULE_INIT() {
    return init(env, exports);
}
