/**
 * LZO1X in pure TypeScript: the page codec of kdump-compressed files made with `makedumpfile -l`
 * (DUMP_DH_COMPRESSED_LZO; each page is one raw block from liblzo2's `lzo1x_1_compress`, no lzop
 * header, no length prefix).
 *
 * Written from the bitstream description in the kernel's Documentation/staging/lzo.rst ("LZO
 * stream format as understood by Linux's LZO decompressor") and checked against the behaviour of
 * lib/lzo/lzo1x_decompress_safe.c, which is the reference for what is accepted:
 *
 *   - A stream is a sequence of instructions. Each instruction byte is read in a context,
 *     `state`, that says how many literals the previous instruction copied: 0, 1..3, or 4 (which
 *     stands for "4 or more", i.e. a literal run).
 *   - The first byte is special (there is no dictionary yet): 18..20 copy 1..3 literals and
 *     leave state 1..3; 21..255 copy 4..238 literals (state 4). Anything <= 17 is an ordinary
 *     instruction in state 0. As in the kernel, a stream of at least 5 bytes that starts with 17
 *     carries a bitstream version in its second byte; a non-zero version (the kernel's lzo-rle,
 *     used by zram) enables the zero-run encoding. liblzo2 never starts a non-empty block with 17.
 *   - Instructions (opcode bits, then operand bytes):
 *       0000LLLL, state 0    literal run of 3+L bytes (L = 0: 18 + 255*zeros + next non-zero byte)
 *       0000DDSS, state 1..3 copy 2 bytes, distance 1 + D + (next byte << 2)            ("M1")
 *       0000DDSS, state 4    copy 3 bytes, distance 2049 + D + (next byte << 2)
 *       0001HLLL             copy 2+L bytes (L = 0: 9 + extension), LE16 operand DDDDDDDDDDDDDDSS,
 *                            distance 16384 + (H << 14) + D; H = 0 and D = 0 is END OF STREAM ("M4")
 *       001LLLLL             copy 2+L bytes (L = 0: 33 + extension), LE16 operand, distance D + 1 ("M3")
 *       01LDDDSS / 1LLDDDSS  copy 3..8 bytes (len = (byte >> 5) + 1), distance 1 + D + (next << 3) ("M2")
 *     The SS bits of a copy say how many literals (0..3) follow it immediately; they become the
 *     next state.
 *   - The end-of-stream marker is the M4 instruction 0x11 0x00 0x00 (length field 3, distance
 *     16384 + 0); the kernel rejects an end marker with any other length, and so do we
 *     (liblzo2's lzo1x_decompress_safe is laxer and ignores the length there). Bytes after the
 *     marker are an error too: kdump readers accept a page only on LZO_E_OK, not on
 *     LZO_E_INPUT_NOT_CONSUMED.
 *
 * Safety: every read and write is bounds-checked against the input and `expectedSize`, every
 * back-reference is checked to stay inside the output written so far, and every loop consumes at
 * least one input byte per iteration, so malformed input can only end in an Error (never an
 * out-of-bounds access or an endless loop).
 */

import { copyMatch, HASH_MUL, HASH_SHIFT, matchLength, PositionTable, ViewCache } from './lz77.js';

/** Largest LZO1X match distance (M4_MAX_OFFSET in lzodefs.h). */
const M4_MAX_OFFSET = 0xbfff;
/** Largest distance of the 2-byte M2 form (M2_MAX_OFFSET in lzodefs.h). */
const M2_MAX_OFFSET = 0x0800;
/** Largest distance of the M3 form (M3_MAX_OFFSET in lzodefs.h). */
const M3_MAX_OFFSET = 0x4000;
/** lzo-rle zero runs are this long at least (MIN_ZERO_RUN_LENGTH in lzodefs.h). */
const MIN_ZERO_RUN_LENGTH = 4;

