import { FaultError, MissingInfoError } from '../../util/errors.js';
import { u64 } from '../../util/bytes.js';
import type { VirtualMemory } from '../address-space.js';
import type { PhysicalMemory } from '../physical-memory.js';
import type { Dump } from '../../formats/open.js';
import type { Vmcoreinfo } from '../../formats/vmcore/vmcoreinfo.js';

/** arch/x86/include/asm/page_64_types.h */
export const START_KERNEL_MAP = 0xffffffff80000000n;
/** Physical-address bits of a page-table entry: clears NX (63), bits 52–62 and the flag bits. */
const PTE_PFN_MASK = 0x000ffffffffff000n;
const PRESENT = 1n;
const PSE = 0x80n;
const PAGE_SHIFT = 12n;
const TLB_MAX = 8192;
const TABLE_CACHE_MAX = 1024;

export interface X86_64Config {
  /** Physical address of the top-level page table (init_top_pgt). */
  readonly pgdPhys: bigint;
  readonly fiveLevel: boolean;
  readonly physBase: bigint;
  /** AMD SME encryption bit(s), stripped from every table entry. */
  readonly smeMask: bigint;
}

/**
 * Kernel virtual → physical translation by walking the crashed kernel's own page tables
 * (arch/x86/include/asm/pgtable_64_types.h; makedumpfile arch/x86_64.c vtop4_x86_64), 4- and
 * 5-level, with 1 GiB and 2 MiB pages. Every region (direct map, text, vmalloc, modules,
 * vmemmap, percpu) goes through the same walk, so KASLR and CONFIG_RANDOMIZE_MEMORY need no
 * special cases. Translations are cached per 4 KiB page.
 */
export class X86_64AddressSpace implements VirtualMemory {
  private readonly tlb = new Map<bigint, bigint>();
  /** Page-table pages by physical address (null: not wholly readable). */
  private readonly tables = new Map<bigint, DataView | null>();
  private readonly entryMask: bigint;

  constructor(
    readonly phys: PhysicalMemory,
    readonly config: X86_64Config,
  ) {
    this.entryMask = PTE_PFN_MASK & ~config.smeMask;
  }

  /** Builds the address space from VMCOREINFO (init_top_pgt, phys_base, pgtable_l5_enabled). */
  static fromDump(dump: Dump): X86_64AddressSpace {
    const info = dump.vmcoreinfo;
    if (!info) {
      throw new MissingInfoError(`${dump.path}: the dump has no VMCOREINFO note, so kernel addresses cannot be translated`, 'For QEMU dump-guest-memory, start the guest with -device vmcoreinfo.');
    }
    return new X86_64AddressSpace(dump.memory, configFromVmcoreinfo(info, dump.physBaseHint));
  }

  translate(vaddr: bigint): bigint {
    const vpage = vaddr >> PAGE_SHIFT;
    const hit = this.tlb.get(vpage);
    if (hit !== undefined) return hit | (vaddr & 0xfffn);
    const { paddr } = this.translateSpan(vaddr);
    if (this.tlb.size >= TLB_MAX) this.tlb.clear();
    this.tlb.set(vpage, paddr & ~0xfffn);
    return paddr;
  }

  /**
   * Translates `vaddr` and says how many bytes from there on the same mapping covers (to the
   * end of its 4 KiB, 2 MiB or 1 GiB page), so a caller reading a large, physically contiguous
   * region such as vmemmap translates once per 2 MiB instead of once per 4 KiB.
   */
  translateSpan(vaddr: bigint): { paddr: bigint; span: number } {
    const { pa, shift } = this.walk(vaddr);
    return { paddr: pa, span: Number((1n << shift) - (vaddr & ((1n << shift) - 1n))) };
  }

