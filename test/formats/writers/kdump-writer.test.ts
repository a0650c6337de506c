import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KdumpWriter, encodeDiskDumpHeader, kdumpLayout, type KdumpWriterInput, type StoredBatch } from '../../../src/formats/kdump/writer.js';
import { SinkWriteError } from '../../../src/formats/kdump/flattened-writer.js';
import { BatchCompressor } from '../../../src/collect/compress-pool.js';
import { openDumpSource } from '../../../src/formats/open.js';
import { BufferSource } from '../../../src/util/file.js';
import { PageNotPresentError } from '../../../src/util/errors.js';
import type { CodecName } from '../../../src/formats/codecs/index.js';
import { MemSink, note, pageFor, setBit } from './mem-sink.js';

const PS = 4096;
const VMCOREINFO = 'OSRELEASE=6.99.0-test\nPAGESIZE=4096\nNUMBER(phys_base)=123\nCRASHTIME=1700000000\n';

function notes(): Buffer {
  const prstatus = new Uint8Array(336);
  return Buffer.concat([note('CORE', 1, prstatus), note('CORE', 1, prstatus), note('VMCOREINFO', 0, Buffer.from(VMCOREINFO, 'latin1'))]);
}

function utsname(): Uint8Array {
  const u = Buffer.alloc(390);
  ['Linux', 'testhost', '6.99.0-test', '#1 SMP', 'x86_64', '(none)'].forEach((s, i) => u.write(s, i * 65, 'latin1'));
  return u;
}