function fail(what: string, inputOffset: number): never {
  throw new Error(`LZO1X: ${what} at input offset ${inputOffset}`);
}

function checkSize(expectedSize: number): void {
  if (!Number.isSafeInteger(expectedSize) || expectedSize < 0) {
    throw new RangeError(`LZO1X: expectedSize must be a non-negative integer, got ${expectedSize}`);
  }
}

/**
 * Decompresses one raw LZO1X block into at most `expectedSize` bytes.
 *
 * Returns the decompressed bytes; if the block ends (with a valid end marker) before
 * `expectedSize` bytes were produced, the result is shorter and the caller decides whether that
 * is an error (kdump pages must be exactly one page long). Throws an Error naming the problem and
 * the input offset on any malformed input: truncated input, output beyond `expectedSize`, a
 * back-reference before the start of the output, a missing or bad end-of-stream marker, or bytes
 * after it.
 */
export function lzo1xDecompress(src: Uint8Array, expectedSize: number): Uint8Array {
  checkSize(expectedSize);
  const inLen = src.length;
  const out = new Uint8Array(expectedSize);
  const outLen = expectedSize;
  let ip = 0;
  let op = 0;

  // The shortest valid block is the bare end marker (what lzo1x_1_compress makes of empty input).
  if (inLen < 3) fail(`input of ${inLen} bytes is shorter than the 3-byte end-of-stream marker`, 0);

  // Kernel extension (lzo1x_decompress_safe.c): 17 followed by a version byte. Version 0 is plain
  // LZO1X, anything else enables lzo-rle's zero runs.
  let rle = false;
  if (inLen >= 5 && src[0] === 17) {
    rle = src[1] !== 0;
    ip = 2;
  }

  // `state` is the number of literals copied by the previous instruction (4 = four or more).
  let state = 0;
  let t = src[ip]!;
  if (t > 17) {
    // First-byte special case: a literal run with no dictionary before it.
    ip++;
    t -= 17;
    if (ip + t > inLen) fail(`literal run of ${t} bytes runs past the end of the ${inLen}-byte input`, ip - 1);
    if (t > outLen) fail(`literal run of ${t} bytes overruns the ${outLen}-byte output (at output byte 0)`, ip - 1);
    for (let i = 0; i < t; i++) out[i] = src[ip + i]!;
    ip += t;
    op = t;
    state = t < 4 ? t : 4;
  }

  for (;;) {
    const at = ip; // offset of this instruction, for error messages
    if (ip >= inLen) fail('input ended without the end-of-stream marker (0x11 0x00 0x00)', ip);
    t = src[ip++]!;
    let mPos: number; // start of the back-reference in `out`
    let len: number; // bytes to copy from `mPos`
    let next: number; // literals that follow the copy (its SS bits)

    if (t < 16) {
      if (state === 0) {
        // 0000LLLL in state 0 (stream start, or after a copy with no trailing literals): a
        // literal run of 4 or more bytes.
        len = t + 3;
        if (t === 0) {
          const zeroStart = ip;
          while (ip < inLen && src[ip] === 0) ip++;
          if (ip >= inLen) fail('input ended inside the length of a literal run', at);
          len = (ip - zeroStart) * 255 + 18 + src[ip++]!;
        }
        if (len > inLen - ip) fail(`literal run of ${len} bytes runs past the end of the ${inLen}-byte input`, at);
        if (len > outLen - op) fail(`literal run of ${len} bytes overruns the ${outLen}-byte output (at output byte ${op})`, at);
        if (len > 32) {
          out.set(src.subarray(ip, ip + len), op);
          op += len;
          ip += len;
        } else {
          const end = ip + len;
          while (ip < end) out[op++] = src[ip++]!;
        }
        state = 4;
        continue;
      }
      if (ip >= inLen) fail('input ended inside a copy instruction', at);
      next = t & 3;
      if (state !== 4) {
        // 0000DDSS right after 1..3 literals: copy 2 bytes from at most 1 KiB back.
        mPos = op - 1 - (t >> 2) - (src[ip++]! << 2);
        len = 2;
      } else {
        // 0000DDSS right after a literal run: copy 3 bytes from 2..3 KiB back.
        mPos = op - 1 - M2_MAX_OFFSET - (t >> 2) - (src[ip++]! << 2);
        len = 3;
      }
    } else if (t >= 64) {
      // M2: 3..8 bytes from at most 2 KiB back; distance bits in the opcode and one byte.
      if (ip >= inLen) fail('input ended inside a copy instruction', at);
      next = t & 3;
      mPos = op - 1 - ((t >> 2) & 7) - (src[ip++]! << 3);
      len = (t >> 5) + 1;
    } else if (t >= 32) {
      // M3: any length, at most 16 KiB back; LE16 operand holds distance-1 and SS.
      len = (t & 31) + 2;
      if (len === 2) {
        const zeroStart = ip;
        while (ip < inLen && src[ip] === 0) ip++;
        if (ip >= inLen) fail('input ended inside the length of a copy', at);
        len = (ip - zeroStart) * 255 + 33 + src[ip++]!;
      }
      if (ip + 2 > inLen) fail('input ended inside a copy instruction', at);
      const v = src[ip]! | (src[ip + 1]! << 8);
      ip += 2;
      mPos = op - 1 - (v >> 2);
      next = v & 3;
    } else {
      // M4: 16..48 KiB back, or the end-of-stream marker, or (lzo-rle) a run of zeros.
      if (ip + 2 > inLen) fail('input ended inside a copy instruction', at);
      let v = src[ip]! | (src[ip + 1]! << 8);
      if (rle && (v & 0xfffc) === 0xfffc && (t & 0xf8) === 0x18) {
        // lzo-rle zero run: distance field 0xbfff marks it; a third byte extends the length.
        if (ip + 3 > inLen) fail('input ended inside a zero-run instruction', at);
        len = ((t & 7) | (src[ip + 2]! << 3)) + MIN_ZERO_RUN_LENGTH;
        if (len > outLen - op) fail(`zero run of ${len} bytes overruns the ${outLen}-byte output (at output byte ${op})`, at);
        out.fill(0, op, op + len);
        op += len;
        ip += 3;
        next = v & 3;
        state = next;
        if (next !== 0) {
          if (next > inLen - ip) fail(`${next} trailing literal(s) run past the end of the ${inLen}-byte input`, at);
          if (next > outLen - op) fail(`${next} trailing literal(s) overrun the ${outLen}-byte output`, at);
          for (let i = 0; i < next; i++) out[op++] = src[ip++]!;
        }
        continue;
      }
      len = (t & 7) + 2;
      if (len === 2) {
        const zeroStart = ip;
        while (ip < inLen && src[ip] === 0) ip++;
        if (ip >= inLen) fail('input ended inside the length of a copy', at);
        len = (ip - zeroStart) * 255 + 9 + src[ip++]!;
        if (ip + 2 > inLen) fail('input ended inside a copy instruction', at);
        v = src[ip]! | (src[ip + 1]! << 8);
      }
      ip += 2;
      const far = (t & 8) << 11;
      next = v & 3;
      if (far === 0 && v >> 2 === 0) {
        // End of stream. The kernel accepts it only with the length field of 0x11 (3).
        if (len !== 3) fail(`end-of-stream marker has length ${len}, expected 3 (marker must be 0x11 0x00 0x00)`, at);
        if (ip !== inLen) fail(`${inLen - ip} unexpected byte(s) after the end-of-stream marker`, ip);
        return op === outLen ? out : out.slice(0, op);
      }
      mPos = op - far - (v >> 2) - M3_MAX_OFFSET;
    }

    // Copy `len` bytes from `mPos`; the regions may overlap (distance < len repeats a pattern).
    if (mPos < 0) fail(`back-reference distance ${op - mPos} reaches before the start of the output (only ${op} bytes written)`, at);
    if (len > outLen - op) fail(`copy of ${len} bytes overruns the ${outLen}-byte output (at output byte ${op})`, at);
    if (len <= 32) {
      const end = op + len;
      while (op < end) out[op++] = out[mPos++]!;
    } else {
      op = copyMatch(out, op, mPos, len);
    }

    // 0..3 literals follow the copy; their count is the context of the next instruction.
    state = next;
    if (next !== 0) {
      if (next > inLen - ip) fail(`${next} trailing literal(s) run past the end of the ${inLen}-byte input`, at);
      if (next > outLen - op) fail(`${next} trailing literal(s) overrun the ${outLen}-byte output`, at);
      for (let i = 0; i < next; i++) out[op++] = src[ip++]!;
    }
  }
}

