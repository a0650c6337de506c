/**
 * The throwaway initramfs a rehearsal boots: busybox, kexec and its shared libraries, the
 * virtio modules the capture kernel needs to reach its disk, and an /init that plays both
 * parts of a kdump round trip.
 *
 * Two archives, as ../shared/lab/make-vmcore.sh builds them:
 *   capture initramfs  busybox, kexec, modules, /init, /capture-cmdline
 *   first initramfs    the same files plus /vmlinuz (the kernel being rehearsed) and
 *                      /capture.img (the capture initramfs), which /init hands to `kexec -p`
 * The capture kernel is the same image as the first kernel (what kdump does on a Debian
 * machine), and runs the same /init; it tells itself apart by /proc/vmcore, which only a kernel
 * booted by crash_kexec has (fs/proc/vmcore.c creates it when elfcorehdr= is on its command
 * line). The capture initramfs leaves out the kernel image and itself, so the reservation has
 * to hold only what a real capture kernel holds.
 *
 * /init prints one marker line per stage on the serial console ("KDUMPKIT-REHEARSE: ..."),
 * which console.ts parses. The capture kernel copies /proc/vmcore raw onto /dev/vda (the
 * virtio disk) with dd and prints its size, so the host reads exactly that many bytes back.
 * (/proc/vmcore's size is a multiple of the page size: fs/proc/vmcore.c page-aligns the ELF
 * headers, the notes and every PT_LOAD, so O_DIRECT writes of it stay aligned.)
 */
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { CpioWriter } from './cpio.js';
import { moduleBytes, resolveModules, type ResolvedModules } from './modules.js';
import { KdumpkitError } from '../util/errors.js';
import type { HostRoot } from '../host/root.js';
import { isBuiltin, readKernelConfig } from '../host/kernel-config.js';

export const MARKER = 'KDUMPKIT-REHEARSE:';

/** Modules the capture kernel needs for its disk: the PCI transport and the block driver. */
export const DISK_MODULES: readonly string[] = ['virtio_pci', 'virtio_blk'];

/**
 * How /init crashes the first kernel. Both need no module:
 *   sysrq  echo c > /proc/sysrq-trigger (drivers/tty/sysrq.c sysrq_handle_crash)
 *   panic  /init (PID 1) exits, and the kernel panics "Attempted to kill init!"
 *          (kernel/exit.c do_exit -> exit_notify -> find_child_reaper panics for the last
 *          thread of the init process)
 */
export const CRASH_MODES = ['sysrq', 'panic'] as const;
export type CrashMode = (typeof CRASH_MODES)[number];

export class MissingToolError extends KdumpkitError {
  constructor(message: string, hint: string) {
    super('E_MISSING_TOOL', message, hint);
  }
}

/** Where Debian (and most distributions) install a static busybox. */
export const BUSYBOX_PATHS: readonly string[] = ['/bin/busybox', '/usr/bin/busybox'];
export const KEXEC_PATHS: readonly string[] = ['/usr/sbin/kexec', '/sbin/kexec', '/usr/bin/kexec'];

/** The /init shell script (busybox sh). `mode` is how the first kernel is crashed. */
export function initScript(mode: CrashMode, modules: readonly string[]): string {
  const M = MARKER;
  const crash =
    mode === 'sysrq'
      ? 'echo 1 > /proc/sys/kernel/sysrq\necho c > /proc/sysrq-trigger'
      : '# PID 1 exits: the kernel panics "Attempted to kill init!" (kernel/exit.c)\nexit 1';
  return `#!/bin/busybox sh
# kdumpkit rehearse: first kernel loads the capture kernel and crashes; the capture kernel
# (it has /proc/vmcore) copies the dump to /dev/vda and powers off.
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s /bin
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
if [ -e /proc/vmcore ]; then
  echo "${M} capture-kernel-up vmcore=$(stat -c %s /proc/vmcore)"
  for m in ${modules.join(' ')}; do
    insmod /lib/modules/rehearse/$m.ko || echo "${M} insmod-failed $m"
  done
  i=0
  while [ ! -b /dev/vda ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
  if [ ! -b /dev/vda ]; then
    echo "${M} dump-failed no /dev/vda"
    poweroff -f
  fi
  size=$(stat -c %s /proc/vmcore)
  # O_DIRECT: through the page cache of a capture kernel this small the copy was 10x slower
  # (writeback throttling); a buffered copy is the fallback if the disk refuses O_DIRECT.
  if dd if=/proc/vmcore of=/dev/vda bs=1M oflag=direct 2>/tmp/dd.err || dd if=/proc/vmcore of=/dev/vda bs=1M 2>/tmp/dd.err; then
    sync
    echo "${M} dump-saved bytes=$size"
  else
    echo "${M} dump-failed $(tail -n 1 /tmp/dd.err)"
  fi
  poweroff -f
fi
echo "${M} first-kernel-up"
kexec -p /vmlinuz --initrd=/capture.img --append="$(cat /capture-cmdline)" 2>/tmp/kexec.err
rc=$?
[ -s /tmp/kexec.err ] && sed "s/^/${M} kexec-error /" /tmp/kexec.err
echo "${M} kexec-load rc=$rc loaded=$(cat /sys/kernel/kexec_crash_loaded) size=$(cat /sys/kernel/kexec_crash_size)"
if [ "$rc" != 0 ]; then
  poweroff -f
fi
hostname rehearse
sync
echo "${M} crash mode=${mode}"
${crash}
echo "${M} still-alive"
poweroff -f
`;
}

