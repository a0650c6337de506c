import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Lzo1xCompressor, lzo1xCompress, lzo1xCompressInto, lzo1xDecompress, lzo1xMaxCompressedLength } from '../../../src/formats/codecs/lzo.js';
import { need, sharedDumps } from '../../helpers/dumps.js';
import { checkCodecOnRealPages } from '../../helpers/stored-pages.js';
import { bytes, concat, describeAllocationFree, hex, PAGE, randomBytes, TEXT } from '../../helpers/codec-vectors.js';

// Real data: pages of a kdump-compressed file written by makedumpfile -l, i.e. by liblzo2's
// lzo1x_1_compress, checked against the same pages of the ELF vmcore the file was made from.

const FLAG_LZO = 0x2;
const DUMP = sharedDumps().find((d) => d.name === '6.1-sysrq');

describe('lzo1x on real makedumpfile -l pages', () => {
  test('the first 2000 LZO pages decode to the vmcore pages and survive our compressor', async (t) => {
    if (!DUMP) return assert.fail('shared dump 6.1-sysrq not found');
    const file = join(DUMP.cacheDir, 'vmcore.d31.lzo');
    const elf = join(DUMP.cacheDir, 'vmcore.elf');
    if (!need(t, file) || !need(t, elf)) return;
    const r = await checkCodecOnRealPages({ file, elf, flag: FLAG_LZO, decompress: lzo1xDecompress, compress: lzo1xCompress, maxCompressed: PAGE + PAGE / 16 + 64 + 3 + 2 });
    t.diagnostic(`lzo1xDecompress: ${r.pages} real pages, ${r.mbps.toFixed(0)} MB/s of output`);
  });
});

// ---------------------------------------------------------------------------------------------
// Built-in vectors and malformed input.
// ---------------------------------------------------------------------------------------------



/** liblzo2 2.10 lzo1x_1_compress(TEXT). */
const TEXT_LIBLZO2 = hex(
  '0c6b64756d706b697420726561647320980100022d636f6d7072657373656420766d636f7265733ba40328a300454c46ec030220746f6f2e2e7c00205b20010d7320746f6f2e2054686520656e642e0a110000',
);
/** liblzo2 2.10 lzo1x_1_compress of a 4096-byte zero page. */
const ZERO_PAGE_LIBLZO2 = hex('02000000000020000000000000000000000000000000da10000c000000000000000000000000000000110000');

/** Asserts that `fn` throws a plain Error whose message matches `re`. */
function throwsLzo(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.match(e.message, /^LZO1X: /);
    assert.match(e.message, re);
    return true;
  });
}

