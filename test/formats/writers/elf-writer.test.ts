import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ElfWriter, elfLayout, encodeElfHeader, encodeProgramHeaders, PFN_EXCLUDED, type ElfWriterInput } from '../../../src/formats/elf/writer.js';
import { PT_LOAD, PT_NOTE, readElfCore, type ProgramHeader } from '../../../src/formats/elf/elf64.js';
import { openDumpSource } from '../../../src/formats/open.js';
import { BufferSource } from '../../../src/util/file.js';
import { PageNotPresentError } from '../../../src/util/errors.js';
import { MemSink, note, pageFor, setBit } from './mem-sink.js';

const PS = 4096;
const KTEXT = 0xffffffff81000000n;
const DIRECT = 0xffff888000000000n;

function ehdr(): Buffer {
  const h = Buffer.alloc(64);
  h.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  h.writeUInt16LE(4, 16);
  h.writeUInt16LE(62, 18);
  h.writeUInt32LE(1, 20);
  h.writeBigUInt64LE(64n, 32);
  h.writeUInt16LE(64, 52);
  h.writeUInt16LE(56, 54);
  return h;
}

function phdr(index: number, type: number, paddr: bigint, memsz: bigint, vaddr = 0n): ProgramHeader {
  return { index, type, flags: type === PT_LOAD ? 7 : 0, offset: 0x2000n, vaddr, paddr, filesz: memsz, memsz, align: 0n };
}

/**
 * Three source PT_LOADs like /proc/vmcore's: [0x1000, 0x9fc00) (partial last page),
 * [0x100000, 0x500000) (1024 pages) and a kernel-text segment overlapping it.
 */
function source(): { phdrs: ProgramHeader[]; notes: Buffer } {
  const notes = Buffer.concat([note('CORE', 1, new Uint8Array(336)), note('VMCOREINFO', 0, Buffer.from('OSRELEASE=x\nPAGESIZE=4096\n'))]);
  const phdrs = [
    { ...phdr(0, PT_NOTE, 0n, BigInt(notes.length)), offset: 0x1000n },
    phdr(1, PT_LOAD, 0x200000n, 0x10000n, KTEXT + 0x1000000n),
    phdr(2, PT_LOAD, 0x1000n, 0x9ec00n, DIRECT + 0x1000n),
    phdr(3, PT_LOAD, 0x100000n, 0x400000n, DIRECT + 0x100000n),
  ];
  return { phdrs, notes };
}

function bitmapOf(max: number, keep: (pfn: number) => boolean): Uint8Array {
  const b = new Uint8Array(Math.ceil(max / 8));
  for (let p = 0; p < max; p++) if (keep(p)) setBit(b, p);
  return b;
}

test('ELF layout follows makedumpfile -E: runs of 256+ excluded pages split segments, shorter runs stay', () => {
  const { phdrs, notes } = source();
  const max = 0x500;
  // Excluded: pfns 0x10..0x19 (10 pages: stays data) and 0x180..0x2ab (300 pages: split).
  const dumpable = bitmapOf(max, (p) => !(p >= 0x10 && p < 0x1a) && !(p >= 0x180 && p < 0x180 + 300));
  const inp: ElfWriterInput = { pageSize: PS, ehdr: ehdr(), phdrs, notes, dumpable, maxMapnr: BigInt(max) };
  const L = elfLayout(inp);
  assert.equal(L.phnum, 1 + 1 + 1 + 2);
  assert.equal(L.noteOffset, BigInt(64 + 56 * L.phnum), 'notes right after the program headers');
  assert.equal(L.loadOffset, L.noteOffset + BigInt(notes.length), 'data right after the notes, unpadded');
  const [text, low, ramA, ramB] = L.loads;
  // Kernel text [0x200, 0x210) lies in the 300-page run: no data, but as the last segment of
  // its source PT_LOAD it keeps a file offset.
  assert.deepEqual([text!.paddr, text!.filesz, text!.memsz, text!.vaddr, text!.offset], [0x200000n, 0n, 0x10000n, KTEXT + 0x1000000n, L.loadOffset]);
  // [0x1000, 0x9fc00): the 10-page gap is written as data; the partial last page counts its bytes.
  assert.equal(low!.paddr, 0x1000n);
  assert.equal(low!.memsz, 0x9ec00n);
  assert.equal(low!.filesz, 0x9ec00n);
  assert.equal(low!.offset, text!.offset + text!.filesz);
  // [0x100000, 0x500000): pfns 0x100..0x17f, then 300 excluded, then 0x2ac..0x4ff.
  assert.equal(ramA!.paddr, 0x100000n);
  assert.equal(ramA!.filesz, 0x80n * 4096n);
  assert.equal(ramA!.memsz, (0x80n + 300n) * 4096n, 'the excluded run counts in p_memsz only');
  assert.equal(ramB!.paddr, 0x100000n + ramA!.memsz);
  assert.equal(ramB!.vaddr, DIRECT + 0x100000n + ramA!.memsz);
  assert.equal(ramB!.filesz, BigInt(0x500 - 0x2ac) * 4096n);
  assert.equal(ramB!.memsz, ramB!.filesz);
  assert.equal(ramB!.offset, ramA!.offset + ramA!.filesz);
  assert.equal(L.elfExcludedPages, 300n + 16n);
  assert.equal(L.fileSize, ramB!.offset + ramB!.filesz);
  // Header: source's, with e_phnum.
  const h = Buffer.from(encodeElfHeader(inp, L));
  assert.equal(h.readUInt16LE(56), L.phnum);
  assert.equal(h.readUInt32LE(48), 0);
  assert.equal(Buffer.from(encodeElfHeader(inp, L, 1)).readUInt32LE(48), 1);
  const t = Buffer.from(encodeProgramHeaders(L));
  assert.equal(t.readUInt32LE(0), PT_NOTE, 'PT_NOTE first');
  assert.equal(t.readBigUInt64LE(8), L.noteOffset);
  assert.equal(t.readBigUInt64LE(32), BigInt(notes.length));
});

