/**
 * A tiny synthetic kernel for page-filter unit tests: a vmemmap of struct pages and a
 * SPARSEMEM_EXTREME mem_section table in sparse fake physical memory, reached through a fake
 * kernel address space (linear maps, no page tables), plus a VMCOREINFO for it.
 */
import { FaultError, PageNotPresentError } from '../../src/util/errors.js';
import type { VirtualMemory } from '../../src/memory/address-space.js';
import type { PageState, PhysicalMemory, PhysRange } from '../../src/memory/physical-memory.js';
import { Vmcoreinfo } from '../../src/formats/vmcore/vmcoreinfo.js';
import type { FilterSource, LoadSegment } from '../../src/collect/page-filter.js';

export const PAGE = 4096;
/** SECTION_SIZE_BITS 22 → 1024 pages per section, so tests cross 512-page batches and sections cheaply. */
export const SECTION_SIZE_BITS = 22;
export const PPS = 1 << (SECTION_SIZE_BITS - 12);
export const STRUCT_PAGE = 64;

export const VMEMMAP = 0xffffea0000000000n;
export const DIRECT = 0xffff888000000000n;
const VMEMMAP_PHYS = 0x40_0000_0000n; // far above the RAM under test
const SECTIONS_PHYS = 0x50_0000_0000n;

/** Sparse physical memory of whole pages; a page not created reads as PageNotPresentError. */
export class SparsePhys implements PhysicalMemory {
  readonly pageSize = PAGE;
  readonly maxPfn = 1n << 40n;
  readonly pages = new Map<number, Uint8Array>();

  page(pfn: number): Uint8Array {
    let p = this.pages.get(pfn);
    if (!p) {
      p = new Uint8Array(PAGE);
      this.pages.set(pfn, p);
    }
    return p;
  }

  /** Makes [pa, pa+len) exist (zero-filled). */
  ensure(pa: bigint, len: number): void {
    const first = Number(pa / BigInt(PAGE));
    const last = Number((pa + BigInt(len) - 1n) / BigInt(PAGE));
    for (let p = first; p <= last; p++) this.page(p);
  }

  drop(pfn: number): void {
    this.pages.delete(pfn);
  }

  view(pa: bigint): { dv: DataView; off: number } {
    const pfn = Number(pa / BigInt(PAGE));
    const p = this.page(pfn);
    return { dv: new DataView(p.buffer, p.byteOffset, PAGE), off: Number(pa % BigInt(PAGE)) };
  }

  writeU64(pa: bigint, v: bigint): void {
    const { dv, off } = this.view(pa);
    dv.setBigUint64(off, BigInt.asUintN(64, v), true);
  }

  read(paddr: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const a = paddr + BigInt(done);
      const pfn = Number(a / BigInt(PAGE));
      const inPage = Number(a % BigInt(PAGE));
      const n = Math.min(length - done, PAGE - inPage);
      const p = this.pages.get(pfn);
      if (!p) throw new PageNotPresentError(a, 12, 'excluded');
      out.set(p.subarray(inPage, inPage + n), done);
      done += n;
    }
    return out;
  }

  pageState(pfn: bigint): PageState {
    return this.pages.has(Number(pfn)) ? 'present' : 'hole';
  }

  ranges(): readonly PhysRange[] {
    return [];
  }
}

/** Kernel virtual memory as two linear maps (vmemmap and the direct map). */
export class LinearKernel implements VirtualMemory {
  constructor(private readonly phys: SparsePhys) {}

  translate(va: bigint): bigint {
    if (va >= VMEMMAP && va < VMEMMAP + (1n << 40n)) return va - VMEMMAP + VMEMMAP_PHYS;
    if (va >= DIRECT && va < DIRECT + (1n << 46n)) return va - DIRECT;
    throw new FaultError(va, 'virtual', 'not mapped (fake kernel)');
  }

  read(va: bigint, length: number): Uint8Array {
    return this.phys.read(this.translate(va), length);
  }
}

