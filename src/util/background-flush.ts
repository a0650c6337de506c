import { fdatasync } from 'node:fs';

/**
 * Writes a file's dirty pages back while the file is still being written, so that the fsync
 * that makes a finished dump durable has little left to do.
 *
 * Without it, a dump written at page-cache speed is flushed only by the final fsync: for a
 * 1 GB dump on a 500 MB/s disk the collector then sits two seconds in fsync after its last
 * write. Here, after every `every` bytes written, an fdatasync runs on libuv's thread pool
 * (at most one at a time) while the main thread goes on writing; the disk writes back in
 * parallel with reading and compressing. (makedumpfile does not fsync at all; kdump-tools runs
 * sync(1) after it.)
 *
 * A write-back error is kept and reported by settle(): since Linux 4.13 (errseq_t, mm/filemap.c
 * file_check_and_advance_wb_err) an error reported to one fsync of an open file is not reported
 * again to the next one, so the final fsync alone could miss it.
 */
export class BackgroundFlush {
  private sinceFlush = 0;
  private inFlight: Promise<void> | undefined;
  private error: NodeJS.ErrnoException | undefined;

  /** `sync` is fs.fdatasync (replaceable in tests, to fail on purpose). */
  constructor(
    private readonly fd: number,
    private readonly every = 64 << 20,
    private readonly sync: (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void = fdatasync,
  ) {}

  /** Counts `bytes` just written; starts a flush when `every` bytes are dirty and none runs. */
  wrote(bytes: number): void {
    this.sinceFlush += bytes;
    if (this.sinceFlush < this.every || this.inFlight || this.error) return;
    this.sinceFlush = 0;
    this.inFlight = new Promise((resolve) => {
      this.sync(this.fd, (err) => {
        // EINVAL: the file cannot be synced (a pipe, some pseudo file systems): stop trying.
        if (err && err.code !== 'EINVAL') this.error ??= err;
        if (err?.code === 'EINVAL') this.sinceFlush = -Infinity;
        this.inFlight = undefined;
        resolve();
      });
    });
  }

  /** Waits for the flush in flight (the fd must not be closed under it); throws its error. */
  async settle(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    if (this.error) throw this.error;
  }
}