test('a segment that ends in 256+ excluded pages keeps them in p_memsz; an all-excluded segment gets p_offset 0', () => {
  const { phdrs, notes } = source();
  const max = 0x500;
  // Low segment and kernel text: nothing dumpable. Big segment: 512 excluded pages, then
  // 0x300..0x30f, 480 excluded, 0x4f0..0x4ff.
  const dumpable = bitmapOf(max, (p) => (p >= 0x300 && p < 0x310) || p >= 0x4f0);
  const inp: ElfWriterInput = { pageSize: PS, ehdr: ehdr(), phdrs, notes, dumpable, maxMapnr: BigInt(max) };
  const L = elfLayout(inp);
  const low = L.loads[1]!;
  assert.equal(low.filesz, 0n);
  assert.equal(low.memsz, 0x9ec00n);
  assert.notEqual(low.offset, 0n, 'the last segment of a source PT_LOAD keeps its offset even when empty');
  const big = L.loads.slice(2);
  assert.equal(big.length, 3);
  assert.equal(big[0]!.filesz, 0n);
  assert.equal(big[0]!.memsz, 512n * 4096n);
  assert.equal(big[0]!.offset, 0n, 'a segment without data in the middle gets p_offset 0');
  assert.equal(big[1]!.paddr, 0x300000n);
  assert.equal(big[1]!.filesz, 0x10n * 4096n);
  assert.equal(big[1]!.memsz, (0x10n + 480n) * 4096n);
  assert.equal(big[2]!.paddr, 0x4f0000n);
  assert.equal(big[2]!.filesz, 0x10n * 4096n);
  assert.equal(L.elfExcludedPages, 16n + 0x9fn + 512n + 480n);
  assert.equal(big[1]!.offset, low.offset, 'segment data stays contiguous');
});

test('written ELF reads back: data where kept, excluded ranges raise excluded, e_flags cleared at the end', async () => {
  const { phdrs, notes } = source();
  const max = 0x500;
  const dumpable = bitmapOf(max, (p) => !(p >= 0x180 && p < 0x180 + 300));
  const inp: ElfWriterInput = { pageSize: PS, ehdr: ehdr(), phdrs, notes, dumpable, maxMapnr: BigInt(max) };
  const sink = new MemSink();
  const w = new ElfWriter(sink, inp);
  w.begin();
  assert.equal(sink.bytes().readUInt32LE(48), 1, 'incomplete while writing');
  const L = w.layout;
  for (const s of L.loads) {
    const data = Buffer.alloc(Number(s.filesz));
    for (let o = 0; o < data.length; o += PS) {
      const pfn = Number(s.paddr / 4096n) + o / PS;
      pageFor(pfn).copy(data, o, 0, Math.min(PS, data.length - o));
    }
    if (data.length) w.writeData(s.offset, data);
  }
  w.finish();
  const f = sink.bytes();
  assert.equal(f.readUInt32LE(48), 0);
  const dump = await openDumpSource(new BufferSource('mem.elf', f));
  assert.equal(dump.format, 'elf');
  assert.equal(dump.vmcoreinfo?.osrelease, 'x');
  assert.ok(Buffer.from(dump.memory.read(0x100000n, PS)).equals(pageFor(0x100)));
  assert.ok(Buffer.from(dump.memory.read(0x2ac000n, PS)).equals(pageFor(0x2ac)));
  assert.throws(() => dump.memory.read(0x280000n, 8), (e: unknown) => e instanceof PageNotPresentError && e.reason === 'excluded');
});

test('65535 or more program headers: PN_XNUM with the count in section header 0', async () => {
  // One dumpable page, then 256 excluded, repeated: every repetition is a new PT_LOAD.
  const reps = 0xffff;
  const period = 1 + PFN_EXCLUDED;
  const pages = reps * period;
  const notes = note('VMCOREINFO', 0, Buffer.from('PAGESIZE=4096\n'));
  const phdrs = [{ ...phdr(0, PT_NOTE, 0n, BigInt(notes.length)), offset: 0x1000n }, phdr(1, PT_LOAD, 0n, BigInt(pages) * 4096n, DIRECT)];
  const dumpable = new Uint8Array(Math.ceil(pages / 8));
  for (let i = 0; i < reps; i++) setBit(dumpable, i * period);
  const inp: ElfWriterInput = { pageSize: PS, ehdr: ehdr(), phdrs, notes, dumpable, maxMapnr: BigInt(pages) };
  const L = elfLayout(inp);
  assert.equal(L.loads.length, reps);
  assert.ok(L.xnum);
  assert.equal(L.noteOffset, BigInt(64 + 56 * L.phnum + 64), 'section header between the table and the notes');
  const sink = new MemSink();
  const w = new ElfWriter(sink, inp);
  w.begin();
  w.finish();
  const f = sink.bytes();
  assert.equal(f.readUInt16LE(56), 0xffff);
  assert.equal(f.readBigUInt64LE(40), BigInt(64 + 56 * L.phnum));
  assert.equal(f.readUInt16LE(58), 64);
  assert.equal(f.readUInt16LE(60), 1);
  const sh = Number(f.readBigUInt64LE(40));
  assert.equal(f.readUInt32LE(sh + 44), L.phnum, 'sh_info = real e_phnum');
  const core = readElfCore(new BufferSource('xnum.elf', Buffer.concat([f, Buffer.alloc(Number(L.fileSize) - f.length)])));
  assert.equal(core.phdrs.length, L.phnum);
});
