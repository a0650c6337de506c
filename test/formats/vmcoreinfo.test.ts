import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Vmcoreinfo } from '../../src/formats/vmcore/vmcoreinfo.js';
import { MissingInfoError } from '../../src/util/errors.js';

const TEXT = [
  'OSRELEASE=6.12.0-test',
  'PAGESIZE=4096',
  'SYMBOL(init_uts_ns)=ffffffffa681f700',
  'SYMBOL(init_uts_ns)=ffffffff00000000',
  'SYMBOL(zero)=0',
  'SYMBOL(allones)=ffffffffffffffff',
  'SIZE(page)=64',
  'OFFSET(page.flags)=0',
  'OFFSET(uts_namespace.name)=4',
  'LENGTH(mem_section)=4096',
  'NUMBER(phys_base)=-308281344',
  'NUMBER(VMALLOC_START)=0xffa0000000000000',
  'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456',
  'KERNELOFFSET=23a00000',
  'CRASHTIME=1764057877',
  '',
].join('\n');

test('typed getters follow makedumpfile rules', () => {
  const v = new Vmcoreinfo(TEXT);
  assert.equal(v.osrelease, '6.12.0-test');
  assert.equal(v.pageSize, 4096);
  assert.equal(v.symbol('init_uts_ns'), 0xffffffffa681f700n, 'first occurrence wins');
  assert.equal(v.symbol('zero'), undefined, 'SYMBOL 0 is invalid');
  assert.equal(v.symbol('allones'), undefined, 'SYMBOL ~0 is invalid');
  assert.equal(v.size('page'), 64);
  assert.equal(v.offset('page', 'flags'), 0);
  assert.equal(v.offset('uts_namespace', 'name'), 4);
  assert.equal(v.length('mem_section'), 4096);
  assert.equal(v.physBase, -308281344n);
  assert.equal(v.number('VMALLOC_START'), 0xffa0000000000000n, '0x form parses as hex');
  assert.equal(v.number('PAGE_BUDDY_MAPCOUNT_VALUE'), -268435456n);
  assert.equal(v.kernelOffset, 0x23a00000n);
  assert.equal(v.crashTime, 1764057877n);
  assert.equal(v.symbol('missing'), undefined);
});

test('require* getters name the missing key', () => {
  const v = new Vmcoreinfo('OSRELEASE=x\n');
  assert.throws(() => v.requireSymbol('prb'), (e: unknown) => e instanceof MissingInfoError && /SYMBOL\(prb\)/.test(e.message));
  assert.throws(() => v.requireOffset('printk_info', 'seq'), /OFFSET\(printk_info\.seq\)/);
  assert.throws(() => v.requireSize('page'), /SIZE\(page\)/);
});

test('garbage lines, NUL padding and CRLF-free junk are tolerated', () => {
  const v = new Vmcoreinfo('no equals sign\n=novalue\nPAGESIZE=4096\0\0\nSYMBOL(x)=nothex\n');
  assert.equal(v.pageSize, 4096);
  assert.equal(v.symbol('x'), undefined);
  assert.deepEqual(v.keys(), ['PAGESIZE', 'SYMBOL(x)']);
});
