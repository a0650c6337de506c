import { MissingInfoError, ValidationError } from '../../util/errors.js';
import type { Btf, BtfMember, BtfType } from '../../formats/btf/btf.js';
import type { Vmcoreinfo } from '../../formats/vmcore/vmcoreinfo.js';

/**
 * Kernel type information: sizes, member offsets, struct layouts, enum constants.
 *
 * Sources: BTF (complete C types: from the dump's memory, a vmlinux `.BTF` section or a raw BTF
 * file) and VMCOREINFO's SIZE()/OFFSET()/NUMBER() entries (a few dozen values the kernel
 * exports for makedumpfile — the minimal fallback). `chainTypeInfo` asks several in order.
 *
 * Type names are C spellings: `struct task_struct`, `union thread_union`, `enum pid_type`,
 * typedefs (`atomic_long_t`), base types (`unsigned long`, `long unsigned int`, `char`), with
 * pointer and array suffixes (`struct list_head *`, `char [16]`). A bare name such as
 * `task_struct` means, in order, a typedef or base type of that name, else the struct, the
 * union, the enum — the convention of VMCOREINFO (`SIZE(page)`) and crash.
 *
 * Member paths: `a.b.c`, with array subscripts `a[3].b`; members of anonymous structs and
 * unions are found as in C (`page.flags`, `page.lru` inside the union).
 */

/** Identifies a type within one TypeInfo (a BTF type id, or a synthesized pointer/array). */
export type TypeId = number;

export interface MemberInfo {
  /** The path as given. */
  readonly path: string;
  /** Offset from the start of the outer type, in bits. */
  readonly offsetBits: number;
  /** Width in bits when the member is a bitfield. */
  readonly bitSize?: number;
  /** The member's declared type (typedefs kept), when the source knows types. */
  readonly type?: TypeId;
  /** C-like rendering of the member's type, when known. */
  readonly typeName?: string;
  /** sizeof the member's type in bytes, when known. */
  readonly size?: number;
}

export interface LayoutMember {
  /** '' for an anonymous struct/union member. */
  readonly name: string;
  /** Byte offset from the start of the outermost struct (the containing byte for bitfields). */
  readonly offset: number;
  readonly offsetBits: number;
  readonly bitSize?: number;
  readonly size?: number;
  readonly typeName?: string;
  readonly type?: TypeId;
  /** For anonymous struct/union members: their members, offsets from the outermost struct. */
  readonly members?: readonly LayoutMember[];
}

export interface StructLayout {
  readonly kind: 'struct' | 'union';
  readonly name: string;
  readonly size: number;
  readonly members: readonly LayoutMember[];
  /** Which source described it. */
  readonly source: string;
}

export interface TypeInfo {
  /** Human-readable description of the source, e.g. `BTF (…)` or `VMCOREINFO`. */
  readonly source: string;
  /** sizeof(type) in bytes. */
  sizeof(typeName: string): number;
  /** offsetof(struct, member.path) in bytes. Bitfields have no byte offset: use member(). */
  offsetof(structName: string, path: string): number;
  member(structName: string, path: string): MemberInfo;
  struct(name: string): StructLayout;
  /** The value of an enum constant; `enumName` narrows the search to one enum. */
  enumValue(enumName: string | undefined, constant: string): bigint;
  /** C-like name of a type id. */
  typeName(id: TypeId): string;
  /** True when the type can be looked up. */
  hasType(typeName: string): boolean;
}

/** A type with typedefs, qualifiers and type tags stripped (and forward declarations resolved). */
export type ResolvedType =
  | { readonly kind: 'void'; readonly id: TypeId }
  | { readonly kind: 'int'; readonly id: TypeId; readonly name: string; readonly size: number; readonly signed: boolean; readonly bool: boolean; readonly char: boolean }
  | { readonly kind: 'float'; readonly id: TypeId; readonly name: string; readonly size: number }
  | { readonly kind: 'pointer'; readonly id: TypeId; readonly size: number; readonly target: TypeId }
  | { readonly kind: 'array'; readonly id: TypeId; readonly element: TypeId; readonly length: number }
  | { readonly kind: 'struct' | 'union'; readonly id: TypeId; readonly name: string; readonly size: number }
  | { readonly kind: 'enum'; readonly id: TypeId; readonly name: string; readonly size: number; readonly signed: boolean }
  | { readonly kind: 'function'; readonly id: TypeId; readonly name: string }
  /** A struct/union only declared (BTF_KIND_FWD) with no definition anywhere. */
  | { readonly kind: 'incomplete'; readonly id: TypeId; readonly name: string; readonly union: boolean };

