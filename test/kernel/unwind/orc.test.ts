import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeOrcEntry,
  kernelVersion,
  NULL_ORC_ENTRY,
  ORC_LAYOUT_NEW,
  ORC_LAYOUT_OLD,
  ORC_REG_BP,
  ORC_REG_PREV_SP,
  ORC_REG_SP,
  ORC_REG_SP_INDIRECT,
  OrcFinder,
  orcLayoutFor,
  OrcTable,
} from '../../../src/kernel/unwind/orc.js';
import { PagedMemory } from '../../../src/kernel/unwind/paged.js';
import type { MemberInfo, TypeInfo } from '../../../src/kernel/types/type-info.js';
import { MissingInfoError } from '../../../src/util/errors.js';
import { encodeOrc, SparseMemory, writeOrcTables } from './synthetic.js';

test('decodes 6.4+ entries: type:3 renumbered, signal bit', () => {
  const call = decodeOrcEntry(Uint8Array.from([0x10, 0, 0xf0, 0xff, 0x15, 0x02]), ORC_LAYOUT_NEW);
  // sp_reg 5 (SP), bp_reg 1 (PREV_SP), type 2 (CALL), signal 0
  assert.deepEqual(call, { spOffset: 16, bpOffset: -16, spReg: ORC_REG_SP, bpReg: ORC_REG_PREV_SP, type: 'call', rawType: 2, signal: false });
  const regs = decodeOrcEntry(Uint8Array.from([0, 0, 0, 0, 0x05, 0x0b]), ORC_LAYOUT_NEW);
  assert.equal(regs.type, 'regs');
  assert.equal(regs.signal, true);
  assert.equal(decodeOrcEntry(Uint8Array.from([0, 0, 0, 0, 0, 0x01]), ORC_LAYOUT_NEW).type, 'end-of-stack');
  assert.equal(decodeOrcEntry(Uint8Array.from([0, 0, 0, 0, 0, 0x00]), ORC_LAYOUT_NEW).type, 'undefined');
  assert.equal(decodeOrcEntry(Uint8Array.from([0, 0, 0, 0, 0x05, 0x04]), ORC_LAYOUT_NEW).type, 'regs-partial');
  assert.equal(decodeOrcEntry(Uint8Array.from([0, 0, 0, 0, 0x05, 0x07]), ORC_LAYOUT_NEW).type, 'unknown');
  // A CALL entry may carry the signal bit (objtool sets it for some entry code).
  assert.equal(decodeOrcEntry(Uint8Array.from([8, 0, 0, 0, 0x05, 0x0a]), ORC_LAYOUT_NEW).signal, true);
});

test('decodes pre-6.4 entries: type:2 with CALL=0, end bit, signal from the type', () => {
  const call = decodeOrcEntry(Uint8Array.from([8, 0, 0, 0, 0x05, 0x00]), ORC_LAYOUT_OLD);
  assert.equal(call.type, 'call');
  assert.equal(call.signal, false);
  const regs = decodeOrcEntry(Uint8Array.from([0, 0, 0, 0, 0x05, 0x01]), ORC_LAYOUT_OLD);
  assert.equal(regs.type, 'regs');
  assert.equal(regs.signal, true);
  const partial = decodeOrcEntry(Uint8Array.from([0, 0, 0, 0, 0x05, 0x02]), ORC_LAYOUT_OLD);
  assert.equal(partial.type, 'regs-partial');
  assert.equal(partial.signal, true);
  // sp_reg UNDEFINED: end of stack with the end bit, undefined without.
  assert.equal(decodeOrcEntry(Uint8Array.from([0, 0, 0, 0, 0x00, 0x04]), ORC_LAYOUT_OLD).type, 'end-of-stack');
  assert.equal(decodeOrcEntry(Uint8Array.from([0, 0, 0, 0, 0x00, 0x00]), ORC_LAYOUT_OLD).type, 'undefined');
});

test('encodeOrc and decodeOrcEntry agree for both layouts', () => {
  for (const layout of [ORC_LAYOUT_OLD, ORC_LAYOUT_NEW]) {
    for (const type of ['call', 'regs', 'regs-partial', 'end-of-stack', 'undefined'] as const) {
      const spReg = type === 'end-of-stack' || type === 'undefined' ? 0 : ORC_REG_BP;
      const e = decodeOrcEntry(encodeOrc({ ip: 0n, type, spReg, spOffset: -8, bpReg: ORC_REG_PREV_SP, bpOffset: 24 }, layout), layout);
      assert.equal(e.type, type, `${layout.source} ${type}`);
      assert.equal(e.spOffset, -8);
      assert.equal(e.bpOffset, 24);
      assert.equal(e.spReg, spReg);
    }
  }
});

/** A TypeInfo that knows only struct orc_entry, with the given bitfields. */
function fakeTypes(fields: Record<string, [number, number | undefined]>, size = 6): TypeInfo {
  const member = (s: string, path: string): MemberInfo => {
    const f = s === 'struct orc_entry' ? fields[path] : undefined;
    if (!f) throw new MissingInfoError(`no member ${path}`);
    return { path, offsetBits: f[0], ...(f[1] !== undefined ? { bitSize: f[1] } : {}) };
  };
  return {
    source: 'fake',
    hasType: (t) => t === 'struct orc_entry',
    sizeof: () => size,
    member,
    offsetof: (s, p) => member(s, p).offsetBits / 8,
    struct: () => {
      throw new MissingInfoError('no');
    },
    enumValue: () => {
      throw new MissingInfoError('no');
    },
    typeName: () => '?',
  };
}