describe('lzo1xDecompress', () => {
  test('decodes liblzo2 output: text and an all-zero page', () => {
    assert.deepEqual(lzo1xDecompress(TEXT_LIBLZO2, TEXT.length), Uint8Array.from(TEXT));
    assert.deepEqual(lzo1xDecompress(ZERO_PAGE_LIBLZO2, PAGE), new Uint8Array(PAGE));
  });

  test('empty input and a bare end marker', () => {
    throwsLzo(() => lzo1xDecompress(new Uint8Array(0), PAGE), /^LZO1X: input of 0 bytes is shorter than the 3-byte end-of-stream marker at input offset 0$/);
    assert.deepEqual(lzo1xDecompress(bytes(0x11, 0, 0), 0), new Uint8Array(0));
    // A valid stream that ends early yields the shorter output; the caller checks the length.
    assert.deepEqual(lzo1xDecompress(bytes(0x11, 0, 0), PAGE), new Uint8Array(0));
  });

  test('first-byte special case: 18..20 copy 1..3 literals, 21.. copy a literal run', () => {
    assert.deepEqual(lzo1xDecompress(bytes(0x12, 0x61, 0x11, 0, 0), 10), bytes(0x61));
    assert.deepEqual(lzo1xDecompress(bytes(0x14, 1, 2, 3, 0x11, 0, 0), 3), bytes(1, 2, 3));
    assert.deepEqual(lzo1xDecompress(bytes(0x15, 1, 2, 3, 4, 0x11, 0, 0), 4), bytes(1, 2, 3, 4));
  });

  test('M1 copies that lzo1x_1 never emits but the format allows (results match liblzo2)', () => {
    // After 1..3 literals, 0000DDSS copies 2 bytes from distance 1 + D + 4*H.
    assert.deepEqual(lzo1xDecompress(bytes(0x12, 0x61, 0x00, 0x00, 0x11, 0, 0), 10), bytes(0x61, 0x61, 0x61));
    // After a literal run, 0000DDSS copies 3 bytes from distance 2049 + D + 4*H.
    const lit = Uint8Array.from({ length: 2100 }, (_, i) => (i * 7 + 3) & 0xff);
    const stream = concat(bytes(0, 0, 0, 0, 0, 0, 0, 0, 0, 42), lit, bytes(0x00, 0x00, 0x11, 0, 0));
    assert.deepEqual(lzo1xDecompress(stream, 4096), concat(lit, lit.subarray(51, 54)));
  });

  test('lzo-rle (kernel bitstream version 1) zero runs', () => {
    // 17, version 1; one literal 'x'; zero run of ((0x18 & 7) | 12 << 3) + 4 = 100; end marker.
    const stream = bytes(17, 1, 0x12, 0x78, 0x18, 0xfc, 0xff, 12, 0x11, 0, 0);
    assert.deepEqual(lzo1xDecompress(stream, 200), concat(bytes(0x78), new Uint8Array(100)));
  });

  test('truncated input: every proper prefix of a valid stream throws', () => {
    throwsLzo(() => lzo1xDecompress(TEXT_LIBLZO2.subarray(0, TEXT_LIBLZO2.length - 3), TEXT.length), /^LZO1X: input ended without the end-of-stream marker \(0x11 0x00 0x00\) at input offset 80$/);
    throwsLzo(() => lzo1xDecompress(TEXT_LIBLZO2.subarray(0, 10), TEXT.length), /^LZO1X: literal run of 15 bytes runs past the end of the 10-byte input at input offset 0$/);
    for (let n = 0; n < TEXT_LIBLZO2.length; n++) {
      throwsLzo(() => lzo1xDecompress(TEXT_LIBLZO2.subarray(0, n), TEXT.length), /at input offset \d+$/);
    }
    for (let n = 0; n < ZERO_PAGE_LIBLZO2.length; n++) {
      throwsLzo(() => lzo1xDecompress(ZERO_PAGE_LIBLZO2.subarray(0, n), PAGE), /at input offset \d+$/);
    }
  });

  test('corrupted back-reference distance', () => {
    // 4 literals, then M2 "copy 4 bytes from distance 5": only 4 bytes exist.
    throwsLzo(
      () => lzo1xDecompress(bytes(0x15, 0x61, 0x62, 0x63, 0x64, 0x70, 0x00, 0x11, 0, 0), 100),
      /^LZO1X: back-reference distance 5 reaches before the start of the output \(only 4 bytes written\) at input offset 5$/,
    );
    // The same with distance 4 is fine.
    assert.deepEqual(lzo1xDecompress(bytes(0x15, 0x61, 0x62, 0x63, 0x64, 0x6c, 0x00, 0x11, 0, 0), 100), Uint8Array.from(Buffer.from('abcdabcd')));
    // Corrupt the distance byte of the first copy in the liblzo2 text vector: at offset 16,
    // 0x98 0x01 is M2 "5 bytes from distance 1 + 6 + 8*1"; 0x98 0xff asks for distance 2047.
    const bad = Uint8Array.from(TEXT_LIBLZO2);
    bad[17] = 0xff;
    throwsLzo(() => lzo1xDecompress(bad, TEXT.length), /^LZO1X: back-reference distance 2047 reaches before the start of the output \(only 15 bytes written\) at input offset 16$/);
  });

  test('output overrun past expectedSize', () => {
    // liblzo2's zero page ends with a 15-byte literal run of zeros at input offset 25.
    throwsLzo(() => lzo1xDecompress(ZERO_PAGE_LIBLZO2, PAGE - 1), /^LZO1X: literal run of 15 bytes overruns the 4095-byte output \(at output byte 4081\) at input offset 25$/);
    throwsLzo(() => lzo1xDecompress(ZERO_PAGE_LIBLZO2, 100), /^LZO1X: copy of 4076 bytes overruns the 100-byte output \(at output byte 5\) at input offset 6$/);
    throwsLzo(() => lzo1xDecompress(TEXT_LIBLZO2, 10), /^LZO1X: literal run of 15 bytes overruns the 10-byte output \(at output byte 0\) at input offset 0$/);
    throwsLzo(() => lzo1xDecompress(bytes(0x11, 0, 0), -1), /expectedSize must be a non-negative integer/);
  });

  test('bad end-of-stream markers', () => {
    throwsLzo(() => lzo1xDecompress(bytes(0x12, 0x61, 0x11, 0, 0, 0), 10), /^LZO1X: 1 unexpected byte\(s\) after the end-of-stream marker at input offset 5$/);
    throwsLzo(() => lzo1xDecompress(bytes(0x12, 0x61, 0x13, 0, 0), 10), /^LZO1X: end-of-stream marker has length 5, expected 3 .* at input offset 2$/);
    throwsLzo(() => lzo1xDecompress(bytes(0x12, 0x61, 0x12), 10), /^LZO1X: input ended inside a copy instruction at input offset 2$/);
  });

  test('random and mutated input only ever throws LZO1X errors, never hangs or reads out of bounds', () => {
    const valid = [TEXT_LIBLZO2, ZERO_PAGE_LIBLZO2, lzo1xCompress(randomBytes(PAGE, 7)), lzo1xCompress(Uint8Array.from(TEXT))];
    let seed = 99;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let i = 0; i < 20000; i++) {
      let input: Uint8Array;
      if (i % 2 === 0) {
        input = randomBytes(rnd(64), i + 1);
      } else {
        input = Uint8Array.from(valid[rnd(valid.length)]!);
        for (let k = 0; k <= rnd(3); k++) input[rnd(input.length)] = rnd(256);
      }
      try {
        const out = lzo1xDecompress(input, PAGE);
        assert.ok(out.length <= PAGE);
      } catch (e) {
        assert.ok(e instanceof Error && e.message.startsWith('LZO1X: '), String(e));
      }
    }
  });
});

