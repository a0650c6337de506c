import * as zlib from 'node:zlib';

/**
 * The WebAssembly package is imported only when zstd is used (initZstd / initZstdCompress):
 * loading and compiling it costs tens of milliseconds, which every `kdumpkit save` of an ELF
 * vmcore and every compression worker paid before without needing it.
 */
type ZstdWasm = typeof import('@bokuweb/zstd-wasm');
let wasm: ZstdWasm | undefined;

/**
 * zstd frames (makedumpfile -z, ZSTD_compressCCtx). Node >= 22.15 has zstd in node:zlib; on
 * older Node we use the WebAssembly build of the reference library from npm.
 */
type ZstdSync = (buf: Uint8Array, opts?: { maxOutputLength?: number }) => Buffer;
const native = (zlib as unknown as { zstdDecompressSync?: ZstdSync }).zstdDecompressSync;

let wasmReady = false;
let wasmInit: Promise<void> | undefined;
let cctx: number | undefined;
const NO_DICT = new Uint8Array(0);

function initWasm(): Promise<void> {
  wasmInit ??= import('@bokuweb/zstd-wasm').then(async (m) => {
    await m.init();
    wasm = m;
    wasmReady = true;
  });
  return wasmInit;
}

export async function initZstd(): Promise<void> {
  if (native) return;
  await initWasm();
}

export function zstdDecompress(data: Uint8Array, maxSize: number): Uint8Array {
  if (native) return native(data, { maxOutputLength: maxSize });
  if (!wasmReady || !wasm) throw new Error('zstd codec used before initCodecs()');
  return wasm.decompress(data);
}

/**
 * Loads the WebAssembly zstd even where Node has a native decoder: compression always uses it,
 * so that one compression context can be reused for every page (as makedumpfile reuses its
 * ZSTD_CCtx); Node's zstdCompressSync would set up a new context per 4 KiB page.
 */
export async function initZstdCompress(): Promise<void> {
  await initWasm();
}

/**
 * One zstd frame of `data` at `level` (makedumpfile -z: ZSTD_compressCCtx(cctx, …, 1)).
 * ZSTD_compress_usingDict with an empty dictionary is what ZSTD_compressCCtx does.
 */
export function zstdCompress(data: Uint8Array, level = 1): Uint8Array {
  if (!wasmReady || !wasm) throw new Error('zstd compression used before initCompressors()');
  cctx ??= wasm.createCCtx();
  return wasm.compressUsingDict(cctx, data, NO_DICT, level);
}
