import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BtfTypeInfo, chainTypeInfo, VmcoreinfoTypeInfo } from '../../../src/kernel/types/type-info.js';
import { Vmcoreinfo } from '../../../src/formats/vmcore/vmcoreinfo.js';
import { MissingInfoError, ValidationError } from '../../../src/util/errors.js';
import { sampleBtf } from './sample.js';

const { btf, ids } = sampleBtf();
const ti = new BtfTypeInfo(btf);

test('source and pointer size', () => {
  assert.equal(ti.source, 'BTF (sample)');
  assert.equal(new BtfTypeInfo(btf, 'BTF (kernel memory)').source, 'BTF (kernel memory)');
  assert.equal(ti.pointerSize, 8);
});

test('sizeof: structs, unions, typedefs, base types, pointers, arrays', () => {
  assert.equal(ti.sizeof('struct foo'), 144);
  assert.equal(ti.sizeof('union foo'), 8);
  assert.equal(ti.sizeof('foo'), 8); // the typedef wins for a bare name, as in C
  assert.equal(ti.sizeof('struct list_head'), 16);
  assert.equal(ti.sizeof('list_head'), 16); // bare struct name, VMCOREINFO style
  assert.equal(ti.sizeof('bar'), 4);
  assert.equal(ti.sizeof('int'), 4);
  assert.equal(ti.sizeof('unsigned long'), 8);
  assert.equal(ti.sizeof('long unsigned int'), 8);
  assert.equal(ti.sizeof('long'), 8);
  assert.equal(ti.sizeof('bool'), 1);
  assert.equal(ti.sizeof('atomic_t'), 4);
  assert.equal(ti.sizeof('struct list_head *'), 8);
  assert.equal(ti.sizeof('struct list_head**'), 8);
  assert.equal(ti.sizeof('char [16]'), 16);
  assert.equal(ti.sizeof('char[2][3]'), 6);
  assert.equal(ti.sizeof('struct list_head [3]'), 48);
  assert.equal(ti.sizeof('int *[4]'), 32);
  assert.equal(ti.sizeof('enum e'), 4);
  assert.equal(ti.sizeof('enum big'), 8);
  assert.equal(ti.sizeof('e_t'), 4);
  assert.equal(ti.sizeof('void *'), 8);
  assert.throws(() => ti.sizeof('void'), ValidationError);
  assert.throws(() => ti.sizeof('struct nope'), (e: unknown) => e instanceof MissingInfoError && /no type 'struct nope' in BTF \(sample\)/.test(e.message));
  assert.throws(() => ti.sizeof('struct only_declared'), (e: unknown) => e instanceof MissingInfoError && /only declared/.test(e.message));
  assert.throws(() => ti.sizeof('struct (x)'), (e: unknown) => e instanceof ValidationError && /cannot parse type name/.test(e.message));
  assert.equal(ti.hasType('struct foo'), true);
  assert.equal(ti.hasType('struct nope'), false);
  assert.equal(ti.hasType('union list_head'), false);
});

test('lookup distinguishes struct, union, enum and typedef of one name', () => {
  assert.equal(ti.lookup('struct foo'), ids.foo);
  assert.equal(ti.lookup('union foo'), ids.unionFoo);
  assert.equal(ti.lookup('foo'), ids.typedefFoo);
  assert.equal(ti.lookup('enum e'), ids.enumE);
  assert.equal(ti.lookup('e'), ids.enumE);
  assert.equal(ti.lookup('void'), 0);
  assert.throws(() => ti.lookup('enum foo'), MissingInfoError);
  // Pointer and array types that BTF lacks are synthesized once.
  const p = ti.lookup('struct foo *');
  assert.equal(ti.lookup('struct foo *'), p);
  assert.equal(ti.pointerTo(ids.foo!), p);
  assert.deepEqual(ti.resolve(p), { kind: 'pointer', id: p, size: 8, target: ids.foo });
});

test('resolve strips typedefs, qualifiers, type tags; resolves forward declarations', () => {
  assert.deepEqual(ti.resolve(ids.typedefFoo!), { kind: 'int', id: ids.ulong, name: 'long unsigned int', size: 8, signed: false, bool: false, char: false });
  assert.equal(ti.resolve(ids.volInt!).id, ids.int);
  assert.equal(ti.resolve(ids.tagged!).id, ids.lh);
  assert.deepEqual(ti.resolve(ids.lhFwd!), { kind: 'struct', id: ids.lh, name: 'list_head', size: 16 });
  assert.deepEqual(ti.resolve(ids.onlyDeclared!), { kind: 'incomplete', id: ids.onlyDeclared, name: 'only_declared', union: false });
  assert.deepEqual(ti.resolve(ids.enumBig!), { kind: 'enum', id: ids.enumBig, name: 'big', size: 8, signed: true });
  assert.deepEqual(ti.resolve(ids.func!), { kind: 'function', id: ids.func, name: 'do_thing' });
  assert.deepEqual(ti.resolve(0), { kind: 'void', id: 0 });
  assert.throws(() => ti.resolve(100000), MissingInfoError);
});

