import { FaultError, ValidationError } from '../../util/errors.js';
import type { VirtualMemory } from '../../memory/address-space.js';
import type { ResolvedType, TypeId, TypedTypeInfo } from './type-info.js';

/**
 * Typed objects over the crashed kernel's memory: a KObject is (type, address), with C-like
 * navigation (`member('se.cfs_rq')`, `member('mm->pgd')`, `index(3)`, `deref()`) and value
 * reads. Everything is read lazily, on the value call; 64-bit values are bigint.
 *
 * The list helpers are named after the kernel's (include/linux/list.h): listForEachEntry,
 * hlistForEachEntry, containerOf.
 */

export interface Bitfield {
  /** Bit offset within the byte at `address` (0-7 on little-endian x86_64). */
  readonly bitOffset: number;
  readonly bitSize: number;
}

const DEFAULT_STRING_MAX = 4096;

export class KObject {
  readonly type: TypeId;
  /** For bitfield members: where in the byte at `address` the field starts, and its width. */
  readonly bitfield: Bitfield | undefined;

  constructor(
    readonly mem: VirtualMemory,
    readonly types: TypedTypeInfo,
    type: TypeId | string,
    readonly address: bigint,
    bitfield?: Bitfield,
  ) {
    this.type = typeof type === 'string' ? types.lookup(type) : type;
    this.bitfield = bitfield;
  }

  /** C-like name of the object's type. */
  get typeName(): string {
    return this.types.typeName(this.type);
  }

  /** sizeof the object's type. */
  get size(): number {
    return this.types.sizeOfId(this.type);
  }

  /** The type with typedefs and qualifiers stripped. */
  resolved(): ResolvedType {
    return this.types.resolve(this.type);
  }

  toString(): string {
    return `(${this.typeName})0x${this.address.toString(16)}`;
  }

  /** The same address seen as another type. */
  cast(type: TypeId | string): KObject {
    return new KObject(this.mem, this.types, type, this.address);
  }

  /**
   * A member by path: `a.b.c` and `a[3]` within the object, `->` through pointers
   * (`mm->pgd`, or a leading `->` when this object is itself a pointer).
   */
  member(path: string): KObject {
    const parts = path.split('->').map((p) => p.trim());
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    let obj: KObject = this;
    for (let i = 0; i < parts.length; i++) {
      if (i > 0) obj = obj.deref();
      const part = parts[i]!;
      if (part === '') {
        // A leading '->' dereferences this object first; a trailing one, the last member.
        if ((i === 0 && parts.length > 1) || (i > 0 && i === parts.length - 1)) continue;
        throw new ValidationError(`cannot parse member path '${path}'`);
      }
      obj = obj.memberWithin(part, path);
    }
    return obj;
  }

  private memberWithin(part: string, fullPath: string): KObject {
    if (this.bitfield) throw new ValidationError(`${this}: a bitfield has no members (path '${fullPath}')`);
    const r = this.resolved();
    if (r.kind === 'pointer' && !part.startsWith('[')) {
      throw new ValidationError(`${this} is a pointer: use '->' to reach '${part}' (path '${fullPath}')`);
    }
    const m = this.types.memberOf(this.type, part);
    const address = this.address + BigInt(Math.floor(m.offsetBits / 8));
    if (m.bitSize !== undefined) return new KObject(this.mem, this.types, m.type, address, { bitOffset: m.offsetBits % 8, bitSize: m.bitSize });
    return new KObject(this.mem, this.types, m.type, address);
  }

  /** Element `i` of an array, or `ptr[i]` through a pointer. */
  index(i: number | bigint): KObject {
    const n = BigInt(i);
    const r = this.resolved();
    if (r.kind === 'array') {
      if (r.length > 0 && (n < 0n || n >= BigInt(r.length))) throw new ValidationError(`index ${n} is out of bounds for ${this}`);
      return new KObject(this.mem, this.types, r.element, this.address + n * BigInt(this.types.sizeOfId(r.element)));
    }
    if (r.kind === 'pointer') {
      const p = this.pointerValue();
      return new KObject(this.mem, this.types, r.target, p + n * BigInt(this.types.sizeOfId(r.target)));
    }
    throw new ValidationError(`${this} is neither an array nor a pointer: cannot index it`);
  }

  /** The object a pointer points to. A NULL pointer is a ValidationError. */
  deref(): KObject {
    const r = this.resolved();
    if (r.kind !== 'pointer') throw new ValidationError(`${this} is not a pointer: cannot dereference it`);
    const p = this.pointerValue();
    if (p === 0n) throw new ValidationError(`NULL pointer dereference: ${this} is NULL`);
    return new KObject(this.mem, this.types, r.target, p);
  }

  private pointerValue(): bigint {
    return this.readUnsigned(this.types.pointerSize);
  }

  /** The object's bytes (not for bitfields). */
  bytes(): Uint8Array {
    if (this.bitfield) throw new ValidationError(`${this} is a bitfield: read it with int()/u32()/u64()`);
    return this.mem.read(this.address, this.size);
  }