/** TypeInfo that knows complete types: what typed objects (KObject) need. */
export interface TypedTypeInfo extends TypeInfo {
  /** The type id of a C type name (see the module comment for the accepted spellings). */
  lookup(typeName: string): TypeId;
  resolve(id: TypeId): ResolvedType;
  sizeOfId(id: TypeId): number;
  /** member() from a type id; always carries type, typeName and size. */
  memberOf(id: TypeId, path: string): MemberInfo & { readonly type: TypeId; readonly typeName: string; readonly size: number };
  /** A pointer to `id` (found in, or synthesized beside, the source's types). */
  pointerTo(id: TypeId): TypeId;
  readonly pointerSize: number;
}

// ---------------------------------------------------------------------------------------------
// Name and path parsing shared by the implementations.

interface ParsedTypeName {
  readonly tag: 'struct' | 'union' | 'enum' | undefined;
  readonly base: string;
  /** Declarator suffixes, in source order: '*' or an array length. */
  readonly pointers: number;
  readonly arrays: readonly number[];
}

function parseTypeName(s: string): ParsedTypeName {
  const text = s.trim().replace(/\s+/g, ' ');
  const m = /^(?:(struct|union|enum) )?([A-Za-z_][A-Za-z0-9_ ]*?) ?((?:\* ?)*)((?:\[ ?\d* ?\] ?)*)$/.exec(text);
  if (!m) throw new ValidationError(`cannot parse type name '${s}'`, "Use a C type name such as 'struct task_struct', 'unsigned long', 'char [16]' or 'struct list_head *'.");
  const arrays = [...(m[4] ?? '').matchAll(/\[ ?(\d*) ?\]/g)].map((a) => (a[1] === '' ? 0 : Number(a[1])));
  return { tag: m[1] as ParsedTypeName['tag'], base: m[2]!.trim(), pointers: (m[3] ?? '').replace(/ /g, '').length, arrays };
}

/** Strips `struct `/`union `/`enum ` for sources (VMCOREINFO) that key types by bare name. */
function bareName(s: string): string {
  return s
    .trim()
    .replace(/\s+/g, ' ')
    .replace(/^(struct|union|enum) /, '');
}

type PathStep = { readonly member: string } | { readonly index: number };

function parsePath(path: string): PathStep[] {
  const steps: PathStep[] = [];
  const re = /\s*(?:(\.)?\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(\d+)\s*\])/y;
  let pos = 0;
  const text = path.trim();
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m || (m[2] !== undefined && steps.length > 0 && m[1] === undefined) || (m[2] !== undefined && steps.length === 0 && m[1] !== undefined)) {
      throw new ValidationError(`cannot parse member path '${path}' at character ${pos + 1}`, "Member paths look like 'a.b.c' or 'a[3].b'.");
    }
    if (m[2] !== undefined) steps.push({ member: m[2] });
    else steps.push({ index: Number(m[3]) });
    pos = re.lastIndex;
  }
  if (steps.length === 0) throw new ValidationError('empty member path');
  return steps;
}

/** gcc/DWARF spellings of C base types, as BTF names them, for the usual C spellings. */
const BASE_ALIASES: Record<string, string> = {
  unsigned: 'unsigned int',
  signed: 'int',
  'signed int': 'int',
  long: 'long int',
  'signed long': 'long int',
  'long signed int': 'long int',
  'unsigned long': 'long unsigned int',
  'unsigned long int': 'long unsigned int',
  'long long': 'long long int',
  'signed long long': 'long long int',
  'unsigned long long': 'long long unsigned int',
  'unsigned long long int': 'long long unsigned int',
  short: 'short int',
  'signed short': 'short int',
  'unsigned short': 'short unsigned int',
  'unsigned short int': 'short unsigned int',
  bool: '_Bool',
};

