/**
 * Snappy raw blocks in pure TypeScript: the page codec of kdump-compressed files made with
 * `makedumpfile -p` (DUMP_DH_COMPRESSED_SNAPPY; each page is one `snappy_compress` block, without
 * the framing format of .sz files).
 *
 * Written from snappy's format_description.txt:
 *   - Preamble: the uncompressed length as a little-endian base-128 varint (at most 5 bytes,
 *     value < 2^32).
 *   - Then elements, each starting with a tag byte whose low two bits give the kind:
 *       00 literal: upper six bits = len-1 for len <= 60; 60..63 mean len-1 follows in 1..4
 *          little-endian bytes. The literal bytes follow.
 *       01 copy, 1-byte offset: len = 4 + bits 2..4 (4..11); offset = bits 5..7 << 8 | next byte.
 *       10 copy, 2-byte offset: len = 1 + upper six bits (1..64); offset = next LE16.
 *       11 copy, 4-byte offset: as 10 with an LE32 offset.
 *     Offset 0 and offsets beyond the output written so far are illegal; len > offset is legal
 *     and repeats the pattern (RLE).
 *   - There is no end marker: the stream ends with the input, and must then have produced
 *     exactly the preamble's length.
 *
 * Safety: every read and write is bounds-checked, every copy must stay inside the output written
 * so far, and every loop iteration consumes input, so malformed input ends in an Error naming the
 * problem and the input offset.
 */

import { copyMatch, HASH_MUL, HASH_SHIFT, matchLength, PositionTable, ViewCache } from './lz77.js';

function fail(what: string, inputOffset: number): never {
  throw new Error(`snappy: ${what} at input offset ${inputOffset}`);
}

/**
 * Decompresses one raw snappy block whose preamble must announce exactly `expectedSize` bytes,
 * and which must produce exactly that many.
 */
