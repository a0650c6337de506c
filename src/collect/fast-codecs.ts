import * as zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { initCompressors, type CodecName } from '../formats/codecs/index.js';

/**
 * Page compressors for the collector's hot loop. They produce the same formats as
 * codecs/index.ts compressPage (zlib level 1 stream, LZO1X block, raw snappy block, zstd frame at
 * level 1) but are built for throughput on worker threads:
 *
 * - no allocation per page: hash tables, scratch and output live across calls, and the
 *   compressed bytes go straight into the batch's output buffer;
 * - early exit: a page whose output would not be smaller than the page is abandoned as soon as
 *   the output reaches that size (it is then stored raw, as makedumpfile stores it).
 *
 * Allocation matters more than it seems: the per-page garbage of a naive compressor keeps
 * V8's garbage collector threads busy, and on a two-CPU capture kernel that costs the parallel
 * speed-up of the workers entirely.
 */
export interface PageCompressor {
  /**
   * Compresses `len` bytes of `src` at `srcOff` into `out` at `outOff`. Returns the compressed
   * size if it is smaller than `len`, else -1 (nothing useful written).
   */
  compress(src: Uint8Array, srcOff: number, len: number, out: Uint8Array, outOff: number): number;
}

export async function createPageCompressor(codec: CodecName, pageSize: number): Promise<PageCompressor> {
  switch (codec) {
    case 'zlib':
      return new ZlibCompressor(pageSize);
    case 'lzo':
      return new Lzo1xCompressor(pageSize);
    case 'snappy':
      return new SnappyCompressor(pageSize);
    case 'zstd':
      await initCompressors();
      return new ZstdCompressor(pageSize);
  }
}

// ---------------------------------------------------------------------------------------------
// zlib: one deflate stream at level 1, reset per page (makedumpfile: deflateReset per page).

interface RawDeflateHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
}

class ZlibCompressor implements PageCompressor {
  private readonly handle: RawDeflateHandle | undefined;
  private readonly state: Uint32Array | undefined;

  constructor(pageSize: number) {
    const d = zlib.createDeflate({ level: 1 }) as unknown as { _handle?: RawDeflateHandle; _writeState?: Uint32Array };
    const h = d._handle;
    const s = d._writeState;
    if (h && s && typeof h.writeSync === 'function' && typeof h.reset === 'function') {
      // Use Node's stream handle directly only if it gives exactly what deflateSync gives.
      const out = Buffer.alloc(pageSize * 2 + 64);
      const samples = [new Uint8Array(pageSize), Uint8Array.from({ length: pageSize }, (_, i) => (i * 7919) >>> 3)];
      let ok = true;
      for (const sample of samples) {
        try {
          h.writeSync(zlib.constants.Z_FINISH, sample, 0, sample.length, out, 0, out.length);
          const got = out.subarray(0, out.length - s[0]!);
          h.reset();
          if (!got.equals(zlib.deflateSync(sample, { level: 1 }))) ok = false;
        } catch {
          ok = false;
        }
      }
      if (ok) {
        this.handle = h;
        this.state = s;
      }
    }
  }

  compress(src: Uint8Array, srcOff: number, len: number, out: Uint8Array, outOff: number): number {
    const h = this.handle;
    const s = this.state;
    if (!h || !s) {
      const c = zlib.deflateSync(src.subarray(srcOff, srcOff + len), { level: 1 });
      if (c.length >= len) return -1;
      out.set(c, outOff);
      return c.length;
    }
    // Room for len - 1 bytes: a stream that does not finish in that is not worth storing.
    const room = len - 1;
    h.writeSync(zlib.constants.Z_FINISH, src, srcOff, len, out, outOff, room);
    const availOut = s[0]!;
    const availIn = s[1]!;
    h.reset();
    if (availOut === 0 || availIn !== 0) return -1;
    return room - availOut;
  }
}

// ---------------------------------------------------------------------------------------------
// Shared by the LZ77 compressors: a hash table of recent positions that never needs clearing
// (entries are stored with a per-call base; anything below the base is from an older page).

const HASH_BITS = 13;
const HASH_SHIFT = 32 - HASH_BITS;
const HASH_MUL = 0x1e35a7bd;

class PositionTable {
  readonly t = new Int32Array(1 << HASH_BITS);
  base = 1;

  /** Starts a new input of `len` bytes; returns the base to add to positions. */
  next(len: number): number {
    this.base += len + 1;
    if (this.base > 0x7fff0000 - len) {
      this.t.fill(0);
      this.base = 1;
    }
    return this.base;
  }
}