  private readUnsigned(size: number): bigint {
    const b = this.mem.read(this.address, size);
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    return v;
  }

  /**
   * The integer value, signed or unsigned as the type says (ints, enums, bool, char, pointers,
   * bitfields).
   */
  raw(): bigint {
    const r = this.resolved();
    let size: number;
    let signed: boolean;
    switch (r.kind) {
      case 'int':
        size = r.size;
        signed = r.signed;
        break;
      case 'enum':
        size = r.size;
        signed = r.signed;
        break;
      case 'pointer':
        size = r.size;
        signed = false;
        break;
      default:
        throw new ValidationError(`${this} is a ${r.kind}, not an integer, enum or pointer`);
    }
    if (!this.bitfield) {
      const v = this.readUnsigned(size);
      return signed ? BigInt.asIntN(size * 8, v) : v;
    }
    const { bitOffset, bitSize } = this.bitfield;
    const nbytes = Math.ceil((bitOffset + bitSize) / 8);
    const b = this.mem.read(this.address, nbytes);
    let v = 0n;
    for (let i = nbytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    v = (v >> BigInt(bitOffset)) & ((1n << BigInt(bitSize)) - 1n);
    return signed ? BigInt.asIntN(bitSize, v) : v;
  }

  private checkWidth(bits: number, what: string): void {
    const width = this.bitfield ? this.bitfield.bitSize : this.size * 8;
    if (width > bits) throw new ValidationError(`${what}() on ${this}, which is ${width} bits wide`);
  }

  u64(): bigint {
    this.checkWidth(64, 'u64');
    return BigInt.asUintN(64, this.raw());
  }
  i64(): bigint {
    this.checkWidth(64, 'i64');
    return BigInt.asIntN(64, this.raw());
  }
  u32(): number {
    this.checkWidth(32, 'u32');
    return Number(BigInt.asUintN(32, this.raw()));
  }
  i32(): number {
    this.checkWidth(32, 'i32');
    return Number(BigInt.asIntN(32, this.raw()));
  }
  u16(): number {
    this.checkWidth(16, 'u16');
    return Number(BigInt.asUintN(16, this.raw()));
  }
  u8(): number {
    this.checkWidth(8, 'u8');
    return Number(BigInt.asUintN(8, this.raw()));
  }
  /** A pointer's value. */
  ptr(): bigint {
    if (this.resolved().kind !== 'pointer') throw new ValidationError(`${this} is not a pointer`);
    return this.pointerValue();
  }
  bool(): boolean {
    return this.raw() !== 0n;
  }

  /** The value as the type says: a number for up to 32 bits, a bigint for wider types. */
  int(): number | bigint {
    const v = this.raw();
    const width = this.bitfield ? this.bitfield.bitSize : this.size * 8;
    return width > 32 ? v : Number(v);
  }

  /**
   * A C string: the contents of a char array (up to its length or `max`), or the bytes a char
   * pointer points to (up to `max`, default 4096), cut at the first NUL and decoded as UTF-8.
   */
  string(max?: number): string {
    const r = this.resolved();
    if (r.kind === 'array') {
      const e = this.types.resolve(r.element);
      if (e.kind !== 'int' || e.size !== 1) throw new ValidationError(`${this} is not a char array`);
      const n = r.length === 0 ? (max ?? DEFAULT_STRING_MAX) : Math.min(r.length, max ?? r.length);
      return decode(r.length === 0 ? readCStringBytes(this.mem, this.address, n) : this.mem.read(this.address, n));
    }
    if (r.kind === 'pointer') {
      const e = this.types.resolve(r.target);
      if (!(e.kind === 'int' && e.size === 1) && e.kind !== 'void') throw new ValidationError(`${this} is not a char pointer`);
      const p = this.pointerValue();
      if (p === 0n) throw new ValidationError(`${this} is a NULL string pointer`);
      return decode(readCStringBytes(this.mem, p, max ?? DEFAULT_STRING_MAX));
    }
    throw new ValidationError(`${this} is neither a char array nor a char pointer`);
  }
}

function decode(b: Uint8Array): string {
  let end = b.indexOf(0);
  if (end < 0) end = b.length;
  return Buffer.from(b.buffer, b.byteOffset, end).toString('utf8');
}

/** Reads up to `max` bytes at `addr`, page by page stopping after the first NUL. */
export function readCStringBytes(mem: { read(addr: bigint, length: number): Uint8Array }, addr: bigint, max: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let done = 0;
  while (done < max) {
    const va = BigInt.asUintN(64, addr + BigInt(done));
    const n = Math.min(max - done, 4096 - Number(va & 0xfffn));
    const b = mem.read(va, n);
    const z = b.indexOf(0);
    if (z >= 0) {
      parts.push(b.subarray(0, z));
      break;
    }
    parts.push(b);
    done += n;
  }
  return Buffer.concat(parts);
}

export interface ListWalkOptions {
  /** Stop with a ValidationError after this many entries (default 1,000,000). */
  readonly limit?: number;
}

const DEFAULT_LIST_LIMIT = 1_000_000;

/**
 * Typed access to one kernel's memory: objects, container_of, and list walks.
 */
export class TypedMemory {
  private listNextOff: number | undefined;
  private hlistFirstOff: number | undefined;
  private hlistNextOff: number | undefined;

