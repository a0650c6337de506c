/**
 * The kernel's ORC unwind tables (arch/x86/include/asm/orc_types.h, arch/x86/kernel/unwind_orc.c),
 * read from the dump's memory.
 *
 * vmlinux: `__start_orc_unwind_ip[]` holds one int32 per entry, each relative to its own address
 * (ip = &entry + entry), sorted at boot by unwind_init(); `__start_orc_unwind[]` holds the
 * matching 6-byte `struct orc_entry`. Modules: `mod->arch.orc_unwind_ip`, `orc_unwind`,
 * `num_orcs`, sorted at load by unwind_module_init(). A lookup is the kernel's __orc_find(): the
 * rightmost entry whose ip is <= the address.
 *
 * `struct orc_entry` changed in Linux 6.4:
 *   before: s16 sp_offset; s16 bp_offset; sp_reg:4; bp_reg:4; type:2; end:1
 *           types CALL=0 REGS=1 REGS_PARTIAL=2; sp_reg UNDEFINED + end = end of stack
 *   6.4+:   s16 sp_offset; s16 bp_offset; sp_reg:4; bp_reg:4; type:3; signal:1
 *           types UNDEFINED=0 END_OF_STACK=1 CALL=2 REGS=3 REGS_PARTIAL=4
 * The bit positions come from BTF `struct orc_entry` when the kernel has it, else from the
 * kernel version. Entries are decoded into one version-independent form.
 */
import { MissingInfoError, ValidationError } from '../../util/errors.js';
import type { TypeInfo } from '../types/type-info.js';
import type { PagedMemory } from './paged.js';

export const ORC_REG_UNDEFINED = 0;
export const ORC_REG_PREV_SP = 1;
export const ORC_REG_DX = 2;
export const ORC_REG_DI = 3;
export const ORC_REG_BP = 4;
export const ORC_REG_SP = 5;
export const ORC_REG_R10 = 6;
export const ORC_REG_R13 = 7;
export const ORC_REG_BP_INDIRECT = 8;
export const ORC_REG_SP_INDIRECT = 9;

export const ORC_ENTRY_SIZE = 6;

/** Entry types, independent of the kernel's numbering. */
export type OrcType = 'undefined' | 'end-of-stack' | 'call' | 'regs' | 'regs-partial' | 'unknown';

export interface OrcEntry {
  readonly spOffset: number;
  readonly bpOffset: number;
  readonly spReg: number;
  readonly bpReg: number;
  readonly type: OrcType;
  /** The raw type field, for messages. */
  readonly rawType: number;
  /**
   * The frame after this one was interrupted (its ip is exact, not a return address). 6.4+ carry
   * the bit; before, REGS and REGS_PARTIAL frames are signal frames.
   */
  readonly signal: boolean;
}

/** Where the fields of `struct orc_entry` are, counted in bits from the start of byte 4. */
export interface OrcLayout {
  readonly spRegBit: number;
  readonly bpRegBit: number;
  readonly typeBit: number;
  readonly typeBits: number;
  /** Pre-6.4: the `end` bit. */
  readonly endBit: number | undefined;
  /** 6.4+: the `signal` bit. */
  readonly signalBit: number | undefined;
  /** Pre-6.4 numbering (CALL=0) when true, 6.4+ numbering (CALL=2) when false. */
  readonly oldTypes: boolean;
  /**
   * ORC_REG_SP_INDIRECT: Linux 5.12+ dereferences sp and then adds sp_offset; before, it added
   * the offset first. (Entry code only uses it with offset 0 or in one way per version.)
   */
  readonly spIndirectAddAfter: boolean;
  readonly source: string;
}

export const ORC_LAYOUT_OLD: OrcLayout = {
  spRegBit: 0,
  bpRegBit: 4,
  typeBit: 8,
  typeBits: 2,
  endBit: 10,
  signalBit: undefined,
  oldTypes: true,
  spIndirectAddAfter: true,
  source: 'Linux < 6.4 layout (type:2, end:1)',
};

export const ORC_LAYOUT_NEW: OrcLayout = {
  spRegBit: 0,
  bpRegBit: 4,
  typeBit: 8,
  typeBits: 3,
  endBit: undefined,
  signalBit: 11,
  oldTypes: false,
  spIndirectAddAfter: true,
  source: 'Linux >= 6.4 layout (type:3, signal:1)',
};

