import { FormatError } from '../../util/errors.js';

/**
 * BPF Type Format (BTF): the compact C type information the kernel keeps in its own image
 * (between `__start_BTF` and `__stop_BTF`, exported as /sys/kernel/btf/vmlinux) and in the
 * `.BTF` section of vmlinux and modules.
 *
 * Format: the kernel's include/uapi/linux/btf.h and Documentation/bpf/btf.rst. A blob is a
 * header, a type section (variable-length records; type id 0 is `void`, ids count up from 1 in
 * section order) and a string section (NUL-terminated strings, offset 0 is the empty string).
 * Split BTF (module BTF) continues the ids and string offsets of a base BTF (vmlinux).
 *
 * Parsing makes one pass over the type section recording each record's offset and kind, and
 * one validation pass over the references (kinds, string offsets, type ids) so that every error
 * is a FormatError naming the source and the byte offset. Records are decoded on demand and the
 * name index is built on first use.
 */

export const BTF_MAGIC = 0xeb9f;
export const BTF_VERSION = 1;
/** sizeof(struct btf_header) */
export const BTF_HEADER_SIZE = 24;
/** BTF_MAX_TYPE: the largest type id the format allows. */
export const BTF_MAX_TYPE = 0x000fffff;
/** BTF_MAX_NAME_OFFSET */
export const BTF_MAX_NAME_OFFSET = 0x00ffffff;