export interface StructPage {
  flags?: bigint;
  mapping?: bigint;
  mapcount?: number;
  private?: bigint;
  compoundHead?: bigint;
  /** Raw bytes at other offsets: [offset, width, value]. */
  extra?: Array<[number, 1 | 2 | 8, bigint]>;
}

/** struct page layout of the synthetic kernel (that of Linux 6.1/6.12 x86_64). */
export const OFF = { flags: 0, compoundHead: 8, compoundDtor: 16, compoundOrder: 17, mapping: 24, private: 40, mapcount: 48, refcount: 52 };

/** VMCOREINFO lines shared by every synthetic kernel; `extra` adds the version-specific ones. */
export function vmcoreinfoText(osrelease: string, extra: string[]): string {
  return [
    `OSRELEASE=${osrelease}`,
    'PAGESIZE=4096',
    `SYMBOL(mem_section)=${(DIRECT + SECTIONS_PHYS).toString(16)}`,
    'LENGTH(mem_section)=65536',
    'SIZE(mem_section)=16',
    'OFFSET(mem_section.section_mem_map)=0',
    `NUMBER(SECTION_SIZE_BITS)=${SECTION_SIZE_BITS}`,
    'NUMBER(MAX_PHYSMEM_BITS)=46',
    `SIZE(page)=${STRUCT_PAGE}`,
    `OFFSET(page.flags)=${OFF.flags}`,
    `OFFSET(page._refcount)=${OFF.refcount}`,
    `OFFSET(page.mapping)=${OFF.mapping}`,
    'OFFSET(page.lru)=8',
    `OFFSET(page._mapcount)=${OFF.mapcount}`,
    `OFFSET(page.private)=${OFF.private}`,
    `OFFSET(page.compound_head)=${OFF.compoundHead}`,
    'OFFSET(list_head.next)=0',
    'OFFSET(list_head.prev)=8',
    'LENGTH(zone.free_area)=11',
    ...extra,
    '',
  ].join('\n');
}

/** Linux 6.1 (Debian 12) values, from the shared 6.1-sysrq dump. */
export const LINUX_6_1 = [
  'OFFSET(page.compound_dtor)=16',
  'OFFSET(page.compound_order)=17',
  'NUMBER(PG_lru)=4',
  'NUMBER(PG_private)=13',
  'NUMBER(PG_swapcache)=10',
  'NUMBER(PG_swapbacked)=19',
  'NUMBER(PG_slab)=9',
  'NUMBER(PG_hwpoison)=23',
  'NUMBER(PG_head_mask)=65536',
  'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129',
  'NUMBER(HUGETLB_PAGE_DTOR)=2',
  'NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257',
];

/** Linux 6.12 values (page_type in the top byte, no PG_slab), from the shared 6.12-nullderef dump. */
export const LINUX_6_12 = [
  'NUMBER(PG_lru)=5',
  'NUMBER(PG_private)=14',
  'NUMBER(PG_swapcache)=10',
  'NUMBER(PG_swapbacked)=17',
  'NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)=-184549376',
  'NUMBER(PG_hwpoison)=20',
  'NUMBER(PG_head_mask)=64',
  'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456',
  'NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)=-201326592',
  'NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-251658240',
];

export interface FakeKernelOptions {
  osrelease?: string;
  info?: string[];
  /** RAM pages (one PT_LOAD from pfn 0) unless `segments` is given. */
  pages?: number;
  segments?: LoadSegment[];
  /** Sections whose mem_section says "not present". */
  absentSections?: number[];
  /** Make SYMBOL(mem_section) the address of a pointer to the root array (vmlinux style). */
  pointerToRoots?: boolean;
}

/** A synthetic kernel whose struct pages tests set one by one. */
export class FakeKernel {
  readonly phys = new SparsePhys();
  readonly kernel = new LinearKernel(this.phys);
  readonly info: Vmcoreinfo;
  readonly maxMapnr: number;
  readonly segments: LoadSegment[];

