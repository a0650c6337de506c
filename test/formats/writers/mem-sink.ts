import { SinkWriteError, type DumpSink } from '../../../src/formats/kdump/flattened-writer.js';

/**
 * A DumpSink in memory for writer tests. With `capacity`, it behaves like a full disk: a write
 * that would grow the file past `capacity` bytes writes what fits and fails with ENOSPC, while
 * rewriting bytes below the current end always succeeds (those blocks are already allocated).
 */
export class MemSink implements DumpSink {
  readonly kind: 'file' | 'stream';
  buf = Buffer.alloc(0);
  size = 0;
  bytesWritten = 0;
  writes: { offset: bigint; length: number }[] = [];
  ended = false;

  constructor(
    readonly name = 'mem',
    private readonly capacity = Infinity,
    kind: 'file' | 'stream' = 'file',
  ) {
    this.kind = kind;
  }

  write(offset: bigint, data: Uint8Array): void {
    const o = Number(offset);
    const end = o + data.length;
    let n = data.length;
    if (end > this.capacity && end > this.size) n = Math.max(0, Math.max(this.capacity, this.size) - o);
    this.put(o, data.subarray(0, n));
    this.bytesWritten += n;
    this.writes.push({ offset, length: n });
    if (n < data.length) {
      const err = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }) as NodeJS.ErrnoException;
      throw new SinkWriteError(this.name, offset, data.length, n, err);
    }
  }

  private put(o: number, data: Uint8Array): void {
    const end = o + data.length;
    if (end > this.buf.length) {
      const nb = Buffer.alloc(Math.max(end, this.buf.length * 2));
      this.buf.copy(nb);
      this.buf = nb;
    }
    this.buf.set(data, o);
    if (end > this.size) this.size = end;
  }

  /** The file as written (holes read as zeros). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.size);
  }

  end(): void {
    this.ended = true;
  }

  close(): void {}
}

/** One ELF note (Elf64_Nhdr + name + desc, 4-byte aligned). */
export function note(name: string, type: number, desc: Uint8Array): Buffer {
  const nameb = Buffer.from(name + '\0', 'latin1');
  const pad = (n: number): number => (n + 3) & ~3;
  const b = Buffer.alloc(12 + pad(nameb.length) + pad(desc.length));
  b.writeUInt32LE(nameb.length, 0);
  b.writeUInt32LE(desc.length, 4);
  b.writeUInt32LE(type, 8);
  nameb.copy(b, 12);
  b.set(desc, 12 + pad(nameb.length));
  return b;
}

/** Deterministic page contents for pfn `pfn`: compressible but distinct per page. */
export function pageFor(pfn: number, pageSize = 4096): Buffer {
  const p = Buffer.alloc(pageSize);
  for (let i = 0; i < pageSize; i += 8) p.writeUInt32LE((pfn * 2654435761 + (i >> 6)) >>> 0, i);
  p.write(`page ${pfn}`, 16, 'latin1');
  return p;
}

export function setBit(bits: Uint8Array, p: number): void {
  bits[p >>> 3]! |= 1 << (p & 7);
}
