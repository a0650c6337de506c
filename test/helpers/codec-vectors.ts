import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

/** Shared inputs and checks of the LZO1X and snappy codec tests. */

export const PAGE = 4096;
export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
export const bytes = (...v: number[]): Uint8Array => Uint8Array.from(v);
export const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

/** Deterministic xorshift32 bytes (incompressible). */
export function randomBytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** The text whose reference-library compressions are embedded in the codec tests. */
export const TEXT = Buffer.from('kdumpkit reads kdump-compressed vmcores; kdumpkit reads ELF vmcores too. '.repeat(3) + 'The end.\n');

export interface AllocationFreeCodec {
  /** e.g. 'lzo1x' */
  readonly name: string;
  readonly compress: (src: Uint8Array) => Uint8Array;
  readonly compressInto: (src: Uint8Array, dst: Uint8Array) => number;
  readonly maxCompressedLength: (n: number) => number;
  readonly decompress: (src: Uint8Array, size: number) => Uint8Array;
  readonly newCompressor: () => { compress(src: Uint8Array, srcOff: number, len: number, out: Uint8Array, outOff: number): number };
}

/** The allocation-free compressor forms agree with the one-shot form and handle offsets. */
export function describeAllocationFree(c: AllocationFreeCodec): void {
  describe(`${c.name}CompressInto and the page compressor (allocation-free forms)`, () => {
    const inputs = [new Uint8Array(0), new Uint8Array(PAGE), randomBytes(PAGE, 3), Uint8Array.from(TEXT), randomBytes(70000, 9), new Uint8Array(100)];
    inputs[4]!.copyWithin(30000, 0, 20000);

    test(`${c.name}CompressInto writes what ${c.name}Compress returns; a too-small dst gives -1`, () => {
      // Long inputs then short ones: the shared hash table must not leak positions between inputs.
      for (const b of inputs) {
        const dst = new Uint8Array(c.maxCompressedLength(b.length));
        const n = c.compressInto(b, dst);
        assert.deepEqual(dst.subarray(0, n), c.compress(b));
        assert.deepEqual(c.decompress(dst.slice(0, n), b.length), b);
      }
      assert.equal(c.compressInto(randomBytes(PAGE, 5), new Uint8Array(PAGE)), -1);
    });

    test('page form: compresses at offsets, -1 when not smaller than the input', () => {
      const k = c.newCompressor();
      const src = new Uint8Array(24 + PAGE);
      const out = new Uint8Array(7 + PAGE);
      for (const page of [new Uint8Array(PAGE), Uint8Array.from(Buffer.alloc(PAGE, TEXT))]) {
        src.set(page, 24);
        const n = k.compress(src, 24, PAGE, out, 7);
        assert.ok(n > 0 && n < PAGE, `compressed to ${n}`);
        assert.deepEqual(c.decompress(out.slice(7, 7 + n), PAGE), page);
      }
      src.set(randomBytes(PAGE, 11), 24);
      assert.equal(k.compress(src, 24, PAGE, out, 7), -1);
    });
  });
}
