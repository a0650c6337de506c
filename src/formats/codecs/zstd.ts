import * as zlib from 'node:zlib';
import { init, decompress } from '@bokuweb/zstd-wasm';

/**
 * zstd frames (makedumpfile -z, ZSTD_compressCCtx). Node >= 22.15 has zstd in node:zlib; on
 * older Node we use the WebAssembly build of the reference library from npm.
 */
type ZstdSync = (buf: Uint8Array, opts?: { maxOutputLength?: number }) => Buffer;
const native = (zlib as unknown as { zstdDecompressSync?: ZstdSync }).zstdDecompressSync;

let ready: Promise<void> | undefined;
let wasmReady = false;

export async function initZstd(): Promise<void> {
  if (native) return;
  ready ??= init().then(() => {
    wasmReady = true;
  });
  await ready;
}

export function zstdDecompress(data: Uint8Array, maxSize: number): Uint8Array {
  if (native) return native(data, { maxOutputLength: maxSize });
  if (!wasmReady) throw new Error('zstd codec used before initCodecs()');
  return decompress(data);
}
