import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Btf, BTF_KIND_NAMES, parseBtf, parseBtfHeader } from '../../../src/formats/btf/btf.js';
import { FormatError } from '../../../src/util/errors.js';
import { BtfBuilder, KIND } from './builder.js';

/** One of every kind, with the ids the tests refer to. */
function kitchenSink(): { b: BtfBuilder; ids: Record<string, number> } {
  const b = new BtfBuilder();
  const ids: Record<string, number> = {};
  ids.int = b.int('int', 4, { signed: true });
  ids.uint = b.int('unsigned int', 4);
  ids.char = b.int('char', 1, { signed: true, char: true });
  ids.bool = b.int('_Bool', 1, { bool: true });
  ids.u128 = b.int('__int128 unsigned', 16);
  ids.bits3 = b.int('unsigned int', 4, { bits: 3, offset: 2 });
  ids.ptr = b.ptr(ids.char);
  ids.arr = b.array(ids.char, ids.uint, 16);
  ids.struct = b.struct('s', 24, [
    { name: 'a', type: ids.int, bitOffset: 0 },
    { name: 'b', type: ids.ptr, bitOffset: 64 },
    { name: 'c', type: ids.arr, bitOffset: 128 },
  ]);
  ids.union = b.union('u', 4, [
    { name: 'x', type: ids.uint, bitOffset: 0, bitfieldSize: 5 },
    { name: 'y', type: ids.int, bitOffset: 0, bitfieldSize: 0 },
  ], true);
  ids.enumU = b.enum('eu', 4, [['EU_A', 0], ['EU_B', 0xffffffff]]);
  ids.enumS = b.enum('es', 4, [['ES_NEG', -2], ['ES_POS', 7]], true);
  ids.fwdS = b.fwd('fs');
  ids.fwdU = b.fwd('fu', true);
  ids.typedef = b.typedef('s_t', ids.struct);
  ids.volatile = b.volatile(ids.int);
  ids.const = b.const(ids.char);
  ids.restrict = b.restrict(ids.ptr);
  ids.proto = b.funcProto(ids.int, [['x', ids.int], ['p', ids.ptr]], true);
  ids.funcStatic = b.func('f_static', ids.proto, 0);
  ids.funcGlobal = b.func('f_global', ids.proto, 1);
  ids.funcExtern = b.func('f_extern', ids.proto, 2);
  ids.var = b.var('v', ids.int, 1);
  ids.datasec = b.datasec('.data..percpu', 64, [[ids.var, 8, 4]]);
  ids.float = b.float('double', 8);
  ids.declTag = b.declTag('user', ids.struct, 1);
  ids.declTagWhole = b.declTag('attr', ids.funcGlobal, -1, true);
  ids.typeTag = b.typeTag('rcu', ids.int);
  ids.enum64U = b.enum64('e64u', 8, [['BIG', 0xfedcba9876543210n], ['SMALL', 1n]]);
  ids.enum64S = b.enum64('e64s', 8, [['MIN', -(1n << 63n)], ['M1', -1n]], true);
  return { b, ids };
}

test('header fields are read as written', () => {
  const { b } = kitchenSink();
  const h = parseBtfHeader(b.build());
  assert.equal(h.magic, 0xeb9f);
  assert.equal(h.version, 1);
  assert.equal(h.flags, 0);
  assert.equal(h.hdrLen, 24);
  assert.equal(h.typeOff, 0);
  assert.equal(h.typeLen, b.typeSectionLength);
  assert.equal(h.strOff, b.typeSectionLength);
  assert.equal(h.strLen, b.stringSectionLength);
  assert.equal(h.littleEndian, true);
  assert.equal(h.totalLen, 24 + b.typeSectionLength + b.stringSectionLength);
});

