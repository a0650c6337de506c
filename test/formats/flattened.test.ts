import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlattenedSource, isFlattened } from '../../src/formats/kdump/flattened.js';
import { BufferSource } from '../../src/util/file.js';
import { FormatError } from '../../src/util/errors.js';

function header(): Buffer {
  const h = Buffer.alloc(4096);
  h.write('makedumpfile', 0, 'latin1');
  h.writeBigInt64BE(1n, 16);
  h.writeBigInt64BE(1n, 24);
  return h;
}
function rec(offset: bigint, data: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeBigInt64BE(offset, 0);
  h.writeBigInt64BE(BigInt(data.length), 8);
  return Buffer.concat([h, data]);
}
const END = Buffer.alloc(16, 0xff);

test('records are placed at their offsets; gaps read as zeros; later writes win', () => {
  const stream = Buffer.concat([
    header(),
    rec(100n, Buffer.from('AAAAAAAAAA')), // 100..110
    rec(0n, Buffer.from('hello')),
    rec(104n, Buffer.from('BB')), // overwrites 104..106
    rec(108n, Buffer.from('CCCC')), // overlaps the tail of the first and extends it
    END,
  ]);
  assert.ok(isFlattened(stream.subarray(0, 24)));
  const f = new FlattenedSource(new BufferSource('t.flat', stream));
  assert.equal(f.size, 112n);
  assert.equal(f.recordCount, 4);
  assert.equal(Buffer.from(f.read(0n, 5)).toString(), 'hello');
  assert.deepEqual([...f.read(5n, 3)], [0, 0, 0]);
  assert.equal(Buffer.from(f.read(100n, 12)).toString(), 'AAAABBAACCCC');
  assert.throws(() => f.read(110n, 4), FormatError);
});

test('a stream without end marker or with a record past EOF is rejected with its offset', () => {
  const noEnd = Buffer.concat([header(), rec(0n, Buffer.from('x'))]);
  assert.throws(() => new FlattenedSource(new BufferSource('a.flat', noEnd)), (e: unknown) => e instanceof FormatError && /no end marker/.test(e.message) && e.offset === 4113n);
  const cut = Buffer.concat([header(), rec(0n, Buffer.from('xxxx'))]).subarray(0, 4096 + 18);
  assert.throws(() => new FlattenedSource(new BufferSource('b.flat', cut)), (e: unknown) => e instanceof FormatError && /past end of file/.test(e.message) && e.offset === 4096n);
  const neg = Buffer.concat([header(), rec(-5n, Buffer.from('x')), END]);
  assert.throws(() => new FlattenedSource(new BufferSource('c.flat', neg)), /bad flattened record header/);
});
