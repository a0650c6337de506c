import { deflateSync, inflateSync } from 'node:zlib';
import { lzo1xCompress, lzo1xDecompress } from './lzo.js';
import { snappyCompress, snappyDecompress } from './snappy.js';
import { zstdCompress, zstdDecompress, initZstd, initZstdCompress } from './zstd.js';

/** Page codecs of the kdump-compressed format (makedumpfile diskdump_mod.h DUMP_DH_COMPRESSED_*). */
export type CodecName = 'zlib' | 'lzo' | 'snappy' | 'zstd';

/** Flag bits used both in disk_dump_header.status and page_desc.flags. */
export const CODEC_FLAGS: Readonly<Record<CodecName, number>> = {
  zlib: 0x01,
  lzo: 0x02,
  snappy: 0x04,
  zstd: 0x20,
};

export function codecFromFlags(flags: number): CodecName | undefined {
  if (flags & CODEC_FLAGS.zlib) return 'zlib';
  if (flags & CODEC_FLAGS.lzo) return 'lzo';
  if (flags & CODEC_FLAGS.snappy) return 'snappy';
  if (flags & CODEC_FLAGS.zstd) return 'zstd';
  return undefined;
}

/** Must be awaited once before zstd pages are decoded (the zstd codec is WebAssembly). */
export async function initCodecs(): Promise<void> {
  await initZstd();
}

/**
 * Decompresses one page and checks that it expands to exactly `pageSize` bytes.
 * Throws a plain Error describing the corruption; callers add file and offset.
 */
export function decompressPage(codec: CodecName, data: Uint8Array, pageSize: number): Uint8Array {
  let out: Uint8Array;
  switch (codec) {
    case 'zlib':
      out = inflateSync(data, { maxOutputLength: pageSize });
      break;
    case 'lzo':
      out = lzo1xDecompress(data, pageSize);
      break;
    case 'snappy':
      out = snappyDecompress(data, pageSize);
      break;
    case 'zstd':
      out = zstdDecompress(data, pageSize);
      break;
  }
  if (out.length !== pageSize) throw new Error(`${codec} data decompressed to ${out.length} bytes, expected ${pageSize}`);
  return out;
}

/** Must be awaited once before compressPage (zstd compression is WebAssembly). */
export async function initCompressors(): Promise<void> {
  await initZstdCompress();
}

/**
 * Compresses one page the way makedumpfile does (write_kdump_pages_cyclic): zlib
 * deflate level 1 (Z_BEST_SPEED) as a zlib stream, LZO1X-1, raw snappy, or one zstd frame at
 * level 1. Returns undefined when the result is not smaller than the page: the page is then
 * stored raw (descriptor flags 0), as makedumpfile stores it. (The collector's hot loop uses
 * collect/fast-codecs.ts, which writes the same formats without allocating per page; for LZO1X
 * and snappy it uses the same compressors, Lzo1xCompressor and SnappyCompressor.)
 */
export function compressPage(codec: CodecName, page: Uint8Array): Uint8Array | undefined {
  let out: Uint8Array;
  switch (codec) {
    case 'zlib':
      out = deflateSync(page, { level: 1 });
      break;
    case 'lzo':
      out = lzo1xCompress(page);
      break;
    case 'snappy':
      out = snappyCompress(page);
      break;
    case 'zstd':
      out = zstdCompress(page, 1);
      break;
  }
  return out.length < page.length ? out : undefined;
}
