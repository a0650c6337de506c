/*
 * Reference reader for bench/read.ts: reads every physical page [0, max_pfn) of a dump through
 * libkdumpfile (the library drgn uses for kdump files) and prints "pages seconds".
 * Machine physical addresses need no translation setup. Pages that libkdumpfile reports as not stored (filtered, holes) are skipped, as we skip them.
 */
#include <libkdumpfile/kdumpfile.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 3) { fprintf(stderr, "usage: %s DUMP MAX_PFN\n", argv[0]); return 2; }
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) { perror(argv[1]); return 1; }
	unsigned long long max_pfn = strtoull(argv[2], NULL, 0);
	kdump_ctx_t *ctx = kdump_new();
	if (!ctx || kdump_open_fd(ctx, fd) != KDUMP_OK) {
		fprintf(stderr, "libkdumpfile cannot open %s: %s\n", argv[1], ctx ? kdump_get_err(ctx) : "no memory");
		return 1;
	}
	static unsigned char buf[4096];
	struct timespec t0, t1;
	unsigned long long pages = 0, sum = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long long pfn = 0; pfn < max_pfn; pfn++) {
		size_t sz = sizeof buf;
		if (kdump_read(ctx, KDUMP_MACHPHYSADDR, pfn << 12, buf, &sz) == KDUMP_OK && sz == sizeof buf) {
			pages++;
			sum += buf[pfn & 4095];
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%llu %.6f %llu\n", pages, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, sum);
	kdump_free(ctx);
	close(fd);
	return 0;
}
