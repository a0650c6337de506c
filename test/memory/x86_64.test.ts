import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X86_64AddressSpace, configFromVmcoreinfo } from '../../src/memory/arch/x86_64.js';
import { Vmcoreinfo } from '../../src/formats/vmcore/vmcoreinfo.js';
import { FaultError } from '../../src/util/errors.js';
import { FakePhysicalMemory } from '../helpers/fake-memory.js';

const P = 0x1n; // present
const RW = 0x2n;
const PSE = 0x80n;
const NX = 1n << 63n;

/** Builds page tables by hand: each level's table is a physical page we choose. */
function setup(fiveLevel: boolean) {
  const mem = new FakePhysicalMemory();
  const pgd = 0x100000n;
  const as = new X86_64AddressSpace(mem, { pgdPhys: pgd, fiveLevel, physBase: 0n, smeMask: 0n });
  return { mem, pgd, as };
}

test('4-level walk: 4 KiB page, 2 MiB page, 1 GiB page, NX and high bits ignored', () => {
  const { mem, pgd, as } = setup(false);
  const va = 0xffffc90000123456n; // vmalloc-style address
  const pud = 0x200000n;
  const pmd = 0x201000n;
  const pt = 0x202000n;
  mem.writeU64(pgd + ((va >> 39n) & 511n) * 8n, pud | P | RW);
  mem.writeU64(pud + ((va >> 30n) & 511n) * 8n, pmd | P | RW);
  mem.writeU64(pmd + ((va >> 21n) & 511n) * 8n, pt | P | RW);
  mem.writeU64(pt + ((va >> 12n) & 511n) * 8n, 0x7654000n | P | NX | (0x3ffn << 52n));

  const va2 = 0xffff888000000000n + 0x40000000n + 0x345678n; // 2 MiB mapping
  mem.writeU64(pgd + ((va2 >> 39n) & 511n) * 8n, 0x300000n | P);
  mem.writeU64(0x300000n + ((va2 >> 30n) & 511n) * 8n, 0x301000n | P);
  mem.writeU64(0x301000n + ((va2 >> 21n) & 511n) * 8n, 0x80000000n | P | PSE | NX);

  const va3 = 0xffff888000000000n + 0x2_0000_0000n + 0x1234_5678n; // 1 GiB mapping
  mem.writeU64(0x300000n + ((va3 >> 30n) & 511n) * 8n, 0x1_4000_0000n | P | PSE);
  // A dump never changes, so table pages are cached: translate only once all tables are built.
  assert.equal(as.translate(va), 0x7654456n);
  assert.equal(as.translate(va3), 0x1_4000_0000n + (va3 & 0x3fffffffn));
  assert.equal(as.translate(va2), 0x80000000n + (va2 & 0x1fffffn));
  assert.equal(as.translateSpan(va2).span, Number(0x200000n - (va2 & 0x1fffffn)));
  assert.deepEqual(as.translateSpan(va), { paddr: 0x7654456n, span: 0x1000 - 0x456 });
  assert.deepEqual(as.translateSpan(va3), { paddr: 0x1_4000_0000n + (va3 & 0x3fffffffn), span: Number(0x40000000n - (va3 & 0x3fffffffn)) });
});

test('5-level walk uses bits 48..56 for the top table', () => {
  const { mem, pgd, as } = setup(true);
  const va = 0xff11000000001234n;
  const p4d = 0x400000n;
  mem.writeU64(pgd + ((va >> 48n) & 511n) * 8n, p4d | P);
  mem.writeU64(p4d + ((va >> 39n) & 511n) * 8n, 0x401000n | P);
  mem.writeU64(0x401000n + ((va >> 30n) & 511n) * 8n, 0x0n | P | PSE);
  assert.equal(as.translate(va), va & 0x3fffffffn);
  // A 4-level-canonical address that is not 5-level canonical? 0xffff8880… is canonical in both.
  assert.throws(() => as.translate(0x0080000000000000n), FaultError);
});

test('reads spanning pages translate each page separately', () => {
  const { mem, pgd, as } = setup(false);
  const va = 0xffffc90000000ffcn;
  mem.writeU64(pgd + ((va >> 39n) & 511n) * 8n, 0x200000n | P);
  mem.writeU64(0x200000n + ((va >> 30n) & 511n) * 8n, 0x201000n | P);
  mem.writeU64(0x201000n + ((va >> 21n) & 511n) * 8n, 0x202000n | P);
  mem.writeU64(0x202000n + 0n * 8n, 0x500000n | P);
  mem.writeU64(0x202000n + 1n * 8n, 0x900000n | P); // next virtual page is elsewhere physically
  mem.write(0x500ffcn, Uint8Array.of(1, 2, 3, 4));
  mem.write(0x900000n, Uint8Array.of(5, 6, 7, 8));
  assert.deepEqual([...as.read(va, 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('unmapped and non-canonical addresses raise FaultError naming the level', () => {
  const { as } = setup(false);
  assert.throws(() => as.translate(0xffff888000000000n), (e: unknown) => e instanceof FaultError && /PGD table|PGD entry/.test(e.message));
  assert.throws(() => as.translate(0x0000800000000000n), (e: unknown) => e instanceof FaultError && /non-canonical/.test(e.message));
});

test('config from VMCOREINFO: negative %ld phys_base wraps modulo 2^64, l5 flag, sme mask', () => {
  const info = new Vmcoreinfo('SYMBOL(init_top_pgt)=ffffffffb7010000\nNUMBER(phys_base)=-308281344\nNUMBER(pgtable_l5_enabled)=1\nNUMBER(sme_mask)=0\n');
  const c = configFromVmcoreinfo(info, undefined);
  assert.equal(c.fiveLevel, true);
  assert.equal(c.physBase, BigInt.asUintN(64, -308281344n));
  assert.equal(c.pgdPhys, 0xffffffffb7010000n - 0xffffffff80000000n - 308281344n);
  assert.throws(() => configFromVmcoreinfo(new Vmcoreinfo('NUMBER(phys_base)=0\n'), undefined), /init_top_pgt/);
  assert.throws(() => configFromVmcoreinfo(new Vmcoreinfo('SYMBOL(init_top_pgt)=ffffffffb7010000\n'), undefined), /phys_base/);
});
