import { u16, u32, u64 } from '../util/bytes.js';

/** Reads of kernel virtual memory; implemented by arch/x86_64 on top of PhysicalMemory. */
export interface VirtualMemory {
  /** Reads `length` bytes at kernel virtual address `vaddr`; throws FaultError if unmapped. */
  read(vaddr: bigint, length: number): Uint8Array;
  /** Translates a kernel virtual address to physical; throws FaultError if unmapped. */
  translate(vaddr: bigint): bigint;
  /** Optional: translation plus the bytes the same mapping covers from `vaddr` on. */
  translateSpan?(vaddr: bigint): { paddr: bigint; span: number };
}

export function readU64(mem: VirtualMemory, vaddr: bigint): bigint {
  return u64(mem.read(vaddr, 8), 0);
}
export function readU32(mem: VirtualMemory, vaddr: bigint): number {
  return u32(mem.read(vaddr, 4), 0);
}
export function readU16(mem: VirtualMemory, vaddr: bigint): number {
  return u16(mem.read(vaddr, 2), 0);
}
