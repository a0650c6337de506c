import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SymbolTable, type KernelSymbol } from '../../../src/kernel/symbols/symbol-table.js';

const S = (name: string, address: bigint, type = 'T'): KernelSymbol => ({ name, address, type });

test('SymbolTable: lookup, lookupAll for duplicate static names, address, size', () => {
  const t = new SymbolTable([S('a', 0x1000n), S('dup', 0x2000n, 't'), S('b', 0x3000n), S('dup', 0x4000n, 't')], 'test');
  assert.equal(t.size, 4);
  assert.equal(t.source, 'test');
  assert.equal(t.lookup('dup')!.address, 0x2000n);
  assert.deepEqual(t.lookupAll('dup').map((s) => s.address), [0x2000n, 0x4000n]);
  assert.deepEqual(t.lookupAll('a').map((s) => s.address), [0x1000n]);
  assert.deepEqual(t.lookupAll('nope'), []);
  assert.equal(t.address('b'), 0x3000n);
  assert.equal(t.address('nope'), undefined);
  assert.equal(t.has('a'), true);
});

test('SymbolTable.symbolize: nearest symbol at or below, size to the next distinct address, first alias', () => {
  const t = new SymbolTable(
    [S('percpu0', 0n, 'A'), S('percpu1', 0x2000n, 'A'), S('_text', 0xffffffff81000000n), S('_stext', 0xffffffff81000000n), S('f', 0xffffffff81000040n), S('g', 0xffffffff81000100n), S('_end', 0xffffffff82000000n, 'B')],
    'test',
  );
  // Alias: the first symbol at the address (kernel get_symbol_pos walks back to it).
  assert.deepEqual(t.symbolize(0xffffffff81000000n), { symbol: t.lookup('_text'), offset: 0n, size: 0x40n });
  assert.deepEqual(t.symbolize(0xffffffff81000010n), { symbol: t.lookup('_text'), offset: 0x10n, size: 0x40n });
  assert.deepEqual(t.symbolize(0xffffffff81000040n), { symbol: t.lookup('f'), offset: 0n, size: 0xc0n });
  assert.deepEqual(t.symbolize(0xffffffff810000ffn), { symbol: t.lookup('f'), offset: 0xbfn, size: 0xc0n });
  assert.deepEqual(t.symbolize(0x10n), { symbol: t.lookup('percpu0'), offset: 0x10n, size: 0x2000n });
  // The highest symbol: exact hits only, with no size; past it, nothing.
  assert.deepEqual(t.symbolize(0xffffffff82000000n), { symbol: t.lookup('_end'), offset: 0n, size: undefined });
  assert.equal(t.symbolize(0xffffffffc0400000n), undefined);
  // Below the lowest symbol.
  const u = new SymbolTable([S('x', 0x1000n)], 'test');
  assert.equal(u.symbolize(0xfffn), undefined);
  assert.equal(new SymbolTable([], 'empty').symbolize(0n), undefined);
});

test('SymbolTable: unsorted input is ordered by address with ties in source order; all() keeps source order', () => {
  const syms = [S('c', 0x3000n), S('a', 0x1000n), S('b2', 0x2000n), S('b1', 0x2000n)];
  const t = new SymbolTable(syms, 'test');
  assert.deepEqual(t.all().map((s) => s.name), ['c', 'a', 'b2', 'b1']);
  assert.deepEqual(t.sortedByAddress().map((s) => s.name), ['a', 'b2', 'b1', 'c']);
  assert.equal(t.symbolize(0x2fffn)!.symbol.name, 'b2');
  assert.equal(t.symbolize(0x2fffn)!.size, 0x1000n);
});

test('SymbolTable: 200k symbols build and answer quickly', () => {
  const n = 200_000;
  const syms: KernelSymbol[] = [];
  for (let i = 0; i < n; i++) syms.push(S(`sym_${i}`, 0xffffffff81000000n + BigInt(i * 16)));
  let t0 = performance.now();
  const t = new SymbolTable(syms, 'big');
  const build = performance.now() - t0;
  t0 = performance.now();
  for (let i = 0; i < 10_000; i++) {
    const a = 0xffffffff81000000n + BigInt(((i * 7919) % n) * 16 + 3);
    const r = t.symbolize(a)!;
    assert.equal(r.offset, 3n);
  }
  const lookups = performance.now() - t0;
  assert.equal(t.address('sym_123456'), 0xffffffff81000000n + 123456n * 16n);
  assert.ok(build < 2000, `build took ${build} ms`);
  assert.ok(lookups < 2000, `10k symbolize took ${lookups} ms`);
});
