/**
 * Pieces shared by the LZ77-family codecs (lzo.ts, snappy.ts): the overlapping back-reference
 * copy of the decoders and the hash table, view cache and match extension of the compressors.
 */

/**
 * Copies a long back-reference of `len` bytes from `from` to `op` with block copies, keeping
 * LZ77's byte-by-byte semantics when the regions overlap (distance < len repeats the last
 * `distance` bytes): the periodic region [from, dst) is doubled until the copy is complete.
 * Returns the new output position. Bounds were checked by the caller.
 */
export function copyMatch(out: Uint8Array, op: number, from: number, len: number): number {
  const dist = op - from;
  if (dist >= len) {
    out.copyWithin(op, from, from + len);
  } else if (dist === 1) {
    out.fill(out[from]!, op, op + len);
  } else {
    // [from, op) repeats with period `dist` and its length is a multiple of `dist`, so copying
    // all of it onto `op` continues the pattern; each step doubles the periodic region.
    let rem = len;
    let chunk = dist;
    let dst = op;
    while (rem > 0) {
      const c = chunk < rem ? chunk : rem;
      out.copyWithin(dst, from, from + c);
      dst += c;
      rem -= c;
      chunk += chunk;
    }
  }
  return op + len;
}

/** Compressor hash table: 2^HASH_BITS slots indexed by Math.imul(4 bytes, HASH_MUL) >>> HASH_SHIFT. */
export const HASH_BITS = 13;
export const HASH_SHIFT = 32 - HASH_BITS;
export const HASH_MUL = 0x1e35a7bd;

/**
 * A hash table of recent positions that never needs clearing: positions are stored relative to a
 * per-input base above everything stored for earlier inputs, so an entry below the current base
 * is from an older input and is ignored.
 */
export class PositionTable {
  readonly t = new Int32Array(1 << HASH_BITS);
  /** Every entry stored so far is below this. */
  private top = 1;

  /** Starts a new input of `len` bytes; returns the base to add to its positions (0-based). */
  next(len: number): number {
    if (this.top > 0x7fff0000 - len) {
      this.t.fill(0);
      this.top = 1;
    }
    const base = this.top;
    this.top = base + len + 1;
    return base;
  }
}

/** A DataView over the same bytes as `b` (unaligned 32-bit loads compile to one instruction). */
export class ViewCache {
  private src: Uint8Array | undefined;
  private dv: DataView = new DataView(new ArrayBuffer(0));

  of(b: Uint8Array): DataView {
    if (b !== this.src) {
      this.src = b;
      this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    }
    return this.dv;
  }
}

/** Length of the common run of b[i..] and b[j..] (j < i), at most `max`. */
export function matchLength(b: Uint8Array, dv: DataView, j: number, i: number, max: number): number {
  let n = 0;
  while (n + 4 <= max && dv.getInt32(j + n, true) === dv.getInt32(i + n, true)) n += 4;
  while (n < max && b[j + n] === b[i + n]) n++;
  return n;
}