/** Worst-case compressed size of `n` bytes (lzo1x_worst_compress in include/linux/lzo.h). */
function worstCompressedSize(n: number): number {
  return n + Math.floor(n / 16) + 64 + 3 + 2;
}

/**
 * How far the compressor's per-step output estimate can fall short of what it writes: at most
 * len / 65280 bytes over a whole input (the estimate counts length-extension bytes per 256, the
 * format spends one per 255). Zero-ish for pages, but compressInto leaves room for it.
 */
function estimateSlack(len: number): number {
  return (len >> 15) + 1;
}

/** Size of a `dst` with which lzo1xCompressInto always succeeds (worst case plus estimate slack). */
export function lzo1xMaxCompressedLength(n: number): number {
  return worstCompressedSize(n) + estimateSlack(n);
}

/**
 * LZO1X-1 style compressor that allocates nothing per call: greedy matching of 4-byte sequences
 * through a hash table of recent positions (kept across calls, see PositionTable), encoded with
 * the M2/M3/M4 copies and literal runs described above, ending with the 0x11 0x00 0x00 marker.
 * The output is a valid LZO1X block for liblzo2's and the kernel's decompressors (not
 * byte-identical to liblzo2's output, which uses a different hash and match-skipping heuristic).
 *
 *   first byte 17+n          n (1..238) literals at the very start
 *   0000LLLL (after state 0) literal run: L = n-3 for n in 4..18, L = 0 + 0-bytes + n-18 beyond
 *   the low 2 bits of a copy's last opcode or operand byte: 1..3 literals following the copy
 *   01LDDDSS/1LLDDDSS + 1   copy of 3..8 bytes at distance 1..2048 ("M2")
 *   001LLLLL + LE16          copy of 2..33 bytes (L = 0: 33 + extension) at distance 1..16384 ("M3")
 *   0001HLLL + LE16          copy at distance 16385..49151 ("M4"); 0x11 0x00 0x00 ends the stream
 */