export function snappyDecompress(src: Uint8Array, expectedSize: number): Uint8Array {
  if (!Number.isSafeInteger(expectedSize) || expectedSize < 0) {
    throw new RangeError(`snappy: expectedSize must be a non-negative integer, got ${expectedSize}`);
  }
  const inLen = src.length;
  let ip = 0;

  // Preamble: varint32 uncompressed length.
  let outLen = 0;
  for (let shift = 0; ; shift += 7) {
    if (ip >= inLen) fail(inLen === 0 ? 'empty input, no length preamble' : 'input ended inside the length preamble', ip);
    if (shift === 28 && src[ip]! > 0x0f) fail('length preamble exceeds 32 bits', ip);
    const b = src[ip++]!;
    outLen += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (outLen !== expectedSize) {
    fail(`length preamble says ${outLen} bytes, expected ${expectedSize}`, 0);
  }

  const out = new Uint8Array(outLen);
  let op = 0;
  while (ip < inLen) {
    const at = ip; // offset of this element, for error messages
    const tag = src[ip++]!;
    let len: number;
    let offset: number;
    switch (tag & 3) {
      case 0: {
        len = tag >> 2;
        if (len >= 60) {
          // len-1 is stored in the next 1..4 bytes, little-endian.
          const n = len - 59;
          if (n > inLen - ip) fail('input ended inside a literal length', at);
          len = src[ip]!;
          if (n > 1) len |= src[ip + 1]! << 8;
          if (n > 2) len |= src[ip + 2]! << 16;
          if (n > 3) len += src[ip + 3]! * 0x1000000;
          ip += n;
        }
        len += 1;
        if (len > inLen - ip) fail(`literal of ${len} bytes runs past the end of the ${inLen}-byte input`, at);
        if (len > outLen - op) fail(`literal of ${len} bytes overruns the ${outLen}-byte output (at output byte ${op})`, at);
        if (len > 32) {
          out.set(src.subarray(ip, ip + len), op);
          op += len;
          ip += len;
        } else {
          const end = ip + len;
          while (ip < end) out[op++] = src[ip++]!;
        }
        continue;
      }
      case 1:
        if (ip >= inLen) fail('input ended inside a 1-byte-offset copy', at);
        len = ((tag >> 2) & 7) + 4;
        offset = ((tag >> 5) << 8) | src[ip++]!;
        break;
      case 2:
        if (ip + 2 > inLen) fail('input ended inside a 2-byte-offset copy', at);
        len = (tag >> 2) + 1;
        offset = src[ip]! | (src[ip + 1]! << 8);
        ip += 2;
        break;
      default:
        if (ip + 4 > inLen) fail('input ended inside a 4-byte-offset copy', at);
        len = (tag >> 2) + 1;
        offset = (src[ip]! | (src[ip + 1]! << 8) | (src[ip + 2]! << 16)) + src[ip + 3]! * 0x1000000;
        ip += 4;
        break;
    }
    if (offset === 0) fail('copy with offset 0', at);
    if (offset > op) fail(`copy offset ${offset} reaches before the start of the output (only ${op} bytes written)`, at);
    if (len > outLen - op) fail(`copy of ${len} bytes overruns the ${outLen}-byte output (at output byte ${op})`, at);
    const from = op - offset;
    if (len <= 32) {
      const end = op + len;
      for (let i = from; op < end; ) out[op++] = out[i++]!;
    } else {
      op = copyMatch(out, op, from, len);
    }
  }
  if (op !== outLen) fail(`input ended after ${op} of ${outLen} bytes of output`, ip);
  return out;
}

/** snappy::MaxCompressedLength: 32 + n + n/6; a `dst` this long makes snappyCompressInto succeed. */
export function snappyMaxCompressedLength(n: number): number {
  return 32 + n + Math.floor(n / 6);
}

/** Offsets above this would need the 4-byte-offset copy; the reference compressor never makes them. */
const MAX_OFFSET = 0xffff;

/**
 * Greedy snappy compressor that allocates nothing per call: 4-byte sequences are looked up in a
 * hash table of recent positions (kept across calls, see PositionTable), matches are extended
 * forward and emitted as 1- or 2-byte-offset copies, everything else as literals. Output is a
 * valid raw snappy block (not byte-identical to the reference compressor's).
 */
export class SnappyCompressor {
  private readonly table = new PositionTable();
  private readonly views = new ViewCache();

  /**
   * Page form, for the collector: compresses `len` bytes of `src` at `srcOff` into `out` at
   * `outOff`. Returns the compressed size if it is smaller than `len`, else -1 (abandoned as
   * soon as the output reaches that size; nothing useful written).
   */
  compress(src: Uint8Array, srcOff: number, len: number, out: Uint8Array, outOff: number): number {
    return this.run(src, srcOff, len, out, outOff, outOff + len - 1);
  }

  /**
   * Compresses all of `src` into `dst` from its start. Returns the compressed length, or -1 if
   * the output does not fit in `dst` (snappyMaxCompressedLength(src.length) bytes always do).
   */
  compressInto(src: Uint8Array, dst: Uint8Array): number {
    const n = src.length;
    if (n > 0xffffffff) throw new RangeError(`snappy: input of ${n} bytes is too large for one block`);
    return this.run(src, 0, n, dst, 0, dst.length);
  }

  /** The compressor; the output must end at or before `limit` (an index into `out`), else -1. */
  private run(src: Uint8Array, srcOff: number, len: number, out: Uint8Array, outOff: number, limit: number): number {
    const end = srcOff + len;
    let op = outOff;
    // Preamble: the uncompressed length as a varint.
    let v = len;
    while (v >= 0x80) {
      out[op++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[op++] = v;
    const t = this.table.t;
    const dv = this.views.of(src);
    const base = this.table.next(len) - srcOff;
    let anchor = srcOff;
    if (len >= 5) {
      const last = end - 4;
      let ip = srcOff + 1;
      t[Math.imul(dv.getInt32(srcOff, true), HASH_MUL) >>> HASH_SHIFT] = srcOff + base;
      while (ip <= last) {
        const seq = dv.getInt32(ip, true);
        const h = Math.imul(seq, HASH_MUL) >>> HASH_SHIFT;
        const cand = t[h]! - base;
        t[h] = ip + base;
        if (cand < srcOff || ip - cand > MAX_OFFSET || dv.getInt32(cand, true) !== seq) {
          // Skip faster through data that does not compress (as the reference compressor does).
          ip += 1 + ((ip - anchor) >> 5);
          continue;
        }
        const mlen = 4 + matchLength(src, dv, cand + 4, ip + 4, end - ip - 4);
        const lit = ip - anchor;
        if (op + lit + 5 + 3 * (1 + (mlen >> 6)) > limit) return -1;
        op = literal(src, anchor, lit, out, op);
        op = copy(out, op, ip - cand, mlen);
        ip += mlen;
        anchor = ip;
        if (ip - 2 <= last) t[Math.imul(dv.getInt32(ip - 2, true), HASH_MUL) >>> HASH_SHIFT] = ip - 2 + base;
      }
    }
    const lit = end - anchor;
    if (op + lit + 5 > limit) return -1;
    op = literal(src, anchor, lit, out, op);
    return op - outOff;
  }
}

/** Shared by the function forms below (one per thread: each worker loads its own module). */
const shared = new SnappyCompressor();

/**
 * Compresses `src` into `dst` without allocating; returns the compressed length, or -1 if it
 * does not fit (size `dst` with snappyMaxCompressedLength to rule that out).
 */
export function snappyCompressInto(src: Uint8Array, dst: Uint8Array): number {
  return shared.compressInto(src, dst);
}

/** Compresses `src` into a new raw snappy block (see SnappyCompressor). */
export function snappyCompress(src: Uint8Array): Uint8Array {
  if (src.length > 0xffffffff) throw new RangeError(`snappy: input of ${src.length} bytes is too large for one block`);
  const out = new Uint8Array(snappyMaxCompressedLength(src.length));
  const n = shared.compressInto(src, out);
  if (n < 0) throw new Error(`snappy: ${src.length}-byte input did not fit the worst-case output size`);
  return out.slice(0, n);
}

function literal(src: Uint8Array, from: number, n: number, out: Uint8Array, op: number): number {
  if (n === 0) return op;
  const m = n - 1;
  if (m < 60) out[op++] = m << 2;
  else if (m < 0x100) {
    out[op++] = 60 << 2;
    out[op++] = m;
  } else if (m < 0x10000) {
    out[op++] = 61 << 2;
    out[op++] = m & 0xff;
    out[op++] = m >>> 8;
  } else if (m < 0x1000000) {
    out[op++] = 62 << 2;
    out[op++] = m & 0xff;
    out[op++] = (m >>> 8) & 0xff;
    out[op++] = m >>> 16;
  } else {
    out[op++] = 63 << 2;
    out[op++] = m & 0xff;
    out[op++] = (m >>> 8) & 0xff;
    out[op++] = (m >>> 16) & 0xff;
    out[op++] = (m >>> 24) & 0xff;
  }
  if (n < 32) for (let i = 0; i < n; i++) out[op + i] = src[from + i]!;
  else out.set(src.subarray(from, from + n), op);
  return op + n;
}

/** Splits a match into copies of at most 64 bytes, never leaving a remainder below 4. */
function copy(out: Uint8Array, op: number, offset: number, len: number): number {
  while (len >= 68) {
    op = copy2(out, op, offset, 64);
    len -= 64;
  }
  if (len > 64) {
    op = copy2(out, op, offset, 60);
    len -= 60;
  }
  if (len <= 11 && offset < 2048) {
    out[op++] = 1 | ((len - 4) << 2) | ((offset >>> 8) << 5);
    out[op++] = offset & 0xff;
    return op;
  }
  return copy2(out, op, offset, len);
}

function copy2(out: Uint8Array, op: number, offset: number, len: number): number {
  out[op++] = 2 | ((len - 1) << 2);
  out[op++] = offset & 0xff;
  out[op++] = offset >>> 8;
  return op;
}