for (const bigEndian of [false, true]) {
  test(`every kind decodes (${bigEndian ? 'big' : 'little'}-endian)`, () => {
    const { b, ids } = kitchenSink();
    const btf = parseBtf(b.build({ bigEndian }), { source: 'sink' });
    assert.equal(btf.header.littleEndian, !bigEndian);
    assert.equal(btf.typeCount, Object.keys(ids).length + 1);
    assert.equal(btf.startId, 1);
    assert.deepEqual(btf.type(0), { kind: 'void', id: 0, name: 'void', offset: -1 });
    const t = (k: string) => btf.type(ids[k]!) as unknown as Record<string, unknown>;
    const strip = (k: string) => {
      const { offset: _o, ...rest } = t(k);
      return rest;
    };
    assert.deepEqual(strip('int'), { id: ids.int, name: 'int', kind: 'int', size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 });
    assert.deepEqual(strip('char'), { id: ids.char, name: 'char', kind: 'int', size: 1, signed: true, char: true, bool: false, bitOffset: 0, bits: 8 });
    assert.deepEqual(strip('bool'), { id: ids.bool, name: '_Bool', kind: 'int', size: 1, signed: false, char: false, bool: true, bitOffset: 0, bits: 8 });
    assert.equal(t('u128').bits, 128);
    assert.deepEqual([t('bits3').bits, t('bits3').bitOffset], [3, 2]);
    assert.deepEqual(strip('ptr'), { id: ids.ptr, name: '', kind: 'ptr', type: ids.char });
    assert.deepEqual(strip('arr'), { id: ids.arr, name: '', kind: 'array', type: ids.char, indexType: ids.uint, nelems: 16 });
    assert.deepEqual(strip('struct'), {
      id: ids.struct,
      name: 's',
      kind: 'struct',
      size: 24,
      kindFlag: false,
      members: [
        { name: 'a', type: ids.int, bitOffset: 0, bitfieldSize: 0 },
        { name: 'b', type: ids.ptr, bitOffset: 64, bitfieldSize: 0 },
        { name: 'c', type: ids.arr, bitOffset: 128, bitfieldSize: 0 },
      ],
    });
    assert.deepEqual(strip('union'), {
      id: ids.union,
      name: 'u',
      kind: 'union',
      size: 4,
      kindFlag: true,
      members: [
        { name: 'x', type: ids.uint, bitOffset: 0, bitfieldSize: 5 },
        { name: 'y', type: ids.int, bitOffset: 0, bitfieldSize: 0 },
      ],
    });
    assert.deepEqual(strip('enumU'), { id: ids.enumU, name: 'eu', kind: 'enum', size: 4, signed: false, values: [{ name: 'EU_A', value: 0n }, { name: 'EU_B', value: 0xffffffffn }] });
    assert.deepEqual(strip('enumS'), { id: ids.enumS, name: 'es', kind: 'enum', size: 4, signed: true, values: [{ name: 'ES_NEG', value: -2n }, { name: 'ES_POS', value: 7n }] });
    assert.deepEqual(strip('fwdS'), { id: ids.fwdS, name: 'fs', kind: 'fwd', union: false });
    assert.deepEqual(strip('fwdU'), { id: ids.fwdU, name: 'fu', kind: 'fwd', union: true });
    assert.deepEqual(strip('typedef'), { id: ids.typedef, name: 's_t', kind: 'typedef', type: ids.struct });
    assert.deepEqual(strip('volatile'), { id: ids.volatile, name: '', kind: 'volatile', type: ids.int });
    assert.deepEqual(strip('const'), { id: ids.const, name: '', kind: 'const', type: ids.char });
    assert.deepEqual(strip('restrict'), { id: ids.restrict, name: '', kind: 'restrict', type: ids.ptr });
    assert.deepEqual(strip('proto'), { id: ids.proto, name: '', kind: 'func_proto', type: ids.int, params: [{ name: 'x', type: ids.int }, { name: 'p', type: ids.ptr }], variadic: true });
    assert.equal(t('funcStatic').linkage, 'static');
    assert.equal(t('funcGlobal').linkage, 'global');
    assert.deepEqual(strip('funcExtern'), { id: ids.funcExtern, name: 'f_extern', kind: 'func', type: ids.proto, linkage: 'extern' });
    assert.deepEqual(strip('var'), { id: ids.var, name: 'v', kind: 'var', type: ids.int, linkage: 1 });
    assert.deepEqual(strip('datasec'), { id: ids.datasec, name: '.data..percpu', kind: 'datasec', size: 64, vars: [{ type: ids.var, offset: 8, size: 4 }] });
    assert.deepEqual(strip('float'), { id: ids.float, name: 'double', kind: 'float', size: 8 });
    assert.deepEqual(strip('declTag'), { id: ids.declTag, name: 'user', kind: 'decl_tag', type: ids.struct, componentIdx: 1, attribute: false });
    assert.deepEqual(strip('declTagWhole'), { id: ids.declTagWhole, name: 'attr', kind: 'decl_tag', type: ids.funcGlobal, componentIdx: -1, attribute: true });
    assert.deepEqual(strip('typeTag'), { id: ids.typeTag, name: 'rcu', kind: 'type_tag', type: ids.int, attribute: false });
    assert.deepEqual(strip('enum64U'), { id: ids.enum64U, name: 'e64u', kind: 'enum64', size: 8, signed: false, values: [{ name: 'BIG', value: 0xfedcba9876543210n }, { name: 'SMALL', value: 1n }] });
    assert.deepEqual(strip('enum64S'), { id: ids.enum64S, name: 'e64s', kind: 'enum64', size: 8, signed: true, values: [{ name: 'MIN', value: -(1n << 63n) }, { name: 'M1', value: -1n }] });
    // Record offsets are blob offsets: header + position in the type section.
    assert.equal(t('struct').offset, 24 + b.recordOffsets[ids.struct! - 1]!);
    assert.equal(btf.recordOffset(ids.enum64S!), 24 + b.recordOffsets[ids.enum64S! - 1]!);
    // kind() and kindNumber() agree with the decoded records.
    for (const id of btf.ids()) assert.equal(btf.kind(id), btf.type(id).kind);
    assert.equal(btf.kindNumber(ids.enum64U!), KIND.ENUM64);
    assert.equal(BTF_KIND_NAMES[KIND.DECL_TAG], 'decl_tag');
  });
}