// ---------------------------------------------------------------------------------------------
// BTF

type Synthetic = { readonly kind: 'ptr'; readonly type: TypeId } | { readonly kind: 'array'; readonly type: TypeId; readonly nelems: number };

interface FoundMember {
  readonly offsetBits: number;
  readonly bitSize: number | undefined;
  readonly type: TypeId;
}

/** TypeInfo over a parsed BTF blob (base or split). */
export class BtfTypeInfo implements TypedTypeInfo {
  readonly source: string;
  private ptrSize: number | undefined;
  private readonly synthetic: Synthetic[] = [];
  private readonly syntheticKeys = new Map<string, TypeId>();
  private readonly lookupCache = new Map<string, TypeId>();
  private readonly memberCache = new Map<string, FoundMember | null>();
  private enumIndex: Map<string, { id: TypeId; value: bigint }[]> | undefined;

  constructor(
    readonly btf: Btf,
    source?: string,
  ) {
    this.source = source ?? `BTF (${btf.source})`;
  }

  /** BTF records no pointer size; the kernel's pointers are as wide as its `unsigned long`. */
  get pointerSize(): number {
    this.ptrSize ??= this.btf.findByName('long unsigned int', 'int').map((id) => this.btf.rawSize(id))[0] ?? 8;
    return this.ptrSize;
  }

  // --- lookup -------------------------------------------------------------------------------

  hasType(typeName: string): boolean {
    try {
      this.lookup(typeName);
      return true;
    } catch (e) {
      if (e instanceof MissingInfoError) return false;
      throw e;
    }
  }

  lookup(typeName: string): TypeId {
    const hit = this.lookupCache.get(typeName);
    if (hit !== undefined) return hit;
    const p = parseTypeName(typeName);
    let id = this.lookupBase(p, typeName);
    for (let i = 0; i < p.pointers; i++) id = this.pointerTo(id);
    for (let i = p.arrays.length - 1; i >= 0; i--) id = this.arrayOf(id, p.arrays[i]!);
    this.lookupCache.set(typeName, id);
    return id;
  }

  private lookupBase(p: ParsedTypeName, original: string): TypeId {
    const btf = this.btf;
    if (p.tag === undefined && p.base === 'void') return 0;
    if (p.tag === 'struct' || p.tag === 'union') {
      const id = this.pickDefinition(btf.findByName(p.base, p.tag));
      if (id !== undefined) return id;
      const fwd = btf.findByName(p.base, 'fwd').find((f) => (btf.type(f) as { union: boolean }).union === (p.tag === 'union'));
      if (fwd !== undefined) return fwd;
    } else if (p.tag === 'enum') {
      const id = this.pickDefinition([...btf.findByName(p.base, 'enum'), ...btf.findByName(p.base, 'enum64')].sort((a, b) => a - b));
      if (id !== undefined) return id;
    } else {
      for (const name of [p.base, BASE_ALIASES[p.base]]) {
        if (name === undefined) continue;
        const ids = btf.findByName(name);
        for (const kind of ['typedef', 'int', 'float'] as const) {
          const id = ids.find((i) => btf.kind(i) === kind);
          if (id !== undefined) return id;
        }
      }
      // A bare struct/union/enum name (VMCOREINFO and crash convention).
      const ids = btf.findByName(p.base);
      for (const kind of ['struct', 'union', 'enum', 'enum64'] as const) {
        const id = this.pickDefinition(ids.filter((i) => btf.kind(i) === kind));
        if (id !== undefined) return id;
      }
      const fwd = ids.find((i) => btf.kind(i) === 'fwd');
      if (fwd !== undefined) return fwd;
    }
    throw new MissingInfoError(`no type '${original.trim()}' in ${this.source}`);
  }