test('offsetof and member: anonymous members, nesting, arrays', () => {
  assert.equal(ti.offsetof('struct foo', 'a'), 0);
  assert.equal(ti.offsetof('struct foo', 'u1'), 8);
  assert.equal(ti.offsetof('struct foo', 'u2'), 8);
  assert.equal(ti.offsetof('struct foo', 'u2[3]'), 11);
  assert.equal(ti.offsetof('struct foo', 'x'), 16);
  assert.equal(ti.offsetof('struct foo', 'deep'), 24);
  assert.equal(ti.offsetof('struct foo', 'name'), 32);
  assert.equal(ti.offsetof('struct foo', 'name[5]'), 37);
  assert.equal(ti.offsetof('struct foo', 'list'), 48);
  assert.equal(ti.offsetof('struct foo', 'list.prev'), 56);
  assert.equal(ti.offsetof('union foo', 'c'), 0);
  // The bare name 'foo' is the typedef (unsigned long), not the union or the struct.
  assert.throws(() => ti.offsetof('foo', 'l'), (e: unknown) => e instanceof ValidationError && /of foo: not a struct or union/.test(e.message));
  assert.equal(ti.offsetof('struct foo', 'lists[2].prev'), 88 + 32 + 8);
  assert.equal(ti.offsetof('struct foo', 'flag'), 136);
  assert.equal(ti.offsetof('atomic_t', 'counter'), 0);
  const m = ti.member('struct foo', 'lists[1]');
  assert.deepEqual(m, { path: 'lists[1]', offsetBits: (88 + 16) * 8, type: ids.lh, typeName: 'struct list_head', size: 16 });
  assert.deepEqual(ti.member('struct foo', 'name'), { path: 'name', offsetBits: 256, type: ids.char16, typeName: 'char [16]', size: 16 });
  assert.deepEqual(ti.member('struct foo', 'str'), { path: 'str', offsetBits: 512, type: ids.constCharPtr, typeName: 'const char *', size: 8 });
});

test('offsetof errors', () => {
  assert.throws(() => ti.offsetof('struct foo', 'nope'), (e: unknown) => e instanceof MissingInfoError && /struct foo has no member 'nope'/.test(e.message));
  assert.throws(() => ti.offsetof('struct foo', 'a.b'), (e: unknown) => e instanceof ValidationError && /not a struct or union/.test(e.message));
  assert.throws(() => ti.offsetof('struct foo', 'str.x'), (e: unknown) => e instanceof ValidationError && /dereference it first/.test(e.message));
  assert.throws(() => ti.offsetof('struct foo', 'name[16]'), (e: unknown) => e instanceof ValidationError && /out of bounds/.test(e.message));
  assert.throws(() => ti.offsetof('struct foo', 'a[0]'), (e: unknown) => e instanceof ValidationError && /not an array/.test(e.message));
  assert.throws(() => ti.offsetof('struct foo', 'b'), (e: unknown) => e instanceof ValidationError && /is a bitfield/.test(e.message));
  assert.throws(() => ti.offsetof('struct foo', 'list..next'), (e: unknown) => e instanceof ValidationError && /cannot parse member path/.test(e.message));
  assert.throws(() => ti.offsetof('struct foo', ''), ValidationError);
  assert.throws(() => ti.offsetof('union foo', 'x'), MissingInfoError);
});