test('a variadic-only func_proto and an empty parameter list', () => {
  const b = new BtfBuilder();
  const int = b.int('int', 4, { signed: true });
  const p0 = b.funcProto(int, []);
  const p1 = b.funcProto(0, [], true);
  const btf = parseBtf(b.build());
  assert.deepEqual(btf.type(p0), { id: p0, name: '', offset: 24 + b.recordOffsets[1]!, kind: 'func_proto', type: int, params: [], variadic: false });
  const t1 = btf.type(p1);
  assert.ok(t1.kind === 'func_proto' && t1.variadic && t1.params.length === 0 && t1.type === 0);
});

test('name lookup: by kind, duplicates, suffix-shared strings, absent names', () => {
  const b = new BtfBuilder();
  const int = b.int('int', 4, { signed: true });
  const s1 = b.struct('foo', 4, [{ name: 'x', type: int, bitOffset: 0 }]);
  const u1 = b.union('foo', 4, [{ name: 'y', type: int, bitOffset: 0 }]);
  const td = b.typedef('foo', s1);
  const s2 = b.struct('foo', 8, []);
  // A name that is the tail of another string: "oo" inside "foo\0" is a valid string offset.
  const tail = b.raw(b.str('foo') + 1, (KIND.FWD << 24) >>> 0, 0);
  const btf = parseBtf(b.build());
  assert.deepEqual(btf.findByName('foo'), [s1, u1, td, s2]);
  assert.deepEqual(btf.findByName('foo', 'struct'), [s1, s2]);
  assert.deepEqual(btf.findByName('foo', 'union'), [u1]);
  assert.deepEqual(btf.findByName('foo', 'typedef'), [td]);
  assert.deepEqual(btf.findByName('oo'), [tail]);
  assert.equal(btf.name(tail), 'oo');
  assert.deepEqual(btf.findByName('fo'), []);
  assert.deepEqual(btf.findByName('nope'), []);
  assert.deepEqual(btf.findByName(''), []);
  assert.deepEqual(btf.findByName('int'), [int]);
  // Repeated lookups come from the cache and are still copies.
  const again = btf.findByName('foo');
  again.pop();
  assert.equal(btf.findByName('foo').length, 4);
});

