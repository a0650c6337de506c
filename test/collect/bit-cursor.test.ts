import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BitCursor } from '../../src/collect/save.js';

test('BitCursor yields exactly the set bits below max, in order, whatever the batch size', () => {
  // Full bytes (0xff), empty bytes, mixed bytes, and a max that cuts a full byte.
  const bits = Uint8Array.from([0xff, 0xff, 0x00, 0x81, 0xff, 0x7f, 0xfe, 0xff, 0xff, 0x00, 0xff, 0xff]);
  for (const max of [0, 3, 8, 16, 29, 36, 37, 64, 89, 93, 96]) {
    const want: number[] = [];
    for (let p = 0; p < max; p++) if (bits[p >>> 3]! & (1 << (p & 7))) want.push(p);
    for (const size of [1, 3, 7, 8, 9, 16, 256]) {
      const cur = new BitCursor(bits, max);
      const buf = new Float64Array(size);
      const got: number[] = [];
      let n: number;
      while ((n = cur.next(buf)) > 0) got.push(...buf.subarray(0, n));
      assert.deepEqual(got, want, `max ${max}, batch ${size}`);
    }
  }
});
