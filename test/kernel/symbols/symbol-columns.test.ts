/**
 * Column-backed symbol tables (what the kallsyms, System.map and vmlinux readers build) answer
 * exactly as a table of symbol objects does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SymbolTable, SymbolTableBuilder, type KernelSymbol } from '../../../src/kernel/symbols/symbol-table.js';
import { nameHash, hashPower, NamesBuilder, PackedNames } from '../../../src/kernel/symbols/names.js';
import { parseSystemMap } from '../../../src/kernel/symbols/system-map.js';
import { decodeKallsyms, readKallsyms } from '../../../src/kernel/symbols/kallsyms.js';
import { ValidationError } from '../../../src/util/errors.js';
import { Vmcoreinfo } from '../../../src/formats/vmcore/vmcoreinfo.js';
import { FakeVirtualMemory } from '../../helpers/fake-virtual-memory.js';
import { sampleSymbols, writeKallsyms, type SynthSymbol } from './fixtures/fake-kallsyms.js';

/** A deterministic pseudo-random sequence. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

function built(syms: readonly KernelSymbol[]): SymbolTable {
  const b = new SymbolTableBuilder();
  for (const s of syms) b.add(s.name, s.address, s.type, s.module);
  return b.build('built');
}

/** Both tables give the same answers for these names and addresses. */
function assertSame(objects: SymbolTable, columns: SymbolTable, names: readonly string[], addrs: readonly bigint[]): void {
  const plain = (s: KernelSymbol | undefined) => s && { ...s };
  assert.equal(columns.size, objects.size);
  assert.deepEqual(columns.all().map(plain), objects.all().map(plain));
  assert.deepEqual(columns.sortedByAddress().map(plain), objects.sortedByAddress().map(plain));
  for (const name of names) {
    assert.deepEqual(plain(columns.lookup(name)), plain(objects.lookup(name)), name);
    assert.deepEqual(columns.lookupAll(name).map(plain), objects.lookupAll(name).map(plain), name);
    assert.equal(columns.has(name), objects.has(name), name);
    assert.equal(columns.address(name), objects.address(name), name);
  }
  for (const a of addrs) {
    const x = objects.symbolize(a);
    const y = columns.symbolize(a);
    assert.deepEqual(y && { ...y, symbol: plain(y.symbol) }, x && { ...x, symbol: plain(x.symbol) }, `0x${a.toString(16)}`);
  }
}

test('SymbolTableBuilder: unsorted addresses (ties, high and low halves, wrap-around values) answer as a KernelSymbol[] table', () => {
  const r = rng(7);
  const syms: KernelSymbol[] = [];
  const bases = [0n, 0x1000n, 0xffffffff81000000n, 0xffff888000000000n, 0x00000001fffffff0n, 0xffffffffffffff00n];
  for (let i = 0; i < 3000; i++) {
    const base = bases[r() % bases.length]!;
    const address = BigInt.asUintN(64, base + BigInt(r() % 4096) * 16n);
    syms.push({ name: `s${r() % 1500}`, address, type: 'tTdDbBrRAWV'[r() % 11]! });
  }
  // Exact duplicates (aliases) and a name on many addresses.
  syms.push({ name: 'alias_a', address: 0xffffffff81000000n, type: 'T' }, { name: 'alias_b', address: 0xffffffff81000000n, type: 'T' });
  for (let i = 0; i < 20; i++) syms.push({ name: 'buf.0', address: 0xffffffff82000000n + BigInt(i) * 1024n, type: 'b' });
  const objects = new SymbolTable(syms, 'objects');
  const columns = built(syms);
  const names = [...new Set(syms.map((s) => s.name)), 'absent', ''];
  const addrs: bigint[] = [0n, 1n, 0xffffffffffffffffn];
  for (const s of syms) addrs.push(s.address, BigInt.asUintN(64, s.address + 7n), BigInt.asUintN(64, s.address - 1n));
  assertSame(objects, columns, names, addrs);
});

test('SymbolTableBuilder: already sorted input, empty table, one symbol', () => {
  const syms: KernelSymbol[] = Array.from({ length: 500 }, (_, i) => ({ name: `f${i % 250}`, address: 0xffffffff81000000n + BigInt(i >> 1) * 64n, type: 't' }));
  assertSame(new SymbolTable(syms, 'o'), built(syms), ['f0', 'f249', 'f250'], [0xffffffff81000000n, 0xffffffff81000040n, 0xffffffff81003e7fn, 0xffffffff81003e80n, 0xffffffff81004000n, 0n]);
  const empty = new SymbolTableBuilder().build('empty');
  assert.equal(empty.size, 0);
  assert.equal(empty.symbolize(0n), undefined);
  assert.equal(empty.lookup('x'), undefined);
  assert.deepEqual(empty.all(), []);
  const one = built([{ name: 'x', address: 0x1000n, type: 'T' }]);
  assert.deepEqual(one.symbolize(0x1000n), { symbol: one.lookup('x'), offset: 0n, size: undefined });
  assert.equal(one.symbolize(0x1001n), undefined);
  assert.equal(one.symbolize(0xfffn), undefined);
});

