import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPageCompressor, lzoImplementation } from '../../src/collect/fast-codecs.js';
import { Lzo1xCompressor, lzo1xDecompress } from '../../src/formats/codecs/lzo.js';
import { IN_CI, need, sharedDumps } from '../helpers/dumps.js';
import { saveTo, scratch } from './save-helpers.js';

/**
 * The collector's LZO1X compressor is liblzo2's lzo1x_1_compress (the `lzo` npm package's
 * native addon), which is what makedumpfile -l calls per page: with it our kdump files are the
 * very bytes makedumpfile writes. Without the addon the TypeScript compressor takes over.
 */

const work = scratch('lzo-native');
const native = lzoImplementation() !== 'TypeScript';

function nativeOrSkip(t: { skip(msg: string): void }): boolean {
  if (native) return true;
  // package.json lists the addon; on the project's machines (g++ and Node's headers) npm builds it.
  if (IN_CI) assert.fail('the lzo native addon (npm package lzo) is not built: run npm ci with g++ installed');
  t.skip('lzo native addon not built (npm package lzo): the TypeScript LZO1X compressor is used');
  return false;
}

test('lzo page compressor: native lzo1x_1 output decodes with our decoder; too-big output gives -1', async (t) => {
  if (!nativeOrSkip(t)) return;
  const c = await createPageCompressor('lzo', 4096);
  const out = new Uint8Array(8192);
  const text = Buffer.alloc(4096);
  for (let i = 0; i < 4096; i += 16) text.write(`pfn 0x${(i * 977).toString(16).padStart(8, '0')} `, i, 'latin1');
  let x = 7;
  const random = Uint8Array.from({ length: 4096 }, () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24);
  const src = new Uint8Array(3 * 4096);
  src.set(text, 4096);
  src.set(random, 8192);
  const n = c.compress(src, 4096, 4096, out, 5);
  assert.ok(n > 0 && n < 4096, `text page compressed to ${n}`);
  assert.ok(Buffer.from(lzo1xDecompress(out.subarray(5, 5 + n), 4096)).equals(text));
  assert.equal(c.compress(src, 8192, 4096, out, 0), -1, 'random page is not smaller: stored raw');
  // A zero page (the writer shares those at odd levels, but level 0 compresses them).
  const z = c.compress(new Uint8Array(4096), 0, 4096, out, 0);
  assert.ok(z > 0 && z < 64);
  assert.ok(Buffer.from(lzo1xDecompress(out.subarray(0, z), 4096)).equals(Buffer.alloc(4096)));
  // Both compressors make valid blocks of the same page; the TypeScript one is not lzo1x_1.
  const ts = new Lzo1xCompressor().compress(text, 0, 4096, out, 0);
  assert.ok(ts > 0 && Buffer.from(lzo1xDecompress(out.subarray(0, ts), 4096)).equals(text));
});

for (const d of sharedDumps()) {
  const src = join(d.cacheDir, 'vmcore.elf');
  const ref = join(d.cacheDir, 'vmcore.d31.lzo');
  test(`${d.name}: save --compress lzo --level 31 --rules 1.7.2 writes makedumpfile -l -d 31's file byte for byte`, async (t) => {
    if (!nativeOrSkip(t) || !need(t, src) || !need(t, ref)) return;
    const expected = readFileSync(ref);
    for (const threads of [0, 2]) {
      const file = join(work, `${d.name}.t${threads}.lzo`);
      await saveTo(src, file, 31, { codec: 'lzo', threads });
      const got = readFileSync(file);
      assert.equal(got.length, expected.length, `threads ${threads}: size`);
      const at = got.findIndex((b, i) => b !== expected[i]);
      assert.equal(at, -1, `threads ${threads}: first difference at byte ${at}`);
    }
  });
}