test('bitfields: kind_flag 1 (sizes in the member) and kind_flag 0 (widths in the int type)', () => {
  assert.deepEqual(ti.member('struct foo', 'b'), { path: 'b', offsetBits: 32, bitSize: 3, type: ids.uint, typeName: 'unsigned int', size: 4 });
  assert.equal(ti.member('struct foo', 'c').offsetBits, 35);
  assert.equal(ti.member('struct foo', 'c').bitSize, 5);
  assert.equal(ti.member('struct foo', 'neg').bitSize, 4);
  assert.equal(ti.member('struct foo', 'wide').offsetBits, 644);
  assert.equal(ti.member('struct foo', 'wide').bitSize, 40);
  // Not a bitfield: bitfieldSize 0 in a kind_flag struct.
  assert.equal(ti.member('struct foo', 'a').bitSize, undefined);
  assert.equal(ti.member('struct bar', 'x').bitSize, 3);
  assert.equal(ti.member('struct bar', 'x').offsetBits, 0);
  // BTF_INT_OFFSET 2 adds to the member's bit offset 3.
  assert.equal(ti.member('struct bar', 'y').bitSize, 7);
  assert.equal(ti.member('struct bar', 'y').offsetBits, 5);
  assert.equal(ti.member('struct bar', 'z').bitSize, undefined);
  assert.equal(ti.offsetof('struct bar', 'z'), 4);
});

test('struct layout with C-like type names and nested anonymous members', () => {
  const l = ti.struct('struct foo');
  assert.equal(l.kind, 'struct');
  assert.equal(l.name, 'struct foo');
  assert.equal(l.size, 144);
  assert.equal(l.source, 'BTF (sample)');
  const rows = l.members.map((m) => [m.name, m.offset, m.size, m.typeName, m.bitSize]);
  assert.deepEqual(rows, [
    ['a', 0, 4, 'int', undefined],
    ['b', 4, 4, 'unsigned int', 3],
    ['c', 4, 4, 'unsigned int', 5],
    ['', 8, 4, 'union {...}', undefined],
    ['', 16, 16, 'struct {...}', undefined],
    ['name', 32, 16, 'char [16]', undefined],
    ['list', 48, 16, 'struct list_head', undefined],
    ['str', 64, 8, 'const char *', undefined],
    ['fn', 72, 8, 'int (*)(int, ...)', undefined],
    ['neg', 80, 4, 'int', 4],
    ['wide', 80, 8, 'long unsigned int', 40],
    ['lists', 88, 48, 'struct list_head [3]', undefined],
    ['flag', 136, 1, '_Bool', undefined],
  ]);
  const anonStruct = l.members[4]!;
  assert.deepEqual(
    anonStruct.members!.map((m) => [m.name, m.offset]),
    [
      ['x', 16],
      ['', 24],
    ],
  );
  assert.deepEqual(anonStruct.members![1]!.members!.map((m) => [m.name, m.offset, m.typeName]), [['deep', 24, 'int']]);
  assert.equal(ti.struct('union foo').kind, 'union');
  assert.throws(() => ti.struct('int'), ValidationError);
  assert.throws(() => ti.struct('struct only_declared'), /only declared/);
});

test('typeName renders C declarators', () => {
  const n = (id: number | undefined) => ti.typeName(id!);
  assert.equal(n(0), 'void');
  assert.equal(n(ids.lhPtr), 'struct list_head *');
  assert.equal(n(ids.hnPtr), 'struct hlist_node *');
  assert.equal(ti.member('struct hlist_node', 'pprev').typeName, 'struct hlist_node **');
  assert.equal(n(ids.char16), 'char [16]');
  assert.equal(n(ids.constCharPtr), 'const char *');
  assert.equal(n(ids.constPtr), 'char * const');
  assert.equal(n(ids.volInt), 'volatile int');
  assert.equal(n(ids.fnPtr), 'int (*)(int, ...)');
  assert.equal(n(ids.proto), 'int (int, ...)');
  assert.equal(n(ids.func), 'int do_thing(int, ...)');
  assert.equal(n(ids.ptrToArr), 'int (*)[4]');
  assert.equal(n(ids.taggedPtr), 'struct list_head *');
  assert.equal(n(ids.anonUnion), 'union {...}');
  assert.equal(n(ids.enumAnon), 'enum {...}');
  assert.equal(n(ids.enumBig), 'enum big');
  assert.equal(n(ids.onlyDeclaredPtr), 'struct only_declared *');
  assert.equal(n(ids.atomic), 'atomic_t');
  assert.equal(n(ti.lookup('int *[4]')), 'int *[4]');
  assert.equal(n(ti.lookup('char [2][3]')), 'char [2][3]');
  assert.equal(n(ti.lookup('struct foo **')), 'struct foo **');
});