test('SymbolTable columns: names beyond latin1, multi-character types, modules only where given', () => {
  const syms: KernelSymbol[] = [
    { name: 'plain', address: 0x1000n, type: 'T' },
    { name: 'caf\u00e9', address: 0x2000n, type: 't' },
    { name: 'euro_\u20ac', address: 0x3000n, type: 'T', module: 'm1' },
    { name: 'modsym', address: 0x4000n, type: 't', module: 'm2' },
    { name: 'odd_type', address: 0x5000n, type: 'Tx' },
    { name: 'last', address: 0x6000n, type: '\u0100', module: 'm1' },
  ];
  const t = built(syms);
  assertSame(new SymbolTable(syms, 'o'), t, syms.map((s) => s.name), syms.map((s) => s.address + 1n));
  assert.equal(t.lookup('euro_\u20ac')!.module, 'm1');
  assert.equal(t.lookup('modsym')!.module, 'm2');
  assert.equal('module' in t.lookup('plain')!, false);
  assert.equal(t.lookup('odd_type')!.type, 'Tx');
  // A System.map given as a JS string with such characters (read files are latin1: never).
  const m = parseSystemMap('0000000000001000 T na\u00efve\nffffffffc0001000 t modf\t[mod_\u00e9]\n0000000000002000 T \u4e2d\u6587\n', { path: 'x' });
  assert.equal(m.address('na\u00efve'), 0x1000n);
  assert.equal(m.address('\u4e2d\u6587'), 0x2000n);
  assert.equal(m.lookup('modf')!.module, 'mod_\u00e9');
});

test('SymbolTable: the same symbol is the same object, before and after all()', () => {
  const t = built(sampleSymbols().map((s) => ({ name: s.name, address: s.address, type: s.type })));
  const a = t.lookup('_stext')!;
  assert.equal(t.lookup('_stext'), a);
  assert.equal(t.symbolize(a.address)!.symbol, t.lookup('_text') ?? a);
  assert.equal(t.lookupAll('_stext')[0], a);
  const all = t.all();
  assert.equal(all.find((s) => s.name === '_stext'), a);
  assert.equal(t.all(), all);
  assert.equal(t.lookup('_stext'), a);
  // A table made from objects hands out those very objects.
  const syms: KernelSymbol[] = [{ name: 'a', address: 1n, type: 'T' }];
  assert.equal(new SymbolTable(syms, 'o').lookup('a'), syms[0]);
});

test('SymbolTable.symbolsBetween: by address with ties in source order, half-open', () => {
  const syms: KernelSymbol[] = [
    { name: 'c', address: 0x3000n, type: 'T' },
    { name: 'a', address: 0x1000n, type: 'T' },
    { name: 'b2', address: 0x2000n, type: 'T' },
    { name: 'b1', address: 0x2000n, type: 'T' },
    { name: 'd', address: 0xffffffff81000000n, type: 'T' },
  ];
  for (const t of [new SymbolTable(syms, 'o'), built(syms)]) {
    const names = (lo: bigint, hi: bigint) => t.symbolsBetween(lo, hi).map((s) => s.name);
    assert.deepEqual(names(0n, 0xffffffffffffffffn), ['a', 'b2', 'b1', 'c', 'd']);
    assert.deepEqual(names(0x1001n, 0x3000n), ['b2', 'b1']);
    assert.deepEqual(names(0x2000n, 0x2001n), ['b2', 'b1']);
    assert.deepEqual(names(0x3000n, 0x3000n), []);
    assert.deepEqual(names(0x3001n, 0x2000n), []);
    assert.deepEqual(names(0xffffffff80000000n, 0xffffffff81000001n), ['d']);
  }
});

test('name hashes: polynomial, so a concatenation hashes from its parts; the packed column finds every name', () => {
  const a = 'do_sys_';
  const b = 'open';
  assert.equal(nameHash(a + b), (Math.imul(nameHash(a), hashPower(b.length)) + nameHash(b)) | 0);
  const builder = new NamesBuilder();
  const names: string[] = [];
  const r = rng(3);
  for (let i = 0; i < 20000; i++) {
    const s = `n${(r() % 5000).toString(36)}_${'x'.repeat(r() % 4)}`;
    names.push(s);
    builder.add(s);
  }
  const col = builder.build();
  assert.ok(col instanceof PackedNames);
  const where = new Map<string, number[]>();
  names.forEach((s, i) => {
    const l = where.get(s);
    if (l) l.push(i);
    else where.set(s, [i]);
  });
  for (const [s, idx] of where) {
    assert.equal(col.first(s), idx[0], s);
    assert.deepEqual(col.all(s), idx, s);
    assert.equal(col.name(idx[0]!), s);
  }
  assert.equal(col.first('nope'), -1);
  assert.deepEqual(col.all('nope'), []);
});