  constructor(opts: FakeKernelOptions = {}) {
    const pages = opts.pages ?? 3 * PPS;
    this.segments = opts.segments ?? [{ start: 0n, fileEnd: BigInt(pages * PAGE), memEnd: BigInt(pages * PAGE) }];
    let end = 0n;
    for (const s of this.segments) if (s.memEnd > end) end = s.memEnd;
    this.maxMapnr = Number((end + BigInt(PAGE) - 1n) / BigInt(PAGE));
    const rootsPa = SECTIONS_PHYS;
    const sectionsPa = SECTIONS_PHYS + 0x1000n;
    let symbolPa = rootsPa;
    if (opts.pointerToRoots) {
      symbolPa = SECTIONS_PHYS + 0x3000n;
      this.phys.writeU64(symbolPa, DIRECT + rootsPa);
    }
    const text = vmcoreinfoText(opts.osrelease ?? '6.1.0-56-amd64', opts.info ?? LINUX_6_1).replace(
      /SYMBOL\(mem_section\)=\w+/,
      `SYMBOL(mem_section)=${(DIRECT + symbolPa).toString(16)}`,
    );
    this.info = new Vmcoreinfo(text);
    // One root (256 sections of 16 bytes) is plenty.
    this.phys.writeU64(rootsPa, DIRECT + sectionsPa);
    this.phys.ensure(sectionsPa, PAGE);
    const nsec = Math.ceil(this.maxMapnr / PPS);
    for (let n = 0; n < nsec; n++) {
      // SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP | SECTION_IS_ONLINE | SECTION_IS_EARLY
      const present = !(opts.absentSections ?? []).includes(n);
      this.phys.writeU64(sectionsPa + BigInt(n * 16), present ? VMEMMAP | 0xfn : 0n);
      if (present) this.phys.ensure(VMEMMAP_PHYS + BigInt(n * PPS * STRUCT_PAGE), PPS * STRUCT_PAGE);
    }
  }

  /** Physical address of the struct page of `pfn`. */
  structPa(pfn: number): bigint {
    return VMEMMAP_PHYS + BigInt(pfn * STRUCT_PAGE);
  }

  /** Removes the 4 KiB vmemmap page holding the struct page of `pfn` (64 struct pages). */
  dropStructPages(pfn: number): void {
    this.phys.drop(Number(this.structPa(pfn) / BigInt(PAGE)));
  }

  set(pfn: number, p: StructPage): void {
    const base = this.structPa(pfn);
    const w = (off: number, width: 1 | 2 | 4 | 8, v: bigint): void => {
      const { dv, off: o } = this.phys.view(base + BigInt(off));
      if (width === 1) dv.setUint8(o, Number(v));
      else if (width === 2) dv.setUint16(o, Number(v), true);
      else if (width === 4) dv.setUint32(o, Number(BigInt.asUintN(32, v)), true);
      else dv.setBigUint64(o, BigInt.asUintN(64, v), true);
    };
    if (p.flags !== undefined) w(OFF.flags, 8, p.flags);
    if (p.mapping !== undefined) w(OFF.mapping, 8, p.mapping);
    if (p.mapcount !== undefined) w(OFF.mapcount, 4, BigInt(p.mapcount));
    if (p.private !== undefined) w(OFF.private, 8, p.private);
    if (p.compoundHead !== undefined) w(OFF.compoundHead, 8, p.compoundHead);
    for (const [o, width, v] of p.extra ?? []) w(o, width, v);
  }

  /** A compound page: head flags/fields at `pfn`, tails pointing at it (compound_head | 1). */
  compound(pfn: number, order: number, head: StructPage, firstTail: StructPage = {}): void {
    this.set(pfn, head);
    const tailPtr = (VMEMMAP + BigInt(pfn * STRUCT_PAGE)) | 1n;
    for (let i = 1; i < 2 ** order; i++) this.set(pfn + i, { compoundHead: tailPtr, ...(i === 1 ? firstTail : {}) });
  }

  source(): FilterSource {
    return { info: this.info, kernel: this.kernel, phys: this.phys, pageSize: PAGE, maxMapnr: this.maxMapnr, segments: this.segments, kvBase: 0xffff800000000000n };
  }
}

export const bitOf = (n: number): bigint => 1n << BigInt(n);