  constructor(
    readonly mem: VirtualMemory,
    readonly types: TypedTypeInfo,
  ) {}

  object(type: TypeId | string, address: bigint): KObject {
    return new KObject(this.mem, this.types, type, address);
  }

  /** container_of(ptr, type, member): the object of `type` whose `member` is at `ptr`. */
  containerOf(ptr: bigint | KObject, type: string, member: string): KObject {
    const addr = typeof ptr === 'bigint' ? ptr : ptr.address;
    const id = this.types.lookup(type);
    const m = this.types.memberOf(id, member);
    if (m.bitSize !== undefined) throw new ValidationError(`container_of through a bitfield (${type}.${member}) is meaningless`);
    return new KObject(this.mem, this.types, id, addr - BigInt(m.offsetBits / 8));
  }

  private readPtr(addr: bigint): bigint {
    const b = this.mem.read(addr, 8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  }

  /**
   * list_for_each_entry(pos, head, member): the entries of the circular list whose `struct
   * list_head` is at `head`, as objects of `type` linked through `member`. The head itself is
   * not an entry. A NULL or unreadable `next`, a loop that does not return to the head, or more
   * than `limit` entries is a ValidationError naming the list and the entry.
   */
  *listForEachEntry(head: bigint | KObject, type: string, member: string, opts: ListWalkOptions = {}): Generator<KObject> {
    for (const node of this.listForEach(head, opts)) yield this.containerOf(node, type, member);
  }

  /** list_for_each(pos, head): addresses of the list_head nodes after `head`. */
  *listForEach(head: bigint | KObject, opts: ListWalkOptions = {}): Generator<bigint> {
    const headAddr = typeof head === 'bigint' ? head : head.address;
    this.listNextOff ??= this.types.offsetof('struct list_head', 'next');
    const limit = opts.limit ?? DEFAULT_LIST_LIMIT;
    const seen = new Set<bigint>();
    const where = `list at 0x${headAddr.toString(16)}`;
    let pos = this.nextOf(headAddr, this.listNextOff, where, 0);
    while (pos !== headAddr) {
      if (pos === 0n) throw new ValidationError(`${where}: entry ${seen.size} has a NULL next pointer (corrupted list)`);
      if (seen.has(pos)) throw new ValidationError(`${where}: loops back to 0x${pos.toString(16)} after ${seen.size} entries without returning to the head (corrupted list)`);
      if (seen.size >= limit) throw new ValidationError(`${where}: more than ${limit} entries (corrupted list, or raise the limit)`);
      seen.add(pos);
      yield pos;
      pos = this.nextOf(pos, this.listNextOff, where, seen.size);
    }
  }

  /**
   * hlist_for_each_entry(pos, head, member): entries of the NULL-terminated hash list whose
   * `struct hlist_head` is at `head`.
   */
  *hlistForEachEntry(head: bigint | KObject, type: string, member: string, opts: ListWalkOptions = {}): Generator<KObject> {
    const headAddr = typeof head === 'bigint' ? head : head.address;
    this.hlistFirstOff ??= this.types.offsetof('struct hlist_head', 'first');
    this.hlistNextOff ??= this.types.offsetof('struct hlist_node', 'next');
    const limit = opts.limit ?? DEFAULT_LIST_LIMIT;
    const seen = new Set<bigint>();
    const where = `hlist at 0x${headAddr.toString(16)}`;
    let pos = this.nextOf(headAddr, this.hlistFirstOff, where, 0);
    while (pos !== 0n) {
      if (seen.has(pos)) throw new ValidationError(`${where}: loops back to 0x${pos.toString(16)} after ${seen.size} entries (corrupted list)`);
      if (seen.size >= limit) throw new ValidationError(`${where}: more than ${limit} entries (corrupted list, or raise the limit)`);
      seen.add(pos);
      yield this.containerOf(pos, type, member);
      pos = this.nextOf(pos, this.hlistNextOff, where, seen.size);
    }
  }

  /** True when the list at `head` has no entries (list_empty). */
  listEmpty(head: bigint | KObject): boolean {
    const headAddr = typeof head === 'bigint' ? head : head.address;
    this.listNextOff ??= this.types.offsetof('struct list_head', 'next');
    return this.readPtr(headAddr + BigInt(this.listNextOff)) === headAddr;
  }

  private nextOf(node: bigint, off: number, where: string, n: number): bigint {
    try {
      return this.readPtr(node + BigInt(off));
    } catch (e) {
      if (e instanceof FaultError) throw new ValidationError(`${where}: cannot read the next pointer of ${n === 0 ? 'the head' : `entry ${n}`} at 0x${node.toString(16)}: ${e.message}`);
      throw e;
    }
  }
}