export interface InitramfsInput {
  readonly root: HostRoot;
  readonly release: string;
  /** The kernel image path (host path, read through `root`). */
  readonly kernelImage: string;
  readonly mode: CrashMode;
  readonly captureCmdline: string;
}

export interface Initramfs {
  /** The first kernel's initramfs (compressed). */
  readonly first: Buffer;
  /** Size of the capture initramfs inside it (what the reservation must also hold). */
  readonly captureBytes: number;
  readonly compression: 'gzip';
  readonly busybox: string;
  readonly kexec: string;
  readonly libraries: readonly string[];
  readonly modules: ResolvedModules;
}

function firstExisting(root: HostRoot, paths: readonly string[]): string | undefined {
  return paths.find((p) => root.exists(p) && !root.isDirectory(p));
}

/**
 * Shared libraries of a dynamic executable, from `ldd` (glibc's ldd prints
 * "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and the loader as "/lib64/ld-linux-x86-64.so.2 (0x...)").
 * A static program ("not a dynamic executable", exit 1) has none.
 */
export function parseLdd(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m && !out.includes(m[1]!)) out.push(m[1]!);
  }
  return out;
}

function sharedLibraries(root: HostRoot, exe: string): string[] {
  const ldd = root.which('ldd');
  if (!ldd) throw new MissingToolError(`ldd is not on PATH: cannot find the shared libraries of ${root.path(exe)}`, 'Install it: apt-get install libc-bin');
  const r = spawnSync(ldd, [root.path(exe)], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return parseLdd(r.stdout);
}

/**
 * Checks the kernel can unpack a gzip initramfs (CONFIG_RD_GZIP, usr/Kconfig). No config
 * file: assume yes, every distribution kernel has it.
 */
export function checkGzipSupport(root: HostRoot, release: string): void {
  const { config } = readKernelConfig(root, release);
  if (config && !isBuiltin(config, 'RD_GZIP')) {
    throw new KdumpkitError('E_KERNEL_CONFIG', `${config.file}: CONFIG_RD_GZIP is not set: this kernel cannot unpack a gzip initramfs`, 'Rehearse a kernel built with CONFIG_RD_GZIP=y.');
  }
}

export function buildInitramfs(input: InitramfsInput): Initramfs {
  const { root, release } = input;
  const busybox = firstExisting(root, BUSYBOX_PATHS);
  if (!busybox) throw new MissingToolError(`busybox not found (${BUSYBOX_PATHS.map((p) => root.path(p)).join(', ')})`, 'Install it: apt-get install busybox-static');
  const kexec = firstExisting(root, KEXEC_PATHS);
  if (!kexec) throw new MissingToolError(`kexec not found (${KEXEC_PATHS.map((p) => root.path(p)).join(', ')})`, 'Install it: apt-get install kexec-tools');
  checkGzipSupport(root, release);
  const modules = resolveModules(root, release, DISK_MODULES);
  const libraries = sharedLibraries(root, kexec);

  const base = (w: CpioWriter): void => {
    for (const d of ['proc', 'sys', 'dev', 'tmp', 'bin', 'sbin', 'lib/modules/rehearse']) w.add({ kind: 'dir', path: d });
    w.add({ kind: 'chardev', path: 'dev/console', major: 5, minor: 1 });
    w.add({ kind: 'file', path: 'bin/busybox', data: root.readBytes(busybox)!, mode: 0o755 });
    w.add({ kind: 'file', path: 'sbin/kexec', data: root.readBytes(kexec)!, mode: 0o755 });
    for (const lib of libraries) {
      const data = root.readBytes(lib);
      if (data === undefined) throw new MissingToolError(`${root.path(lib)}: needed by kexec (ldd) but not readable`, 'Reinstall kexec-tools and its libraries.');
      if (!w.has(lib)) w.add({ kind: 'file', path: lib, data, mode: 0o755 });
    }
    for (const m of modules.load) w.add({ kind: 'file', path: `lib/modules/rehearse/${m.name}.ko`, data: moduleBytes(root, release, m) });
    w.add({ kind: 'file', path: 'init', data: Buffer.from(initScript(input.mode, modules.load.map((m) => m.name))), mode: 0o755 });
    w.add({ kind: 'file', path: 'capture-cmdline', data: Buffer.from(input.captureCmdline + '\n') });
  };

  const cw = new CpioWriter();
  base(cw);
  const capture = gzipSync(cw.finish(), { level: 6 });

  const image = root.readBytes(input.kernelImage);
  if (image === undefined) throw new MissingToolError(`${root.path(input.kernelImage)}: kernel image not found`, `Install it: apt-get install linux-image-${release}`);
  const fw = new CpioWriter();
  base(fw);
  fw.add({ kind: 'file', path: 'vmlinuz', data: image });
  fw.add({ kind: 'file', path: 'capture.img', data: capture });
  // The kernel image and the capture initramfs are already compressed: level 1 is enough.
  const first = gzipSync(fw.finish(), { level: 1 });
  return { first, captureBytes: capture.length, compression: 'gzip', busybox: root.path(busybox), kexec: root.path(kexec), libraries: libraries.map((l) => root.path(l)), modules };
}
