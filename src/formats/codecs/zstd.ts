import * as zlib from 'node:zlib';
import { init, decompress, createCCtx, compressUsingDict } from '@bokuweb/zstd-wasm';

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
  wasmInit ??= init().then(() => {
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
  if (!wasmReady) throw new Error('zstd codec used before initCodecs()');
  return decompress(data);
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
  if (!wasmReady) throw new Error('zstd compression used before initCompressors()');
  cctx ??= createCCtx();
  return compressUsingDict(cctx, data, NO_DICT, level);
}
