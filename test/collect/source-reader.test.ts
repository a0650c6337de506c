import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDump } from '../../src/formats/open.js';
import { SourceReader } from '../../src/collect/source-reader.js';
import { performReads } from '../../src/collect/compress-pool.js';
import { MappedFile } from '../../src/collect/mapped-source.js';
import { IN_CI } from '../helpers/dumps.js';

const PS = 4096;

/**
 * A small ELF core: PT_NOTE, a "kernel text" PT_LOAD [0x20000, 0x24000) whose bytes differ
 * from the RAM PT_LOAD [0x10000, 0x40000) that also covers it, and a PT_LOAD [0x1000, 0x9c00)
 * ending inside a page.
 */
function makeCore(path: string): { fill: (pa: number) => number } {
  const loads = [
    { paddr: 0x20000, size: 0x4000, tag: 0xa0 },
    { paddr: 0x1000, size: 0x8c00, tag: 0x10 },
    { paddr: 0x10000, size: 0x30000, tag: 0x50 },
  ];
  const phnum = 1 + loads.length;
  const dataStart = 0x2000;
  const ehdr = Buffer.alloc(64);
  ehdr.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  ehdr.writeUInt16LE(4, 16);
  ehdr.writeUInt16LE(62, 18);
  ehdr.writeUInt32LE(1, 20);
  ehdr.writeBigUInt64LE(64n, 32);
  ehdr.writeUInt16LE(64, 52);
  ehdr.writeUInt16LE(56, 54);
  ehdr.writeUInt16LE(phnum, 56);
  const ph = Buffer.alloc(56 * phnum);
  ph.writeUInt32LE(4, 0);
  ph.writeBigUInt64LE(0x1000n, 8);
  let off = dataStart;
  const chunks: Buffer[] = [];
  const fill = (pa: number, tag: number): number => (tag + (pa >> 12) + (pa & 0xff)) & 0xff;
  loads.forEach((l, i) => {
    const o = 56 * (i + 1);
    ph.writeUInt32LE(1, o);
    ph.writeUInt32LE(7, o + 4);
    ph.writeBigUInt64LE(BigInt(off), o + 8);
    ph.writeBigUInt64LE(0xffff888000000000n + BigInt(l.paddr), o + 16);
    ph.writeBigUInt64LE(BigInt(l.paddr), o + 24);
    ph.writeBigUInt64LE(BigInt(l.size), o + 32);
    ph.writeBigUInt64LE(BigInt(l.size), o + 40);
    chunks.push(Buffer.from(Uint8Array.from({ length: l.size }, (_, k) => fill(l.paddr + k, l.tag))));
    off += l.size;
  });
  const head = Buffer.alloc(dataStart);
  ehdr.copy(head);
  ph.copy(head, 64);
  writeFileSync(path, Buffer.concat([head, ...chunks]));
  // The byte the reader must return at pa: the first segment in file order that holds it.
  return {
    fill: (pa) => {
      const l = loads.find((x) => pa >= x.paddr && pa < x.paddr + x.size);
      return l ? fill(pa, l.tag) : 0;
    },
  };
}

test('source reader: one pread per run, earlier segments win overlaps, partial pages zero-filled; workers read the same', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-src-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'core');
  const { fill } = makeCore(path);
  const dump = await openDump(path);
  const reader = new SourceReader(dump);
  try {
    const pfns = Float64Array.from([0x1, 0x2, 0x9, 0x10, 0x1f, 0x20, 0x21, 0x23, 0x24, 0x3f]);
    const viaMain = new Uint8Array(pfns.length * PS);
    reader.readPages(pfns, pfns.length, viaMain);
    for (let i = 0; i < pfns.length; i++) {
      for (const k of [0, 1, 0xbff, 0xc00, 0xfff]) {
        const pa = pfns[i]! * PS + k;
        assert.equal(viaMain[i * PS + k], fill(pa), `pa 0x${pa.toString(16)}`);
      }
    }
    assert.equal(reader.unreadable, 0);
    // Page 9 is only partly backed ([0x9000, 0x9c00)): no worker plan for a batch with it.
    assert.equal(reader.planReads(pfns, pfns.length), undefined);
    const full = Float64Array.from([0x1, 0x2, 0x3, 0x10, 0x1f, 0x20, 0x21, 0x23, 0x24, 0x3f]);
    const plan = reader.planReads(full, full.length)!;
    assert.ok(plan);
    // Runs: [1,3] in one read; 0x10 and 0x1f separate; 0x20-0x21 from the text segment; 0x23
    // (text) and 0x24 (RAM) are consecutive pfns in different segments: two reads.
    assert.equal(plan.length / 4, 7);
    const expected = new Uint8Array(full.length * PS);
    reader.readPages(full, full.length, expected);
    const viaWorker = new Uint8Array(full.length * PS);
    const fd = openSync(path, 'r');
    assert.deepEqual(performReads(fd, plan, viaWorker, PS), { unreadable: 0, note: undefined });
    closeSync(fd);
    assert.ok(Buffer.from(viaWorker).equals(Buffer.from(expected)));
    // Through memory maps (the native helper): the same pages, left in place in the windows.
    const mfd = openSync(path, 'r');
    const mapped = MappedFile.open(mfd);
    if (!mapped) assert.ok(!IN_CI, 'the mmap helper (build/kdumpkit_mmap.node) is built by npm ci in CI');
    else {
      const scratch = new Uint8Array(full.length * PS);
      const out = performReads(mfd, plan, scratch, PS, mapped);
      assert.equal(out.unreadable, 0);
      assert.ok(out.refs, 'pages are referenced, not copied');
      assert.ok(scratch.every((b) => b === 0), 'nothing was read into the input buffer');
      for (let i = 0; i < full.length; i++) {
        const page = out.refs.bytes[i]!.subarray(out.refs.offsets[i]!, out.refs.offsets[i]! + PS);
        assert.ok(Buffer.from(page).equals(Buffer.from(expected.subarray(i * PS, (i + 1) * PS))), `mapped page ${i} (pfn 0x${full[i]!.toString(16)})`);
      }
      // A range past the end of the file is not mapped (it would fault): pread reports it.
      const past = Float64Array.from([statSync(path).size, PS, 0, 0x5000]);
      const tail = performReads(mfd, past, new Uint8Array(PS).fill(7), PS, mapped);
      assert.equal(tail.unreadable, 1);
      assert.equal(tail.refs, undefined);
      mapped.close();
    }
    closeSync(mfd);
    // A read that fails (here: a directory) is retried per page and saved as zeros.
    const dfd = openSync(dir, 'r');
    const z = new Uint8Array(full.length * PS).fill(7);
    const r = performReads(dfd, plan, z, PS);
    closeSync(dfd);
    assert.equal(r.unreadable, full.length);
    assert.match(r.note!, /^physical 0x1000: unreadable, saved as zeros \(EISDIR\)/);
    assert.ok(z.every((b) => b === 0));
  } finally {
    reader.close();
    dump.close();
  }
});