describe('lzo1xCompress', () => {
  test('empty input is the bare end marker (as liblzo2)', () => {
    assert.deepEqual(lzo1xCompress(new Uint8Array(0)), bytes(0x11, 0, 0));
    assert.deepEqual(lzo1xCompress(bytes(0x61)), bytes(0x12, 0x61, 0x11, 0, 0));
  });

  test('all-zero page: one literal and one long M3 copy', () => {
    const c = lzo1xCompress(new Uint8Array(PAGE));
    // 0x12 0x00: first byte, one literal 0; 0x20 + 15 zero bytes + 0xed: copy 33 + 15*255 + 237 =
    // 4095 bytes; 0x00 0x00: distance 1, no trailing literals; then the end marker.
    assert.deepEqual(c, concat(bytes(0x12, 0x00, 0x20), new Uint8Array(15), bytes(0xed, 0x00, 0x00, 0x11, 0x00, 0x00)));
    assert.deepEqual(lzo1xDecompress(c, PAGE), new Uint8Array(PAGE));
  });

  test('random page: one literal run, byte-identical to liblzo2', () => {
    const page = randomBytes(PAGE, 0x2545f491);
    const c = lzo1xCompress(page);
    // 0 + 15 zero bytes + 253: literal run of 18 + 15*255 + 253 = 4096 bytes.
    assert.deepEqual(c, concat(bytes(0), new Uint8Array(15), bytes(253), page, bytes(0x11, 0, 0)));
    assert.deepEqual(lzo1xDecompress(c, PAGE), page);
  });

  test('round trips over sizes, distances (M2, M3, M4) and long lengths', () => {
    const cases: Uint8Array[] = [];
    for (const n of [1, 2, 3, 4, 5, 17, 18, 19, 238, 239, 240, 300, 4096, 70000]) cases.push(randomBytes(n, n));
    // Repeats at distances that need each copy form, with lengths that need length extensions.
    for (const dist of [1, 2, 7, 8, 2048, 2049, 16384, 16385, 32768, 32769, 49151, 49152]) {
      const n = dist + 3000;
      const b = randomBytes(n, dist);
      b.copyWithin(dist, 0, 3000);
      cases.push(b);
    }
    cases.push(Uint8Array.from(Buffer.from('abc'.repeat(5000) + 'xyz'.repeat(10))));
    for (const b of cases) {
      const c = lzo1xCompress(b);
      assert.ok(c.length <= b.length + b.length / 16 + 64 + 3 + 2, `${b.length} bytes compressed to ${c.length}`);
      assert.deepEqual(lzo1xDecompress(c, b.length), b, `round trip of ${b.length} bytes`);
    }
  });
});

describeAllocationFree({
  name: 'lzo1x',
  compress: lzo1xCompress,
  compressInto: lzo1xCompressInto,
  maxCompressedLength: lzo1xMaxCompressedLength,
  decompress: lzo1xDecompress,
  newCompressor: () => new Lzo1xCompressor(),
});
