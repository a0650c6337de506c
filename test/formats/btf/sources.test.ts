import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { btfFromDumpMemory, btfFromElf, btfFromElfSource, btfFromFile, findBtfCandidates, findBtfInImage } from '../../../src/formats/btf/sources.js';
import { findElfSection } from '../../../src/formats/elf/sections.js';
import { FaultError, FormatError } from '../../../src/util/errors.js';
import { BufferSource } from '../../../src/util/file.js';
import type { VirtualMemory } from '../../../src/memory/address-space.js';
import { BtfBuilder } from './builder.js';

function sampleBtf(extraName = 'task_struct'): Uint8Array {
  const b = new BtfBuilder();
  const int = b.int('int', 4, { signed: true });
  b.struct(extraName, 8, [{ name: 'pid', type: int, bitOffset: 0 }]);
  return b.build();
}

interface Sec {
  name: string;
  data: Uint8Array;
  type?: number;
  flags?: bigint;
  /** Lie about the size in the header. */
  size?: number;
}

/** A minimal ELF file with the given sections (plus the null section and .shstrtab). */
function buildElf(sections: Sec[], o: { is64?: boolean; bigEndian?: boolean } = {}): Uint8Array {
  const is64 = o.is64 ?? true;
  const le = !o.bigEndian;
  const ehsize = is64 ? 64 : 52;
  const shentsize = is64 ? 64 : 40;
  const names = ['', ...sections.map((s) => s.name), '.shstrtab'];
  const nameOffs: number[] = [];
  const shstr: number[] = [];
  for (const n of names) {
    nameOffs.push(shstr.length);
    shstr.push(...Buffer.from(n, 'latin1'), 0);
  }
  const datas = [new Uint8Array(0), ...sections.map((s) => s.data), Uint8Array.from(shstr)];
  const offsets: number[] = [];
  let pos = ehsize;
  for (const d of datas) {
    offsets.push(pos);
    pos += d.length;
  }
  const shoff = (pos + 7) & ~7;
  const total = shoff + names.length * shentsize;
  const buf = Buffer.alloc(total);
  const w16 = (v: number, at: number) => (le ? buf.writeUInt16LE(v, at) : buf.writeUInt16BE(v, at));
  const w32 = (v: number, at: number) => (le ? buf.writeUInt32LE(v >>> 0, at) : buf.writeUInt32BE(v >>> 0, at));
  const w64 = (v: bigint, at: number) => (le ? buf.writeBigUInt64LE(v, at) : buf.writeBigUInt64BE(v, at));
  buf.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, le ? 1 : 2, 1], 0);
  w16(2, 16); // ET_EXEC
  w16(62, 18);
  if (is64) {
    w64(BigInt(shoff), 0x28);
    w16(shentsize, 0x3a);
    w16(names.length, 0x3c);
    w16(names.length - 1, 0x3e);
  } else {
    w32(shoff, 0x20);
    w16(shentsize, 0x2e);
    w16(names.length, 0x30);
    w16(names.length - 1, 0x32);
  }
  datas.forEach((d, i) => buf.set(d, offsets[i]!));
  for (let i = 1; i < names.length; i++) {
    const h = shoff + i * shentsize;
    const s = sections[i - 1];
    const type = s?.type ?? (i === names.length - 1 ? 3 : 1);
    const size = s?.size ?? datas[i]!.length;
    w32(nameOffs[i]!, h);
    w32(type, h + 4);
    if (is64) {
      w64(s?.flags ?? 2n, h + 8);
      w64(BigInt(offsets[i]!), h + 24);
      w64(BigInt(size), h + 32);
    } else {
      w32(Number(s?.flags ?? 2n), h + 8);
      w32(offsets[i]!, h + 16);
      w32(size, h + 20);
    }
  }
  return new Uint8Array(buf);
}

