import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { compress as zstdReference } from '@bokuweb/zstd-wasm';
import { createPageCompressor } from '../../src/collect/fast-codecs.js';
import { BatchCompressor } from '../../src/collect/compress-pool.js';
import { decompressPage, initCodecs, initCompressors, compressPage, type CodecName } from '../../src/formats/codecs/index.js';

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
}

/** Pages that exercise every encoding path: literal runs > 255, matches > 255, far matches. */
function samples(size: number): [string, Uint8Array][] {
  const r = rng(size);
  const random = Uint8Array.from({ length: size }, r);
  const text = Buffer.alloc(size);
  const words = ['kernel', 'page', 'struct', 'task', 'mm', 'vmcore', 'crash', '0x', 'ffff'];
  for (let i = 0; i < size; ) {
    const w = words[r() % words.length]! + (r() % 3 ? ' ' : '\n');
    text.write(w, i, 'latin1');
    i += w.length;
  }
  const halves = new Uint8Array(size);
  halves.set(random.subarray(0, size / 2));
  const far = new Uint8Array(size);
  far.set(random.subarray(0, 600));
  far.set(random.subarray(0, 600), size - 700); // a match at distance size - 700 (> 2048, > 16384 for 64 KiB)
  const stripes = Uint8Array.from({ length: size }, (_, i) => ((i >> 6) & 1 ? 0xaa : i & 0xff));
  const tiny = new Uint8Array(size);
  tiny[size - 1] = 1;
  const pointers = Buffer.alloc(size);
  for (let i = 0; i < size; i += 8) pointers.writeBigUInt64LE(0xffff888000000000n + BigInt((r() << 12) | (i & 0xff8)), i);
  return [
    ['zeros', new Uint8Array(size)],
    ['one byte', tiny],
    ['random', random],
    ['text', text],
    ['random then zeros', halves],
    ['far match', far],
    ['stripes', stripes],
    ['pointers', pointers],
  ];
}

for (const codec of ['zlib', 'lzo', 'snappy', 'zstd'] as CodecName[]) {
  for (const size of [4096, 65536]) {
    test(`${codec} page compressor round-trips through our decoder (${size}-byte pages)`, async () => {
      // One WebAssembly instance for everything (calling the package's init() again would
      // replace it under the compressor's feet).
      await initCodecs();
      await initCompressors();
      const c = await createPageCompressor(codec, size);
      const out = new Uint8Array(size * 2);
      for (const [name, page] of samples(size)) {
        // Compress at an offset inside a larger buffer, as the batch compressor does.
        const src = new Uint8Array(size + 24);
        src.set(page, 24);
        const n = c.compress(src, 24, size, out, 7);
        if (name === 'random') {
          assert.equal(n, -1, 'incompressible page reported as not smaller');
          continue;
        }
        assert.ok(n > 0 && n < size, `${name}: compressed to ${n}`);
        const back = decompressPage(codec, out.slice(7, 7 + n), size);
        assert.ok(Buffer.from(back).equals(page), `${name} round-trips`);
        if (codec === 'zlib') assert.ok(Buffer.from(out.subarray(7, 7 + n)).equals(deflateSync(page, { level: 1 })), `${name}: same bytes as zlib deflate level 1`);
        if (codec === 'zstd') {
          assert.ok(Buffer.from(out.subarray(7, 7 + n)).equals(Buffer.from(zstdReference(page, 1))), `${name}: same frame as ZSTD_compress level 1`);
        }
        // The codec index's compressPage gives a frame that decodes to the same page.
        const ref = compressPage(codec, page);
        if (ref) assert.ok(Buffer.from(decompressPage(codec, ref, size)).equals(page));
      }
    });
  }
}

test('batch compressor: zero pages shared only when asked, incompressible pages raw, codec flag per page', async () => {
  const size = 4096;
  const pages = samples(size);
  const input = new Uint8Array(size * pages.length);
  pages.forEach(([, p], i) => input.set(p, i * size));
  for (const share of [true, false]) {
    const b = await BatchCompressor.create({ codec: 'lzo', pageSize: size, shareZeroPages: share });
    const out = new Uint8Array(input.length);
    const r = b.compress(input, pages.length, out);
    let at = 0;
    pages.forEach(([name, p], i) => {
      const size_ = r.sizes[i]!;
      if (name === 'zeros' && share) {
        assert.equal(size_, 0);
        return;
      }
      if (name === 'random') {
        assert.equal(r.flags[i], 0);
        assert.equal(size_, size);
        assert.ok(Buffer.from(out.subarray(at, at + size)).equals(p));
      } else {
        assert.equal(r.flags[i], 0x2);
        assert.ok(Buffer.from(decompressPage('lzo', out.slice(at, at + size_), size)).equals(p), name);
      }
      at += size_;
    });
    assert.equal(r.length, at);
  }
});