  /** Of several same-named types, the first complete one (a struct with members or a size). */
  private pickDefinition(ids: number[]): TypeId | undefined {
    if (ids.length <= 1) return ids[0];
    return ids.find((id) => this.btf.rawSize(id) > 0) ?? ids[0];
  }

  pointerTo(id: TypeId): TypeId {
    return this.synth(`p${id}`, { kind: 'ptr', type: id });
  }

  private arrayOf(id: TypeId, nelems: number): TypeId {
    return this.synth(`a${id}:${nelems}`, { kind: 'array', type: id, nelems });
  }

  private synth(key: string, t: Synthetic): TypeId {
    const hit = this.syntheticKeys.get(key);
    if (hit !== undefined) return hit;
    const id = this.btf.typeCount + this.synthetic.length;
    this.synthetic.push(t);
    this.syntheticKeys.set(key, id);
    return id;
  }

  private checkId(id: TypeId): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.btf.typeCount + this.synthetic.length) {
      throw new MissingInfoError(`type id ${id} does not exist in ${this.source}`);
    }
  }

  // --- resolution ---------------------------------------------------------------------------

  resolve(id: TypeId): ResolvedType {
    this.checkId(id);
    const btf = this.btf;
    for (let hops = 0; hops < 64; hops++) {
      if (id >= btf.typeCount) {
        const s = this.synthetic[id - btf.typeCount]!;
        return s.kind === 'ptr' ? { kind: 'pointer', id, size: this.pointerSize, target: s.type } : { kind: 'array', id, element: s.type, length: s.nelems };
      }
      const t = btf.type(id);
      switch (t.kind) {
        case 'void':
          return { kind: 'void', id };
        case 'typedef':
        case 'const':
        case 'volatile':
        case 'restrict':
        case 'type_tag':
        case 'var':
          id = t.type;
          continue;
        case 'int':
          return { kind: 'int', id, name: t.name, size: t.size, signed: t.signed, bool: t.bool, char: t.char };
        case 'float':
          return { kind: 'float', id, name: t.name, size: t.size };
        case 'ptr':
          return { kind: 'pointer', id, size: this.pointerSize, target: t.type };
        case 'array':
          return { kind: 'array', id, element: t.type, length: t.nelems };
        case 'struct':
        case 'union':
          return { kind: t.kind, id, name: t.name, size: t.size };
        case 'enum':
        case 'enum64':
          return { kind: 'enum', id, name: t.name, size: t.size, signed: t.signed };
        case 'func':
        case 'func_proto':
          return { kind: 'function', id, name: t.name };
        case 'fwd': {
          const def = t.name === '' ? undefined : this.pickDefinition(btf.findByName(t.name, t.union ? 'union' : 'struct'));
          if (def === undefined) return { kind: 'incomplete', id, name: t.name, union: t.union };
          id = def;
          continue;
        }
        case 'datasec':
        case 'decl_tag':
          throw new ValidationError(`type [${id}] is a ${t.kind}, not a C type`);
      }
    }
    throw new ValidationError(`type [${id}] in ${this.source}: typedef/qualifier chain is too long (a loop?)`);
  }

  sizeOfId(id: TypeId): number {
    const r = this.resolve(id);
    switch (r.kind) {
      case 'int':
      case 'float':
      case 'pointer':
      case 'struct':
      case 'union':
      case 'enum':
        return r.size;
      case 'array':
        return r.length === 0 ? 0 : this.sizeOfId(r.element) * r.length;
      case 'incomplete':
        throw new MissingInfoError(`${r.union ? 'union' : 'struct'} ${r.name} is only declared in ${this.source}: its size is unknown`);
      case 'void':
        throw new ValidationError('sizeof(void) is undefined');
      case 'function':
        throw new ValidationError(`sizeof a function type (${this.typeName(id)}) is undefined`);
    }
  }

  sizeof(typeName: string): number {
    return this.sizeOfId(this.lookup(typeName));
  }

  // --- members ------------------------------------------------------------------------------

  member(structName: string, path: string): MemberInfo & { readonly type: TypeId; readonly typeName: string; readonly size: number } {
    return this.memberOf(this.lookup(structName), path);
  }

  offsetof(structName: string, path: string): number {
    const m = this.member(structName, path);
    if (m.bitSize !== undefined) throw new ValidationError(`${structName}.${path} is a bitfield (${m.bitSize} bits at bit ${m.offsetBits}): it has no byte offset; use member()`);
    return m.offsetBits / 8;
  }

  memberOf(id: TypeId, path: string): MemberInfo & { readonly type: TypeId; readonly typeName: string; readonly size: number } {
    const steps = parsePath(path);
    let cur = id;
    let bits = 0;
    let bitSize: number | undefined;
    let done = '';
    for (const step of steps) {
      if (bitSize !== undefined) throw new ValidationError(`'${done}' in ${this.typeName(id)} is a bitfield; it has no members or elements`);
      const r = this.resolve(cur);
      if ('member' in step) {
        if (r.kind !== 'struct' && r.kind !== 'union') {
          const hint = r.kind === 'pointer' ? " (it is a pointer: dereference it first, with '->' in object paths)" : r.kind === 'incomplete' ? ' (only declared, never defined, in this source)' : '';
          throw new ValidationError(`cannot take member '${step.member}' of ${done === '' ? '' : `'${done}', `}${this.typeName(cur)}: not a struct or union${hint}`);
        }
        const f = this.findMember(r.id, step.member);
        if (!f) throw new MissingInfoError(`${this.typeName(r.id)} has no member '${step.member}' in ${this.source}`);
        bits += f.offsetBits;
        bitSize = f.bitSize;
        cur = f.type;
        done = done === '' ? step.member : `${done}.${step.member}`;
      } else {
        if (r.kind !== 'array') throw new ValidationError(`cannot index '${done}' (${this.typeName(cur)}) with [${step.index}]: not an array`);
        if (r.length > 0 && step.index >= r.length) throw new ValidationError(`index [${step.index}] is out of bounds for '${done}' (${this.typeName(cur)})`);
        bits += step.index * this.sizeOfId(r.element) * 8;
        cur = r.element;
        done = `${done}[${step.index}]`;
      }
    }
    const r = this.resolve(cur);
    const size = r.kind === 'function' || r.kind === 'void' || r.kind === 'incomplete' ? 0 : this.sizeOfId(cur);
    const out = { path, offsetBits: bits, type: cur, typeName: this.typeName(cur), size };
    return bitSize === undefined ? out : { ...out, bitSize };
  }

  /** Bit offset, bitfield width and type of a direct member, normalizing both encodings. */
  private memberBits(t: BtfType & { kind: 'struct' | 'union' }, m: BtfMember): FoundMember {
    if (t.kindFlag) return { offsetBits: m.bitOffset, bitSize: m.bitfieldSize === 0 ? undefined : m.bitfieldSize, type: m.type };
    // kind_flag 0: a bitfield points to an int whose BTF_INT_BITS is the width and whose
    // BTF_INT_OFFSET adds to the member's offset (btf.rst 2.2.1).
    let id = m.type;
    for (let i = 0; i < 16 && id < this.btf.typeCount; i++) {
      const k = this.btf.kind(id);
      if (k === 'typedef' || k === 'const' || k === 'volatile' || k === 'restrict' || k === 'type_tag') id = this.btf.rawType(id);
      else break;
    }
    if (id !== 0 && id < this.btf.typeCount && this.btf.kind(id) === 'int') {
      const it = this.btf.type(id) as BtfType & { kind: 'int' };
      if (it.bits !== it.size * 8 || it.bitOffset !== 0) return { offsetBits: m.bitOffset + it.bitOffset, bitSize: it.bits, type: m.type };
    }
    return { offsetBits: m.bitOffset, bitSize: undefined, type: m.type };
  }

  private findMember(structId: TypeId, name: string): FoundMember | undefined {
    const key = `${structId}.${name}`;
    const hit = this.memberCache.get(key);
    if (hit !== undefined) return hit ?? undefined;
    let found: FoundMember | undefined;
    const t = this.btf.type(structId);
    if (t.kind === 'struct' || t.kind === 'union') {
      for (const m of t.members) {
        const mb = this.memberBits(t, m);
        if (m.name === name) {
          found = mb;
          break;
        }
        if (m.name === '') {
          const r = this.resolve(m.type);
          if (r.kind === 'struct' || r.kind === 'union') {
            const inner = this.findMember(r.id, name);
            if (inner) {
              found = { ...inner, offsetBits: mb.offsetBits + inner.offsetBits };
              break;
            }
          }
        }
      }
    }
    this.memberCache.set(key, found ?? null);
    return found;
  }

  struct(name: string): StructLayout {
    const id = this.lookup(name);
    const r = this.resolve(id);
    if (r.kind !== 'struct' && r.kind !== 'union') {
      throw new ValidationError(`${name} is ${r.kind === 'incomplete' ? 'only declared (no definition)' : `a ${r.kind}, not a struct or union`} in ${this.source}`);
    }
    return { kind: r.kind, name: this.typeName(r.id), size: r.size, members: this.layoutMembers(r.id, 0), source: this.source };
  }

  private layoutMembers(structId: TypeId, base: number): LayoutMember[] {
    const t = this.btf.type(structId);
    if (t.kind !== 'struct' && t.kind !== 'union') return [];
    return t.members.map((m) => {
      const mb = this.memberBits(t, m);
      const offsetBits = base + mb.offsetBits;
      const r = this.resolve(m.type);
      const size = r.kind === 'function' || r.kind === 'void' || r.kind === 'incomplete' ? undefined : this.sizeOfId(m.type);
      const lm: LayoutMember = {
        name: m.name,
        offset: Math.floor(offsetBits / 8),
        offsetBits,
        ...(mb.bitSize === undefined ? {} : { bitSize: mb.bitSize }),
        ...(size === undefined ? {} : { size }),
        typeName: this.typeName(m.type),
        type: m.type,
        ...(m.name === '' && (r.kind === 'struct' || r.kind === 'union') ? { members: this.layoutMembers(r.id, offsetBits) } : {}),
      };
      return lm;
    });
  }

  // --- enums --------------------------------------------------------------------------------

  enumValue(enumName: string | undefined, constant: string): bigint {
    if (enumName !== undefined) {
      // `enum pid_type`, `pid_type` (the enum's tag) or a typedef naming an enum.
      const tagged = /^(enum|struct|union) /.test(enumName.trim());
      const id = tagged || !this.hasType(`enum ${enumName}`) ? this.lookup(enumName) : this.lookup(`enum ${enumName}`);
      const r = this.resolve(id);
      if (r.kind !== 'enum') throw new ValidationError(`${enumName} is not an enum in ${this.source}`);
      const t = this.btf.type(r.id) as BtfType & { kind: 'enum' | 'enum64' };
      const v = t.values.find((e) => e.name === constant);
      if (!v) throw new MissingInfoError(`${this.typeName(r.id)} has no constant ${constant} in ${this.source}`);
      return v.value;
    }
    const hits = this.enumerators().get(constant);
    if (!hits || hits.length === 0) throw new MissingInfoError(`no enum constant ${constant} in ${this.source}`);
    const first = hits[0]!;
    const other = hits.find((h) => h.value !== first.value);
    if (other) {
      throw new ValidationError(`enum constant ${constant} is ambiguous in ${this.source}: ${first.value} in ${this.typeName(first.id)}, ${other.value} in ${this.typeName(other.id)}`, 'Name the enum.');
    }
    return first.value;
  }

  private enumerators(): Map<string, { id: TypeId; value: bigint }[]> {
    if (this.enumIndex) return this.enumIndex;
    const m = new Map<string, { id: TypeId; value: bigint }[]>();
    const add = (btf: Btf): void => {
      if (btf.base) add(btf.base);
      for (const id of btf.ids()) {
        const k = btf.kind(id);
        if (k !== 'enum' && k !== 'enum64') continue;
        const t = btf.type(id) as BtfType & { kind: 'enum' | 'enum64' };
        for (const v of t.values) {
          const list = m.get(v.name);
          if (list) list.push({ id, value: v.value });
          else m.set(v.name, [{ id, value: v.value }]);
        }
      }
    };
    add(this.btf);
    this.enumIndex = m;
    return m;
  }

  // --- names --------------------------------------------------------------------------------

  typeName(id: TypeId): string {
    this.checkId(id);
    return this.declarator(id, '', []);
  }

  /**
   * C declarator rendering: `inner` is what has been built outside-in (`*`, `[16]`, …) and
   * `quals` the qualifiers waiting to attach to the next pointer or base type.
   */
  private declarator(id: TypeId, inner: string, quals: string[], depth = 0): string {
    if (depth > 64) return `<type loop at [${id}]>`;
    const withInner = (base: string): string => {
      const q = quals.length ? `${quals.join(' ')} ` : '';
      return inner === '' ? `${q}${base}` : `${q}${base} ${inner}`;
    };
    if (id >= this.btf.typeCount) {
      const s = this.synthetic[id - this.btf.typeCount]!;
      if (s.kind === 'ptr') return this.pointerDeclarator(s.type, inner, quals, depth);
      return this.arrayDeclarator(s.type, s.nelems, inner, quals, depth);
    }
    const t = this.btf.type(id);
    switch (t.kind) {
      case 'void':
        return withInner('void');
      case 'int':
      case 'float':
      case 'typedef':
        return withInner(t.name);
      case 'struct':
      case 'union':
        return withInner(t.name === '' ? `${t.kind} {...}` : `${t.kind} ${t.name}`);
      case 'enum':
      case 'enum64':
        return withInner(t.name === '' ? 'enum {...}' : `enum ${t.name}`);
      case 'fwd':
        return withInner(`${t.union ? 'union' : 'struct'} ${t.name}`);
      case 'const':
      case 'volatile':
      case 'restrict':
        return this.declarator(t.type, inner, [...quals, t.kind], depth + 1);
      case 'type_tag':
      case 'var':
        return this.declarator(t.type, inner, quals, depth + 1);
      case 'ptr':
        return this.pointerDeclarator(t.type, inner, quals, depth);
      case 'array':
        return this.arrayDeclarator(t.type, t.nelems, inner, quals, depth);
      case 'func_proto': {
        const params = t.params.map((p) => this.declarator(p.type, '', [], depth + 1));
        if (t.variadic) params.push('...');
        const list = params.length === 0 ? 'void' : params.join(', ');
        return this.declarator(t.type, `${inner}(${list})`, quals, depth + 1);
      }
      case 'func':
        return this.declarator(t.type, `${t.name}${inner}`, quals, depth + 1);
      case 'datasec':
        return `datasec ${t.name}`;
      case 'decl_tag':
        return `decl_tag ${t.name}`;
    }
  }

  private pointerDeclarator(target: TypeId, inner: string, quals: string[], depth: number): string {
    const q = quals.length ? ` ${quals.join(' ')}` : '';
    let star = `*${q}${inner === '' ? '' : q ? ` ${inner}` : inner}`;
    // Pointers to arrays and functions need parentheses: int (*)[4], void (*)(int).
    const tk = this.peelKind(target);
    if (tk === 'array' || tk === 'func_proto') star = `(${star})`;
    return this.declarator(target, star, [], depth + 1);
  }

  private arrayDeclarator(elem: TypeId, nelems: number, inner: string, quals: string[], depth: number): string {
    return this.declarator(elem, `${inner}[${nelems}]`, quals, depth + 1);
  }

  /** Kind after qualifiers and type tags (typedefs kept: they render as names). */
  private peelKind(id: TypeId): string {
    for (let i = 0; i < 64; i++) {
      if (id >= this.btf.typeCount) return this.synthetic[id - this.btf.typeCount]!.kind;
      const k = this.btf.kind(id);
      if (k === 'const' || k === 'volatile' || k === 'restrict' || k === 'type_tag') id = this.btf.rawType(id);
      else return k;
    }
    return 'void';
  }
}