/** "6.12.117+deb12-amd64" → [6, 12]; undefined when it does not start with a version. */
export function kernelVersion(release: string | undefined): [number, number] | undefined {
  const m = release === undefined ? null : /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function atLeast(v: [number, number] | undefined, major: number, minor: number): boolean | undefined {
  if (!v) return undefined;
  return v[0] > major || (v[0] === major && v[1] >= minor);
}

/**
 * The layout of `struct orc_entry` for this kernel: BTF first (the bit offsets of sp_reg,
 * bp_reg, type, end/signal), else by version (6.4 renumbered the types).
 */
export function orcLayoutFor(types: TypeInfo | undefined, release: string | undefined): OrcLayout {
  const v = kernelVersion(release);
  const spIndirectAddAfter = atLeast(v, 5, 12) ?? true;
  if (types?.hasType('struct orc_entry')) {
    try {
      const bit = (name: string): { off: number; size: number } | undefined => {
        try {
          const m = types.member('struct orc_entry', name);
          return { off: m.offsetBits - 32, size: m.bitSize ?? 0 };
        } catch (e) {
          if (e instanceof MissingInfoError || e instanceof ValidationError) return undefined;
          throw e;
        }
      };
      const sp = bit('sp_reg');
      const bp = bit('bp_reg');
      const type = bit('type');
      const end = bit('end');
      const signal = bit('signal');
      if (sp && bp && type && sp.size === 4 && bp.size === 4 && type.size >= 2 && type.size <= 4 && types.sizeof('struct orc_entry') === ORC_ENTRY_SIZE) {
        return {
          spRegBit: sp.off,
          bpRegBit: bp.off,
          typeBit: type.off,
          typeBits: type.size,
          endBit: end?.off,
          signalBit: signal?.off,
          oldTypes: end !== undefined,
          spIndirectAddAfter,
          source: `BTF struct orc_entry (type:${type.size}${end ? ', end:1' : ''}${signal ? ', signal:1' : ''})`,
        };
      }
    } catch (e) {
      if (!(e instanceof MissingInfoError || e instanceof ValidationError)) throw e;
    }
  }
  const newer = atLeast(v, 6, 4) ?? true;
  const base = newer ? ORC_LAYOUT_NEW : ORC_LAYOUT_OLD;
  return { ...base, spIndirectAddAfter, source: `${base.source}, by kernel version ${release ?? '(unknown: assumed new)'}` };
}

const OLD_TYPES: readonly OrcType[] = ['call', 'regs', 'regs-partial'];
const NEW_TYPES: readonly OrcType[] = ['undefined', 'end-of-stack', 'call', 'regs', 'regs-partial'];

/** Decodes the 6 bytes of one `struct orc_entry`. */
export function decodeOrcEntry(b: Uint8Array, layout: OrcLayout): OrcEntry {
  const dv = new DataView(b.buffer, b.byteOffset, ORC_ENTRY_SIZE);
  const spOffset = dv.getInt16(0, true);
  const bpOffset = dv.getInt16(2, true);
  const bits = dv.getUint16(4, true);
  const field = (at: number, n: number): number => (bits >>> at) & ((1 << n) - 1);
  const spReg = field(layout.spRegBit, 4);
  const bpReg = field(layout.bpRegBit, 4);
  const rawType = field(layout.typeBit, layout.typeBits);
  let type: OrcType;
  let signal: boolean;
  if (layout.oldTypes) {
    // Before 6.4 the end of the stack and "no information" were both sp_reg UNDEFINED, told
    // apart by the end bit.
    if (spReg === ORC_REG_UNDEFINED) type = layout.endBit !== undefined && field(layout.endBit, 1) ? 'end-of-stack' : 'undefined';
    else type = OLD_TYPES[rawType] ?? 'unknown';
    signal = type === 'regs' || type === 'regs-partial';
  } else {
    type = NEW_TYPES[rawType] ?? 'unknown';
    signal = layout.signalBit !== undefined ? field(layout.signalBit, 1) === 1 : type === 'regs' || type === 'regs-partial';
  }
  return { spOffset, bpOffset, spReg, bpReg, type, rawType, signal };
}

/** The kernel's hardcoded entry for ip 0 (a call through a NULL function pointer). */
export const NULL_ORC_ENTRY: OrcEntry = { spOffset: 8, bpOffset: 0, spReg: ORC_REG_SP, bpReg: ORC_REG_UNDEFINED, type: 'call', rawType: -1, signal: false };

/** The kernel's fallback for code without ORC data (BPF, generated code): assume frame pointers. */
export const FP_ORC_ENTRY: OrcEntry = { spOffset: 16, bpOffset: -16, spReg: ORC_REG_BP, bpReg: ORC_REG_PREV_SP, type: 'call', rawType: -1, signal: false };

/**
 * One sorted pair of ORC arrays in memory (vmlinux's or one module's). Pages are read on demand
 * through the PagedMemory cache, so a lookup touches ~log2(n) ip entries, mostly on pages shared
 * with earlier lookups.
 */
export class OrcTable {
  constructor(
    readonly mem: PagedMemory,
    /** Address of the int32 ip array. */
    readonly ipTable: bigint,
    /** Address of the orc_entry array. */
    readonly orcTable: bigint,
    readonly count: number,
    readonly layout: OrcLayout,
    /** Label for messages: 'vmlinux' or the module name. */
    readonly label: string,
  ) {}

  /** ip of entry i, relative to ipTable (a JS number: exact, the table spans far less than 2^53). */
  private relIp(i: number): number {
    return 4 * i + this.mem.i32(this.ipTable + BigInt(4 * i));
  }

  /** Absolute ip of entry i. */
  ipAt(i: number): bigint {
    return BigInt.asUintN(64, this.ipTable + BigInt(this.relIp(i)));
  }

  entryAt(i: number): OrcEntry {
    return decodeOrcEntry(this.mem.read(this.orcTable + BigInt(i * ORC_ENTRY_SIZE), ORC_ENTRY_SIZE), this.layout);
  }

  /**
   * __orc_find(): the index of the rightmost entry whose ip is <= `ip` (among duplicates, the
   * last, so real entries win over the weak section terminators that sort before them), or -1
   * when `ip` is below the first entry. Reads can throw FaultError.
   */
  findIndex(ip: bigint): number {
    if (this.count <= 0) return -1;
    const target = Number(BigInt.asIntN(64, ip - this.ipTable));
    let first = 0;
    let last = this.count - 1;
    let found = -1;
    while (first <= last) {
      const mid = first + ((last - first) >> 1);
      if (this.relIp(mid) <= target) {
        found = mid;
        first = mid + 1;
      } else last = mid - 1;
    }
    return found;
  }

  find(ip: bigint): OrcEntry | undefined {
    const i = this.findIndex(ip);
    return i < 0 ? undefined : this.entryAt(i);
  }
}

/** An address range [start, end). */
export interface AddressRange {
  readonly start: bigint;
  readonly end: bigint;
}

export interface OrcRegion {
  readonly ranges: readonly AddressRange[];
  readonly table: OrcTable;
}

export interface OrcLookup {
  readonly entry: OrcEntry;
  /** 'vmlinux' or the module's name. */
  readonly where: string;
}

/**
 * orc_find(): the vmlinux table for the kernel's text (core and init), a module's table for
 * addresses inside that module, the NULL entry for ip 0, nothing elsewhere.
 */
export class OrcFinder {
  constructor(
    readonly vmlinux: OrcRegion | undefined,
    private readonly moduleRegions: () => readonly OrcRegion[],
  ) {}

  /** undefined: no table covers `ip`. Reads can throw FaultError. */
  find(ip: bigint): OrcLookup | undefined {
    if (ip === 0n) return { entry: NULL_ORC_ENTRY, where: 'null' };
    const regions = this.vmlinux && within(this.vmlinux.ranges, ip) ? [this.vmlinux] : this.moduleRegions().filter((r) => within(r.ranges, ip));
    for (const r of regions) {
      const e = r.table.find(ip);
      if (e) return { entry: e, where: r.table.label };
    }
    return undefined;
  }

  /** True when `ip` lies in text some table covers (vmlinux text or a module). */
  covers(ip: bigint): boolean {
    if (this.vmlinux && within(this.vmlinux.ranges, ip)) return true;
    return this.moduleRegions().some((r) => within(r.ranges, ip));
  }
}

export function within(ranges: readonly AddressRange[], a: bigint): boolean {
  for (const r of ranges) if (a >= r.start && a < r.end) return true;
  return false;
}