/** BTF_KIND_* numbers (include/uapi/linux/btf.h). */
export const BtfKind = {
  UNKN: 0,
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;
export const BTF_KIND_MAX = 19;

export type BtfKindName =
  | 'void'
  | 'int'
  | 'ptr'
  | 'array'
  | 'struct'
  | 'union'
  | 'enum'
  | 'fwd'
  | 'typedef'
  | 'volatile'
  | 'const'
  | 'restrict'
  | 'func'
  | 'func_proto'
  | 'var'
  | 'datasec'
  | 'float'
  | 'decl_tag'
  | 'type_tag'
  | 'enum64';

/** Kind number → name; index 0 is the pseudo-kind of type id 0 (`void`). */
export const BTF_KIND_NAMES: readonly BtfKindName[] = [
  'void',
  'int',
  'ptr',
  'array',
  'struct',
  'union',
  'enum',
  'fwd',
  'typedef',
  'volatile',
  'const',
  'restrict',
  'func',
  'func_proto',
  'var',
  'datasec',
  'float',
  'decl_tag',
  'type_tag',
  'enum64',
];

/** BTF_INT_ENCODING bits. */
export const BTF_INT_SIGNED = 1;
export const BTF_INT_CHAR = 2;
export const BTF_INT_BOOL = 4;

export type BtfLinkage = 'static' | 'global' | 'extern';
const LINKAGE: readonly BtfLinkage[] = ['static', 'global', 'extern'];

export interface BtfHeader {
  readonly magic: number;
  readonly version: number;
  readonly flags: number;
  readonly hdrLen: number;
  /** Offsets are relative to the end of the header (hdrLen), as in struct btf_header. */
  readonly typeOff: number;
  readonly typeLen: number;
  readonly strOff: number;
  readonly strLen: number;
  readonly littleEndian: boolean;
  /** hdrLen + the end of the last section: the number of bytes the blob occupies. */
  readonly totalLen: number;
}

export interface BtfMember {
  readonly name: string;
  readonly type: number;
  /** Bit offset from the start of the struct (BTF_MEMBER_BIT_OFFSET when kind_flag is set). */
  readonly bitOffset: number;
  /** BTF_MEMBER_BITFIELD_SIZE when the struct's kind_flag is set, else 0 (see the int type). */
  readonly bitfieldSize: number;
}

export interface BtfEnumValue {
  readonly name: string;
  readonly value: bigint;
}

export interface BtfParam {
  /** Empty for the variadic marker (name_off 0 and type 0) and for unnamed parameters. */
  readonly name: string;
  readonly type: number;
}

export interface BtfVarSecinfo {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
}

interface Common {
  readonly id: number;
  readonly name: string;
  /** Byte offset of the record within the blob. */
  readonly offset: number;
}

export type BtfType =
  | (Common & { readonly kind: 'void' })
  | (Common & {
      readonly kind: 'int';
      readonly size: number;
      readonly signed: boolean;
      readonly char: boolean;
      readonly bool: boolean;
      /** BTF_INT_OFFSET: bits to add to the member's bit offset (always 0 from pahole/llvm). */
      readonly bitOffset: number;
      /** BTF_INT_BITS */
      readonly bits: number;
    })
  | (Common & { readonly kind: 'ptr'; readonly type: number })
  | (Common & { readonly kind: 'array'; readonly type: number; readonly indexType: number; readonly nelems: number })
  | (Common & {
      readonly kind: 'struct' | 'union';
      readonly size: number;
      /** kind_flag: member offsets carry the bitfield size in their top 8 bits. */
      readonly kindFlag: boolean;
      readonly members: readonly BtfMember[];
    })
  | (Common & { readonly kind: 'enum' | 'enum64'; readonly size: number; readonly signed: boolean; readonly values: readonly BtfEnumValue[] })
  | (Common & { readonly kind: 'fwd'; readonly union: boolean })
  | (Common & { readonly kind: 'typedef' | 'volatile' | 'const' | 'restrict'; readonly type: number })
  | (Common & { readonly kind: 'type_tag'; readonly type: number; readonly attribute: boolean })
  | (Common & { readonly kind: 'func'; readonly type: number; readonly linkage: BtfLinkage })
  | (Common & { readonly kind: 'func_proto'; readonly type: number; readonly params: readonly BtfParam[]; readonly variadic: boolean })
  | (Common & { readonly kind: 'var'; readonly type: number; readonly linkage: number })
  | (Common & { readonly kind: 'datasec'; readonly size: number; readonly vars: readonly BtfVarSecinfo[] })
  | (Common & { readonly kind: 'float'; readonly size: number })
  | (Common & { readonly kind: 'decl_tag'; readonly type: number; readonly componentIdx: number; readonly attribute: boolean });

export interface BtfParseOptions {
  /** Names the blob in errors (a file path, or a description of where in memory it was). */
  readonly source?: string;
  /** Added to every byte offset in errors (e.g. the file offset of an ELF `.BTF` section). */
  readonly baseOffset?: bigint | number;
  /** The base BTF of a split BTF (vmlinux for module BTF). */
  readonly base?: Btf;
  /** Skip the reference-checking pass (string offsets, type ids). Default: validate. */
  readonly validate?: boolean;
}

/** Size in bytes of the data following the 12-byte btf_type of a record, by kind. */
function extraSize(kind: number, vlen: number): number {
  switch (kind) {
    case BtfKind.INT:
    case BtfKind.VAR:
    case BtfKind.DECL_TAG:
      return 4;
    case BtfKind.ARRAY:
      return 12;
    case BtfKind.STRUCT:
    case BtfKind.UNION:
    case BtfKind.DATASEC:
    case BtfKind.ENUM64:
      return 12 * vlen;
    case BtfKind.ENUM:
    case BtfKind.FUNC_PROTO:
      return 8 * vlen;
    case BtfKind.PTR:
    case BtfKind.FWD:
    case BtfKind.TYPEDEF:
    case BtfKind.VOLATILE:
    case BtfKind.CONST:
    case BtfKind.RESTRICT:
    case BtfKind.FUNC:
    case BtfKind.FLOAT:
    case BtfKind.TYPE_TAG:
      return 0;
    default:
      return -1;
  }
}

/** Type ids are below 2^20 (BTF_MAX_TYPE), so (name_off, id) packs exactly into a double. */
const ID_SPACE = 0x100000;

/** Bits of btf_type.info that no kind uses (16-23 and 29-30). */
const INFO_RESERVED = 0x60ff0000;

/** Reads and checks a BTF header; `bytes` must hold at least the first 24 bytes. */
export function parseBtfHeader(bytes: Uint8Array, source = 'BTF', baseOffset: bigint | number = 0): BtfHeader {
  const at = (off: number): bigint => BigInt(baseOffset) + BigInt(off);
  if (bytes.length < BTF_HEADER_SIZE) throw new FormatError(source, at(0), `BTF truncated: ${bytes.length} bytes, the header alone is ${BTF_HEADER_SIZE}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let le: boolean;
  if (dv.getUint16(0, true) === BTF_MAGIC) le = true;
  else if (dv.getUint16(0, false) === BTF_MAGIC) le = false;
  else throw new FormatError(source, at(0), `bad BTF magic 0x${dv.getUint16(0, true).toString(16).padStart(4, '0')} (want 0xeb9f, bytes 9f eb little-endian or eb 9f big-endian)`);
  const version = dv.getUint8(2);
  const flags = dv.getUint8(3);
  const hdrLen = dv.getUint32(4, le);
  if (version !== BTF_VERSION) throw new FormatError(source, at(2), `unsupported BTF version ${version} (want ${BTF_VERSION})`);
  if (flags !== 0) throw new FormatError(source, at(3), `unsupported BTF header flags 0x${flags.toString(16)}`);
  if (hdrLen < BTF_HEADER_SIZE) throw new FormatError(source, at(4), `BTF hdr_len ${hdrLen} is smaller than the ${BTF_HEADER_SIZE}-byte header`);
  if (hdrLen > bytes.length) throw new FormatError(source, at(4), `BTF truncated: hdr_len ${hdrLen} extends past the end of the ${bytes.length}-byte blob`);
  // A longer header from a newer kernel is fine only if its extra fields are zero (as the
  // kernel's btf_parse_hdr requires): nonzero means sections we cannot interpret.
  for (let i = BTF_HEADER_SIZE; i < hdrLen; i++) {
    if (bytes[i] !== 0) throw new FormatError(source, at(i), `BTF header is ${hdrLen} bytes and byte ${i} is nonzero: unsupported header extension`);
  }
  const typeOff = dv.getUint32(8, le);
  const typeLen = dv.getUint32(12, le);
  const strOff = dv.getUint32(16, le);
  const strLen = dv.getUint32(20, le);
  const totalLen = hdrLen + Math.max(typeOff + typeLen, strOff + strLen);
  return { magic: BTF_MAGIC, version, flags, hdrLen, typeOff, typeLen, strOff, strLen, littleEndian: le, totalLen };
}

/** A parsed BTF blob. Type ids are global: for split BTF they continue the base's ids. */
export class Btf {
  readonly source: string;
  readonly header: BtfHeader;
  readonly base: Btf | undefined;
  /** The first type id defined by this blob: 1 for base BTF, base.typeCount for split BTF. */
  readonly startId: number;
  /** One more than the largest valid type id (ids 0 .. typeCount-1, including the base's). */
  readonly typeCount: number;
  /** The blob's bytes (header, types, strings). */
  readonly bytes: Uint8Array;
  /** Total string-section length including the base's (split string offsets continue it). */
  readonly stringsEnd: number;

  private readonly dv: DataView;
  private readonly buf: Buffer;
  private readonly le: boolean;
  private readonly baseOffset: bigint;
  private readonly strStart: number;
  private readonly strBase: number;
  /** Byte offset (in `bytes`) of each local type record, index = id - startId. */
  private readonly offsets: Uint32Array;
  private readonly kinds: Uint8Array;
  private readonly decoded: (BtfType | undefined)[];
  private sortedNameKeys: Float64Array | undefined;
  private readonly nameCache = new Map<string, number[]>();

  constructor(bytes: Uint8Array, opts: BtfParseOptions = {}) {
    this.source = opts.source ?? 'BTF';
    this.baseOffset = BigInt(opts.baseOffset ?? 0);
    this.base = opts.base;
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const h = parseBtfHeader(bytes, this.source, this.baseOffset);
    this.header = h;
    this.le = h.littleEndian;
    if (this.base && this.base.header.littleEndian !== h.littleEndian) {
      throw new FormatError(this.source, this.at(0), 'split BTF and its base BTF have different byte orders');
    }
    const typeStart = h.hdrLen + h.typeOff;
    const typeEnd = typeStart + h.typeLen;
    this.strStart = h.hdrLen + h.strOff;
    const strEnd = this.strStart + h.strLen;
    if (h.typeOff % 4 !== 0) throw new FormatError(this.source, this.at(8), `BTF type_off ${h.typeOff} is not 4-byte aligned`);
    if (typeEnd > bytes.length) {
      throw new FormatError(this.source, this.at(12), `BTF truncated: type section (offset ${typeStart}, ${h.typeLen} bytes) extends past the end of the ${bytes.length}-byte blob`);
    }
    if (strEnd > bytes.length) {
      throw new FormatError(this.source, this.at(20), `BTF truncated: string section (offset ${this.strStart}, ${h.strLen} bytes) extends past the end of the ${bytes.length}-byte blob`);
    }
    if (h.typeLen > 0 && h.strLen > 0 && typeStart < strEnd && this.strStart < typeEnd) {
      throw new FormatError(this.source, this.at(16), `BTF type section [${typeStart}, ${typeEnd}) and string section [${this.strStart}, ${strEnd}) overlap`);
    }
    // String section (kernel btf_parse_str_sec): starts with the empty string (base BTF only),
    // ends with a NUL, so every offset inside it names a terminated string.
    if (!this.base || h.strLen > 0) {
      if (h.strLen === 0) throw new FormatError(this.source, this.at(20), 'BTF string section is empty (it must at least hold the empty string)');
      if (h.strLen - 1 > BTF_MAX_NAME_OFFSET) throw new FormatError(this.source, this.at(20), `BTF string section of ${h.strLen} bytes exceeds BTF_MAX_NAME_OFFSET`);
      if (!this.base && bytes[this.strStart] !== 0) throw new FormatError(this.source, this.at(this.strStart), 'BTF string section does not start with the empty string');
      if (bytes[strEnd - 1] !== 0) throw new FormatError(this.source, this.at(strEnd - 1), 'BTF string section does not end with a NUL byte');
    }
    this.strBase = this.base ? this.base.stringsEnd : 0;
    this.stringsEnd = this.strBase + h.strLen;
    this.startId = this.base ? this.base.typeCount : 1;

    // Pass 1: record offsets and kinds, checking each record fits in the section.
    const maxRecords = Math.floor(h.typeLen / 12);
    const offsets = new Uint32Array(maxRecords);
    const kinds = new Uint8Array(maxRecords);
    const dv = this.dv;
    const le = this.le;
    let n = 0;
    let p = typeStart;
    while (p < typeEnd) {
      if (p + 12 > typeEnd) throw new FormatError(this.source, this.at(p), `BTF type section truncated: type [${this.startId + n}] header needs 12 bytes, ${typeEnd - p} left`);
      const info = dv.getUint32(p + 4, le);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      const extra = extraSize(kind, vlen);
      if (extra < 0) throw new FormatError(this.source, this.at(p + 4), `BTF type [${this.startId + n}] has unknown kind ${kind} (info 0x${info.toString(16)})`);
      if ((info & INFO_RESERVED) !== 0) throw new FormatError(this.source, this.at(p + 4), `BTF type [${this.startId + n}] info 0x${info.toString(16)} has reserved bits set`);
      if (p + 12 + extra > typeEnd) {
        throw new FormatError(this.source, this.at(p), `BTF type section truncated: type [${this.startId + n}] (${BTF_KIND_NAMES[kind]}, vlen ${vlen}) needs ${12 + extra} bytes, ${typeEnd - p} left`);
      }
      offsets[n] = p;
      kinds[n] = kind;
      n++;
      p += 12 + extra;
    }
    this.offsets = offsets.slice(0, n);
    this.kinds = kinds.slice(0, n);
    this.typeCount = this.startId + n;
    if (this.typeCount - 1 > BTF_MAX_TYPE) throw new FormatError(this.source, this.at(12), `BTF has ${this.typeCount - 1} types, more than BTF_MAX_TYPE (${BTF_MAX_TYPE})`);
    this.decoded = new Array<BtfType | undefined>(n);
    if (opts.validate !== false) this.validate();
  }

  /** Number of types this blob defines (not counting void or the base's). */
  get localTypeCount(): number {
    return this.offsets.length;
  }

  private at(off: number): bigint {
    return this.baseOffset + BigInt(off);
  }

  private u32(off: number): number {
    return this.dv.getUint32(off, this.le);
  }

  /** Byte offset of a type's record within the blob of the Btf that defines it. */
  recordOffset(id: number): number {
    return this.owner(id).offsets[id - this.owner(id).startId]!;
  }

  private owner(id: number): Btf {
    if (id >= this.startId && id < this.typeCount) return this;
    if (id > 0 && id < this.startId && this.base) return this.base.owner(id);
    throw new RangeError(`type id ${id} out of range (1..${this.typeCount - 1})`);
  }

  /** True when `id` names a type (0, `void`, included). */
  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.typeCount;
  }

  /** The kind of a type id; 'void' for id 0. Throws RangeError for ids out of range. */
  kind(id: number): BtfKindName {
    if (id === 0) return 'void';
    const o = this.owner(id);
    return BTF_KIND_NAMES[o.kinds[id - o.startId]!]!;
  }

  /** Kind number (BtfKind.*) of a type id; 0 for void. */
  kindNumber(id: number): number {
    if (id === 0) return 0;
    const o = this.owner(id);
    return o.kinds[id - o.startId]!;
  }

  /** The string at a (global, for split BTF) string offset. */
  string(off: number): string {
    if (off < this.strBase) {
      if (!this.base) throw new RangeError(`string offset ${off} out of range`);
      return this.base.string(off);
    }
    const local = off - this.strBase;
    if (local >= this.header.strLen) throw new RangeError(`string offset ${off} out of range (string section ends at ${this.stringsEnd})`);
    const start = this.strStart + local;
    // The section ends with a NUL (checked when parsing), so indexOf finds one.
    const end = this.buf.indexOf(0, start);
    return this.buf.toString('utf8', start, end);
  }

  /** The name of a type ('' for anonymous types and void). */
  name(id: number): string {
    if (id === 0) return '';
    const o = this.owner(id);
    const nameOff = o.u32(o.offsets[id - o.startId]!);
    return nameOff === 0 ? '' : o.string(nameOff);
  }

  /** For size-carrying kinds (int, struct, union, enum, enum64, datasec, float): btf_type.size. */
  rawSize(id: number): number {
    const o = this.owner(id);
    return o.u32(o.offsets[id - o.startId]! + 8);
  }

  /** For reference kinds (ptr, typedef, qualifiers, func, func_proto, var, tags): btf_type.type. */
  rawType(id: number): number {
    const o = this.owner(id);
    return o.u32(o.offsets[id - o.startId]! + 8);
  }

  /** Decodes a type record (cached). */
  type(id: number): BtfType {
    if (id === 0) return { kind: 'void', id: 0, name: 'void', offset: -1 };
    const o = this.owner(id);
    const i = id - o.startId;
    const hit = o.decoded[i];
    if (hit) return hit;
    const t = o.decode(id, o.offsets[i]!);
    o.decoded[i] = t;
    return t;
  }

  /** All type ids named `name`, in id order (base types first), optionally of one kind. */
  findByName(name: string, kind?: BtfKindName): number[] {
    let local = this.nameCache.get(name);
    if (!local) {
      local = this.lookupLocal(name);
      if (this.nameCache.size > 4096) this.nameCache.clear();
      this.nameCache.set(name, local);
    }
    const all = this.base ? [...this.base.findByName(name), ...local] : local;
    return kind === undefined ? all.slice() : all.filter((id) => this.kind(id) === kind);
  }

  /** Iterates the type ids this blob defines (not the base's). */
  *ids(): Generator<number> {
    for (let id = this.startId; id < this.typeCount; id++) yield id;
  }

  /**
   * Name lookup without decoding every name: the index is (name_off, id) pairs sorted by
   * name_off (one typed-array sort); a name is found by searching the string section for
   * `name\0` (every position of it is a string offset that spells the name) and looking up
   * the types that use each such offset.
   */
  private lookupLocal(name: string): number[] {
    if (name === '' || this.header.strLen === 0) return [];
    const keys = this.nameKeys();
    const pat = Buffer.from(name + '\0', 'utf8');
    if (pat.indexOf(0) !== pat.length - 1) return [];
    const ids: number[] = [];
    const end = this.strStart + this.header.strLen;
    for (let i = this.buf.indexOf(pat, this.strStart); i >= 0 && i + pat.length <= end; i = this.buf.indexOf(pat, i + 1)) {
      const nameOff = this.strBase + (i - this.strStart);
      // Binary search for the first key >= nameOff * 2^20.
      const lo0 = nameOff * ID_SPACE;
      let lo = 0;
      let hi = keys.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (keys[mid]! < lo0) lo = mid + 1;
        else hi = mid;
      }
      for (let k = lo; k < keys.length && keys[k]! < lo0 + ID_SPACE; k++) ids.push(keys[k]! - lo0);
    }
    return ids.sort((a, b) => a - b);
  }

  private nameKeys(): Float64Array {
    if (this.sortedNameKeys) return this.sortedNameKeys;
    const keys = new Float64Array(this.offsets.length);
    let n = 0;
    for (let i = 0; i < this.offsets.length; i++) {
      const nameOff = this.u32(this.offsets[i]!);
      if (nameOff !== 0) keys[n++] = nameOff * ID_SPACE + this.startId + i;
    }
    this.sortedNameKeys = keys.slice(0, n).sort();
    return this.sortedNameKeys;
  }

  private decode(id: number, p: number): BtfType {
    const nameOff = this.u32(p);
    const info = this.u32(p + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kflag = info >>> 31 === 1;
    const sizeOrType = this.u32(p + 8);
    const name = nameOff === 0 ? '' : this.string(nameOff);
    const q = p + 12;
    switch (kind) {
      case BtfKind.INT: {
        const v = this.u32(q);
        const enc = (v & 0x0f000000) >>> 24;
        return { id, name, offset: p, kind: 'int', size: sizeOrType, signed: (enc & BTF_INT_SIGNED) !== 0, char: (enc & BTF_INT_CHAR) !== 0, bool: (enc & BTF_INT_BOOL) !== 0, bitOffset: (v >>> 16) & 0xff, bits: v & 0xff };
      }
      case BtfKind.PTR:
        return { id, name, offset: p, kind: 'ptr', type: sizeOrType };
      case BtfKind.ARRAY:
        return { id, name, offset: p, kind: 'array', type: this.u32(q), indexType: this.u32(q + 4), nelems: this.u32(q + 8) };
      case BtfKind.STRUCT:
      case BtfKind.UNION: {
        const members: BtfMember[] = new Array<BtfMember>(vlen);
        for (let i = 0; i < vlen; i++) {
          const m = q + 12 * i;
          const mn = this.u32(m);
          const off = this.u32(m + 8);
          members[i] = {
            name: mn === 0 ? '' : this.string(mn),
            type: this.u32(m + 4),
            bitOffset: kflag ? off & 0xffffff : off,
            bitfieldSize: kflag ? off >>> 24 : 0,
          };
        }
        return { id, name, offset: p, kind: kind === BtfKind.STRUCT ? 'struct' : 'union', size: sizeOrType, kindFlag: kflag, members };
      }
      case BtfKind.ENUM: {
        const values: BtfEnumValue[] = new Array<BtfEnumValue>(vlen);
        for (let i = 0; i < vlen; i++) {
          const e = q + 8 * i;
          const raw = this.u32(e + 4);
          values[i] = { name: this.string(this.u32(e)), value: kflag ? BigInt(raw | 0) : BigInt(raw) };
        }
        return { id, name, offset: p, kind: 'enum', size: sizeOrType, signed: kflag, values };
      }
      case BtfKind.ENUM64: {
        const values: BtfEnumValue[] = new Array<BtfEnumValue>(vlen);
        for (let i = 0; i < vlen; i++) {
          const e = q + 12 * i;
          const v = (BigInt(this.u32(e + 8)) << 32n) | BigInt(this.u32(e + 4));
          values[i] = { name: this.string(this.u32(e)), value: kflag ? BigInt.asIntN(64, v) : v };
        }
        return { id, name, offset: p, kind: 'enum64', size: sizeOrType, signed: kflag, values };
      }
      case BtfKind.FWD:
        return { id, name, offset: p, kind: 'fwd', union: kflag };
      case BtfKind.TYPEDEF:
        return { id, name, offset: p, kind: 'typedef', type: sizeOrType };
      case BtfKind.VOLATILE:
        return { id, name, offset: p, kind: 'volatile', type: sizeOrType };
      case BtfKind.CONST:
        return { id, name, offset: p, kind: 'const', type: sizeOrType };
      case BtfKind.RESTRICT:
        return { id, name, offset: p, kind: 'restrict', type: sizeOrType };
      case BtfKind.FUNC:
        return { id, name, offset: p, kind: 'func', type: sizeOrType, linkage: LINKAGE[vlen] ?? 'static' };
      case BtfKind.FUNC_PROTO: {
        const params: BtfParam[] = new Array<BtfParam>(vlen);
        for (let i = 0; i < vlen; i++) {
          const a = q + 8 * i;
          const pn = this.u32(a);
          params[i] = { name: pn === 0 ? '' : this.string(pn), type: this.u32(a + 4) };
        }
        const last = params[vlen - 1];
        const variadic = last !== undefined && last.type === 0 && last.name === '';
        return { id, name, offset: p, kind: 'func_proto', type: sizeOrType, params: variadic ? params.slice(0, -1) : params, variadic };
      }
      case BtfKind.VAR:
        return { id, name, offset: p, kind: 'var', type: sizeOrType, linkage: this.u32(q) };
      case BtfKind.DATASEC: {
        const vars: BtfVarSecinfo[] = new Array<BtfVarSecinfo>(vlen);
        for (let i = 0; i < vlen; i++) {
          const v = q + 12 * i;
          vars[i] = { type: this.u32(v), offset: this.u32(v + 4), size: this.u32(v + 8) };
        }
        return { id, name, offset: p, kind: 'datasec', size: sizeOrType, vars };
      }
      case BtfKind.FLOAT:
        return { id, name, offset: p, kind: 'float', size: sizeOrType };
      case BtfKind.DECL_TAG:
        return { id, name, offset: p, kind: 'decl_tag', type: sizeOrType, componentIdx: this.dv.getInt32(q, this.le), attribute: kflag };
      case BtfKind.TYPE_TAG:
        return { id, name, offset: p, kind: 'type_tag', type: sizeOrType, attribute: kflag };
      default:
        // Pass 1 rejected every other kind.
        throw new FormatError(this.source, this.at(p + 4), `BTF type [${id}] has unknown kind ${kind}`);
    }
  }

  /**
   * Pass 2: every name offset inside the string sections and every type reference inside the
   * type id range, with the byte offset of the offending field. Also checks the per-kind rules
   * a reader depends on (INT bits, FUNC → FUNC_PROTO, DECL_TAG component index).
   */
  validate(): void {
    const total = this.typeCount;
    const strEnd = this.stringsEnd;
    const le = this.le;
    const dv = this.dv;
    const badStr = (field: number, id: number, what: string, off: number): never => {
      throw new FormatError(this.source, this.at(field), `BTF type [${id}]: ${what} string offset ${off} is outside the string section (${strEnd} bytes)`);
    };
    const badRef = (field: number, id: number, what: string, ref: number): never => {
      throw new FormatError(this.source, this.at(field), `BTF type [${id}]: ${what} refers to type id ${ref}, but the largest type id is ${total - 1}`);
    };
    for (let i = 0; i < this.offsets.length; i++) {
      const id = this.startId + i;
      const p = this.offsets[i]!;
      const nameOff = dv.getUint32(p, le);
      if (nameOff >= strEnd) badStr(p, id, 'name', nameOff);
      const info = dv.getUint32(p + 4, le);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      const st = dv.getUint32(p + 8, le);
      const q = p + 12;
      switch (kind) {
        case BtfKind.INT: {
          const v = dv.getUint32(q, le);
          const bits = v & 0xff;
          const off = (v >>> 16) & 0xff;
          if (bits > 128 || bits + off > st * 8) {
            throw new FormatError(this.source, this.at(q), `BTF type [${id}] int: ${bits} bits at bit offset ${off} do not fit its size of ${st} bytes`);
          }
          break;
        }
        case BtfKind.PTR:
        case BtfKind.TYPEDEF:
        case BtfKind.VOLATILE:
        case BtfKind.CONST:
        case BtfKind.RESTRICT:
        case BtfKind.VAR:
        case BtfKind.TYPE_TAG:
        case BtfKind.DECL_TAG:
          if (st >= total) badRef(p + 8, id, BTF_KIND_NAMES[kind]!, st);
          if (kind === BtfKind.DECL_TAG) {
            const ci = dv.getInt32(q, le);
            if (ci < -1) throw new FormatError(this.source, this.at(q), `BTF type [${id}] decl_tag: component_idx ${ci} is invalid`);
          }
          break;
        case BtfKind.FUNC:
          if (st >= total) badRef(p + 8, id, 'func', st);
          if (st !== 0 && this.kindNumber(st) !== BtfKind.FUNC_PROTO) {
            throw new FormatError(this.source, this.at(p + 8), `BTF type [${id}] func: type ${st} is a ${this.kind(st)}, not a func_proto`);
          }
          break;
        case BtfKind.ARRAY: {
          const et = dv.getUint32(q, le);
          const it = dv.getUint32(q + 4, le);
          if (et >= total) badRef(q, id, 'array element type', et);
          if (it >= total) badRef(q + 4, id, 'array index type', it);
          break;
        }
        case BtfKind.STRUCT:
        case BtfKind.UNION:
          for (let j = 0; j < vlen; j++) {
            const m = q + 12 * j;
            const mn = dv.getUint32(m, le);
            if (mn >= strEnd) badStr(m, id, `member #${j} name`, mn);
            const mt = dv.getUint32(m + 4, le);
            if (mt >= total) badRef(m + 4, id, `member #${j}`, mt);
          }
          break;
        case BtfKind.ENUM:
          for (let j = 0; j < vlen; j++) {
            const e = q + 8 * j;
            const en = dv.getUint32(e, le);
            if (en >= strEnd) badStr(e, id, `enumerator #${j} name`, en);
          }
          break;
        case BtfKind.ENUM64:
          for (let j = 0; j < vlen; j++) {
            const e = q + 12 * j;
            const en = dv.getUint32(e, le);
            if (en >= strEnd) badStr(e, id, `enumerator #${j} name`, en);
          }
          break;
        case BtfKind.FUNC_PROTO:
          if (st >= total) badRef(p + 8, id, 'func_proto return type', st);
          for (let j = 0; j < vlen; j++) {
            const a = q + 8 * j;
            const an = dv.getUint32(a, le);
            if (an >= strEnd) badStr(a, id, `parameter #${j} name`, an);
            const at = dv.getUint32(a + 4, le);
            if (at >= total) badRef(a + 4, id, `parameter #${j}`, at);
          }
          break;
        case BtfKind.DATASEC:
          for (let j = 0; j < vlen; j++) {
            const v = q + 12 * j;
            const vt = dv.getUint32(v, le);
            if (vt >= total) badRef(v, id, `datasec variable #${j}`, vt);
          }
          break;
        default:
          break;
      }
    }
  }
}

/** Parses a BTF blob (base or, with `opts.base`, split). Throws FormatError on bad input. */
export function parseBtf(bytes: Uint8Array, opts: BtfParseOptions = {}): Btf {
  return new Btf(bytes, opts);
}
