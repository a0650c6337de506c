import { closeSync, fstatSync, readSync, writeSync } from 'node:fs';
import { FormatError, KdumpkitError } from '../../util/errors.js';
import { FLAT_SIGNATURE } from './flattened.js';
import { BackgroundFlush } from '../../util/background-flush.js';

/**
 * Where dump writers put their bytes: positioned writes, either into a plain file or as a
 * makedumpfile flattened stream (makedumpfile -F; makedumpfile.c write_buffer on STDOUT_FILENO,
 * write_start_flat_header, write_end_flat_header), where every positioned write becomes a
 * record {be64 offset, be64 size, payload} that `makedumpfile -R` (or `kdumpkit reassemble`)
 * replays into the real file, later records winning.
 */
export interface DumpSink {
  /** Name for messages (file path, or "standard output"). */
  readonly name: string;
  /** 'file': positions can be rewritten in place; 'stream': a flattened record stream. */
  readonly kind: 'file' | 'stream';
  /** Bytes that reached the output so far (for a stream: headers and records included). */
  readonly bytesWritten: number;
  /** Writes all of `data` at `offset` of the dump, or throws SinkWriteError. */
  write(offset: bigint, data: Uint8Array): void;
  /**
   * Waits for write-back started in the background (FileSink with flushEvery), so that the
   * final fsync is short and the descriptor can be closed; throws SinkWriteError if it failed.
   */
  settle?(): Promise<void>;
  /** Completes the output (a stream gets its end marker) and closes what the sink opened. */
  end(): void;
  /** Closes without completing (after an error). */
  close(): void;
}

/** A write that failed; `written` bytes of it reached the output before the error. */
export class SinkWriteError extends KdumpkitError {
  readonly written: number;
  /** errno code: ENOSPC, EIO, EPIPE, ... */
  readonly errno: string | undefined;