test('enumValue: named, typedef-named, anonymous, enum64, ambiguous', () => {
  assert.equal(ti.enumValue('e', 'E_B'), 2n);
  assert.equal(ti.enumValue('enum e', 'E_A'), 1n);
  assert.equal(ti.enumValue('e_t', 'E_A'), 1n);
  assert.equal(ti.enumValue(undefined, 'E_B'), 2n);
  assert.equal(ti.enumValue(undefined, 'ANON_X'), 5n);
  assert.equal(ti.enumValue(undefined, 'BIG_V'), 1n << 40n);
  assert.equal(ti.enumValue('big', 'BIG_NEG'), -3n);
  assert.equal(ti.enumValue(undefined, 'SAME'), 9n);
  assert.equal(ti.enumValue('c2', 'DUP'), 2n);
  assert.throws(() => ti.enumValue(undefined, 'DUP'), (e: unknown) => e instanceof ValidationError && /ambiguous.*1 in enum c1, 2 in enum c2/.test(e.message));
  assert.throws(() => ti.enumValue(undefined, 'NOPE'), MissingInfoError);
  assert.throws(() => ti.enumValue('e', 'BIG_V'), (e: unknown) => e instanceof MissingInfoError && /enum e has no constant BIG_V/.test(e.message));
  assert.throws(() => ti.enumValue('struct foo', 'E_A'), ValidationError);
});

const vmcoreinfoText = ['SIZE(page)=64', 'OFFSET(page.flags)=0', 'OFFSET(page.lru)=8', 'OFFSET(page._refcount)=52', 'SIZE(nodemask_t)=128', 'NUMBER(PG_lru)=5', 'OFFSET(printk_info.seq)=0', 'SIZE(printk_info)=88'].join('\n');

test('VMCOREINFO type info: SIZE, OFFSET, NUMBER; everything else is missing', () => {
  const v = new VmcoreinfoTypeInfo(new Vmcoreinfo(vmcoreinfoText));
  assert.equal(v.source, 'VMCOREINFO');
  assert.equal(v.sizeof('struct page'), 64);
  assert.equal(v.sizeof('page'), 64);
  assert.equal(v.sizeof('nodemask_t'), 128);
  assert.equal(v.offsetof('struct page', 'lru'), 8);
  assert.deepEqual(v.member('page', '_refcount'), { path: '_refcount', offsetBits: 52 * 8 });
  assert.equal(v.enumValue(undefined, 'PG_lru'), 5n);
  assert.equal(v.enumValue('pageflags', 'PG_lru'), 5n);
  assert.equal(v.hasType('struct page'), true);
  assert.equal(v.hasType('struct task_struct'), false);
  assert.deepEqual(v.struct('struct page'), {
    kind: 'struct',
    name: 'struct page',
    size: 64,
    members: [
      { name: 'flags', offset: 0, offsetBits: 0 },
      { name: 'lru', offset: 8, offsetBits: 64 },
      { name: '_refcount', offset: 52, offsetBits: 416 },
    ],
    source: 'VMCOREINFO',
  });
  assert.throws(() => v.sizeof('struct task_struct'), (e: unknown) => e instanceof MissingInfoError && /VMCOREINFO has no SIZE\(task_struct\)/.test(e.message));
  assert.throws(() => v.offsetof('task_struct', 'comm'), (e: unknown) => e instanceof MissingInfoError && /OFFSET\(task_struct\.comm\)/.test(e.message));
  assert.throws(() => v.enumValue(undefined, 'PIDTYPE_PID'), MissingInfoError);
  assert.throws(() => v.typeName(1), MissingInfoError);
});

test('chainTypeInfo falls back on missing information and says which source answered', () => {
  const v = new VmcoreinfoTypeInfo(new Vmcoreinfo(vmcoreinfoText));
  const chain = chainTypeInfo(ti, undefined, v);
  assert.equal(chain.source, 'BTF (sample), then VMCOREINFO');
  assert.equal(chain.sizeof('struct foo'), 144);
  assert.equal(chain.lastSource, 'BTF (sample)');
  assert.equal(chain.sizeof('struct page'), 64);
  assert.equal(chain.lastSource, 'VMCOREINFO');
  assert.equal(chain.offsetof('printk_info', 'seq'), 0);
  assert.equal(chain.enumValue(undefined, 'PG_lru'), 5n);
  assert.equal(chain.hasType('struct page'), true);
  // A wrong question (not a missing answer) is not retried elsewhere.
  assert.throws(() => chain.offsetof('struct foo', 'b'), ValidationError);
  // All missing: the first source's error.
  assert.throws(() => chain.sizeof('struct nope'), (e: unknown) => e instanceof MissingInfoError && /BTF \(sample\)/.test(e.message));
  assert.throws(() => chainTypeInfo(undefined), MissingInfoError);
});
