import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FormatError } from './errors.js';

/**
 * Random access to bytes by offset. Implemented by plain files and by the flattened-format
 * index (which presents a makedumpfile -F stream as the file it describes).
 */
export interface ByteSource {
  readonly path: string;
  /** Logical size in bytes. */
  readonly size: bigint;
  /** Reads exactly `length` bytes at `offset`; a short read is a FormatError naming the offset. */
  read(offset: bigint, length: number, what?: string): Uint8Array;
  close(): void;
}

/** A file opened for positional synchronous reads (no whole-file buffering). */
export class FileSource implements ByteSource {
  readonly path: string;
  readonly size: bigint;
  private fd: number;

  constructor(path: string) {
    this.path = path;
    this.fd = openSync(path, 'r');
    this.size = BigInt(fstatSync(this.fd).size);
  }

  read(offset: bigint, length: number, what = 'data'): Uint8Array {
    const buf = Buffer.allocUnsafe(length);
    this.readInto(buf, offset, what);
    return buf;
  }

  /** Fills `buf` completely from `offset`, or throws naming what was being read. */
  readInto(buf: Uint8Array, offset: bigint, what = 'data'): void {
    if (offset < 0n || offset + BigInt(buf.length) > this.size) {
      throw new FormatError(this.path, offset, `file truncated: ${what} (${buf.length} bytes) extends past end of file (size ${this.size})`);
    }
    let done = 0;
    while (done < buf.length) {
      const n = readSync(this.fd, buf, done, buf.length - done, offset + BigInt(done));
      if (n === 0) throw new FormatError(this.path, offset + BigInt(done), `unexpected end of file reading ${what}`);
      done += n;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Bytes in memory presented as a file (tests, fuzzing, small synthetic dumps). */
export class BufferSource implements ByteSource {
  readonly size: bigint;

  constructor(
    readonly path: string,
    private readonly bytes: Uint8Array,
  ) {
    this.size = BigInt(bytes.length);
  }

  read(offset: bigint, length: number, what = 'data'): Uint8Array {
    if (offset < 0n || offset + BigInt(length) > this.size) {
      throw new FormatError(this.path, offset, `file truncated: ${what} (${length} bytes) extends past end of file (size ${this.size})`);
    }
    const o = Number(offset);
    return this.bytes.slice(o, o + length);
  }

  close(): void {}
}