test('orcLayoutFor reads the bitfields from BTF, else goes by version', () => {
  const oldBtf = orcLayoutFor(fakeTypes({ sp_offset: [0, undefined], bp_offset: [16, undefined], sp_reg: [32, 4], bp_reg: [36, 4], type: [40, 2], end: [42, 1] }), '6.1.0-56-amd64');
  assert.equal(oldBtf.oldTypes, true);
  assert.equal(oldBtf.endBit, 10);
  assert.equal(oldBtf.typeBits, 2);
  assert.match(oldBtf.source, /BTF/);
  const newBtf = orcLayoutFor(fakeTypes({ sp_reg: [32, 4], bp_reg: [36, 4], type: [40, 3], signal: [43, 1] }), '6.12.117+deb12-amd64');
  assert.equal(newBtf.oldTypes, false);
  assert.equal(newBtf.signalBit, 11);
  assert.equal(newBtf.typeBits, 3);
  // A BTF struct of the wrong size is not trusted.
  assert.match(orcLayoutFor(fakeTypes({ sp_reg: [32, 4], bp_reg: [36, 4], type: [40, 3] }, 8), '6.12.1').source, /by kernel version/);
  assert.equal(orcLayoutFor(undefined, '6.3.13').oldTypes, true);
  assert.equal(orcLayoutFor(undefined, '6.4.0').oldTypes, false);
  assert.equal(orcLayoutFor(undefined, '5.10.0-30-amd64').spIndirectAddAfter, false);
  assert.equal(orcLayoutFor(undefined, '5.12.0').spIndirectAddAfter, true);
  assert.equal(orcLayoutFor(undefined, undefined).oldTypes, false);
  assert.deepEqual(kernelVersion('6.12.117+deb12-amd64'), [6, 12]);
  assert.equal(kernelVersion('garbage'), undefined);
});

test('OrcTable finds the rightmost entry at or below an address, reading pages on demand', () => {
  const mem = new SparseMemory();
  const ipTable = 0xffffffff82000000n;
  const orcTable = 0xffffffff82100000n;
  const text = 0xffffffff81000000n;
  const entries = [
    { ip: text + 0x10n, type: 'call' as const, spReg: ORC_REG_SP, spOffset: 8 },
    // A weak section terminator (undefined) sorted before the real entry at the same ip.
    { ip: text + 0x20n, type: 'undefined' as const },
    { ip: text + 0x20n, type: 'call' as const, spReg: ORC_REG_SP, spOffset: 16 },
    { ip: text + 0x40n, type: 'regs' as const, spReg: ORC_REG_SP_INDIRECT },
  ];
  // Keep the terminator first, as the kernel's sort does.
  entries.forEach((e, i) => {
    mem.i32(ipTable + BigInt(4 * i), Number(e.ip - (ipTable + BigInt(4 * i))));
    mem.write(orcTable + BigInt(6 * i), encodeOrc(e, ORC_LAYOUT_NEW));
  });
  const pm = new PagedMemory(mem);
  const t = new OrcTable(pm, ipTable, orcTable, entries.length, ORC_LAYOUT_NEW, 'vmlinux');
  assert.equal(t.findIndex(text), -1);
  assert.equal(t.find(text + 0xfn), undefined);
  assert.equal(t.find(text + 0x10n)!.spOffset, 8);
  assert.equal(t.find(text + 0x1fn)!.spOffset, 8);
  assert.equal(t.findIndex(text + 0x20n), 2);
  assert.equal(t.find(text + 0x30n)!.spOffset, 16);
  assert.equal(t.find(text + 0x1000n)!.type, 'regs');
  assert.equal(t.ipAt(3), text + 0x40n);
  assert.equal(pm.reads, 2, 'one page of ips, one page of entries');
});

test('OrcFinder: vmlinux text, modules, the NULL entry, and nothing elsewhere', () => {
  const mem = new SparseMemory();
  const text = 0xffffffff81000000n;
  const n = writeOrcTables(mem, 0xffffffff82000000n, 0xffffffff82100000n, [{ ip: text, type: 'call', spReg: ORC_REG_SP, spOffset: 8 }], ORC_LAYOUT_NEW);
  const mod = 0xffffffffc0000000n;
  const m = writeOrcTables(mem, mod + 0x1000n, mod + 0x2000n, [{ ip: mod, type: 'call', spReg: ORC_REG_SP, spOffset: 24 }], ORC_LAYOUT_NEW);
  const pm = new PagedMemory(mem);
  const f = new OrcFinder({ ranges: [{ start: text, end: text + 0x100n }], table: new OrcTable(pm, 0xffffffff82000000n, 0xffffffff82100000n, n, ORC_LAYOUT_NEW, 'vmlinux') }, () => [
    { ranges: [{ start: mod, end: mod + 0x800n }], table: new OrcTable(pm, mod + 0x1000n, mod + 0x2000n, m, ORC_LAYOUT_NEW, 'crashme') },
  ]);
  assert.equal(f.find(0n)!.entry, NULL_ORC_ENTRY);
  assert.equal(f.find(text + 5n)!.where, 'vmlinux');
  assert.equal(f.find(mod + 5n)!.entry.spOffset, 24);
  assert.equal(f.find(mod + 5n)!.where, 'crashme');
  assert.equal(f.find(text + 0x100n), undefined);
  assert.equal(f.find(0xffff888000000000n), undefined);
  assert.equal(f.covers(mod + 0x7ffn), true);
  assert.equal(f.covers(mod + 0x800n), false);
});