test('split BTF continues the base type ids and string offsets', () => {
  const base = new BtfBuilder();
  const int = base.int('int', 4, { signed: true });
  const lh = base.struct('list_head', 16, []);
  const baseBtf = parseBtf(base.build(), { source: 'vmlinux' });
  const split = new BtfBuilder(baseBtf.typeCount, baseBtf.stringsEnd);
  const ptr = split.ptr(lh);
  const mod = split.struct('module_thing', 24, [
    { name: 'n', type: int, bitOffset: 0 },
    { name: 'list', type: lh, bitOffset: 64 },
  ]);
  split.struct('int', 4, []); // a split type named like a base type
  const btf = parseBtf(split.build(), { source: 'mod', base: baseBtf });
  assert.equal(btf.startId, 3);
  assert.equal(btf.typeCount, 6);
  assert.equal(btf.localTypeCount, 3);
  assert.equal(ptr, 3);
  assert.equal(btf.kind(int), 'int');
  assert.equal(btf.name(lh), 'list_head');
  const t = btf.type(mod);
  assert.ok(t.kind === 'struct');
  assert.deepEqual(t.members.map((m) => [m.name, btf.name(m.type)]), [['n', 'int'], ['list', 'list_head']]);
  assert.deepEqual(btf.findByName('int'), [int, 5]);
  assert.deepEqual(btf.findByName('list_head'), [lh]);
  assert.deepEqual([...btf.ids()], [3, 4, 5]);
  assert.throws(() => parseBtf(split.build({ bigEndian: true }), { source: 'mod', base: baseBtf }), /different byte orders/);
});

test('unused header bytes of a longer header are allowed when zero', () => {
  const { b } = kitchenSink();
  const btf = parseBtf(b.build({ hdrLen: 32 }));
  assert.equal(btf.header.hdrLen, 32);
  assert.equal(btf.name(1), 'int');
});

test('string section first, then types', () => {
  const { b, ids } = kitchenSink();
  const btf = parseBtf(b.build({ stringsFirst: true }));
  assert.equal(btf.name(ids.struct!), 's');
  assert.equal(btf.type(ids.enum64U!).kind, 'enum64');
});

test('trailing bytes after the sections are ignored (memory ranges may be padded)', () => {
  const { b } = kitchenSink();
  const btf = parseBtf(b.build({ trailer: new Uint8Array(13) }));
  assert.equal(btf.header.totalLen, 24 + b.typeSectionLength + b.stringSectionLength);
});

// ---------------------------------------------------------------------------------------------
// Errors: every one a FormatError naming the source and the exact byte offset.

function assertFormatError(f: () => unknown, offset: number | bigint, message: RegExp, source = 'blob'): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.equal(e.file, source);
    assert.equal(e.offset, BigInt(offset), `offset of: ${e.message}`);
    assert.match(e.message, message);
    return true;
  });
}

function small(): { b: BtfBuilder; int: number; s: number } {
  const b = new BtfBuilder();
  const int = b.int('int', 4, { signed: true });
  const s = b.struct('s', 8, [
    { name: 'a', type: int, bitOffset: 0 },
    { name: 'b', type: int, bitOffset: 32 },
  ]);
  return { b, int, s };
}