export class Lzo1xCompressor {
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
   * the output might not fit in `dst` (a `dst` of lzo1xMaxCompressedLength(src.length) bytes
   * always suffices).
   */
  compressInto(src: Uint8Array, dst: Uint8Array): number {
    return this.run(src, 0, src.length, dst, 0, dst.length - estimateSlack(src.length));
  }

  /** The compressor; the output must end at or before `limit` (an index into `out`), else -1. */
  private run(src: Uint8Array, srcOff: number, len: number, out: Uint8Array, outOff: number, limit: number): number {
    const end = srcOff + len;
    const t = this.table.t;
    const dv = this.views.of(src);
    const base = this.table.next(len) - srcOff;
    let op = outOff;
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
        if (cand < srcOff || ip - cand > M4_MAX_OFFSET || dv.getInt32(cand, true) !== seq) {
          // Accelerate through incompressible stretches as LZO/LZ4 do: the longer since the
          // last match, the larger the step.
          ip += 1 + ((ip - anchor) >> 5);
          continue;
        }
        const mlen = 4 + matchLength(src, dv, cand + 4, ip + 4, end - ip - 4);
        // Literals, then the copy: worst case lit + 3 + len/255 + copy 3 + len/255.
        const lit = ip - anchor;
        if (op + lit + 8 + ((lit + mlen) >> 8) > limit) return -1;
        op = lzoLiterals(src, anchor, lit, out, op, outOff);
        op = lzoCopy(out, op, ip - cand, mlen);
        ip += mlen;
        anchor = ip;
        // Remember a position inside the match so that the next match can be found nearby.
        if (ip - 2 <= last) t[Math.imul(dv.getInt32(ip - 2, true), HASH_MUL) >>> HASH_SHIFT] = ip - 2 + base;
      }
    }
    const lit = end - anchor;
    if (op + lit + 6 + (lit >> 8) > limit) return -1;
    op = lzoLiterals(src, anchor, lit, out, op, outOff);
    out[op++] = 0x11;
    out[op++] = 0;
    out[op++] = 0;
    return op - outOff;
  }
}

