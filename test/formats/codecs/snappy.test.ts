import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SnappyCompressor, snappyCompress, snappyCompressInto, snappyDecompress, snappyMaxCompressedLength } from '../../../src/formats/codecs/snappy.js';
import { need, sharedDumps } from '../../helpers/dumps.js';
import { checkCodecOnRealPages } from '../../helpers/stored-pages.js';
import { bytes, concat, describeAllocationFree, hex, PAGE, randomBytes, TEXT } from '../../helpers/codec-vectors.js';

// Real data: the shared kdump file written by makedumpfile 1.7.9 -p (libsnappy), checked
// against the ELF vmcore it was made from.

const FLAG_SNAPPY = 0x4;
const DUMP = sharedDumps().find((d) => d.name === '6.1-sysrq');

describe('snappy on real makedumpfile -p pages', () => {
  test('the first 2000 snappy pages decode to the vmcore pages and survive our compressor', async (t) => {
    if (!DUMP) return assert.fail('shared dump 6.1-sysrq not found');
    const file = join(DUMP.dir, 'vmcore.d31.snappy');
    const elf = join(DUMP.cacheDir, 'vmcore.elf');
    if (!need(t, file) || !need(t, elf)) return;
    const r = await checkCodecOnRealPages({ file, elf, flag: FLAG_SNAPPY, decompress: snappyDecompress, compress: snappyCompress, maxCompressed: 32 + PAGE + PAGE / 6 });
    t.diagnostic(`snappyDecompress: ${r.pages} real pages, ${r.mbps.toFixed(0)} MB/s of output`);
  });
});

// ---------------------------------------------------------------------------------------------
// Built-in vectors and malformed input.
// ---------------------------------------------------------------------------------------------



/** libsnappy 1.1.9 snappy_compress(TEXT). */
const TEXT_LIBSNAPPY = hex(
  'e401386b64756d706b697420726561647320050f4c2d636f6d7072657373656420766d636f7265733b091a192908454c46111c1020746f6f2e3e2000fe4900ee49000d492054686520656e642e0a',
);
/**
 * libsnappy 1.1.9 snappy_compress of a 4096-byte zero page: length 0x80 0x20, one literal zero,
 * 63 copies (2-byte offset 1) of 64 bytes and one of 63.
 */
const ZERO_PAGE_LIBSNAPPY = hex('80200000' + 'fe0100'.repeat(63) + 'fa0100');

/** Asserts that `fn` throws a plain Error whose message matches `re`. */
function throwsSnappy(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.match(e.message, /^snappy: /);
    assert.match(e.message, re);
    return true;
  });
}