test('kallsyms: the compressed names give every name and the same hash as the expanded string', () => {
  const mem = new FakeVirtualMemory();
  const syms: SynthSymbol[] = [
    ...sampleSymbols({ count: 400 }),
    { name: 'sys_read', type: 'T', address: 0xffffffff81003500n },
    { name: 'do_sys_open', type: 'T', address: 0xffffffff81003600n },
    { name: 'do_sys_open', type: 't', address: 0xffffffff81003700n },
  ];
  const k = writeKallsyms(mem, syms, { encoding: 'absolute-percpu', tokens: ['Tsys_', 'Tdo_', 'do_', '_irq', 'func_', 'tdo_'] });
  const t = readKallsyms(mem, new Vmcoreinfo(k.vmcoreinfo));
  for (const s of syms) {
    assert.ok(
      t.lookupAll(s.name).some((x) => x.address === s.address && x.type === s.type),
      s.name,
    );
  }
  assert.deepEqual(
    t.lookupAll('do_sys_open').map((x) => x.type),
    ['T', 't'],
  );
  assert.equal(t.lookup('Tdo_sys_open'), undefined);
  assert.equal(t.lookup('o_sys_open'), undefined);
});

test('kallsyms with every token slot in use (as real kernels have): names, types and lookups; a symbol of only a type is caught', () => {
  // 256 non-empty printable tokens: printable characters stand for themselves, other byte values
  // for "<hex>" strings (as scripts/kallsyms.c fills free slots with character pairs).
  const tokens = Array.from({ length: 256 }, (_, c) => (c > 0x20 && c < 0x7f ? String.fromCharCode(c) : `<${c.toString(16)}>`));
  const encode = (s: string): number[] => Array.from(s, (ch) => ch.charCodeAt(0));
  const base = 0xffffffff81000000n;
  const entries: Array<{ tokens: number[]; offset: number }> = [];
  for (let i = 0; i < 40; i++) entries.push({ tokens: [...encode(i % 3 ? 'T' : 't'), ...encode(`fn_${i % 30}`), 0x80 + (i % 2)], offset: i * 0x40 });
  const write = (list: typeof entries) => {
    const mem = new FakeVirtualMemory();
    const at = 0xffffffff82000000n;
    const names: number[] = [];
    for (const e of list) names.push(e.tokens.length, ...e.tokens);
    const tokenTable = at + 0x10000n;
    const tokenIndex = at + 0x11000n;
    const offsets = at + 0x12000n;
    const relativeBase = at + 0x13000n;
    const table: number[] = [];
    const index: number[] = [];
    for (const t of tokens) {
      index.push(table.length & 0xff, table.length >> 8);
      table.push(...encode(t), 0);
    }
    mem.u32(at, list.length).write(at + 8n, Uint8Array.from(names)).write(tokenTable, Uint8Array.from(table)).write(tokenIndex, Uint8Array.from(index));
    list.forEach((e, i) => mem.u32(offsets + BigInt(4 * i), e.offset));
    mem.u64(relativeBase, base);
    return { mem, loc: { numSyms: at, names: at + 8n, tokenTable, tokenIndex, offsets, relativeBase } };
  };
  const { mem, loc } = write(entries);
  const t = decodeKallsyms(mem, loc, { addressEncoding: 'base-relative' });
  assert.equal(t.size, 40);
  assert.deepEqual(
    t.lookupAll('fn_3<81>').map((s) => [s.type, s.address]),
    [
      ['t', base + 3n * 0x40n],
      ['t', base + 33n * 0x40n],
    ],
  );
  assert.deepEqual(
    t.lookupAll('fn_2<80>').map((s) => [s.type, s.address]),
    [
      ['T', base + 2n * 0x40n],
      ['T', base + 32n * 0x40n],
    ],
  );
  assert.deepEqual(
    t.lookupAll('fn_1<81>').map((s) => s.address),
    [base + 0x40n, base + 31n * 0x40n],
  );
  assert.equal(t.symbolize(base + 0x45n)!.symbol.name, 'fn_1<81>');
  assert.equal(t.lookup('fn_1'), undefined);

  const bad = [...entries];
  bad[17] = { tokens: encode('T'), offset: 17 * 0x40 };
  const w = write(bad);
  assert.throws(
    () => decodeKallsyms(w.mem, w.loc, { addressEncoding: 'base-relative' }),
    (e: unknown) => e instanceof ValidationError && /kallsyms symbol #17 expands to "T": no type character and name/.test(e.message),
  );
});
