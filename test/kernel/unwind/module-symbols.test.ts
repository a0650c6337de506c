import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isMappingSymbol, ModuleSymbols, readModuleKallsyms, symbolizeIn, type LoadedModule, type ModuleRegion } from '../../../src/kernel/unwind/module-symbols.js';
import { PagedMemory } from '../../../src/kernel/unwind/paged.js';
import { stateLetter } from '../../../src/kernel/unwind/tasks.js';
import { FaultError } from '../../../src/util/errors.js';
import { SparseMemory } from './synthetic.js';

const BASE = 0xffffffffc0400000n;
const KS = 0xffffffffc0410000n;
const SYMTAB = 0xffffffffc0411000n;
const STRTAB = 0xffffffffc0412000n;

/** A mod_kallsyms with an ELF symtab: [name, value, shndx]. */
function writeKallsyms(mem: SparseMemory, syms: Array<[string, bigint, number]>): void {
  let str = 1;
  mem.write(STRTAB, Uint8Array.from([0]));
  // symtab[0] is the ELF null symbol
  syms.forEach(([name, value, shndx], i) => {
    const at = SYMTAB + BigInt(24 * (i + 1));
    mem.u32(at, name === '' ? 0 : str);
    mem.write(at + 4n, Uint8Array.from([0x12, 0]));
    mem.u16(at + 6n, shndx);
    mem.u64(at + 8n, value);
    mem.u64(at + 16n, 0n);
    if (name !== '') {
      mem.string(STRTAB + BigInt(str), name);
      str += name.length + 1;
    }
  });
  mem.write(SYMTAB, new Uint8Array(24));
  mem.u64(KS, SYMTAB);
  mem.u32(KS + 8n, syms.length + 1);
  mem.u64(KS + 16n, STRTAB);
}

test('module mapping symbols are recognized as the kernel does', () => {
  for (const s of ['$x', '$d', '$a.1', '$t', '.Ltmp0', 'L0']) assert.equal(isMappingSymbol(s), true, s);
  for (const s of ['$y', '$xx', 'crashme_init', '.cold', 'Lfoo', '']) assert.equal(isMappingSymbol(s), false, s);
});

test('module symbols: find_kallsyms_symbol semantics (first alias, next value, end of text)', () => {
  const mem = new SparseMemory();
  writeKallsyms(mem, [
    ['crashme_recurse', BASE + 0x40n, 2],
    ['crashme_deref', BASE + 0x10n, 2],
    ['alias_of_recurse', BASE + 0x40n, 2],
    ['undefined_import', 0n, 0],
    ['', BASE + 0x60n, 2],
    ['$x', BASE + 0x70n, 2],
    ['crashme_init', BASE + 0x200n, 5],
  ]);
  const pm = new PagedMemory(mem);
  const syms = readModuleKallsyms(pm, KS, 0, 8, 16);
  assert.deepEqual(
    syms.map((s) => s.name),
    ['crashme_deref', 'crashme_recurse', 'alias_of_recurse', 'crashme_init'],
  );
  const text: ModuleRegion = { kind: 'text', start: BASE, end: BASE + 0x1000n, symbolEnd: BASE + 0xc0n };
  const mod: LoadedModule = { name: 'crashme', address: 0n, regions: [text], orc: undefined, symbols: syms, notes: [] };
  // The unnamed and mapping symbols at +0x60/+0x70 do not cut crashme_recurse short; the end of
  // the text does.
  assert.deepEqual(symbolizeIn(mod, text, BASE + 0x87n), { name: 'crashme_recurse', offset: 0x47n, size: 0x80n, module: 'crashme' });
  assert.deepEqual(symbolizeIn(mod, text, BASE + 0x10n), { name: 'crashme_deref', offset: 0n, size: 0x30n, module: 'crashme' });
  assert.equal(symbolizeIn(mod, text, BASE + 0x8n), undefined);
  const ms = new ModuleSymbols([mod]);
  assert.equal(ms.symbolize(BASE + 0x41n)!.name, 'crashme_recurse');
  assert.equal(ms.symbolize(BASE + 0x1000n), undefined);
  assert.equal(ms.moduleAt(BASE + 0xfffn)!.module.name, 'crashme');
});

test('an unreadable module symtab is an error the caller turns into a note', () => {
  const mem = new SparseMemory();
  mem.u64(KS, SYMTAB);
  mem.u32(KS + 8n, 3);
  mem.u64(KS + 16n, STRTAB);
  assert.throws(() => readModuleKallsyms(new PagedMemory(mem), KS, 0, 8, 16), FaultError);
  assert.deepEqual(readModuleKallsyms(new PagedMemory(mem), 0n, 0, 8, 16), []);
});

test('PagedMemory: cross-page reads, remembered faults, C strings', () => {
  const mem = new SparseMemory();
  const a = 0xffff888000001ffcn;
  mem.u64(a, 0x1122334455667788n);
  mem.string(0xffff888000002ff0n, 'a string that crosses a page');
  const pm = new PagedMemory(mem);
  assert.equal(pm.u64(a), 0x1122334455667788n);
  assert.equal(pm.cString(0xffff888000002ff0n), 'a string that crosses a page');
  assert.equal(pm.cString(0xffff888000002ff0n, 8), 'a string');
  assert.throws(() => pm.u64(0xffff888000100000n), FaultError);
  const reads = pm.reads;
  assert.throws(() => pm.u64(0xffff888000100008n), FaultError);
  assert.equal(pm.reads, reads, 'a missing page is tried once');
  assert.equal(pm.readable(a), true);
  assert.equal(pm.readable(0xffff888000100000n), false);
});

test('task state letters as /proc shows them', () => {
  assert.equal(stateLetter(0, 0), 'R');
  assert.equal(stateLetter(1, 0), 'S');
  assert.equal(stateLetter(2, 0), 'D');
  assert.equal(stateLetter(0x402, 0), 'I');
  assert.equal(stateLetter(4, 0), 'T');
  assert.equal(stateLetter(8, 0), 't');
  assert.equal(stateLetter(0, 0x20), 'Z');
  assert.equal(stateLetter(0, 0x10), 'X');
  assert.equal(stateLetter(0x80, 0), 'R', 'bits outside TASK_REPORT are not reported');
});