/** Shared by the function forms below (one per thread: each worker loads its own module). */
const shared = new Lzo1xCompressor();

/**
 * Compresses `src` into `dst` without allocating; returns the compressed length, or -1 if it
 * might not fit (size `dst` with lzo1xMaxCompressedLength to rule that out).
 */
export function lzo1xCompressInto(src: Uint8Array, dst: Uint8Array): number {
  return shared.compressInto(src, dst);
}

/** Compresses `src` into a new raw LZO1X block (see Lzo1xCompressor). */
export function lzo1xCompress(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(lzo1xMaxCompressedLength(src.length));
  const n = shared.compressInto(src, out);
  if (n < 0) throw new Error(`LZO1X: ${src.length}-byte input did not fit the worst-case output size`);
  return out.slice(0, n);
}

/** Writes a literal run (or folds 1..3 literals into the previous copy, see the table above). */
function lzoLiterals(src: Uint8Array, from: number, n: number, out: Uint8Array, op: number, start: number): number {
  if (n === 0) return op;
  if (op === start && n <= 238) out[op++] = 17 + n;
  else if (n <= 3) out[op - 2]! |= n;
  else if (n <= 18) out[op++] = n - 3;
  else {
    out[op++] = 0;
    let rest = n - 18;
    while (rest > 255) {
      out[op++] = 0;
      rest -= 255;
    }
    out[op++] = rest;
  }
  if (n < 32) for (let i = 0; i < n; i++) out[op + i] = src[from + i]!;
  else out.set(src.subarray(from, from + n), op);
  return op + n;
}

function lzoCopy(out: Uint8Array, op: number, dist: number, len: number): number {
  if (len <= 8 && dist <= M2_MAX_OFFSET) {
    const d = dist - 1;
    out[op++] = ((len - 1) << 5) | ((d & 7) << 2);
    out[op++] = d >> 3;
    return op;
  }
  let d: number;
  if (dist <= M3_MAX_OFFSET) {
    d = dist - 1;
    if (len <= 33) out[op++] = 32 | (len - 2);
    else {
      out[op++] = 32;
      op = lengthExtension(out, op, len - 33);
    }
  } else {
    // dist > 16384 here, so the distance field is never the end marker's 0.
    d = dist - M3_MAX_OFFSET;
    const hbit = (d & 0x4000) >> 11;
    if (len <= 9) out[op++] = 16 | hbit | (len - 2);
    else {
      out[op++] = 16 | hbit;
      op = lengthExtension(out, op, len - 9);
    }
  }
  out[op++] = (d << 2) & 0xff;
  out[op++] = (d >> 6) & 0xff;
  return op;
}

/** Writes the 0-byte run length extension used by long literal runs and long copies. */
function lengthExtension(out: Uint8Array, op: number, rest: number): number {
  while (rest > 255) {
    out[op++] = 0;
    rest -= 255;
  }
  out[op++] = rest;
  return op;
}