function patch32(bytes: Uint8Array, off: number, v: number): Uint8Array {
  const c = new Uint8Array(bytes);
  new DataView(c.buffer).setUint32(off, v >>> 0, true);
  return c;
}

test('errors: header', () => {
  const { b } = small();
  const good = b.build();
  const p = (bytes: Uint8Array) => () => parseBtf(bytes, { source: 'blob' });
  assertFormatError(p(good.subarray(0, 10)), 0, /BTF truncated: 10 bytes/);
  assertFormatError(p(b.build({ magic: 0x1234 })), 0, /bad BTF magic 0x1234/);
  assertFormatError(p(b.build({ version: 2 })), 2, /unsupported BTF version 2/);
  assertFormatError(p(b.build({ flags: 1 })), 3, /unsupported BTF header flags 0x1/);
  assertFormatError(p(patch32(good, 4, 16)), 4, /hdr_len 16 is smaller/);
  assertFormatError(p(patch32(good, 4, 0x10000)), 4, /hdr_len 65536 extends past the end/);
  assertFormatError(p(b.build({ hdrLen: 32, headerExtra: new Uint8Array([0, 0, 0, 5]) })), 27, /byte 27 is nonzero: unsupported header extension/);
  assertFormatError(p(b.build({ typeOff: 2 })), 8, /type_off 2 is not 4-byte aligned/);
  assertFormatError(p(b.build({ typeLen: b.typeSectionLength + 1000 })), 12, /type section .* extends past the end/);
  assertFormatError(p(good.subarray(0, good.length - 1)), 20, /string section .* extends past the end/);
  assertFormatError(p(b.build({ strOff: 4 })), 16, /overlap/);
  assertFormatError(p(b.build({ strLen: 0 })), 20, /string section is empty/);
});

test('errors: string section contents', () => {
  const { b } = small();
  const good = b.build();
  const strStart = 24 + b.typeSectionLength;
  const notFirstNul = new Uint8Array(good);
  notFirstNul[strStart] = 0x41;
  assertFormatError(() => parseBtf(notFirstNul, { source: 'blob' }), strStart, /does not start with the empty string/);
  const notLastNul = new Uint8Array(good);
  notLastNul[good.length - 1] = 0x41;
  assertFormatError(() => parseBtf(notLastNul, { source: 'blob' }), good.length - 1, /does not end with a NUL/);
});

test('errors: type records', () => {
  const p = (bytes: Uint8Array) => () => parseBtf(bytes, { source: 'blob' });
  {
    // A struct whose members run past the end of the type section.
    const { b, s } = small();
    const rec = 24 + b.recordOffsets[s - 1]!;
    assertFormatError(p(b.build({ typeLen: b.typeSectionLength - 4, strOff: b.typeSectionLength })), rec, /type \[2\] \(struct, vlen 2\) needs 36 bytes, 32 left/);
  }
  {
    // Fewer than 12 bytes left for a record header.
    const { b } = small();
    b.raw(0);
    const rec = 24 + b.recordOffsets[2]!;
    assertFormatError(p(b.build()), rec, /type \[3\] header needs 12 bytes, 4 left/);
  }
  {
    const b = new BtfBuilder();
    b.int('int', 4);
    b.raw(0, (20 << 24) >>> 0, 0);
    assertFormatError(p(b.build()), 24 + 16 + 4, /type \[2\] has unknown kind 20/);
  }
  {
    const b = new BtfBuilder();
    b.raw(0, 0, 0);
    assertFormatError(p(b.build()), 24 + 4, /type \[1\] has unknown kind 0/);
  }
  {
    const b = new BtfBuilder();
    b.raw(0, ((KIND.PTR << 24) | 0x10000) >>> 0, 0);
    assertFormatError(p(b.build()), 24 + 4, /info 0x2010000 has reserved bits set/);
  }
});