test('btfFromElf reads the .BTF section (ELF64 LE, ELF32 BE) by positional reads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-btf-'));
  try {
    const btf = sampleBtf();
    const path = join(dir, 'vmlinux');
    writeFileSync(path, buildElf([{ name: '.text', data: new Uint8Array(100) }, { name: '.BTF', data: btf }, { name: '.BTF_ids', data: new Uint8Array(8) }]));
    const parsed = btfFromElf(path);
    assert.equal(parsed.source, path);
    assert.deepEqual(parsed.findByName('task_struct'), [2]);
    assert.deepEqual(Buffer.from(parsed.bytes), Buffer.from(btf));
    // btfFromFile recognizes the ELF by its magic.
    assert.deepEqual(btfFromFile(path).findByName('task_struct'), [2]);

    const be = new BtfBuilder();
    be.int('int', 4);
    const path32 = join(dir, 'vmlinux32');
    writeFileSync(path32, buildElf([{ name: '.BTF', data: be.build({ bigEndian: true }) }], { is64: false, bigEndian: true }));
    const p32 = btfFromElf(path32);
    assert.equal(p32.header.littleEndian, false);
    assert.equal(p32.name(1), 'int');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('btfFromElf errors name the file and the offset', () => {
  const src = (bytes: Uint8Array) => new BufferSource('vmlinux', bytes);
  const noBtf = buildElf([{ name: '.text', data: new Uint8Array(4) }]);
  assert.throws(() => btfFromElfSource(src(noBtf)), (e: unknown) => e instanceof FormatError && /no \.BTF section/.test(e.message) && e.hint !== undefined);
  // .BTF section claiming more bytes than the file has: the error is at its section header.
  const elf = buildElf([{ name: '.BTF', data: sampleBtf(), size: 1 << 20 }]);
  const sec = findElfSection(src(elf), '.BTF')!;
  assert.throws(() => btfFromElfSource(src(elf)), (e: unknown) => e instanceof FormatError && e.offset === sec.headerOffset && /extends past end of file/.test(e.message));
  // A corrupt blob inside the section: the offset is a file offset.
  const bad = sampleBtf();
  bad[2] = 9;
  const elf2 = buildElf([{ name: '.BTF', data: bad }]);
  const sec2 = findElfSection(src(elf2), '.BTF')!;
  assert.throws(() => btfFromElfSource(src(elf2)), (e: unknown) => e instanceof FormatError && e.offset === sec2.offset + 2n && /version 9/.test(e.message));
  const nobits = buildElf([{ name: '.BTF', data: sampleBtf(), type: 8 }]);
  assert.throws(() => btfFromElfSource(src(nobits)), /SHT_NOBITS/);
  const compressed = buildElf([{ name: '.BTF', data: sampleBtf(), flags: 0x802n }]);
  assert.throws(() => btfFromElfSource(src(compressed)), /compressed/);
  assert.throws(() => btfFromElfSource(src(new Uint8Array(64))), (e: unknown) => e instanceof FormatError && e.offset === 0n && /not an ELF file/.test(e.message));
});

test('btfFromFile: raw BTF and missing files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-btf-'));
  try {
    const path = join(dir, 'vmlinux.btf');
    writeFileSync(path, sampleBtf());
    const btf = btfFromFile(path);
    assert.equal(btf.source, path);
    assert.deepEqual(btf.findByName('task_struct'), [2]);
    // Split BTF file with a base.
    const split = new BtfBuilder(btf.typeCount, btf.stringsEnd);
    split.ptr(2);
    const mpath = join(dir, 'mod.btf');
    writeFileSync(mpath, split.build());
    const mod = btfFromFile(mpath, { base: btf });
    assert.equal(mod.kind(3), 'ptr');
    assert.throws(() => btfFromFile(join(dir, 'absent')), (e: unknown) => e instanceof FormatError && /cannot open: no such file/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Virtual memory made of page-aligned regions; anything else faults. */
class RegionMemory implements VirtualMemory {
  constructor(private readonly regions: { addr: bigint; bytes: Uint8Array }[]) {}
  read(vaddr: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      const a = vaddr + BigInt(i);
      const r = this.regions.find((x) => a >= x.addr && a < x.addr + BigInt(x.bytes.length));
      if (!r) throw new FaultError(a, 'virtual', 'not mapped');
      out[i] = r.bytes[Number(a - r.addr)]!;
    }
    return out;
  }
  translate(vaddr: bigint): bigint {
    return vaddr;
  }
}

test('btfFromDumpMemory reads __start_BTF..__stop_BTF; errors name the range', () => {
  const base = 0xffffffff81000000n;
  const btf = sampleBtf();
  const page = new Uint8Array(8192);
  page.set(btf, 100);
  const mem = new RegionMemory([{ addr: base, bytes: page }]);
  const parsed = btfFromDumpMemory(mem, base + 100n, base + 100n + BigInt(btf.length), { label: 'vmcore' });
  assert.match(parsed.source, /^vmcore: BTF in kernel memory 0xffffffff81000064-0xffffffff81000/);
  assert.deepEqual(parsed.findByName('task_struct'), [2]);
  assert.throws(() => btfFromDumpMemory(mem, base + 200n, base + 100n), (e: unknown) => e instanceof FormatError && /is not above __start_BTF/.test(e.message));
  // A wrong start address: bad magic at offset 0 of the range.
  assert.throws(() => btfFromDumpMemory(mem, base + 99n, base + 100n + BigInt(btf.length)), (e: unknown) => e instanceof FormatError && e.offset === 0n && /bad BTF magic/.test(e.message));
  // A range that runs into unmapped memory is a FaultError (the address, not a parse error).
  assert.throws(() => btfFromDumpMemory(mem, base + 100n, base + 9000n), FaultError);
});

test('findBtfInImage finds the largest valid blob, skipping unmapped pages and false magics', () => {
  const base = 0xffffffff81000000n;
  const big = new BtfBuilder();
  const int = big.int('int', 4, { signed: true });
  for (let i = 0; i < 400; i++) big.struct(`s${i}`, 4, [{ name: 'x', type: int, bitOffset: 0 }]);
  const bigBlob = big.build();
  const small = sampleBtf();
  // Region 1: a false magic (bad hdr_len), a small BTF (like an embedded BPF object).
  const r1 = new Uint8Array(3 * 4096);
  r1.set([0x9f, 0xeb, 0x01, 0x00, 0xff, 0xff, 0, 0], 10);
  r1.set(small, 1000);
  // Truncated candidate: header valid but sections run past the end of the scanned range.
  r1.set(bigBlob.subarray(0, 24), r1.length - 24);
  // Region 2 (after a one-page hole): the big blob, straddling a chunk-sized read.
  const r2 = new Uint8Array(Math.ceil((bigBlob.length + 5000) / 4096) * 4096);
  r2.set(bigBlob, 4093);
  const r2addr = base + 4n * 4096n;
  const mem = new RegionMemory([
    { addr: base, bytes: r1 },
    { addr: r2addr, bytes: r2 },
  ]);
  const end = r2addr + BigInt(r2.length);
  const cands = findBtfCandidates(mem, base, end);
  assert.deepEqual(
    cands.map((c) => [c.start, c.stop]),
    [
      [r2addr + 4093n, r2addr + 4093n + BigInt(bigBlob.length)],
      [base + 1000n, base + 1000n + BigInt(small.length)],
    ],
  );
  const best = findBtfInImage(mem, base, end)!;
  assert.equal(best.start, r2addr + 4093n);
  const parsed = btfFromDumpMemory(mem, best.start, best.stop);
  assert.equal(parsed.localTypeCount, 401);
  assert.equal(findBtfInImage(mem, base, base + 900n), undefined);
});