// ---------------------------------------------------------------------------------------------
// VMCOREINFO

/**
 * The minimal fallback: SIZE(type), OFFSET(type.member), NUMBER(constant) entries the kernel
 * writes into VMCOREINFO for makedumpfile. No member types, so no typed objects.
 */
export class VmcoreinfoTypeInfo implements TypeInfo {
  readonly source = 'VMCOREINFO';

  constructor(readonly info: Vmcoreinfo) {}

  hasType(typeName: string): boolean {
    return this.info.size(bareName(typeName)) !== undefined;
  }

  sizeof(typeName: string): number {
    const v = this.info.size(bareName(typeName));
    if (v === undefined) throw new MissingInfoError(`VMCOREINFO has no SIZE(${bareName(typeName)})`);
    return v;
  }

  offsetof(structName: string, path: string): number {
    const key = `${bareName(structName)}.${path.trim()}`;
    const v = this.info.offset(bareName(structName), path.trim());
    if (v === undefined) throw new MissingInfoError(`VMCOREINFO has no OFFSET(${key})`);
    return v;
  }

  member(structName: string, path: string): MemberInfo {
    return { path, offsetBits: this.offsetof(structName, path) * 8 };
  }

  struct(name: string): StructLayout {
    const n = bareName(name);
    const size = this.sizeof(n);
    const prefix = `OFFSET(${n}.`;
    const members: LayoutMember[] = [];
    for (const key of this.info.keys()) {
      if (!key.startsWith(prefix) || !key.endsWith(')')) continue;
      const member = key.slice(prefix.length, -1);
      const off = this.info.offset(n, member);
      if (off !== undefined) members.push({ name: member, offset: off, offsetBits: off * 8 });
    }
    members.sort((a, b) => a.offset - b.offset);
    return { kind: 'struct', name: /^(struct|union) /.test(name.trim()) ? name.trim() : `struct ${n}`, size, members, source: this.source };
  }