/** A DataView over the same bytes as `b` (unaligned 32-bit loads compile to one instruction). */
class ViewCache {
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
function matchLength(b: Uint8Array, dv: DataView, j: number, i: number, max: number): number {
  let n = 0;
  while (n + 4 <= max && dv.getInt32(j + n, true) === dv.getInt32(i + n, true)) n += 4;
  while (n < max && b[j + n] === b[i + n]) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// LZO1X (the format liblzo2's lzo1x_1_compress writes; readers: lzo1x_decompress_safe,
// the kernel's, ours in codecs/lzo.ts). Greedy 4-byte hash matching.
//
//   first byte 17+n          n (1..238) literals at the very start
//   0000LLLL (after state 0) literal run: L = n-3 for n in 4..18, L = 0 + 0-bytes + n-18 beyond
//   the low 2 bits of a copy's last opcode or operand byte: 1..3 literals following the copy
//   01LDDDSS/1LLDDDSS + 1   copy of 3..8 bytes at distance 1..2048 ("M2")
//   001LLLLL + LE16          copy of 2..33 bytes (L = 0: 33 + extension) at distance 1..16384 ("M3")
//   0001HLLL + LE16          copy at distance 16385..49151 ("M4"); 0x11 0x00 0x00 ends the stream

const M2_MAX_LEN = 8;
const M2_MAX_OFFSET = 0x0800;
const M3_MAX_OFFSET = 0x4000;
const M4_MAX_OFFSET = 0xbfff;

class Lzo1xCompressor implements PageCompressor {
  private readonly table = new PositionTable();
  private readonly views = new ViewCache();

  constructor(readonly pageSize: number) {}

  compress(src: Uint8Array, srcOff: number, len: number, out: Uint8Array, outOff: number): number {
    const limit = outOff + len - 1; // output must stay below len bytes
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
  if (len <= M2_MAX_LEN && dist <= M2_MAX_OFFSET) {
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
      op = extension(out, op, len - 33);
    }
  } else {
    d = dist - M3_MAX_OFFSET;
    const hbit = (d & 0x4000) >> 11;
    if (len <= 9) out[op++] = 16 | hbit | (len - 2);
    else {
      out[op++] = 16 | hbit;
      op = extension(out, op, len - 9);
    }
  }
  out[op++] = (d << 2) & 0xff;
  out[op++] = (d >> 6) & 0xff;
  return op;
}

function extension(out: Uint8Array, op: number, rest: number): number {
  while (rest > 255) {
    out[op++] = 0;
    rest -= 255;
  }
  out[op++] = rest;
  return op;
}

// ---------------------------------------------------------------------------------------------
// Snappy raw block (what snappy_compress writes; makedumpfile -p): varint length, then literal
// and copy elements (1-byte offset copies for 4..11 bytes under 2048, else 2-byte offsets).

class SnappyCompressor implements PageCompressor {
  private readonly table = new PositionTable();
  private readonly views = new ViewCache();

  constructor(readonly pageSize: number) {}

  compress(src: Uint8Array, srcOff: number, len: number, out: Uint8Array, outOff: number): number {
    const limit = outOff + len - 1;
    const end = srcOff + len;
    let op = outOff;
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
        if (cand < srcOff || ip - cand > 0xffff || dv.getInt32(cand, true) !== seq) {
          ip += 1 + ((ip - anchor) >> 5);
          continue;
        }
        const mlen = 4 + matchLength(src, dv, cand + 4, ip + 4, end - ip - 4);
        const lit = ip - anchor;
        if (op + lit + 5 + 3 * (1 + (mlen >> 6)) > limit) return -1;
        op = literal(src, anchor, lit, out, op);
        op = snappyCopy(out, op, ip - cand, mlen);
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
  } else {
    out[op++] = 62 << 2;
    out[op++] = m & 0xff;
    out[op++] = (m >>> 8) & 0xff;
    out[op++] = m >>> 16;
  }
  if (n < 32) for (let i = 0; i < n; i++) out[op + i] = src[from + i]!;
  else out.set(src.subarray(from, from + n), op);
  return op + n;
}

function snappyCopy(out: Uint8Array, op: number, offset: number, len: number): number {
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

// ---------------------------------------------------------------------------------------------
// zstd: the reference library (WebAssembly build from npm) with one context and fixed input and
// output buffers inside the module's memory (makedumpfile: ZSTD_compressCCtx(cctx, ..., 1)).

interface ZstdModule {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _ZSTD_createCCtx(): number;
  _ZSTD_compressBound(n: number): number;
  _ZSTD_isError(code: number): number;
  _ZSTD_compress_usingDict(cctx: number, dst: number, dstCap: number, src: number, srcSize: number, dict: number, dictSize: number, level: number): number;
}

function zstdModule(): ZstdModule | undefined {
  try {
    const req = createRequire(import.meta.url);
    const entry = req.resolve('@bokuweb/zstd-wasm');
    const mod = req(join(dirname(entry), 'module.js')) as { Module?: ZstdModule };
    const M = mod.Module;
    return M && typeof M._ZSTD_compress_usingDict === 'function' && M.HEAPU8 ? M : undefined;
  } catch {
    return undefined;
  }
}

class ZstdCompressor implements PageCompressor {
  private readonly M: ZstdModule | undefined;
  private cctx = 0;
  private src = 0;
  private dst = 0;
  private bound = 0;
  private fallback: ((data: Uint8Array) => Uint8Array) | undefined;

  constructor(readonly pageSize: number) {
    this.M = zstdModule();
    if (this.M) {
      this.cctx = this.M._ZSTD_createCCtx();
      this.bound = this.M._ZSTD_compressBound(pageSize);
      this.src = this.M._malloc(pageSize);
      this.dst = this.M._malloc(this.bound);
    }
  }

  compress(src: Uint8Array, srcOff: number, len: number, out: Uint8Array, outOff: number): number {
    const M = this.M;
    if (!M || len > this.pageSize) return this.slow(src, srcOff, len, out, outOff);
    M.HEAPU8.set(src.subarray(srcOff, srcOff + len), this.src);
    const n = M._ZSTD_compress_usingDict(this.cctx, this.dst, this.bound, this.src, len, 0, 0, 1);
    if (M._ZSTD_isError(n) || n >= len) return -1;
    out.set(M.HEAPU8.subarray(this.dst, this.dst + n), outOff);
    return n;
  }

  private slow(src: Uint8Array, srcOff: number, len: number, out: Uint8Array, outOff: number): number {
    if (!this.fallback) {
      const req = createRequire(import.meta.url);
      const z = req('@bokuweb/zstd-wasm') as { compress: (d: Uint8Array, level: number) => Uint8Array };
      this.fallback = (d) => z.compress(d, 1);
    }
    const c = this.fallback(src.subarray(srcOff, srcOff + len));
    if (c.length >= len) return -1;
    out.set(c, outOff);
    return c.length;
  }
}
