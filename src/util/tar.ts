/**
 * A small tar.gz writer: POSIX ustar members (regular files and directories), gzip-compressed
 * as a stream, so a multi-GiB vmcore goes in without being held in memory.
 *
 * Header layout per POSIX.1-1988 ustar (pax spec, "ustar Interchange Format"): name[100],
 * mode[8], uid[8], gid[8], size[12], mtime[12], chksum[8], typeflag, linkname[100],
 * "ustar\0" "00", uname[32], gname[32], devmajor[8], devminor[8], prefix[155]; numbers in
 * octal, NUL-terminated; the checksum is the byte sum of the header with the checksum field
 * read as spaces. Sizes beyond the 11 octal digits (8 GiB) use GNU tar's base-256 form (high
 * bit of the first byte set), which GNU tar, bsdtar and Python's tarfile read. The archive ends
 * with two zero blocks.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

const BLOCK = 512;

export interface TarMember {
  /** Path inside the archive ("bundle/dmesg.txt"); directories end without a slash. */
  readonly name: string;
  readonly type?: 'file' | 'dir';
  /** The contents (small files). */
  readonly data?: Uint8Array | string;
  /** Or a file streamed from disk, with its size (it must not change while being read). */
  readonly file?: { readonly path: string; readonly size: number };
  readonly mode?: number;
  readonly mtime?: Date;
}

function octal(buf: Buffer, off: number, len: number, value: number): void {
  const digits = value.toString(8);
  if (digits.length > len - 1) {
    // GNU base-256: big-endian binary with the top bit of the field set.
    let v = BigInt(value);
    for (let i = len - 1; i >= 1; i--) {
      buf[off + i] = Number(v & 0xffn);
      v >>= 8n;
    }
    buf[off] = 0x80;
    return;
  }
  buf.write(digits.padStart(len - 1, '0'), off, len - 1, 'ascii');
  buf[off + len - 1] = 0;
}

/** Splits a long name into ustar prefix (up to 155 bytes) and name (up to 100 bytes). */
function splitName(name: string): { prefix: string; base: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', base: name };
  for (let i = name.lastIndexOf('/'); i > 0; i = name.lastIndexOf('/', i - 1)) {
    const prefix = name.slice(0, i);
    const base = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(base) <= 100 && base !== '') return { prefix, base };
  }
  throw new Error(`tar: member name too long for ustar: ${name}`);
}

export function tarHeader(m: { name: string; type: 'file' | 'dir'; size: number; mode: number; mtime: Date }): Buffer {
  const h = Buffer.alloc(BLOCK);
  const { prefix, base } = splitName(m.type === 'dir' ? `${m.name}/` : m.name);
  h.write(base, 0, 100, 'utf8');
  octal(h, 100, 8, m.mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, m.type === 'dir' ? 0 : m.size);
  octal(h, 136, 12, Math.max(0, Math.floor(m.mtime.getTime() / 1000)));
  h.fill(0x20, 148, 156);
  h.write(m.type === 'dir' ? '5' : '0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  octal(h, 329, 8, 0);
  octal(h, 337, 8, 0);
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

function padding(size: number): Buffer {
  const r = size % BLOCK;
  return Buffer.alloc(r === 0 ? 0 : BLOCK - r);
}

/** The uncompressed tar stream of `members`, chunk by chunk. */
export async function* tarChunks(members: readonly TarMember[]): AsyncGenerator<Buffer> {
  for (const m of members) {
    const type = m.type ?? 'file';
    const mtime = m.mtime ?? new Date();
    if (type === 'dir') {
      yield tarHeader({ name: m.name, type, size: 0, mode: m.mode ?? 0o755, mtime });
      continue;
    }
    if (m.file) {
      yield tarHeader({ name: m.name, type, size: m.file.size, mode: m.mode ?? 0o644, mtime });
      let n = 0;
      for await (const chunk of createReadStream(m.file.path, { highWaterMark: 1 << 20 })) {
        const b = chunk as Buffer;
        const take = Math.min(b.length, m.file.size - n);
        if (take > 0) yield take === b.length ? b : b.subarray(0, take);
        n += take;
      }
      if (n < m.file.size) throw new Error(`tar: ${m.file.path} shrank while being archived (${n} of ${m.file.size} bytes)`);
      yield padding(m.file.size);
      continue;
    }
    const data = typeof m.data === 'string' ? Buffer.from(m.data, 'utf8') : Buffer.from(m.data ?? new Uint8Array());
    yield tarHeader({ name: m.name, type, size: data.length, mode: m.mode ?? 0o644, mtime });
    yield data;
    yield padding(data.length);
  }
  yield Buffer.alloc(2 * BLOCK);
}

/**
 * Writes the gzip-compressed tar of `members` through `write` (writeSync on an fd, or a stream
 * write that returns a promise to wait for its drain, so a pipe never buffers a whole vmcore).
 */
export async function writeTarGz(members: readonly TarMember[], write: (chunk: Buffer) => void | Promise<void>): Promise<void> {
  await pipeline(Readable.from(tarChunks(members)), createGzip({ level: 6 }), async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) await write(chunk);
    yield* [];
  });
}
