import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSink, FlattenedSink, flatRecordHeader, flatStreamHeader, reassembleFlattened } from '../../../src/formats/kdump/flattened-writer.js';
import { FlattenedSource, isFlattened } from '../../../src/formats/kdump/flattened.js';
import { BufferSource } from '../../../src/util/file.js';
import { FormatError } from '../../../src/util/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-flat-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writeStream(name: string, writes: [bigint, string][], end = true): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  const s = new FlattenedSink(path, fd, false);
  for (const [off, text] of writes) s.write(off, Buffer.from(text, 'latin1'));
  if (end) s.end();
  closeSync(fd);
  return path;
}

test('the stream is makedumpfile -F: 4096-byte header, big-endian record headers, end marker', () => {
  const path = writeStream('a.flat', [
    [4096n, 'sub'],
    [0n, 'KDUMP   '],
  ]);
  const b = readFileSync(path);
  assert.equal(b.length, 4096 + 16 + 3 + 16 + 8 + 16);
  assert.equal(b.subarray(0, 16).toString('latin1'), 'makedumpfile\0\0\0\0');
  assert.equal(b.readBigInt64BE(16), 1n, 'type TYPE_FLAT_HEADER');
  assert.equal(b.readBigInt64BE(24), 1n, 'version VERSION_FLAT_HEADER');
  assert.ok(b.subarray(32, 4096).every((x) => x === 0));
  assert.equal(b.readBigInt64BE(4096), 4096n);
  assert.equal(b.readBigInt64BE(4104), 3n);
  assert.equal(b.subarray(4112, 4115).toString(), 'sub');
  assert.ok(b.subarray(b.length - 16).equals(Buffer.alloc(16, 0xff)), 'end marker offset = size = -1');
  assert.ok(isFlattened(b.subarray(0, 24)));
  assert.ok(Buffer.from(flatStreamHeader()).equals(b.subarray(0, 4096)));
  assert.ok(Buffer.from(flatRecordHeader(-1n, -1n)).equals(Buffer.alloc(16, 0xff)));
  // Our reader serves it in place.
  const f = new FlattenedSource(new BufferSource(path, b));
  assert.equal(Buffer.from(f.read(0n, 8)).toString('latin1'), 'KDUMP   ');
  assert.equal(Buffer.from(f.read(4096n, 3)).toString('latin1'), 'sub');
});

test('reassemble replays records in order: later writes win, gaps stay zero (makedumpfile -R)', () => {
  const path = writeStream('b.flat', [
    [100n, 'AAAAAAAAAA'],
    [0n, 'hello'],
    [104n, 'BB'],
    [108n, 'CCCC'],
  ]);
  const out = join(dir, 'b.out');
  const fd = openSync(out, 'w');
  const inFd = openSync(path, 'r');
  const r = reassembleFlattened({ fd: inFd, name: path }, new FileSink(out, fd, false));
  closeSync(inFd);
  closeSync(fd);
  assert.equal(r.records, 4);
  assert.equal(r.size, 112);
  assert.equal(r.streamBytes, readFileSync(path).length);
  const b = readFileSync(out);
  assert.equal(b.subarray(0, 5).toString(), 'hello');
  assert.ok(b.subarray(5, 100).every((x) => x === 0));
  assert.equal(b.subarray(100, 112).toString(), 'AAAABBAACCCC');
});

test('large records are copied in bounded pieces', () => {
  const big = 'x'.repeat(3 << 20) + 'END';
  const path = writeStream('c.flat', [[8192n, big]]);
  const out = join(dir, 'c.out');
  const fd = openSync(out, 'w');
  const inFd = openSync(path, 'r');
  reassembleFlattened({ fd: inFd, name: path }, new FileSink(out, fd, false));
  closeSync(inFd);
  closeSync(fd);
  const b = readFileSync(out);
  assert.equal(b.length, 8192 + big.length);
  assert.equal(b.subarray(b.length - 3).toString(), 'END');
});

function reassembleError(bytes: Buffer): FormatError {
  const path = join(dir, 'bad.flat');
  writeFileSync(path, bytes);
  const out = join(dir, 'bad.out');
  const fd = openSync(out, 'w');
  const inFd = openSync(path, 'r');
  try {
    reassembleFlattened({ fd: inFd, name: path }, new FileSink(out, fd, false));
  } catch (e) {
    if (e instanceof FormatError) return e;
    throw e;
  } finally {
    closeSync(inFd);
    closeSync(fd);
  }
  assert.fail('expected a FormatError');
}

test('bad streams are one clear error naming the stream offset', () => {
  const ok = readFileSync(writeStream('d.flat', [[0n, 'abcd']]));
  const noEnd = ok.subarray(0, ok.length - 16);
  const e1 = reassembleError(noEnd);
  assert.match(e1.message, /ends in the middle of a record header \(0 of 16 bytes\): the stream is truncated/);
  assert.equal(e1.offset, BigInt(noEnd.length));
  const cut = ok.subarray(0, 4096 + 16 + 2);
  assert.match(reassembleError(cut).message, /payload of the record at stream offset 0x1000/);
  const sig = Buffer.from(ok);
  sig.write('makedumpfilX', 0, 'latin1');
  assert.match(reassembleError(sig).message, /not a flattened dump stream/);
  const type = Buffer.from(ok);
  type.writeBigInt64BE(2n, 16);
  assert.match(reassembleError(type).message, /type 2 is not 1/);
  const zero = Buffer.concat([ok.subarray(0, 4096), flatRecordHeader(0n, 0n), Buffer.alloc(16, 0xff)]);
  assert.match(reassembleError(zero).message, /bad flattened record header \(offset 0, size 0\)/);
  const short = Buffer.alloc(100);
  assert.match(reassembleError(short).message, /ends in the middle of the flattened header/);
});