test('errors: type ids and string offsets out of range, at the field', () => {
  const p = (bytes: Uint8Array, baseOffset?: number) => () => parseBtf(bytes, { source: 'blob', baseOffset });
  {
    const b = new BtfBuilder();
    b.int('int', 4);
    b.ptr(7);
    assertFormatError(p(b.build()), 24 + 16 + 8, /type \[2\]: ptr refers to type id 7, but the largest type id is 2/);
    // With a base offset (an ELF section's file offset) the error offset is absolute.
    assertFormatError(p(b.build(), 0x1000), 0x1000 + 24 + 16 + 8, /type id 7/);
  }
  {
    const { b, int } = small();
    b.struct('t', 4, [
      { name: 'ok', type: int, bitOffset: 0 },
      { name: 'bad', type: 99, bitOffset: 0 },
    ]);
    const rec = 24 + b.recordOffsets[2]!;
    assertFormatError(p(b.build()), rec + 12 + 12 + 4, /type \[3\]: member #1 refers to type id 99/);
  }
  {
    const { b } = small();
    b.raw(0x7fff, (KIND.TYPEDEF << 24) >>> 0, 1);
    const rec = 24 + b.recordOffsets[2]!;
    assertFormatError(p(b.build()), rec, /type \[3\]: name string offset 32767 is outside the string section/);
  }
  {
    const b = new BtfBuilder();
    const int = b.int('int', 4);
    b.raw(0, ((KIND.ENUM << 24) | 1) >>> 0, 4, 0x5000, 1);
    assertFormatError(p(b.build()), 24 + 16 + 12, /enumerator #0 name string offset 20480/);
    void int;
  }
  {
    const b = new BtfBuilder();
    const int = b.int('int', 4);
    b.raw(0, ((KIND.FUNC_PROTO << 24) | 1) >>> 0, int, 0, 42);
    assertFormatError(p(b.build()), 24 + 16 + 12 + 4, /parameter #0 refers to type id 42/);
  }
  {
    const b = new BtfBuilder();
    const int = b.int('int', 4);
    b.array(int, 9, 4);
    assertFormatError(p(b.build()), 24 + 16 + 12 + 4, /array index type refers to type id 9/);
  }
  {
    const b = new BtfBuilder();
    b.datasec('.data', 4, [[5, 0, 4]]);
    assertFormatError(p(b.build()), 24 + 12, /datasec variable #0 refers to type id 5/);
  }
  {
    const b = new BtfBuilder();
    const int = b.int('int', 4);
    b.func('f', int);
    assertFormatError(p(b.build()), 24 + 16 + 8, /func: type 1 is a int, not a func_proto/);
  }
  {
    const b = new BtfBuilder();
    b.int('int', 1, { bits: 9 });
    assertFormatError(p(b.build()), 24 + 12, /9 bits at bit offset 0 do not fit its size of 1 bytes/);
  }
  {
    const b = new BtfBuilder();
    const int = b.int('int', 4);
    b.declTag('x', int, -2);
    assertFormatError(p(b.build()), 24 + 16 + 12, /component_idx -2 is invalid/);
  }
});

test('validate: false skips the reference pass; decoding still checks nothing it cannot', () => {
  const b = new BtfBuilder();
  b.int('int', 4);
  b.ptr(7);
  const btf = new Btf(b.build(), { validate: false });
  assert.equal(btf.type(2).kind, 'ptr');
  assert.throws(() => btf.validate(), FormatError);
});

test('kind() and type() reject ids out of range', () => {
  const { b } = small();
  const btf = parseBtf(b.build());
  assert.equal(btf.has(2), true);
  assert.equal(btf.has(3), false);
  assert.throws(() => btf.kind(3), RangeError);
  assert.throws(() => btf.type(-1), RangeError);
  assert.throws(() => btf.string(1 << 20), RangeError);
});
