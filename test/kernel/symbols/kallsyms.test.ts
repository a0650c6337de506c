import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeKallsyms, kallsymsLocationsFromVmcoreinfo, readKallsyms, releaseAtLeast } from '../../../src/kernel/symbols/kallsyms.js';
import { Vmcoreinfo } from '../../../src/formats/vmcore/vmcoreinfo.js';
import { MissingInfoError, ValidationError } from '../../../src/util/errors.js';
import { FakeVirtualMemory } from '../../helpers/fake-virtual-memory.js';
import { sampleSymbols, writeKallsyms, type SynthSymbol } from './fixtures/fake-kallsyms.js';

function expectSame(actual: ReturnType<typeof decodeKallsyms>, want: readonly SynthSymbol[]): void {
  const sorted = [...want].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  assert.equal(actual.size, sorted.length);
  const got = actual.all();
  sorted.forEach((w, i) => {
    const g = got[i]!;
    assert.deepEqual({ name: g.name, type: g.type, address: g.address }, { name: w.name, type: w.type, address: w.address }, `symbol #${i}`);
  });
}

test('kallsyms: absolute-percpu offsets (x86_64 SMP < 6.15): percpu symbols stay small, the rest are relative_base - 1 - offset', () => {
  const mem = new FakeVirtualMemory();
  const syms = sampleSymbols({ text: 0xffffffffa4a00000n });
  const k = writeKallsyms(mem, syms, { encoding: 'absolute-percpu' });
  const info = new Vmcoreinfo(k.vmcoreinfo);
  const t = readKallsyms(mem, info);
  expectSame(t, syms);
  assert.equal(t.address('fixed_percpu_data'), 0n);
  assert.equal(t.address('pcpu_hot'), 0x351c0n);
  assert.equal(t.lookup('pcpu_hot')!.type, 'A');
  assert.equal(t.address('_stext'), 0xffffffffa4a00000n);
  assert.match(t.notes[0]!, /absolute-percpu/);
  assert.equal(t.source, 'kallsyms (dump memory)');
  // Bulk reads: a handful, not one per symbol.
  assert.ok(mem.reads < 20, `${mem.reads} reads for ${t.size} symbols`);
});

test('kallsyms: base-relative offsets (no absolute percpu, ≥ 6.15) are relative_base + u32', () => {
  const mem = new FakeVirtualMemory();
  // After 6.15 percpu symbols live at their image address, above _text.
  const syms: SynthSymbol[] = sampleSymbols().map((s) => (s.percpu ? { ...s, address: 0xffffffff83000000n + s.address, percpu: false } : s));
  const k = writeKallsyms(mem, syms, { encoding: 'base-relative' });
  const t = readKallsyms(mem, new Vmcoreinfo(k.vmcoreinfo));
  expectSame(t, syms);
  assert.match(t.notes[0]!, /base-relative/);
});

test('kallsyms: without _stext in VMCOREINFO the encoding is still found (sortedness, kernel-space _stext)', () => {
  for (const encoding of ['absolute-percpu', 'base-relative'] as const) {
    const mem = new FakeVirtualMemory();
    const syms = sampleSymbols();
    const k = writeKallsyms(mem, encoding === 'base-relative' ? syms.filter((s) => !s.percpu) : syms, { encoding });
    const t = decodeKallsyms(mem, k, {});
    assert.equal(t.address('_stext'), 0xffffffff81000000n, encoding);
    assert.match(t.notes[0]!, new RegExp(encoding), encoding);
  }
});

test('kallsyms: place-relative offsets (no kallsyms_relative_base) and absolute kallsyms_addresses', () => {
  for (const encoding of ['pc-relative', 'absolute'] as const) {
    const mem = new FakeVirtualMemory();
    const syms = sampleSymbols().filter((s) => !s.percpu);
    const k = writeKallsyms(mem, syms, { encoding });
    const info = new Vmcoreinfo(k.vmcoreinfo);
    const loc = kallsymsLocationsFromVmcoreinfo(info);
    assert.equal(loc.relativeBase, undefined);
    const t = readKallsyms(mem, info);
    expectSame(t, syms);
    assert.match(t.notes[0]!, new RegExp(encoding));
  }
});

test('kallsyms: token expansion, the type as the first character of a multi-character token, empty unused tokens', () => {
  const mem = new FakeVirtualMemory();
  const syms: SynthSymbol[] = [
    ...sampleSymbols({ count: 20 }),
    { name: 'sys_read', type: 'T', address: 0xffffffff81003500n },
    { name: 'do_sys_open', type: 'T', address: 0xffffffff81003600n },
  ];
  const k = writeKallsyms(mem, syms, { encoding: 'absolute-percpu', tokens: ['Tsys_', 'Tdo_', 'do_', '_irq', 'func_'] });
  assert.ok(k.tokenStrings.includes('Tsys_'));
  assert.ok(k.tokenStrings.includes(''), 'some token slots are empty, as scripts/kallsyms.c leaves unused ones');
  const t = readKallsyms(mem, new Vmcoreinfo(k.vmcoreinfo));
  expectSame(t, syms);
  assert.equal(t.lookup('sys_read')!.type, 'T');
  assert.equal(t.lookup('do_sys_open')!.type, 'T');
});

test('kallsyms: big-symbol lengths (≥ 6.1): a 300-token name has a two-byte ULEB128 count', () => {
  const mem = new FakeVirtualMemory();
  const syms = sampleSymbols({ count: 600, longName: 300 });
  const k = writeKallsyms(mem, syms, { encoding: 'absolute-percpu', bigSymbols: true });
  const t = readKallsyms(mem, new Vmcoreinfo(k.vmcoreinfo + 'OSRELEASE=6.12.0\n'));
  expectSame(t, syms);
  assert.equal(t.lookup('rust_' + 'x'.repeat(300))!.name.length, 305);
  assert.ok(t.notes.some((s) => /big-symbol lengths confirmed by kallsyms_markers/.test(s)), t.notes.join('; '));
});