  enumValue(_enumName: string | undefined, constant: string): bigint {
    const v = this.info.number(constant);
    if (v === undefined) throw new MissingInfoError(`VMCOREINFO has no NUMBER(${constant})`);
    return v;
  }

  typeName(id: TypeId): string {
    throw new MissingInfoError(`VMCOREINFO has no type information (asked for the name of type id ${id})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Fallback chain

/**
 * Asks each source in order; a MissingInfoError moves on to the next. `lastSource` says which
 * one answered the most recent question, so analyses can report it.
 */
export class ChainTypeInfo implements TypeInfo {
  readonly sources: readonly TypeInfo[];
  lastSource: string | undefined;

  constructor(sources: readonly TypeInfo[]) {
    if (sources.length === 0) throw new MissingInfoError('no type information source (no BTF, no VMCOREINFO)');
    this.sources = sources;
  }

  get source(): string {
    return this.sources.map((s) => s.source).join(', then ');
  }

  private ask<T>(f: (s: TypeInfo) => T): T {
    let first: unknown;
    for (const s of this.sources) {
      try {
        const v = f(s);
        this.lastSource = s.source;
        return v;
      } catch (e) {
        if (!(e instanceof MissingInfoError)) throw e;
        first ??= e;
      }
    }
    throw first;
  }

  hasType(typeName: string): boolean {
    return this.sources.some((s) => s.hasType(typeName));
  }
  sizeof(typeName: string): number {
    return this.ask((s) => s.sizeof(typeName));
  }
  offsetof(structName: string, path: string): number {
    return this.ask((s) => s.offsetof(structName, path));
  }
  member(structName: string, path: string): MemberInfo {
    return this.ask((s) => s.member(structName, path));
  }
  struct(name: string): StructLayout {
    return this.ask((s) => s.struct(name));
  }
  enumValue(enumName: string | undefined, constant: string): bigint {
    return this.ask((s) => s.enumValue(enumName, constant));
  }
  typeName(id: TypeId): string {
    return this.ask((s) => s.typeName(id));
  }
}

export function chainTypeInfo(...sources: (TypeInfo | undefined)[]): ChainTypeInfo {
  return new ChainTypeInfo(sources.filter((s): s is TypeInfo => s !== undefined));
}
