import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KObject, TypedMemory } from '../../../src/kernel/types/object.js';
import { BtfTypeInfo } from '../../../src/kernel/types/type-info.js';
import { FaultError, ValidationError } from '../../../src/util/errors.js';
import { FakeVirtualMemory } from '../../helpers/fake-virtual-memory.js';
import { sampleBtf } from './sample.js';


const { btf, ids } = sampleBtf();
const ti = new BtfTypeInfo(btf);
const A = 0xffff888000001000n;
const STR = 0xffff888000002ffcn; // crosses a page boundary
const FN = 0xffffffff81001234n;

function setBits(mem: FakeVirtualMemory, base: bigint, bitOffset: number, bitSize: number, value: bigint): void {
  const first = bitOffset >> 3;
  const n = Math.ceil(((bitOffset & 7) + bitSize) / 8);
  const cur = mem.read(base + BigInt(first), n);
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(cur[i]!);
  const mask = ((1n << BigInt(bitSize)) - 1n) << BigInt(bitOffset & 7);
  v = (v & ~mask) | ((BigInt.asUintN(bitSize, value) << BigInt(bitOffset & 7)) & mask);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
  mem.write(base + BigInt(first), out);
}

function fooMemory(): FakeVirtualMemory {
  const mem = new FakeVirtualMemory();
  mem.write(A, new Uint8Array(144));
  mem.u32(A, -5);
  setBits(mem, A, 32, 3, 5n);
  setBits(mem, A, 35, 5, 17n);
  mem.u32(A + 8n, 0x41424344);
  mem.u64(A + 16n, -2n);
  mem.u32(A + 24n, 7);
  mem.write(A + 32n, Buffer.from('swapper/0\0junk!!', 'latin1'));
  mem.u64(A + 48n, A + 88n); // list.next -> lists[0]
  mem.u64(A + 56n, 0n); // list.prev = NULL
  mem.u64(A + 64n, STR);
  mem.write(STR, Buffer.from('hello, world\0', 'latin1'));
  mem.u64(A + 72n, FN);
  setBits(mem, A, 640, 4, -3n);
  setBits(mem, A, 644, 40, 0xabcdef0123n);
  mem.u64(A + 88n + 8n, A + 48n); // lists[0].prev -> list
  mem.u64(A + 88n + 16n + 8n, 0x1234n); // lists[1].prev
  mem.write(A + 136n, [1]);
  return mem;
}

test('KObject: members, anonymous members, arrays, values', () => {
  const mem = fooMemory();
  const foo = new KObject(mem, ti, 'struct foo', A);
  assert.equal(foo.type, ids.foo);
  assert.equal(foo.typeName, 'struct foo');
  assert.equal(foo.size, 144);
  assert.equal(foo.toString(), `(struct foo)0x${A.toString(16)}`);
  assert.equal(foo.member('a').int(), -5);
  assert.equal(foo.member('a').i32(), -5);
  assert.equal(foo.member('a').u32(), 0xfffffffb);
  assert.equal(foo.member('a').i64(), -5n);
  assert.equal(foo.member('a').u64(), 0xfffffffffffffffbn);
  assert.equal(foo.member('u1').u32(), 0x41424344);
  assert.equal(foo.member('u2').string(), 'DCBA');
  assert.equal(foo.member('u2[1]').u8(), 0x43);
  assert.equal(foo.member('x').i64(), -2n);
  assert.equal(foo.member('x').int(), -2n); // 64-bit: bigint
  assert.equal(foo.member('deep').int(), 7);
  assert.equal(foo.member('name').string(), 'swapper/0');
  assert.equal(foo.member('name').string(4), 'swap');
  assert.equal(foo.member('name').index(3).u8(), 'p'.charCodeAt(0));
  assert.equal(foo.member('name[3]').address, A + 35n);
  assert.equal(foo.member('str').string(), 'hello, world');
  assert.equal(foo.member('str').string(3), 'hel');
  assert.equal(foo.member('str').deref().u8(), 'h'.charCodeAt(0));
  assert.equal(foo.member('str').index(7).u8(), 'w'.charCodeAt(0));
  assert.equal(foo.member('str->').address, STR);
  assert.equal(foo.member('fn').ptr(), FN);
  assert.equal(foo.member('flag').bool(), true);
  assert.equal(foo.member('list.next').ptr(), A + 88n);
  assert.equal(foo.member('list.next->prev').ptr(), A + 48n);
  assert.equal(foo.member('lists[1].prev').u64(), 0x1234n);
  assert.equal(foo.member('lists').index(1).member('prev').u64(), 0x1234n);
  assert.deepEqual(Buffer.from(foo.member('lists[1]').bytes()).subarray(8), Buffer.from([0x34, 0x12, 0, 0, 0, 0, 0, 0]));
  // cast: same address, another type.
  assert.equal(foo.member('list').cast('struct hlist_node').member('next').ptr(), A + 88n);
  assert.equal(new KObject(mem, ti, ids.foo!, A).member('deep').address, A + 24n);
});