  /** `action` replaces "cannot write N bytes at offset X" (a failed write-back, say). */
  constructor(sink: string, offset: bigint, length: number, written: number, cause: NodeJS.ErrnoException, action?: string) {
    const why = cause.code === 'ENOSPC' ? 'no space left on device' : cause.code === 'EDQUOT' ? 'disk quota exceeded' : cause.code === 'EPIPE' ? 'the reader closed the pipe' : cause.message.replace(/^[A-Z]+: /, '').replace(/, write$/, '');
    super('E_WRITE', `${sink}: ${action ?? `cannot write ${length} bytes at offset 0x${offset.toString(16)}`}: ${why}${cause.code ? ` (${cause.code})` : ''}`);
    this.written = written;
    this.errno = cause.code;
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes `data` completely to `fd`, at `position` or (null) at the current position. Pipes that
 * Node or a parent left non-blocking answer EAGAIN when full: wait a moment and retry. Returns the
 * bytes written; on error throws the errno error with `written` attached.
 */
export function writeFully(fd: number, data: Uint8Array, position: number | null): number {
  let done = 0;
  while (done < data.length) {
    let n: number;
    try {
      n = writeSync(fd, data, done, data.length - done, position === null ? null : position + done);
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { written?: number };
      if (err.code === 'EAGAIN') {
        Atomics.wait(sleepCell, 0, 0, 2);
        continue;
      }
      if (err.code === 'EINTR') continue;
      err.written = done;
      throw err;
    }
    if (n === 0) {
      const err = new Error('write returned 0 bytes') as NodeJS.ErrnoException & { written?: number };
      err.code = 'EIO';
      err.written = done;
      throw err;
    }
    done += n;
  }
  return done;
}

/** Reads up to `length` bytes from `fd` at its current position (EAGAIN-safe); 0 at end of input. */
export function readSome(fd: number, buf: Uint8Array, offset: number, length: number): number {
  for (;;) {
    try {
      return readSync(fd, buf, offset, length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(sleepCell, 0, 0, 2);
        continue;
      }
      if (code === 'EINTR') continue;
      if (code === 'EOF') return 0;
      throw e;
    }
  }
}

/**
 * A regular file written with positioned writes (pwrite). With `flushEvery` (bytes), dirty
 * pages are written back in the background as the file grows (util/background-flush.ts).
 */
export class FileSink implements DumpSink {
  readonly kind = 'file' as const;
  private written = 0;
  private fd: number;
  private readonly flush: BackgroundFlush | undefined;

  constructor(
    readonly name: string,
    fd: number,
    private readonly ownsFd = true,
    flushEvery?: number,
  ) {
    this.fd = fd;
    this.flush = flushEvery ? new BackgroundFlush(fd, flushEvery) : undefined;
  }

  get bytesWritten(): number {
    return this.written;
  }

  /** Size of the file as it is now (the dump's size once the writer finished). */
  get fileSize(): number {
    return fstatSync(this.fd).size;
  }

  write(offset: bigint, data: Uint8Array): void {
    try {
      const n = writeFully(this.fd, data, Number(offset));
      this.written += n;
      this.flush?.wrote(n);
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { written?: number };
      this.written += err.written ?? 0;
      throw new SinkWriteError(this.name, offset, data.length, err.written ?? 0, err);
    }
  }

  async settle(): Promise<void> {
    try {
      await this.flush?.settle();
    } catch (e) {
      throw new SinkWriteError(this.name, 0n, 0, 0, e as NodeJS.ErrnoException, 'writing the dump back to disk failed');
    }
  }

  end(): void {
    this.close();
  }

  close(): void {
    if (this.fd >= 0 && this.ownsFd) closeSync(this.fd);
    this.fd = -1;
  }
}

/** The 4096-byte header of a flattened stream (struct makedumpfile_header, big-endian). */
export const FLAT_HEADER_SIZE = 4096;
export const TYPE_FLAT_HEADER = 1n;
export const VERSION_FLAT_HEADER = 1n;

export function flatStreamHeader(): Uint8Array {
  const h = Buffer.alloc(FLAT_HEADER_SIZE);
  h.write(FLAT_SIGNATURE, 0, 'latin1');
  h.writeBigInt64BE(TYPE_FLAT_HEADER, 16);
  h.writeBigInt64BE(VERSION_FLAT_HEADER, 24);
  return h;
}

/** The record header {be64 offset, be64 size}; offset = size = -1 ends the stream. */
export function flatRecordHeader(offset: bigint, size: bigint): Uint8Array {
  const h = Buffer.alloc(16);
  h.writeBigInt64BE(offset, 0);
  h.writeBigInt64BE(size, 8);
  return h;
}

/**
 * A makedumpfile -F stream written sequentially to a file descriptor (standard output, a pipe,
 * a file): the flat header at construction, one record per positioned write, the end marker
 * on end(). Nothing is ever rewritten, so it works on pipes and sockets.
 */
export class FlattenedSink implements DumpSink {
  readonly kind = 'stream' as const;
  private written = 0;
  private ended = false;

  constructor(
    readonly name: string,
    private fd: number,
    private readonly ownsFd: boolean,
  ) {
    this.raw(flatStreamHeader(), 0n, FLAT_HEADER_SIZE);
  }

  get bytesWritten(): number {
    return this.written;
  }

  write(offset: bigint, data: Uint8Array): void {
    if (data.length === 0) return;
    if (offset < 0n) throw new RangeError(`flattened record at negative offset ${offset}`);
    this.raw(flatRecordHeader(offset, BigInt(data.length)), offset, data.length);
    this.raw(data, offset, data.length);
  }

  private raw(bytes: Uint8Array, offset: bigint, length: number): void {
    try {
      this.written += writeFully(this.fd, bytes, null);
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { written?: number };
      this.written += err.written ?? 0;
      throw new SinkWriteError(this.name, offset, length, 0, err);
    }
  }

  end(): void {
    if (!this.ended) {
      this.ended = true;
      this.raw(flatRecordHeader(-1n, -1n), -1n, 16);
    }
    this.close();
  }

  close(): void {
    if (this.fd >= 0 && this.ownsFd) closeSync(this.fd);
    this.fd = -1;
  }
}

export interface ReassembleResult {
  readonly records: number;
  /** Bytes of the stream consumed (header, record headers and payloads, end marker). */
  readonly streamBytes: number;
  /** One past the highest byte written to the output. */
  readonly size: number;
}

/**
 * Rebuilds the dump file a flattened stream describes (makedumpfile -R, rearrange_dumpdata):
 * checks the 4096-byte header (signature "makedumpfile", type 1; the version is not checked,
 * as makedumpfile does not), then copies each record's payload to its offset with positioned
 * writes, in stream order so later records win, until the end marker. Regions no record covers
 * stay holes (read as zeros). Reads the input strictly sequentially (a pipe or standard input
 * works) in pieces of at most 1 MiB, so memory stays small whatever the record sizes.
 * A stream that ends before its end marker is a FormatError naming the stream offset; what
 * was already copied stays in the output.
 */
export function reassembleFlattened(input: { fd: number; name: string }, output: DumpSink, onProgress?: (streamBytes: number) => void): ReassembleResult {
  const CHUNK = 1 << 20;
  const buf = Buffer.alloc(CHUNK);
  let pos = 0;
  const readExactly = (n: number, what: string): Buffer => {
    let got = 0;
    while (got < n) {
      const r = readSome(input.fd, buf, got, n - got);
      if (r === 0) {
        throw new FormatError(input.name, pos + got, `flattened stream ends in the middle of ${what} (${got} of ${n} bytes): the stream is truncated`, 'What was copied so far is in the output file; the missing tail cannot be recovered from this stream.');
      }
      got += r;
    }
    pos += n;
    return buf.subarray(0, n);
  };
  const head = readExactly(FLAT_HEADER_SIZE, 'the flattened header');
  const sigEnd = head.indexOf(0);
  const sig = head.subarray(0, sigEnd < 0 ? 16 : Math.min(sigEnd, 16)).toString('latin1');
  if (sig !== FLAT_SIGNATURE) {
    throw new FormatError(input.name, 0, `not a flattened dump stream (signature ${JSON.stringify(sig.slice(0, 16))}, expected "makedumpfile")`, 'Streams made by makedumpfile -F or kdumpkit save --format flat start with "makedumpfile".');
  }
  const type = head.readBigInt64BE(16);
  if (type !== TYPE_FLAT_HEADER) throw new FormatError(input.name, 16, `flattened header type ${type} is not 1 (TYPE_FLAT_HEADER)`);
  let records = 0;
  let size = 0;
  for (;;) {
    const at = pos;
    const h = readExactly(16, 'a record header');
    const offset = h.readBigInt64BE(0);
    const length = h.readBigInt64BE(8);
    if (offset === -1n && length === -1n) break;
    if (offset < 0n || length <= 0n || length > 1n << 40n || offset + length > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new FormatError(input.name, at, `bad flattened record header (offset ${offset}, size ${length})`, 'A valid stream ends with a record of offset -1 and size -1.');
    }
    let done = 0;
    const total = Number(length);
    const base = Number(offset);
    while (done < total) {
      const n = Math.min(CHUNK, total - done);
      const data = readExactly(n, `the payload of the record at stream offset 0x${at.toString(16)}`);
      output.write(BigInt(base + done), data);
      done += n;
    }
    if (base + total > size) size = base + total;
    records++;
    onProgress?.(pos);
  }
  return { records, streamBytes: pos, size };
}

/**
 * What the kdump and ELF writers share: a header carrying an "incomplete" flag (kdump status
 * 0x8, ELF e_flags 0x1, as makedumpfile sets them), written flagged while a file is in progress,
 * rewritten clean by finish() and flagged again by markIncomplete() after a failed write; and
 * the memory of whether any write failed.
 */
export abstract class FlaggedHeaderWriter {
  protected failed = false;

  constructor(protected readonly sink: DumpSink) {}

  /** The encoded header (block 0 / ELF header) with `flags` in its incomplete field. */
  protected abstract encodeHeader(flags: number): Uint8Array;
  protected abstract readonly incompleteFlag: number;

  /** The flags begin() writes: incomplete for a file, final for a stream (no rewrite possible). */
  protected get inProgressFlags(): number {
    return this.sink.kind === 'file' ? this.incompleteFlag : 0;
  }

  /** Clears the incomplete flag in place once everything is written (files only). */
  protected rewriteCleanHeader(): void {
    if (this.sink.kind === 'file') this.guard(() => this.sink.write(0n, this.encodeHeader(0)));
  }

  /** Sets the incomplete flag in place; false if that failed too or the output is a stream. */
  markIncomplete(): boolean {
    if (this.sink.kind !== 'file') return false;
    try {
      this.sink.write(0n, this.encodeHeader(this.incompleteFlag));
      return true;
    } catch {
      return false;
    }
  }

  get hasFailed(): boolean {
    return this.failed;
  }

  protected guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }
}
