/**
 * Builds BTF blobs byte by byte for tests (include/uapi/linux/btf.h layouts), so every kind,
 * flag and malformation can be produced exactly. Type ids are assigned in call order from
 * `startId` (1, or the base's type count for split BTF).
 */

export const KIND = {
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

export interface MemberSpec {
  readonly name: string;
  readonly type: number;
  readonly bitOffset: number;
  /** Only encoded when the struct's kind_flag is set. */
  readonly bitfieldSize?: number;
}

export interface BuildOptions {
  readonly bigEndian?: boolean;
  /** Header length to write (extra bytes are zero unless `headerExtra` is given). */
  readonly hdrLen?: number;
  readonly headerExtra?: Uint8Array;
  readonly magic?: number;
  readonly version?: number;
  readonly flags?: number;
  /** Overrides of the section fields (relative to the end of the header). */
  readonly typeOff?: number;
  readonly typeLen?: number;
  readonly strOff?: number;
  readonly strLen?: number;
  /** Put the string section before the type section. */
  readonly stringsFirst?: boolean;
  /** Bytes appended after the sections. */
  readonly trailer?: Uint8Array;
  /** Split BTF: the string section does not start with the empty string. */
  readonly split?: boolean;
}

export class BtfBuilder {
  private readonly words: number[] = [];
  private readonly strs: number[] = [0];
  private readonly strIndex = new Map<string, number>([['', 0]]);
  /** Byte offset in the type section of each record, by local index. */
  readonly recordOffsets: number[] = [];
  private nextId: number;

  /**
   * @param startId first id (1, or base.typeCount for split BTF)
   * @param strBase string offsets start here (0, or base.stringsEnd for split BTF)
   */
  constructor(
    startId = 1,
    private readonly strBase = 0,
  ) {
    this.nextId = startId;
    if (strBase > 0) {
      // Split BTF string sections need not start with the empty string.
      this.strs.length = 0;
      this.strIndex.clear();
    }
  }

  /** Offset of `s` in the string section (global for split BTF), adding it if new. */
  str(s: string): number {
    if (s === '' && this.strBase > 0) return 0;
    const hit = this.strIndex.get(s);
    if (hit !== undefined) return hit;
    const off = this.strBase + this.strs.length;
    for (const b of Buffer.from(s, 'utf8')) this.strs.push(b);
    this.strs.push(0);
    this.strIndex.set(s, off);
    return off;
  }

  /** Appends raw bytes to the string section without indexing (for suffix-sharing tests). */
  rawString(s: string): number {
    const off = this.strBase + this.strs.length;
    for (const b of Buffer.from(s, 'utf8')) this.strs.push(b);
    this.strs.push(0);
    return off;
  }

  private record(nameOff: number, kind: number, vlen: number, kflag: boolean, sizeOrType: number, extra: number[]): number {
    this.recordOffsets.push(this.words.length * 4);
    this.words.push(nameOff, ((kflag ? 1 : 0) << 31) | (kind << 24) | vlen, sizeOrType, ...extra);
    return this.nextId++;
  }

  /** A record from raw words (info included), for malformed input. */
  raw(...words: number[]): number {
    this.recordOffsets.push(this.words.length * 4);
    this.words.push(...words);
    return this.nextId++;
  }

  int(name: string, size: number, o: { signed?: boolean; char?: boolean; bool?: boolean; bits?: number; offset?: number } = {}): number {
    const enc = (o.signed ? 1 : 0) | (o.char ? 2 : 0) | (o.bool ? 4 : 0);
    return this.record(this.str(name), KIND.INT, 0, false, size, [(enc << 24) | ((o.offset ?? 0) << 16) | (o.bits ?? size * 8)]);
  }
  ptr(type: number): number {
    return this.record(0, KIND.PTR, 0, false, type, []);
  }
  array(elem: number, indexType: number, nelems: number): number {
    return this.record(0, KIND.ARRAY, 0, false, 0, [elem, indexType, nelems]);
  }
  struct(name: string, size: number, members: MemberSpec[], kindFlag = false): number {
    return this.record(this.str(name), KIND.STRUCT, members.length, kindFlag, size, members.flatMap((m) => this.member(m, kindFlag)));
  }
  union(name: string, size: number, members: MemberSpec[], kindFlag = false): number {
    return this.record(this.str(name), KIND.UNION, members.length, kindFlag, size, members.flatMap((m) => this.member(m, kindFlag)));
  }
  private member(m: MemberSpec, kindFlag: boolean): number[] {
    const off = kindFlag ? (((m.bitfieldSize ?? 0) << 24) | m.bitOffset) >>> 0 : m.bitOffset;
    return [this.str(m.name), m.type, off];
  }
  enum(name: string, size: number, values: Array<[string, number]>, signed = false): number {
    return this.record(this.str(name), KIND.ENUM, values.length, signed, size, values.flatMap(([n, v]) => [this.str(n), v >>> 0]));
  }
  enum64(name: string, size: number, values: Array<[string, bigint]>, signed = false): number {
    return this.record(
      this.str(name),
      KIND.ENUM64,
      values.length,
      signed,
      size,
      values.flatMap(([n, v]) => {
        const u = BigInt.asUintN(64, v);
        return [this.str(n), Number(u & 0xffffffffn), Number(u >> 32n)];
      }),
    );
  }
  fwd(name: string, union = false): number {
    return this.record(this.str(name), KIND.FWD, 0, union, 0, []);
  }
  typedef(name: string, type: number): number {
    return this.record(this.str(name), KIND.TYPEDEF, 0, false, type, []);
  }
  volatile(type: number): number {
    return this.record(0, KIND.VOLATILE, 0, false, type, []);
  }
  const(type: number): number {
    return this.record(0, KIND.CONST, 0, false, type, []);
  }
  restrict(type: number): number {
    return this.record(0, KIND.RESTRICT, 0, false, type, []);
  }
  func(name: string, proto: number, linkage = 0): number {
    return this.record(this.str(name), KIND.FUNC, linkage, false, proto, []);
  }
  funcProto(ret: number, params: Array<[string, number]>, variadic = false): number {
    const all = variadic ? [...params, ['', 0] as [string, number]] : params;
    return this.record(0, KIND.FUNC_PROTO, all.length, false, ret, all.flatMap(([n, t]) => [this.str(n), t]));
  }
  var(name: string, type: number, linkage = 1): number {
    return this.record(this.str(name), KIND.VAR, 0, false, type, [linkage]);
  }
  datasec(name: string, size: number, vars: Array<[number, number, number]>): number {
    return this.record(this.str(name), KIND.DATASEC, vars.length, false, size, vars.flat());
  }
  float(name: string, size: number): number {
    return this.record(this.str(name), KIND.FLOAT, 0, false, size, []);
  }
  declTag(name: string, type: number, componentIdx: number, attribute = false): number {
    return this.record(this.str(name), KIND.DECL_TAG, 0, attribute, type, [componentIdx >>> 0]);
  }
  typeTag(name: string, type: number, attribute = false): number {
    return this.record(this.str(name), KIND.TYPE_TAG, 0, attribute, type, []);
  }

  get typeSectionLength(): number {
    return this.words.length * 4;
  }
  get stringSectionLength(): number {
    return this.strs.length;
  }

  build(o: BuildOptions = {}): Uint8Array {
    const le = !o.bigEndian;
    const hdrLen = o.hdrLen ?? 24;
    const types = Buffer.alloc(this.words.length * 4);
    this.words.forEach((w, i) => (le ? types.writeUInt32LE(w >>> 0, i * 4) : types.writeUInt32BE(w >>> 0, i * 4)));
    const strs = Buffer.from(this.strs);
    const [first, second] = o.stringsFirst ? [strs, types] : [types, strs];
    const typeOff = o.typeOff ?? (o.stringsFirst ? alignUp4(strs.length) : 0);
    const strOff = o.strOff ?? (o.stringsFirst ? 0 : types.length);
    const pad = o.stringsFirst ? alignUp4(strs.length) - strs.length : 0;
    const body = Buffer.concat([first, Buffer.alloc(pad), second]);
    const h = Buffer.alloc(hdrLen);
    const w16 = (v: number, at: number): void => void (le ? h.writeUInt16LE(v, at) : h.writeUInt16BE(v, at));
    const w32 = (v: number, at: number): void => void (le ? h.writeUInt32LE(v >>> 0, at) : h.writeUInt32BE(v >>> 0, at));
    w16(o.magic ?? 0xeb9f, 0);
    h[2] = o.version ?? 1;
    h[3] = o.flags ?? 0;
    w32(hdrLen, 4);
    if (hdrLen >= 24) {
      w32(typeOff, 8);
      w32(o.typeLen ?? types.length, 12);
      w32(strOff, 16);
      w32(o.strLen ?? strs.length, 20);
    }
    if (o.headerExtra) Buffer.from(o.headerExtra).copy(h, 24);
    return new Uint8Array(Buffer.concat([h, body, Buffer.from(o.trailer ?? new Uint8Array())]));
  }
}

function alignUp4(n: number): number {
  return (n + 3) & ~3;
}