test('KObject: bitfields read correctly, both signs and wide fields', () => {
  const mem = fooMemory();
  const foo = new KObject(mem, ti, 'struct foo', A);
  const b = foo.member('b');
  assert.deepEqual(b.bitfield, { bitOffset: 0, bitSize: 3 });
  assert.equal(b.address, A + 4n);
  assert.equal(b.u32(), 5);
  assert.equal(b.int(), 5);
  assert.equal(foo.member('c').u32(), 17);
  assert.deepEqual(foo.member('c').bitfield, { bitOffset: 3, bitSize: 5 });
  assert.equal(foo.member('neg').int(), -3);
  assert.equal(foo.member('neg').u8(), 0xfd);
  const wide = foo.member('wide');
  assert.deepEqual(wide.bitfield, { bitOffset: 4, bitSize: 40 });
  assert.equal(wide.u64(), 0xabcdef0123n);
  assert.equal(wide.int(), 0xabcdef0123n);
  assert.throws(() => wide.u32(), ValidationError);
  assert.throws(() => b.bytes(), ValidationError);
  assert.throws(() => b.member('x'), ValidationError);
  // kind_flag 0: widths and an extra bit offset from the int type.
  const B = 0xffff888000004000n;
  mem.write(B, new Uint8Array(8));
  setBits(mem, B, 0, 3, 5n);
  setBits(mem, B, 5, 7, 100n);
  mem.u32(B + 4n, 0xdeadbeef);
  const bar = new KObject(mem, ti, 'struct bar', B);
  assert.equal(bar.member('x').u32(), 5);
  assert.equal(bar.member('y').u32(), 100);
  assert.equal(bar.member('z').u32(), 0xdeadbeef);
});

test('KObject: errors', () => {
  const mem = fooMemory();
  const foo = new KObject(mem, ti, 'struct foo', A);
  assert.throws(() => foo.member('str.x'), (e: unknown) => e instanceof ValidationError && /'->'/.test(e.message));
  assert.throws(() => foo.member('list.prev').deref(), (e: unknown) => e instanceof ValidationError && /NULL pointer dereference/.test(e.message));
  assert.throws(() => foo.member('a').deref(), /not a pointer/);
  assert.throws(() => foo.member('a').index(1), /neither an array nor a pointer/);
  assert.throws(() => foo.member('name').index(16), /out of bounds/);
  assert.throws(() => foo.member('a').u8(), (e: unknown) => e instanceof ValidationError && /u8\(\) on \(int\).* 32 bits wide/.test(e.message));
  assert.throws(() => foo.member('a').string(), /neither a char array nor a char pointer/);
  assert.throws(() => foo.member('lists').string(), /not a char array/);
  assert.throws(() => foo.member('list').int(), /is a struct, not an integer/);
  assert.throws(() => foo.member('a').ptr(), /not a pointer/);
  assert.throws(() => foo.member('lists[1].prev->next').ptr(), FaultError); // lazy: the read faults
  assert.throws(() => foo.member('list->next'), /not a pointer/);
  assert.throws(() => foo.member('a->'), ValidationError);
});

/** A list of `struct foo` linked through `list` (offset 48) with a standalone head. */
function listMemory(n: number): { mem: FakeVirtualMemory; head: bigint; entries: bigint[] } {
  const mem = new FakeVirtualMemory();
  const head = 0xffff888000010000n;
  const entries = Array.from({ length: n }, (_, i) => 0xffff888000020000n + BigInt(i) * 0x100n);
  mem.write(head, new Uint8Array(16));
  for (const [i, e] of entries.entries()) {
    mem.write(e, new Uint8Array(144));
    mem.u32(e, i + 100);
  }
  const nodes = [head, ...entries.map((e) => e + 48n)];
  for (let i = 0; i < nodes.length; i++) {
    mem.u64(nodes[i]!, nodes[(i + 1) % nodes.length]!);
    mem.u64(nodes[i]! + 8n, nodes[(i + nodes.length - 1) % nodes.length]!);
  }
  return { mem, head, entries };
}