test('kallsyms: a one-byte count ≥ 0x80 (before 6.1) is told apart by kallsyms_markers, whatever OSRELEASE says', () => {
  const mem = new FakeVirtualMemory();
  const syms = sampleSymbols({ count: 600, longName: 140 });
  const k = writeKallsyms(mem, syms, { encoding: 'absolute-percpu', bigSymbols: false });
  const t = readKallsyms(mem, new Vmcoreinfo(k.vmcoreinfo + 'OSRELEASE=6.1.0\n'));
  expectSame(t, syms);
  assert.ok(t.notes.some((s) => /one-byte lengths/.test(s)), t.notes.join('; '));
  // Forcing the wrong rule is caught: the names stop making sense.
  assert.throws(() => decodeKallsyms(mem, k, { bigSymbols: true }), ValidationError);
});

test('kallsyms: missing VMCOREINFO keys are a MissingInfoError naming them', () => {
  const info = new Vmcoreinfo('OSRELEASE=5.10.0\nSYMBOL(_stext)=ffffffff81000000\n');
  assert.throws(() => readKallsyms(new FakeVirtualMemory(), info), (e: unknown) => e instanceof MissingInfoError && /SYMBOL\(kallsyms_names\)/.test(e.message) && /SYMBOL\(kallsyms_offsets/.test(e.message));
});

test('kallsyms: bad tables are ValidationErrors naming what was wrong', () => {
  const fresh = (count = 300) => {
    const mem = new FakeVirtualMemory();
    const k = writeKallsyms(mem, sampleSymbols({ count }), { encoding: 'absolute-percpu' });
    return { mem, k, info: new Vmcoreinfo(k.vmcoreinfo) };
  };
  const fails = (mutate: (x: ReturnType<typeof fresh>) => void, re: RegExp, count?: number) => {
    const x = fresh(count);
    mutate(x);
    assert.throws(() => readKallsyms(x.mem, x.info), (e: unknown) => e instanceof ValidationError && re.test(e.message), String(re));
  };
  fails(({ mem, k }) => mem.u32(k.numSyms, 0), /kallsyms_num_syms .* is 0, outside the sane range/);
  fails(({ mem, k }) => mem.u32(k.numSyms, 0xffffffff), /kallsyms_num_syms .* outside the sane range/);
  fails(({ mem, k }) => mem.write(k.tokenIndex + 20n, Uint8Array.of(0, 0)), /kallsyms_token_index .* not increasing: entry 10/);
  fails(({ mem, k }) => mem.write(k.tokenIndex + 20n, Uint8Array.of(0xff, 0x7f)), /kallsyms_token_index .* not increasing/);
  fails(({ mem, k }) => mem.write(k.tokenTable, Uint8Array.of(0x41)), /kallsyms_token_table .* token 0 /);
  // More symbols than the names area holds: the stream runs into the next table.
  fails(({ mem, k }) => mem.u32(k.numSyms, 5000), /kallsyms_names .* (past the end of the names area|has length 0)/);
  fails(({ mem, k }) => mem.write(k.names, Uint8Array.of(0)), /kallsyms_names .* length 0/);
  // A wrong relative base: no encoding gives the VMCOREINFO _stext.
  fails(({ mem, k }) => mem.u64(k.relativeBase!, 0xffffffff90000000n), /kallsyms addresses make no sense .*_stext would be/);
  // Offsets out of order in every encoding.
  fails(({ mem, k }) => mem.u32(k.offsets! + 4n * 200n, 0x7fff0000), /not sorted at symbol #200/);
  // Unreadable tables: a typed error, not a crash.
  // (4000 symbols: the offsets span pages of their own.)
  fails(({ mem, k }) => mem.unmap(k.offsets! + 8192n), /kallsyms_offsets at .* cannot be read/, 4000);
  fails(({ mem, k }) => mem.unmap(k.tokenIndex), /kallsyms_token_index at .* cannot be read/, 4000);
  fails(({ mem, k }) => mem.unmap(k.numSyms), /kallsyms_num_syms at .* cannot be read/);
});

test('kallsyms: a garbage names stream is caught by the character check', () => {
  const mem = new FakeVirtualMemory();
  const k = writeKallsyms(mem, sampleSymbols(), { encoding: 'absolute-percpu' });
  // Token 0x20 made into a control character: names containing it no longer print.
  const info = new Vmcoreinfo(k.vmcoreinfo);
  const namesByte = mem.read(k.names + 2n, 1)[0]!;
  const idx = mem.read(k.tokenIndex + BigInt(namesByte * 2), 2);
  mem.write(k.tokenTable + BigInt(idx[0]! | (idx[1]! << 8)), Uint8Array.of(0x07));
  assert.throws(() => readKallsyms(mem, info), (e: unknown) => e instanceof ValidationError && /(type byte|unprintable)/.test(e.message));
});

test('releaseAtLeast', () => {
  assert.equal(releaseAtLeast('6.1.0-56-amd64', 6, 1), true);
  assert.equal(releaseAtLeast('6.0.9', 6, 1), false);
  assert.equal(releaseAtLeast('5.19.0', 6, 1), false);
  assert.equal(releaseAtLeast('10.0', 6, 1), true);
  assert.equal(releaseAtLeast('x', 6, 1), undefined);
});