/** 37 pfns: RAM 1..30 (plus junk bits past max_mapnr), dumpable 2..5, 10, 20..25; zero pages 3 and 21. */
function input(level: number, codec: CodecName | undefined): { input: KdumpWriterInput; pages: Map<number, Buffer>; dumpable: number[] } {
  const max = 37;
  const ram = new Uint8Array(8);
  const dump = new Uint8Array(8);
  for (let p = 1; p <= 30; p++) setBit(ram, p);
  for (const p of [37, 38, 39, 45]) setBit(ram, p); // past max_mapnr: must not reach the file
  const dumpable = [2, 3, 4, 5, 10, 20, 21, 22, 23, 24, 25];
  for (const p of dumpable) setBit(dump, p);
  setBit(dump, 40);
  const pages = new Map<number, Buffer>();
  for (const p of dumpable) pages.set(p, p === 3 || p === 21 ? Buffer.alloc(PS) : pageFor(p));
  // One page that no codec can shrink: stored raw.
  const rnd = Buffer.alloc(PS);
  let x = 12345;
  for (let i = 0; i < PS; i++) rnd[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  pages.set(24, rnd);
  return {
    input: { pageSize: PS, maxMapnr: BigInt(max), ram, dumpable: dump, notes: notes(), utsname: utsname(), crashTime: 1700000000n, physBase: -308281344n, dumpLevel: level, codec },
    pages,
    dumpable,
  };
}

async function batches(inp: KdumpWriterInput, pages: Map<number, Buffer>, pfns: number[], level: number, per = 4): Promise<StoredBatch[]> {
  const c = await BatchCompressor.create({ codec: inp.codec, pageSize: PS, shareZeroPages: (level & 1) !== 0 });
  const out: StoredBatch[] = [];
  for (let i = 0; i < pfns.length; i += per) {
    const chunk = pfns.slice(i, i + per);
    const buf = Buffer.concat(chunk.map((p) => pages.get(p)!));
    const o = new Uint8Array(chunk.length * PS);
    const r = c.compress(new Uint8Array(buf.buffer, buf.byteOffset, buf.length), chunk.length, o);
    out.push({ count: chunk.length, sizes: r.sizes, flags: r.flags, data: o.subarray(0, r.length) });
  }
  return out;
}

test('kdump layout and headers are byte-exact (makedumpfile write_kdump_header)', async () => {
  const { input: inp, pages, dumpable } = input(31, 'zlib');
  const sink = new MemSink();
  const w = new KdumpWriter(sink, inp);
  const L = w.layout;
  const notesLen = inp.notes.length;
  assert.equal(L.subHdrSize, Math.ceil((104 + notesLen) / PS));
  assert.equal(L.bitmapBlocks, 2);
  assert.equal(L.bitmap1Offset, (1 + L.subHdrSize) * PS);
  assert.equal(L.bitmap2Offset, L.bitmap1Offset + PS);
  assert.equal(L.descsOffset, (1 + L.subHdrSize + 2) * PS);
  assert.equal(L.numDumpable, dumpable.length);
  assert.equal(L.dataOffset, L.descsOffset + 24 * dumpable.length);
  assert.equal(L.zeroPageOffset, L.dataOffset);
  assert.equal(L.nrCpus, 2);
  w.begin();
  // While writing, a file carries the incomplete flag.
  assert.equal(sink.bytes().readUInt32LE(424), 0x1 | 0x8);
  for (const b of await batches(inp, pages, dumpable, 31)) w.writeBatch(b);
  w.finish();
  const f = sink.bytes();
  assert.equal(f.subarray(0, 8).toString('latin1'), 'KDUMP   ');
  assert.equal(f.readInt32LE(8), 6);
  assert.equal(f.subarray(12, 17).toString('latin1'), 'Linux');
  assert.equal(f.subarray(77, 85).toString('latin1'), 'testhost');
  assert.equal(f.subarray(142, 153).toString('latin1'), '6.99.0-test');
  assert.equal(f.subarray(272, 278).toString('latin1'), 'x86_64');
  assert.deepEqual([...f.subarray(402, 408)], [0, 0, 0, 0, 0, 0]);
  assert.equal(f.readBigInt64LE(408), 1700000000n);
  assert.equal(f.readBigInt64LE(416), 0n);
  assert.equal(f.readUInt32LE(424), 0x1, 'status: zlib only, in-progress flag cleared');
  assert.equal(f.readInt32LE(428), PS);
  assert.equal(f.readInt32LE(432), L.subHdrSize);
  assert.equal(f.readUInt32LE(436), 2);
  assert.equal(f.readUInt32LE(440), 37);
  for (const off of [444, 448, 452, 456]) assert.equal(f.readUInt32LE(off), 0);
  assert.equal(f.readInt32LE(460), 2);
  assert.ok(f.subarray(464, PS).every((b) => b === 0), 'rest of block 0 is zero');
  // Sub-header at block_size.
  const s = PS;
  assert.equal(f.readBigUInt64LE(s), BigInt.asUintN(64, -308281344n));
  assert.equal(f.readInt32LE(s + 8), 31);
  assert.equal(f.readInt32LE(s + 12), 0);
  assert.equal(f.readBigUInt64LE(s + 16), 0n);
  assert.equal(f.readBigUInt64LE(s + 24), 0n);
  const viDesc = notesLen - ((VMCOREINFO.length + 3) & ~3);
  assert.equal(f.readBigInt64LE(s + 32), BigInt(PS + 104 + viDesc));
  assert.equal(f.readBigUInt64LE(s + 40), BigInt(VMCOREINFO.length));
  assert.equal(f.readBigInt64LE(s + 48), BigInt(PS + 104));
  assert.equal(f.readBigUInt64LE(s + 56), BigInt(notesLen));
  assert.equal(f.readBigInt64LE(s + 64), 0n);
  assert.equal(f.readBigUInt64LE(s + 72), 0n);
  assert.equal(f.readBigUInt64LE(s + 80), 0n);
  assert.equal(f.readBigUInt64LE(s + 88), 0n);
  assert.equal(f.readBigUInt64LE(s + 96), 37n);
  assert.ok(f.subarray(PS + 104, PS + 104 + notesLen).equals(inp.notes), 'notes copied verbatim at 4200');
  // Bitmaps: exactly ceil(37/8) = 5 bytes each, bits past max_mapnr cleared.
  const b1 = f.subarray(L.bitmap1Offset, L.bitmap1Offset + 8);
  assert.deepEqual([...b1], [0xfe, 0xff, 0xff, 0x7f, 0x00, 0, 0, 0]);
  const b2 = f.subarray(L.bitmap2Offset, L.bitmap2Offset + 8);
  assert.deepEqual([...b2], [0x3c, 0x04, 0xf0, 0x03, 0x00, 0, 0, 0]);
  // Shared zero page first in the data area; zero pages' descriptors point at it.
  assert.ok(f.subarray(L.dataOffset, L.dataOffset + PS).every((b) => b === 0));
  const desc = (i: number): { off: bigint; size: number; flags: number; pf: bigint } => {
    const o = L.descsOffset + 24 * i;
    return { off: f.readBigInt64LE(o), size: f.readUInt32LE(o + 8), flags: f.readUInt32LE(o + 12), pf: f.readBigUInt64LE(o + 16) };
  };
  assert.deepEqual(desc(1), { off: BigInt(L.dataOffset), size: PS, flags: 0, pf: 0n });
  assert.deepEqual(desc(6), { off: BigInt(L.dataOffset), size: PS, flags: 0, pf: 0n });
  assert.equal(desc(0).off, BigInt(L.dataOffset + PS), 'first stored page right after the zero page');
  assert.equal(desc(0).flags, 0x1);
  assert.ok(desc(0).size < PS);
  assert.equal(desc(9).flags, 0, 'incompressible page (pfn 24) is stored raw');
  assert.equal(desc(9).size, PS);
  let cursor = BigInt(L.dataOffset + PS);
  for (let i = 0; i < dumpable.length; i++) {
    const d = desc(i);
    if (d.off === BigInt(L.dataOffset)) continue;
    assert.equal(d.off, cursor, `descriptor ${i} data is packed back to back`);
    cursor += BigInt(d.size);
  }
  assert.equal(BigInt(f.length), cursor);
  // Header equals what encodeDiskDumpHeader gives for the final state.
  assert.ok(f.subarray(0, 464).equals(Buffer.from(encodeDiskDumpHeader(inp, kdumpLayout(inp)))));
});

for (const codec of ['zlib', 'lzo', 'snappy', 'zstd', undefined] as const) {
  for (const level of [0, 1, 31]) {
    test(`written file reads back page for page (${codec ?? 'raw'}, level ${level})`, async () => {
      const { input: inp, pages, dumpable } = input(level, codec);
      const sink = new MemSink();
      const w = new KdumpWriter(sink, inp);
      w.begin();
      for (const b of await batches(inp, pages, dumpable, level, 3)) w.writeBatch(b);
      w.finish();
      const dump = await openDumpSource(new BufferSource('mem.kdump', sink.bytes()));
      assert.equal(dump.format, 'kdump');
      if (dump.format !== 'kdump') return;
      assert.equal(dump.kdump.codec, codec);
      assert.equal(dump.kdump.sub.dumpLevel, level);
      assert.equal(dump.kdump.header.nrCpus, 2);
      assert.equal(dump.prstatus.length, 2);
      assert.equal(dump.vmcoreinfo?.text, VMCOREINFO);
      assert.equal(dump.kdump.header.utsname.nodename, 'testhost');
      for (const p of dumpable) {
        assert.ok(Buffer.from(dump.memory.read(BigInt(p * PS), PS)).equals(pages.get(p)!), `pfn ${p}`);
        const zero = p === 3 || p === 21;
        assert.equal(dump.memory.pageState(BigInt(p)), zero && level & 1 ? 'zero' : 'present');
      }
      assert.equal(dump.memory.pageState(6n), 'excluded');
      assert.equal(dump.memory.pageState(0n), 'hole');
      assert.equal(dump.memory.pageState(31n), 'hole');
      assert.equal(dump.memory.pageState(40n), 'hole', 'bits past max_mapnr never reach the file');
    });
  }
}

test('a stream gets the final header at once; a file is rewritten at the end', async () => {
  const { input: inp, pages, dumpable } = input(31, 'lzo');
  const sink = new MemSink('stream', Infinity, 'stream');
  const w = new KdumpWriter(sink, inp);
  w.begin();
  assert.equal(sink.bytes().readUInt32LE(424), 0x2);
  for (const b of await batches(inp, pages, dumpable, 31)) w.writeBatch(b);
  w.finish();
  assert.equal(sink.writes.filter((x) => x.offset === 0n).length, 1, 'header written once');
});

test('disk full: pages whose data did not make it lose their descriptor, header flagged 0x8', async () => {
  const { input: inp, pages, dumpable } = input(31, 'zlib');
  const full = new MemSink();
  const w0 = new KdumpWriter(full, inp);
  w0.begin();
  const bs = await batches(inp, pages, dumpable, 31, 4);
  for (const b of bs) w0.writeBatch(b);
  w0.finish();
  const L = w0.layout;
  // Capacity ends inside the data of the second batch.
  const firstBatchEnd = L.dataOffset + PS + bs[0]!.data.length;
  const capacity = firstBatchEnd + 100;
  const sink = new MemSink('small', capacity);
  const w = new KdumpWriter(sink, inp);
  w.begin();
  w.writeBatch(bs[0]!);
  assert.throws(() => w.writeBatch(bs[1]!), (e: unknown) => e instanceof SinkWriteError && e.errno === 'ENOSPC' && /no space left on device \(ENOSPC\)/.test(e.message));
  assert.ok(w.markIncomplete());
  const f = sink.bytes();
  assert.equal(f.readUInt32LE(424), 0x1 | 0x8);
  const dump = await openDumpSource(new BufferSource('small.kdump', f));
  assert.ok(dump.format === 'kdump');
  // Batch 1 (pfns 2,3,4,5) is complete. Batch 2 (10,20,21,22) had its descriptors written
  // before its data ran out: they are zeroed again from the first page whose data is missing
  // (pfn 10) on. Batch 3 was never written.
  for (const p of [2, 3, 4, 5]) assert.ok(Buffer.from(dump.memory.read(BigInt(p * PS), PS)).equals(pages.get(p)!), `pfn ${p} readable`);
  for (const p of [10, 20, 21, 22, 23, 24, 25]) {
    assert.equal(dump.memory.pageState(BigInt(p)), 'incomplete', `pfn ${p}`);
    assert.throws(() => dump.memory.read(BigInt(p * PS), 8), (e: unknown) => e instanceof PageNotPresentError && e.reason === 'incomplete');
  }
});