test('listForEachEntry walks a circular list; listEmpty; containerOf', () => {
  const { mem, head, entries } = listMemory(3);
  const tm = new TypedMemory(mem, ti);
  const got = [...tm.listForEachEntry(head, 'struct foo', 'list')];
  assert.deepEqual(got.map((o) => o.address), entries);
  assert.deepEqual(got.map((o) => o.member('a').int()), [100, 101, 102]);
  assert.deepEqual([...tm.listForEach(head)], entries.map((e) => e + 48n));
  assert.equal(tm.listEmpty(head), false);
  assert.equal(tm.containerOf(entries[1]! + 48n, 'struct foo', 'list').address, entries[1]);
  assert.equal(tm.containerOf(tm.object('struct foo', entries[2]!).member('list'), 'struct foo', 'list').address, entries[2]);
  assert.equal(tm.containerOf(entries[0]! + 24n, 'struct foo', 'deep').member('a').int(), 100);
  assert.throws(() => tm.containerOf(entries[0]!, 'struct foo', 'b'), /bitfield/);
  // The head may be given as an object.
  assert.equal([...tm.listForEachEntry(tm.object('struct list_head', head), 'struct foo', 'list')].length, 3);
  const empty = listMemory(0);
  const tm0 = new TypedMemory(empty.mem, ti);
  assert.equal(tm0.listEmpty(empty.head), true);
  assert.deepEqual([...tm0.listForEachEntry(empty.head, 'struct foo', 'list')], []);
});

test('listForEachEntry: loops, NULL and unreadable pointers, limits are ValidationErrors', () => {
  {
    const { mem, head, entries } = listMemory(4);
    mem.u64(entries[3]! + 48n, entries[1]! + 48n); // entry 3 -> entry 1: a loop without the head
    const tm = new TypedMemory(mem, ti);
    const seen: number[] = [];
    assert.throws(
      () => {
        for (const e of tm.listForEachEntry(head, 'struct foo', 'list')) seen.push(e.member('a').int() as number);
      },
      (e: unknown) => e instanceof ValidationError && new RegExp(`list at 0x${head.toString(16)}: loops back to 0x${(entries[1]! + 48n).toString(16)} after 4 entries`).test(e.message),
    );
    assert.deepEqual(seen, [100, 101, 102, 103]);
  }
  {
    const { mem, head, entries } = listMemory(2);
    mem.u64(entries[1]! + 48n, 0n);
    const tm = new TypedMemory(mem, ti);
    assert.throws(() => [...tm.listForEach(head)], /entry 2 has a NULL next pointer/);
  }
  {
    const { mem, head, entries } = listMemory(2);
    mem.u64(entries[0]! + 48n, 0xffff888000900000n);
    const tm = new TypedMemory(mem, ti);
    assert.throws(() => [...tm.listForEach(head)], (e: unknown) => e instanceof ValidationError && /cannot read the next pointer of entry 2 at 0xffff888000900000/.test(e.message));
  }
  {
    const { mem, head } = listMemory(5);
    const tm = new TypedMemory(mem, ti);
    assert.throws(() => [...tm.listForEach(head, { limit: 3 })], /more than 3 entries/);
    assert.equal([...tm.listForEach(head, { limit: 5 })].length, 5);
  }
  {
    const mem = new FakeVirtualMemory();
    const tm = new TypedMemory(mem, ti);
    assert.throws(() => [...tm.listForEach(0xffff888000500000n)], /cannot read the next pointer of the head/);
  }
});

test('hlistForEachEntry walks a NULL-terminated hash chain', () => {
  const mem = new FakeVirtualMemory();
  const head = 0xffff888000030000n;
  const entries = [0xffff888000031000n, 0xffff888000032000n];
  const member = 'lists[1]'; // any 16-byte member works as a node for the walk
  const nodeOff = 88n + 16n;
  mem.u64(head, entries[0]! + nodeOff);
  for (const [i, e] of entries.entries()) {
    mem.write(e, new Uint8Array(144));
    mem.u32(e, 200 + i);
    mem.u64(e + nodeOff, i + 1 < entries.length ? entries[i + 1]! + nodeOff : 0n);
  }
  const tm = new TypedMemory(mem, ti);
  assert.deepEqual([...tm.hlistForEachEntry(head, 'struct foo', member)].map((o) => o.member('a').int()), [200, 201]);
  mem.u64(entries[1]! + nodeOff, entries[0]! + nodeOff);
  assert.throws(() => [...tm.hlistForEachEntry(head, 'struct foo', member)], /hlist at .*: loops back/);
  const emptyHead = 0xffff888000033000n;
  mem.u64(emptyHead, 0n);
  assert.deepEqual([...tm.hlistForEachEntry(emptyHead, 'struct foo', member)], []);
});