describe('snappyDecompress', () => {
  test('decodes libsnappy output: text and an all-zero page', () => {
    assert.deepEqual(snappyDecompress(TEXT_LIBSNAPPY, TEXT.length), Uint8Array.from(TEXT));
    assert.deepEqual(snappyDecompress(ZERO_PAGE_LIBSNAPPY, PAGE), new Uint8Array(PAGE));
  });

  test('empty input and an empty block', () => {
    throwsSnappy(() => snappyDecompress(new Uint8Array(0), PAGE), /^snappy: empty input, no length preamble at input offset 0$/);
    assert.deepEqual(snappyDecompress(bytes(0), 0), new Uint8Array(0));
  });

  test('every element kind, including long literals and 4-byte offsets', () => {
    // literal "ab"; copy-4 (tag 0b000111_11: len 8) offset 2 -> "ababababab"
    assert.deepEqual(snappyDecompress(bytes(10, 0x04, 0x61, 0x62, 0x1f, 2, 0, 0, 0), 10), Uint8Array.from(Buffer.from('ababababab')));
    // literal with a 1-byte length (tag 60 << 2, len-1 = 99), then copy-1 len 11 offset 100
    const lit = randomBytes(100, 5);
    assert.deepEqual(snappyDecompress(concat(bytes(111, 0xf0, 99), lit, bytes(0x1d, 100)), 111), concat(lit, lit.subarray(0, 11)));
    // literal with a 2-, 3- and 4-byte length field
    const big = randomBytes(300, 6);
    assert.deepEqual(snappyDecompress(concat(bytes(0xac, 0x02, 0xf4, 0x2b, 0x01), big), 300), big);
    assert.deepEqual(snappyDecompress(concat(bytes(0xac, 0x02, 0xf8, 0x2b, 0x01, 0x00), big), 300), big);
    assert.deepEqual(snappyDecompress(concat(bytes(0xac, 0x02, 0xfc, 0x2b, 0x01, 0x00, 0x00), big), 300), big);
  });

  test('length preamble must equal expectedSize', () => {
    throwsSnappy(() => snappyDecompress(ZERO_PAGE_LIBSNAPPY, PAGE - 1), /^snappy: length preamble says 4096 bytes, expected 4095 at input offset 0$/);
    throwsSnappy(() => snappyDecompress(bytes(0xff, 0xff, 0xff, 0xff, 0x1f), PAGE), /^snappy: length preamble exceeds 32 bits at input offset 4$/);
    throwsSnappy(() => snappyDecompress(bytes(0x80, 0x80), PAGE), /^snappy: input ended inside the length preamble at input offset 2$/);
    assert.throws(() => snappyDecompress(bytes(0), 1.5), /expectedSize must be a non-negative integer/);
  });

  test('truncated input: every proper prefix of a valid stream throws', () => {
    throwsSnappy(() => snappyDecompress(TEXT_LIBSNAPPY.subarray(0, 30), TEXT.length), /^snappy: literal of 20 bytes runs past the end of the 30-byte input at input offset 20$/);
    throwsSnappy(() => snappyDecompress(ZERO_PAGE_LIBSNAPPY.subarray(0, 99), PAGE), /^snappy: input ended inside a 2-byte-offset copy at input offset 97$/);
    throwsSnappy(() => snappyDecompress(ZERO_PAGE_LIBSNAPPY.subarray(0, 103), PAGE), /^snappy: input ended after 2113 of 4096 bytes of output at input offset 103$/);
    for (let n = 0; n < TEXT_LIBSNAPPY.length; n++) {
      throwsSnappy(() => snappyDecompress(TEXT_LIBSNAPPY.subarray(0, n), TEXT.length), /at input offset \d+$/);
    }
    for (let n = 0; n < ZERO_PAGE_LIBSNAPPY.length; n++) {
      throwsSnappy(() => snappyDecompress(ZERO_PAGE_LIBSNAPPY.subarray(0, n), PAGE), /at input offset \d+$/);
    }
  });

  test('corrupted back-reference offsets', () => {
    // literal "abcd", then copy-1 len 4 offset 5: only 4 bytes exist.
    throwsSnappy(
      () => snappyDecompress(bytes(8, 0x0c, 0x61, 0x62, 0x63, 0x64, 0x01, 0x05), 8),
      /^snappy: copy offset 5 reaches before the start of the output \(only 4 bytes written\) at input offset 6$/,
    );
    assert.deepEqual(snappyDecompress(bytes(8, 0x0c, 0x61, 0x62, 0x63, 0x64, 0x01, 0x04), 8), Uint8Array.from(Buffer.from('abcdabcd')));
    throwsSnappy(() => snappyDecompress(bytes(8, 0x0c, 0x61, 0x62, 0x63, 0x64, 0x01, 0x00), 8), /^snappy: copy with offset 0 at input offset 6$/);
    // The zero page's first copy (offset 4: fe 01 00) pointed 2 bytes back instead of 1.
    const bad = Uint8Array.from(ZERO_PAGE_LIBSNAPPY);
    bad[5] = 2;
    throwsSnappy(() => snappyDecompress(bad, PAGE), /^snappy: copy offset 2 reaches before the start of the output \(only 1 bytes written\) at input offset 4$/);
  });

  test('output overrun past the announced length', () => {
    throwsSnappy(() => snappyDecompress(bytes(4, 0x10, 1, 2, 3, 4, 5), 4), /^snappy: literal of 5 bytes overruns the 4-byte output \(at output byte 0\) at input offset 1$/);
    throwsSnappy(() => snappyDecompress(bytes(8, 0x0c, 0x61, 0x62, 0x63, 0x64, 0x05, 0x04), 8), /^snappy: copy of 5 bytes overruns the 8-byte output \(at output byte 4\) at input offset 6$/);
  });

  test('random and mutated input only ever throws snappy errors, never hangs or reads out of bounds', () => {
    const valid = [TEXT_LIBSNAPPY, ZERO_PAGE_LIBSNAPPY, snappyCompress(randomBytes(PAGE, 7)), snappyCompress(Uint8Array.from(TEXT))];
    let seed = 99;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let i = 0; i < 20000; i++) {
      let input: Uint8Array;
      let size: number;
      if (i % 2 === 0) {
        input = randomBytes(1 + rnd(64), i + 1);
        input[0] = size = rnd(128); // a plausible one-byte length preamble
      } else {
        const k = rnd(valid.length);
        input = Uint8Array.from(valid[k]!);
        size = k === 0 ? TEXT.length : k === 3 ? TEXT.length : PAGE;
        for (let j = 0; j <= rnd(3); j++) input[rnd(input.length)] = rnd(256);
      }
      try {
        const out = snappyDecompress(input, size);
        assert.equal(out.length, size);
      } catch (e) {
        assert.ok(e instanceof Error && e.message.startsWith('snappy: '), String(e));
      }
    }
  });
});

