/**
 * Synthetic kernel memory for unwinder unit tests: sparse 4 KiB pages (unwritten pages fault
 * like pages missing from a dump), little-endian writers, ORC table and pt_regs encoders.
 */
import type { VirtualMemory } from '../../../src/memory/address-space.js';
import { FaultError } from '../../../src/util/errors.js';
import type { OrcLayout, OrcType } from '../../../src/kernel/unwind/orc.js';
import { PT_REGS_NAMES, type PtRegs } from '../../../src/kernel/unwind/stack.js';

export class SparseMemory implements VirtualMemory {
  private readonly pages = new Map<bigint, Uint8Array>();
  reads = 0;

  private page(addr: bigint, create: boolean): Uint8Array | undefined {
    const key = addr >> 12n;
    let p = this.pages.get(key);
    if (!p && create) {
      p = new Uint8Array(4096);
      this.pages.set(key, p);
    }
    return p;
  }

  /** Makes the page holding `addr` unreadable again. */
  drop(addr: bigint): void {
    this.pages.delete(addr >> 12n);
  }

  write(addr: bigint, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      const a = addr + BigInt(i);
      this.page(a, true)![Number(a & 0xfffn)] = bytes[i]!;
    }
  }

  u64(addr: bigint, v: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
    this.write(addr, b);
  }

  i32(addr: bigint, v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    this.write(addr, b);
  }

  u32(addr: bigint, v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    this.write(addr, b);
  }

  u16(addr: bigint, v: number): void {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    this.write(addr, b);
  }

  string(addr: bigint, s: string): void {
    this.write(addr, Buffer.from(s + '\0', 'utf8'));
  }

  read(vaddr: bigint, length: number): Uint8Array {
    this.reads++;
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      const a = vaddr + BigInt(i);
      const p = this.page(a, false);
      if (!p) throw new FaultError(a, 'virtual', 'not mapped (synthetic)');
      out[i] = p[Number(a & 0xfffn)]!;
    }
    return out;
  }

  translate(vaddr: bigint): bigint {
    if (!this.page(vaddr, false)) throw new FaultError(vaddr, 'virtual', 'not mapped (synthetic)');
    return vaddr;
  }
}

export interface OrcSpec {
  readonly ip: bigint;
  readonly type: OrcType;
  readonly spReg?: number;
  readonly spOffset?: number;
  readonly bpReg?: number;
  readonly bpOffset?: number;
  readonly signal?: boolean;
}

/** The 6 bytes of a struct orc_entry in `layout`. */
export function encodeOrc(e: OrcSpec, layout: OrcLayout): Uint8Array {
  const b = new Uint8Array(6);
  const dv = new DataView(b.buffer);
  dv.setInt16(0, e.spOffset ?? 0, true);
  dv.setInt16(2, e.bpOffset ?? 0, true);
  let spReg = e.spReg ?? 0;
  let type: number;
  let bits = 0;
  if (layout.oldTypes) {
    const t = ['call', 'regs', 'regs-partial'].indexOf(e.type);
    if (e.type === 'end-of-stack' || e.type === 'undefined') {
      spReg = 0;
      type = 0;
      if (e.type === 'end-of-stack') bits |= 1 << layout.endBit!;
    } else type = t;
  } else {
    type = ['undefined', 'end-of-stack', 'call', 'regs', 'regs-partial'].indexOf(e.type);
    if (e.signal ?? (e.type === 'regs' || e.type === 'regs-partial')) bits |= 1 << layout.signalBit!;
  }
  bits |= (spReg & 15) << layout.spRegBit;
  bits |= ((e.bpReg ?? 0) & 15) << layout.bpRegBit;
  bits |= type << layout.typeBit;
  dv.setUint16(4, bits, true);
  return b;
}

/** Writes sorted ORC arrays (int32 ip entries relative to themselves, then the entries). */
export function writeOrcTables(mem: SparseMemory, ipTable: bigint, orcTable: bigint, entries: readonly OrcSpec[], layout: OrcLayout): number {
  const sorted = [...entries].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  sorted.forEach((e, i) => {
    const at = ipTable + BigInt(4 * i);
    mem.i32(at, Number(e.ip - at));
    mem.write(orcTable + BigInt(6 * i), encodeOrc(e, layout));
  });
  return sorted.length;
}

export function ptRegs(values: Partial<Record<(typeof PT_REGS_NAMES)[number], bigint>>): PtRegs {
  const r: Record<string, bigint> = {};
  for (const n of PT_REGS_NAMES) r[n] = values[n] ?? 0n;
  return r as PtRegs;
}

export function writePtRegs(mem: SparseMemory, at: bigint, regs: PtRegs): void {
  PT_REGS_NAMES.forEach((n, i) => mem.u64(at + BigInt(8 * i), regs[n]));
}
