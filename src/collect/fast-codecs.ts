import * as zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { CodecName } from '../formats/codecs/index.js';
import { Lzo1xCompressor } from '../formats/codecs/lzo.js';
import { SnappyCompressor } from '../formats/codecs/snappy.js';

/**
 * Page compressors for the collector's hot loop. They produce the same formats as
 * codecs/index.ts compressPage (zlib level 1 stream, LZO1X block, raw snappy block, zstd frame at
 * level 1) but are built for throughput on worker threads (LZO1X and snappy are the
 * Lzo1xCompressor and SnappyCompressor of formats/codecs; zlib and zstd are adapted here):
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
  /** True when the work happens in native code (nothing for V8 to compile first: no warm-up). */
  readonly native?: boolean;
}

export async function createPageCompressor(codec: CodecName, pageSize: number): Promise<PageCompressor> {
  switch (codec) {
    case 'zlib':
      return new ZlibCompressor(pageSize);
    case 'lzo':
      return nativeLzo1x() ?? new Lzo1xCompressor();
    case 'snappy':
      return new SnappyCompressor();
    case 'zstd':
      // Imported here so that workers compressing zlib or LZO never load the zstd WebAssembly.
      await (await import('../formats/codecs/index.js')).initCompressors();
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

  get native(): boolean {
    return this.handle !== undefined;
  }

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
// LZO1X-1: makedumpfile -l calls liblzo2's lzo1x_1_compress(page, page_size, buf_out, &size_out,
// wrkmem) per page (makedumpfile.c write_kdump_pages_cyclic) and stores the page raw unless the
// result is smaller. The npm package `lzo` (an optional dependency) builds that same function
// (miniLZO 2.09, the lzo1x_1 compressor of liblzo2 with LZO1X_1_MEM_COMPRESS) as a native addon
// with node-gyp: about 3x the speed of our TypeScript compressor and the very bytes makedumpfile
// writes. Without it (no compiler when npm installed it), Lzo1xCompressor writes different but
// equally valid LZO1X blocks.

interface LzoBinding {
  /** lzo1x_1_compress(input, len, output, &outLen, wrkmem); `output` needs the worst-case room. */
  compress(input: Uint8Array, output: Uint8Array): { err: number; len: number };
}

let lzoBinding: LzoBinding | null | undefined;

function lzoAddon(): LzoBinding | undefined {
  if (lzoBinding === undefined) {
    lzoBinding = null;
    try {
      const req = createRequire(import.meta.url);
      const b = req(join(dirname(req.resolve('lzo/package.json')), 'build', 'Release', 'node_lzo.node')) as Partial<LzoBinding>;
      if (typeof b.compress === 'function') lzoBinding = b as LzoBinding;
    } catch {
      // Not installed or not built: the TypeScript compressor is used.
    }
  }
  return lzoBinding ?? undefined;
}

/** Which LZO1X compressor the collector uses here (for the bench and the docs). */
export function lzoImplementation(): 'liblzo2 lzo1x_1 (native)' | 'TypeScript' {
  return lzoAddon() ? 'liblzo2 lzo1x_1 (native)' : 'TypeScript';
}

function nativeLzo1x(): PageCompressor | undefined {
  const b = lzoAddon();
  return b ? new NativeLzo1xCompressor(b) : undefined;
}

class NativeLzo1xCompressor implements PageCompressor {
  readonly native = true;
  /** lzo1x_1_compress does not check the output size: give it lzo1x_worst_compress room. */
  private scratch = new Uint8Array(0);

  constructor(private readonly binding: LzoBinding) {}

  compress(src: Uint8Array, srcOff: number, len: number, out: Uint8Array, outOff: number): number {
    const need = len + (len >>> 4) + 64 + 3;
    if (this.scratch.length < need) this.scratch = new Uint8Array(need);
    const r = this.binding.compress(src.subarray(srcOff, srcOff + len), this.scratch);
    if (r.err !== 0 || r.len >= len) return -1;
    out.set(this.scratch.subarray(0, r.len), outOff);
    return r.len;
  }
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