describe('snappyCompress', () => {
  test('empty and tiny input (as libsnappy)', () => {
    assert.deepEqual(snappyCompress(new Uint8Array(0)), bytes(0));
    assert.deepEqual(snappyCompress(bytes(0x61)), bytes(1, 0, 0x61));
  });

  test('all-zero page: byte-identical to libsnappy', () => {
    assert.deepEqual(snappyCompress(new Uint8Array(PAGE)), ZERO_PAGE_LIBSNAPPY);
  });

  test('random page: one literal, byte-identical to libsnappy', () => {
    const page = randomBytes(PAGE, 0x2545f491);
    const c = snappyCompress(page);
    // Length 4096, literal tag 61 << 2 with a 2-byte len-1 of 4095, the page.
    assert.deepEqual(c, concat(bytes(0x80, 0x20, 0xf4, 0xff, 0x0f), page));
    assert.deepEqual(snappyDecompress(c, PAGE), page);
  });

  test('round trips over sizes, offsets and long matches', () => {
    const cases: Uint8Array[] = [];
    for (const n of [1, 2, 3, 4, 5, 60, 61, 256, 257, 4096, 65536, 70000]) cases.push(randomBytes(n, n));
    for (const dist of [1, 2, 7, 2047, 2048, 65535, 65536]) {
      const n = dist + 3000;
      const b = randomBytes(n, dist);
      b.copyWithin(dist, 0, 3000);
      cases.push(b);
    }
    cases.push(Uint8Array.from(Buffer.from('abc'.repeat(5000) + 'xyz'.repeat(10))));
    for (const b of cases) {
      const c = snappyCompress(b);
      assert.ok(c.length <= 32 + b.length + b.length / 6, `${b.length} bytes compressed to ${c.length}`);
      assert.deepEqual(snappyDecompress(c, b.length), b, `round trip of ${b.length} bytes`);
    }
  });
});

describeAllocationFree({
  name: 'snappy',
  compress: snappyCompress,
  compressInto: snappyCompressInto,
  maxCompressedLength: snappyMaxCompressedLength,
  decompress: snappyDecompress,
  newCompressor: () => new SnappyCompressor(),
});
