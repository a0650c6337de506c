import type { ByteSource } from '../../src/util/file.js';
import { FormatError } from '../../src/util/errors.js';

/** A view of another source with some bytes overwritten and optionally a shorter size. */
export class PatchedSource implements ByteSource {
  readonly path: string;
  readonly size: bigint;
  private readonly patches = new Map<bigint, number>();

  constructor(
    private readonly base: ByteSource,
    size?: bigint,
  ) {
    this.path = base.path;
    this.size = size ?? base.size;
  }

  set(offset: bigint, bytes: Uint8Array): this {
    bytes.forEach((b, i) => this.patches.set(offset + BigInt(i), b));
    return this;
  }

  read(offset: bigint, length: number, what = 'data'): Uint8Array {
    if (offset < 0n || offset + BigInt(length) > this.size) {
      throw new FormatError(this.path, offset, `file truncated: ${what} (${length} bytes) extends past end of file (size ${this.size})`);
    }
    const out = Uint8Array.from(this.base.read(offset, length, what));
    if (this.patches.size) {
      for (const [o, b] of this.patches) if (o >= offset && o < offset + BigInt(length)) out[Number(o - offset)] = b;
    }
    return out;
  }

  close(): void {}
}

export function le64(v: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return b;
}
export function le32(v: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
