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

/**
 * Copies a long back-reference of `len` bytes from `from` to `op` with block copies, keeping
 * byte-by-byte semantics when the regions overlap (offset < len repeats the last `offset`
 * bytes): the periodic region [from, dst) is doubled until the copy is complete. Returns the new
 * output position. Bounds were checked by the caller.
 */
function copyMatch(out: Uint8Array, op: number, from: number, len: number): number {
  const dist = op - from;
  if (dist >= len) {
    out.copyWithin(op, from, from + len);
  } else if (dist === 1) {
    out.fill(out[from]!, op, op + len);
  } else {
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

/** snappy::MaxCompressedLength: 32 + n + n/6. */
function maxCompressedLength(n: number): number {
  return 32 + n + Math.floor(n / 6);
}

const MIN_MATCH = 4;
/** Offsets above this would need the 4-byte-offset copy; the reference compressor never makes them. */
const MAX_OFFSET = 0xffff;

/**
 * Greedy snappy compressor: 4-byte sequences are looked up in a hash table of recent positions,
 * matches are extended forward and emitted as 1- or 2-byte-offset copies, everything else as
 * literals. Output is a valid raw snappy block (not byte-identical to the reference compressor's).
 */
export function snappyCompress(src: Uint8Array): Uint8Array {
  const n = src.length;
  if (n > 0xffffffff) throw new RangeError(`snappy: input of ${n} bytes is too large for one block`);
  const out = new Uint8Array(maxCompressedLength(n));
  let op = 0;

  // Preamble.
  let v = n;
  while (v >= 0x80) {
    out[op++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[op++] = v;

  let anchor = 0;
  if (n >= MIN_MATCH + 1) {
    let hashBits = 8;
    while (hashBits < 14 && 1 << hashBits < n) hashBits++;
    const shift = 32 - hashBits;
    const table = new Int32Array(1 << hashBits); // position + 1; 0 = empty
    const last = n - MIN_MATCH;
    table[Math.imul(read32(src, 0), 0x1e35a7bd) >>> shift] = 1;
    let ip = 1;
    while (ip <= last) {
      const seq = read32(src, ip);
      const h = Math.imul(seq, 0x1e35a7bd) >>> shift;
      const cand = table[h]! - 1;
      table[h] = ip + 1;
      if (cand < 0 || ip - cand > MAX_OFFSET || read32(src, cand) !== seq) {
        // Skip faster through data that does not compress (as the reference compressor does).
        ip += 1 + ((ip - anchor) >> 5);
        continue;
      }
      let len = MIN_MATCH;
      while (ip + len < n && src[cand + len] === src[ip + len]) len++;
      op = emitLiteral(out, op, src, anchor, ip - anchor);
      op = emitCopy(out, op, ip - cand, len);
      ip += len;
      anchor = ip;
      if (ip - 2 <= last) table[Math.imul(read32(src, ip - 2), 0x1e35a7bd) >>> shift] = ip - 1;
    }
  }
  op = emitLiteral(out, op, src, anchor, n - anchor);
  return out.slice(0, op);
}

function read32(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

function emitLiteral(out: Uint8Array, op: number, src: Uint8Array, from: number, count: number): number {
  if (count === 0) return op;
  const n = count - 1;
  if (n < 60) {
    out[op++] = n << 2;
  } else if (n < 0x100) {
    out[op++] = 60 << 2;
    out[op++] = n;
  } else if (n < 0x10000) {
    out[op++] = 61 << 2;
    out[op++] = n & 0xff;
    out[op++] = n >> 8;
  } else if (n < 0x1000000) {
    out[op++] = 62 << 2;
    out[op++] = n & 0xff;
    out[op++] = (n >> 8) & 0xff;
    out[op++] = n >> 16;
  } else {
    out[op++] = 63 << 2;
    out[op++] = n & 0xff;
    out[op++] = (n >>> 8) & 0xff;
    out[op++] = (n >>> 16) & 0xff;
    out[op++] = (n >>> 24) & 0xff;
  }
  out.set(src.subarray(from, from + count), op);
  return op + count;
}

/** Splits a match into copies of at most 64 bytes, never leaving a remainder below 4. */
function emitCopy(out: Uint8Array, op: number, offset: number, len: number): number {
  while (len >= 68) {
    op = emitCopy2(out, op, offset, 64);
    len -= 64;
  }
  if (len > 64) {
    op = emitCopy2(out, op, offset, 60);
    len -= 60;
  }
  if (len <= 11 && offset < 2048) {
    out[op++] = 1 | ((len - 4) << 2) | ((offset >> 8) << 5);
    out[op++] = offset & 0xff;
    return op;
  }
  return emitCopy2(out, op, offset, len);
}

function emitCopy2(out: Uint8Array, op: number, offset: number, len: number): number {
  out[op++] = 2 | ((len - 1) << 2);
  out[op++] = offset & 0xff;
  out[op++] = offset >> 8;
  return op;
}