  read(vaddr: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const va = vaddr + BigInt(done);
      const inPage = Number(va & 0xfffn);
      const n = Math.min(length - done, 4096 - inPage);
      out.set(this.phys.read(this.translate(va), n), done);
      done += n;
    }
    return out;
  }

  /** Reads one table entry; whole table pages are cached (each walk touches 4-5 of them). */
  private entry(tablePa: bigint, index: bigint, level: string, vaddr: bigint): bigint {
    let t = this.tables.get(tablePa);
    if (t === undefined) {
      try {
        const b = this.phys.read(tablePa, 4096);
        t = new DataView(b.buffer, b.byteOffset, b.byteLength);
      } catch (err) {
        if (!(err instanceof FaultError)) throw err;
        t = null; // part of the page may still be readable: fall back to the one entry below
      }
      if (this.tables.size >= TABLE_CACHE_MAX) this.tables.clear();
      this.tables.set(tablePa, t);
    }
    let e: bigint;
    if (t !== null) e = t.getBigUint64(Number(index * 8n), true);
    else {
      try {
        e = u64(this.phys.read(tablePa + index * 8n, 8), 0);
      } catch (err) {
        if (err instanceof FaultError) throw new FaultError(vaddr, 'virtual', `${level} table at physical 0x${tablePa.toString(16)} is not in the dump`);
        throw err;
      }
    }
    if ((e & PRESENT) === 0n) throw new FaultError(vaddr, 'virtual', `not mapped (${level} entry not present)`);
    return e;
  }

  private walk(va: bigint): { pa: bigint; shift: bigint } {
    const bits = this.config.fiveLevel ? 57n : 48n;
    const top = va >> (bits - 1n);
    const ones = (1n << (65n - bits)) - 1n;
    if (top !== 0n && top !== ones) throw new FaultError(va, 'virtual', 'non-canonical address');
    const m = this.entryMask;
    let table = this.config.pgdPhys;
    if (this.config.fiveLevel) table = this.entry(table, (va >> 48n) & 511n, 'PGD', va) & m;
    table = this.entry(table, (va >> 39n) & 511n, this.config.fiveLevel ? 'P4D' : 'PGD', va) & m;
    const pud = this.entry(table, (va >> 30n) & 511n, 'PUD', va);
    if (pud & PSE) return { pa: (pud & m & ~((1n << 30n) - 1n)) | (va & ((1n << 30n) - 1n)), shift: 30n };
    const pmd = this.entry(pud & m, (va >> 21n) & 511n, 'PMD', va);
    if (pmd & PSE) return { pa: (pmd & m & ~((1n << 21n) - 1n)) | (va & ((1n << 21n) - 1n)), shift: 21n };
    const pte = this.entry(pmd & m, (va >> 12n) & 511n, 'PTE', va);
    return { pa: (pte & m) | (va & 0xfffn), shift: 12n };
  }
}

/** Derives the walk's parameters from VMCOREINFO; `physBaseHint` comes from the container. */
export function configFromVmcoreinfo(info: Vmcoreinfo, physBaseHint: bigint | undefined): X86_64Config {
  const raw = info.physBase ?? physBaseHint;
  if (raw === undefined) throw new MissingInfoError('VMCOREINFO has no NUMBER(phys_base) and the dump container does not record it');
  // init_top_pgt (4.13+), init_level4_pgt before; swapper_pg_dir is the same table on x86_64.
  const pgd = info.symbol('init_top_pgt') ?? info.symbol('init_level4_pgt') ?? info.symbol('swapper_pg_dir');
  if (pgd === undefined) throw new MissingInfoError('VMCOREINFO has none of SYMBOL(init_top_pgt), SYMBOL(init_level4_pgt), SYMBOL(swapper_pg_dir)');
  // phys_base is an unsigned long printed with %ld: a physical KASLR slide below 16 MiB shows
  // as negative. Work modulo 2^64 as the kernel does.
  const physBase = BigInt.asUintN(64, raw);
  if (pgd < START_KERNEL_MAP) throw new MissingInfoError(`SYMBOL(init_top_pgt)=0x${pgd.toString(16)} is not a kernel-image address`);
  return {
    pgdPhys: BigInt.asUintN(64, pgd - START_KERNEL_MAP + physBase),
    fiveLevel: (info.number('pgtable_l5_enabled') ?? 0n) !== 0n,
    physBase,
    smeMask: info.number('sme_mask') ?? 0n,
  };
}
