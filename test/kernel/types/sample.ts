/**
 * A small kernel-like BTF shared by the TypeInfo and KObject unit tests. Layouts (x86_64):
 *
 *   struct list_head { struct list_head *next, *prev; };                        // 16
 *   struct hlist_node { struct hlist_node *next, **pprev; };                    // 16
 *   struct hlist_head { struct hlist_node *first; };                            // 8
 *   struct foo {                                // 144 bytes, kind_flag 1
 *     int a;                                    //   0
 *     unsigned int b:3;                         //   bit 32
 *     unsigned int c:5;                         //   bit 35
 *     union { int u1; char u2[4]; };            //   8
 *     struct { long x; struct { int deep; }; }; //  16 (x), 24 (deep)
 *     char name[16];                            //  32
 *     struct list_head list;                    //  48
 *     const char *str;                          //  64
 *     int (*fn)(int, ...);                      //  72
 *     int neg:4;                                //  bit 640 (byte 80), signed
 *     unsigned long wide:40;                    //  bit 644
 *     struct list_head lists[3];                //  88
 *     _Bool flag;                               // 136
 *   };
 *   struct bar { unsigned x:3; unsigned y:7; };   // kind_flag 0: int types carry the widths
 *   union foo { long l; char c; };  typedef unsigned long foo;
 *   enum e { E_A = 1, E_B = 2 }; enum { ANON_X = 5 }; enum64 big { BIG_V = 1 << 40, BIG_NEG = -3 };
 *   enum c1 { DUP = 1, SAME = 9 }; enum c2 { DUP = 2, SAME = 9 };
 *   struct only_declared;  (fwd only)   struct fwd_list_head -> fwd named list_head
 */
import { parseBtf, type Btf } from '../../../src/formats/btf/btf.js';
import { BtfBuilder } from '../../formats/btf/builder.js';

export interface Sample {
  readonly btf: Btf;
  readonly ids: Readonly<Record<string, number>>;
}

export function sampleBtf(): Sample {
  const b = new BtfBuilder();
  const int = b.int('int', 4, { signed: true });
  const uint = b.int('unsigned int', 4);
  const char = b.int('char', 1, { signed: true, char: true });
  const ulong = b.int('long unsigned int', 8);
  const long = b.int('long int', 8, { signed: true });
  const bool = b.int('_Bool', 1, { bool: true });
  // list_head refers to itself through a pointer declared before the struct.
  const lhFwd = b.fwd('list_head');
  const lhPtr = b.ptr(lhFwd);
  const lh = b.struct('list_head', 16, [
    { name: 'next', type: lhPtr, bitOffset: 0 },
    { name: 'prev', type: lhPtr, bitOffset: 64 },
  ]);
  const hnFwd = b.fwd('hlist_node');
  const hnPtr = b.ptr(hnFwd);
  const hnPtrPtr = b.ptr(hnPtr);
  const hn = b.struct('hlist_node', 16, [
    { name: 'next', type: hnPtr, bitOffset: 0 },
    { name: 'pprev', type: hnPtrPtr, bitOffset: 64 },
  ]);
  const hh = b.struct('hlist_head', 8, [{ name: 'first', type: hnPtr, bitOffset: 0 }]);
  const char4 = b.array(char, uint, 4);
  const char16 = b.array(char, uint, 16);
  const anonUnion = b.union('', 4, [
    { name: 'u1', type: int, bitOffset: 0 },
    { name: 'u2', type: char4, bitOffset: 0 },
  ]);
  const deepStruct = b.struct('', 4, [{ name: 'deep', type: int, bitOffset: 0 }]);
  const anonStruct = b.struct('', 16, [
    { name: 'x', type: long, bitOffset: 0 },
    { name: '', type: deepStruct, bitOffset: 64 },
  ]);
  const constChar = b.const(char);
  const constCharPtr = b.ptr(constChar);
  const proto = b.funcProto(int, [['', int]], true);
  const fnPtr = b.ptr(proto);
  const lh3 = b.array(lh, uint, 3);
  const foo = b.struct(
    'foo',
    144,
    [
      { name: 'a', type: int, bitOffset: 0 },
      { name: 'b', type: uint, bitOffset: 32, bitfieldSize: 3 },
      { name: 'c', type: uint, bitOffset: 35, bitfieldSize: 5 },
      { name: '', type: anonUnion, bitOffset: 64 },
      { name: '', type: anonStruct, bitOffset: 128 },
      { name: 'name', type: char16, bitOffset: 256 },
      { name: 'list', type: lh, bitOffset: 384 },
      { name: 'str', type: constCharPtr, bitOffset: 512 },
      { name: 'fn', type: fnPtr, bitOffset: 576 },
      { name: 'neg', type: int, bitOffset: 640, bitfieldSize: 4 },
      { name: 'wide', type: ulong, bitOffset: 644, bitfieldSize: 40 },
      { name: 'lists', type: lh3, bitOffset: 704 },
      { name: 'flag', type: bool, bitOffset: 1088 },
    ],
    true,
  );
  // kind_flag 0 bitfields: the int types carry the width (and, for y, a bit offset of 2).
  const u3 = b.int('unsigned int', 4, { bits: 3 });
  const u7off2 = b.int('unsigned int', 4, { bits: 7, offset: 2 });
  const bar = b.struct('bar', 4, [
    { name: 'x', type: u3, bitOffset: 0 },
    { name: 'y', type: u7off2, bitOffset: 3 },
    { name: 'z', type: uint, bitOffset: 32 },
  ]);
  const unionFoo = b.union('foo', 8, [
    { name: 'l', type: long, bitOffset: 0 },
    { name: 'c', type: char, bitOffset: 0 },
  ]);
  const typedefFoo = b.typedef('foo', ulong);
  const enumE = b.enum('e', 4, [['E_A', 1], ['E_B', 2]]);
  const enumAnon = b.enum('', 4, [['ANON_X', 5]]);
  const enumBig = b.enum64('big', 8, [['BIG_V', 1n << 40n], ['BIG_NEG', -3n]], true);
  b.enum('c1', 4, [['DUP', 1], ['SAME', 9]]);
  b.enum('c2', 4, [['DUP', 2], ['SAME', 9]]);
  const onlyDeclared = b.fwd('only_declared');
  const onlyDeclaredPtr = b.ptr(onlyDeclared);
  const int4 = b.array(int, uint, 4);
  const ptrToArr = b.ptr(int4);
  const charPtr = b.ptr(char);
  const constPtr = b.const(charPtr);
  const volInt = b.volatile(int);
  const tagged = b.typeTag('rcu', lh);
  const taggedPtr = b.ptr(tagged);
  const func = b.func('do_thing', proto, 1);
  const atomicT = b.struct('', 4, [{ name: 'counter', type: int, bitOffset: 0 }]);
  const atomic = b.typedef('atomic_t', atomicT);
  const enumTypedef = b.typedef('e_t', enumE);
  const ids = {
    int, uint, char, ulong, long, bool, lhFwd, lhPtr, lh, hn, hh, hnPtr, char16, anonUnion, anonStruct, constCharPtr, proto, fnPtr, foo, bar,
    unionFoo, typedefFoo, enumE, enumAnon, enumBig, onlyDeclared, onlyDeclaredPtr, int4, ptrToArr, charPtr, constPtr, volInt, tagged, taggedPtr, func,
    atomic, enumTypedef, lh3,
  };
  return { btf: parseBtf(b.build(), { source: 'sample' }), ids };
}
