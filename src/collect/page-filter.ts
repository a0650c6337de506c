/**
 * Page filtering for the collector: which page frames a dump of level N keeps, exactly as
 * makedumpfile decides it (format-brief.md §2.5, §4; makedumpfile.c create_1st_bitmap,
 * create_2nd_bitmap, exclude_nodata_pages, __exclude_unnecessary_pages, exclude_range).
 *
 * The result is the two kdump bitmaps: the 1st ("RAM") and the 2nd ("dumpable") after the
 * struct-page scan. Zero pages (level bit 1) are found later, while the pages are written,
 * because makedumpfile does the same: in a kdump file they keep their 2nd-bitmap bit and point
 * at the shared zero page.
 *
 * Streaming: struct pages are read 512 at a time (makedumpfile's PGMM_CACHED) through the
 * crashed kernel's page tables; memory use is the two bitmaps plus one 512-entry buffer.
 */
import type { Dump } from '../formats/open.js';
import { PT_LOAD } from '../formats/elf/elf64.js';
import type { Vmcoreinfo } from '../formats/vmcore/vmcoreinfo.js';
import type { VirtualMemory } from '../memory/address-space.js';
import type { PhysicalMemory } from '../memory/physical-memory.js';
import { X86_64AddressSpace } from '../memory/arch/x86_64.js';
import { FaultError, FormatError, MissingInfoError, UsageError } from '../util/errors.js';
import { findMemMaps } from './mem-section.js';
import {
  DL_CACHE,
  DL_CACHE_PRIVATE,
  DL_FREE,
  DL_USER,
  PAGE_BAD_FREE_ORDER,
  PAGE_CACHE,
  PAGE_CACHE_PRIVATE,
  PAGE_FREE,
  PAGE_HWPOISON,
  PAGE_KEEP,
  PAGE_OFFLINE,
  PAGE_TAIL,
  PAGE_USER,
  PageClassifier,
  pageRulesFromVmcoreinfo,
  type PageRuleSet,
} from './page-flags.js';

export interface PageCounts {
  zero: number;
  cache: number;
  cachePrivate: number;
  user: number;
  free: number;
  hwpoison: number;
  offline: number;
}

export interface PageFilterResult {
  /** As makedumpfile writes it in the header (may be trimmed to the highest pfn with a valid mem_map, §4.2). */
  readonly maxMapnr: bigint;
  /** 1st bitmap bytes (bit per pfn, LSB first), length ceil(maxMapnr/8). */
  readonly ram: Uint8Array;
  /** 2nd bitmap bytes after struct-page filtering (zero pages NOT yet removed). */
  readonly dumpable: Uint8Array;
  /** Excluded pages per category, counted as makedumpfile counts them; zero stays 0 here. */
  readonly counts: PageCounts;
  readonly warnings: string[];
  /**
   * The dump level applied: the requested one, OR-ed with a kdump input's own level (pages that
   * input lacks stay excluded). This is the level to write into the new file's sub-header.
   */
  readonly dumpLevel: number;
}

export interface PageFilterOptions {
  onProgress?: (donePfns: bigint, totalPfns: bigint) => void;
  /**
   * Which makedumpfile's decisions to reproduce: '1.7.2' (default; Debian 12's makedumpfile,
   * the reference of our acceptance tests) or 'latest' (makedumpfile 1.7.9, which understands
   * the folio/page_type encodings of Linux 6.3–6.12). See page-flags.ts.
   *
   * The two differ only for Linux ≥ 6.2. There 1.7.2 takes slab pages whose word at
   * page.mapping is odd for anonymous memory and drops them with level bit 8 (89 slab pages of
   * the shared 6.12 dump: "User process data pages" 0x88 against 0x2f with 'latest'), and it
   * cannot see large folios and hugetlb pages, so only their head page is ever excluded.
   */
  rules?: PageRuleSet;
}

/** Number of struct pages read at once (makedumpfile PGMM_CACHED). */
export const PGMM_CACHED = 512;

/** A PT_LOAD as makedumpfile keeps it: physical start, end of file data, end of memory. */
export interface LoadSegment {
  readonly start: bigint;
  readonly fileEnd: bigint;
  readonly memEnd: bigint;
}

/** Everything the filter needs from a dump; `filterPages` builds it, unit tests fake it. */
export interface FilterSource {
  readonly info: Vmcoreinfo;
  /** Kernel virtual memory (vmemmap, mem_section) and the physical memory under it. */
  readonly kernel: VirtualMemory;
  readonly phys: PhysicalMemory;
  readonly pageSize: number;
  /** max_mapnr before trimming: ELF = highest PT_LOAD end rounded up to a page. */
  readonly maxMapnr: number;
  /** ELF inputs: the PT_LOADs, in program-header order. */
  readonly segments?: readonly LoadSegment[];
  /**
   * kdump inputs (makedumpfile "refiltering"): the input's bitmaps, ceil(maxMapnr/8) bytes each,
   * and the level it was made with (OR-ed into the requested one, as makedumpfile does).
   */
  readonly inputBitmaps?: { readonly ram: Uint8Array; readonly dumpable: Uint8Array; readonly dumpLevel: number };
  /** Lowest kernel virtual address (makedumpfile is_kvaddr: PAGE_OFFSET on x86_64). */
  readonly kvBase: bigint;
}

/**
 * True when the page holds only zero bytes. Runs on every written page: compares 32-bit words
 * of an aligned view (a Float64Array view would take −0.0 for zero), eight at a time.
 */
export function isZeroPage(page: Uint8Array): boolean {
  const len = page.length;
  if ((page.byteOffset & 3) !== 0 || (len & 31) !== 0) {
    for (let i = 0; i < len; i++) if (page[i] !== 0) return false;
    return true;
  }
  const w = new Int32Array(page.buffer, page.byteOffset, len >>> 2);
  const n = w.length;
  for (let i = 0; i < n; i += 8) {
    if ((w[i]! | w[i + 1]! | w[i + 2]! | w[i + 3]! | w[i + 4]! | w[i + 5]! | w[i + 6]! | w[i + 7]!) !== 0) return false;
  }
  return true;
}

/** Sets bits [start, end) (byte fills in the middle). */
function setBits(bits: Uint8Array, start: number, end: number): void {
  let p = start;
  while (p < end && (p & 7) !== 0) {
    bits[p >>> 3]! |= 1 << (p & 7);
    p++;
  }
  const fullEnd = end - (end & 7);
  if (p < fullEnd) {
    bits.fill(0xff, p >>> 3, fullEnd >>> 3);
    p = fullEnd;
  }
  for (; p < end; p++) bits[p >>> 3]! |= 1 << (p & 7);
}

function clearBits(bits: Uint8Array, start: number, end: number): void {
  let p = start;
  while (p < end && (p & 7) !== 0) {
    bits[p >>> 3]! &= ~(1 << (p & 7));
    p++;
  }
  const fullEnd = end - (end & 7);
  if (p < fullEnd) {
    bits.fill(0, p >>> 3, fullEnd >>> 3);
    p = fullEnd;
  }
  for (; p < end; p++) bits[p >>> 3]! &= ~(1 << (p & 7));
}

function isReadError(e: unknown): boolean {
  return e instanceof FaultError || e instanceof FormatError;
}

/** Builds the filter's input from an opened dump (ELF vmcore, or a kdump file to refilter). */
export function filterSourceFromDump(dump: Dump): FilterSource {
  const info = dump.vmcoreinfo;
  if (!info) throw new MissingInfoError(`${dump.path}: the dump has no VMCOREINFO note, so its pages cannot be classified`);
  const kernel = X86_64AddressSpace.fromDump(dump);
  const pageSize = dump.memory.pageSize;
  // makedumpfile's is_kvaddr on x86_64 compares with PAGE_OFFSET (taken from the PT_LOADs);
  // without it, the start of the kernel half of the address space.
  const kvBase = dump.format === 'elf' && dump.pageOffsetHint !== undefined ? dump.pageOffsetHint : kernel.config.fiveLevel ? 0xff00000000000000n : 0xffff800000000000n;
  const maxMapnr = Number(dump.memory.maxPfn);
  if (dump.format === 'elf') {
    const segments = dump.elf.phdrs.filter((p) => p.type === PT_LOAD).map((p) => ({ start: p.paddr, fileEnd: p.paddr + p.filesz, memEnd: p.paddr + p.memsz }));
    return { info, kernel, phys: dump.memory, pageSize, maxMapnr, segments, kvBase };
  }
  const m = dump.kdump.memory;
  return { info, kernel, phys: dump.memory, pageSize, maxMapnr, inputBitmaps: { ram: m.ram.bits, dumpable: m.dumpable.bits, dumpLevel: dump.kdump.sub.dumpLevel }, kvBase };
}

/**
 * Classifies every page frame of `dump` for dump level `level` (0..31) and returns the kdump
 * bitmaps and per-category counts makedumpfile would produce.
 */
export function filterPages(dump: Dump, level: number, opts?: PageFilterOptions): PageFilterResult {
  return filterPagesFrom(filterSourceFromDump(dump), level, opts);
}

/** Sorted, merged pfn intervals [start, end) as a flat array. */
function mergeRuns(runs: [number, number][]): number[] {
  runs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [s, e] of runs) {
    if (e <= s) continue;
    const n = out.length;
    if (n && s <= out[n - 1]!) out[n - 1] = Math.max(out[n - 1]!, e);
    else out.push(s, e);
  }
  return out;
}

function runsOfBitmap(bits: Uint8Array, n: number): number[] {
  const out: number[] = [];
  let p = 0;
  while (p < n) {
    const b = bits[p >>> 3]!;
    if ((p & 7) === 0 && (b === 0 || b === 0xff) && p + 8 <= n) {
      const set = b === 0xff;
      const len = out.length;
      if (set) {
        if (len && out[len - 1] === p) out[len - 1] = p + 8;
        else out.push(p, p + 8);
      }
      p += 8;
      continue;
    }
    if (b & (1 << (p & 7))) {
      const len = out.length;
      if (len && out[len - 1] === p) out[len - 1] = p + 1;
      else out.push(p, p + 1);
    }
    p++;
  }
  return out;
}

/** The filter on an explicit source (see FilterSource); `filterPages` is the usual entry. */
export function filterPagesFrom(src: FilterSource, level: number, opts?: PageFilterOptions): PageFilterResult {
  if (!Number.isInteger(level) || level < 0 || level > 31) throw new UsageError(`dump level ${level} is not in 0..31`);
  const warnings: string[] = [];
  const { info, pageSize } = src;
  if (src.inputBitmaps && (level | src.inputBitmaps.dumpLevel) !== level) {
    const was = level;
    level |= src.inputBitmaps.dumpLevel & 31;
    warnings.push(`dump level changed from ${was} to ${level}: the input was made with dump level ${src.inputBitmaps.dumpLevel}`);
  }
  const ps = BigInt(pageSize);
  const pfnOf = (pa: bigint): number => Number(pa / ps);
  const pfnUp = (pa: bigint): number => Number((pa + ps - 1n) / ps);

  const rules = pageRulesFromVmcoreinfo(info, opts?.rules ?? '1.7.2');
  const classifier = new PageClassifier(rules);
  const table = findMemMaps(info, src.kernel, src.maxMapnr, { pageSize, kvBase: src.kvBase });
  warnings.push(...table.warnings);
  const maxMapnr = table.maxMapnr; // the cycle is [0, maxMapnr): nothing at or above it is set or counted
  if (maxMapnr > 2 ** 32) {
    throw new UsageError(`max_mapnr 0x${maxMapnr.toString(16)} (more than 16 TiB of 4 KiB pages) is beyond what the page filter supports`);
  }
  const nbytes = Math.ceil(maxMapnr / 8);
  const ram = new Uint8Array(nbytes);
  const dumpable = new Uint8Array(nbytes);

  // Page frames whose struct page is examined (makedumpfile is_in_segs), as merged intervals.
  let segRuns: number[];
  if (src.inputBitmaps) {
    // Refiltering a kdump file: both bitmaps start as the input's.
    ram.set(src.inputBitmaps.ram.subarray(0, nbytes));
    dumpable.set(src.inputBitmaps.dumpable.subarray(0, nbytes));
    if (maxMapnr & 7 && nbytes) {
      ram[nbytes - 1]! &= (1 << (maxMapnr & 7)) - 1;
      dumpable[nbytes - 1]! &= (1 << (maxMapnr & 7)) - 1;
    }
    segRuns = runsOfBitmap(ram, maxMapnr);
  } else {
    const segs = src.segments ?? src.phys.ranges().map((r) => ({ start: r.start, fileEnd: r.end, memEnd: r.end }));
    // 1st bitmap as makedumpfile builds it when its bitmaps fit in memory ("enough free memory
    // to be done in one cycle": create_1st_bitmap_file): [floor(start), floor(end)), plus the
    // last page when the segment ends inside it. (In cyclic mode, used when memory is short,
    // makedumpfile leaves that partial page out of both bitmaps; 1.7.2's 2nd bitmap lacks it in
    // either mode because its exclude_nodata_pages clears it.)
    for (const s of segs) {
      const a = pfnOf(s.start);
      if (a > maxMapnr) continue;
      let b = Math.min(pfnOf(s.memEnd), maxMapnr);
      if (s.memEnd % ps !== 0n) b++;
      b = Math.min(b, maxMapnr);
      if (a < b) setBits(ram, a, b);
    }
    dumpable.set(ram);
    // exclude_nodata_pages: memory the ELF file does not hold (p_filesz < p_memsz). Up to 1.7.5
    // makedumpfile started at floor(fileEnd), which also drops a segment's last, partly filled
    // page (0x9f000-0x9fc00 on both shared dumps); 1.7.6 rounds up and keeps it.
    const roundNodataUp = rules.ruleSet === 'latest';
    for (const s of segs) {
      const a = Math.min(roundNodataUp ? pfnUp(s.fileEnd) : pfnOf(s.fileEnd), maxMapnr);
      const b = Math.min(pfnUp(s.memEnd), maxMapnr);
      if (a < b) clearBits(dumpable, a, b);
    }
    // is_in_segs: the page's first byte lies in a PT_LOAD's file data.
    segRuns = mergeRuns(segs.map((s) => [pfnUp(s.start), pfnUp(s.fileEnd)]));
  }

  const counts: PageCounts = { zero: 0, cache: 0, cachePrivate: 0, user: 0, free: 0, hwpoison: 0, offline: 0 };
  const scan = level & (DL_CACHE | DL_CACHE_PRIVATE | DL_USER) || rules.pgHwpoison !== undefined || (level & DL_FREE && rules.buddyFromStructPage);
  if (level & DL_FREE && !rules.buddyFromStructPage) {
    warnings.push('free pages cannot be recognised from struct page on this kernel (no PAGE_BUDDY_MAPCOUNT_VALUE or page._mapcount/private): free pages were not excluded');
  }
  const total = BigInt(maxMapnr);
  if (scan && table.count > 0) {
    // The regions with a mem_map, gathered once (no closure calls inside the scan).
    const regions: Region[] = [];
    for (let i = 0; i < table.count; i++) {
      const memMap = table.memMap(i);
      if (memMap === undefined) continue;
      const [start, end] = table.pfnRange(i);
      regions.push({ memMap, start, end });
    }
    const stats = scanMemMaps(src, regions, maxMapnr, segRuns, classifier, level, dumpable, counts, opts?.onProgress);
    if (stats.unreadable > 0) {
      warnings.push(
        `${stats.unreadable} struct page${stats.unreadable === 1 ? '' : 's'} could not be read from the dump (first for pfn 0x${stats.firstUnreadable.toString(16)}); ` +
          'those page frames were kept',
      );
    }
    if (stats.badFreeOrder > 0) {
      warnings.push(
        `${stats.badFreeOrder} free page${stats.badFreeOrder === 1 ? ' has' : 's have'} an invalid order ≥ LENGTH(zone.free_area)=${rules.freeAreaLength} (first at pfn 0x${stats.firstBadFree.toString(16)}); kept`,
      );
    }
  }
  opts?.onProgress?.(total, total);
  return { maxMapnr: BigInt(maxMapnr), ram, dumpable, counts, warnings, dumpLevel: level };
}

/** A mem_map region: struct pages of pfns [start, end) from virtual address memMap. */
interface Region {
  readonly memMap: bigint;
  readonly start: number;
  readonly end: number;
}

interface ScanStats {
  unreadable: number;
  firstUnreadable: number;
  badFreeOrder: number;
  firstBadFree: number;
}

/** Reads virtual [va, va+len) into `out` at `at`, coalescing physically contiguous pages. */
function readVirtualInto(src: FilterSource, va: bigint, len: number, out: Uint8Array, at: number): void {
  const ps = src.pageSize;
  const psb = BigInt(ps);
  let done = 0;
  let runPa = -1n;
  let runLen = 0;
  let runAt = 0;
  const kernel = src.kernel;
  // vmemmap is mapped with 2 MiB pages: translate once per mapping, not once per 4 KiB.
  const spans = kernel.translateSpan?.bind(kernel);
  const phys = src.phys;
  const flush = (): void => {
    if (runLen > 0) {
      if (phys.readInto) phys.readInto(runPa, out, runAt, runLen);
      else out.set(phys.read(runPa, runLen), runAt);
    }
    runLen = 0;
  };
  while (done < len) {
    const a = va + BigInt(done);
    let n: number;
    let pa: bigint;
    if (spans) {
      const t = spans(a);
      pa = t.paddr;
      n = Math.min(len - done, t.span);
    } else {
      const inPage = Number(a % psb);
      n = Math.min(len - done, ps - inPage);
      pa = kernel.translate(a);
    }
    if (runLen > 0 && runPa + BigInt(runLen) === pa) runLen += n;
    else {
      flush();
      runPa = pa;
      runLen = n;
      runAt = at + done;
    }
    done += n;
  }
  flush();
}

/**
 * The struct-page scan over every mem_map region, as makedumpfile's exclude_unnecessary_pages
 * runs __exclude_unnecessary_pages per section: pfn order, 512-entry read batches aligned to
 * pfn % 512, exclusions of 2^order pages continuing after the range (also past the section end).
 */
function scanMemMaps(
  src: FilterSource,
  regions: readonly Region[],
  maxMapnr: number,
  segRuns: number[],
  classifier: PageClassifier,
  level: number,
  dumpable: Uint8Array,
  counts: PageCounts,
  onProgress: ((done: bigint, total: bigint) => void) | undefined,
): ScanStats {
  const r = classifier.rules;
  const size = r.structSize;
  const buf = new Uint8Array(PGMM_CACHED * size);
  const dv = new DataView(buf.buffer);
  const valid = new Uint8Array(PGMM_CACHED);
  const stats: ScanStats = { unreadable: 0, firstUnreadable: 0, badFreeOrder: 0, firstBadFree: 0 };
  const total = BigInt(maxMapnr);
  const ps = src.pageSize;

  const readBatch = (memMap: bigint, pfnStart: number, pfn: number, n: number, idx: number): void => {
    const va = memMap + BigInt((pfn - pfnStart) * size);
    try {
      readVirtualInto(src, va, n * size, buf, idx * size);
      valid.fill(1, idx, idx + n);
      return;
    } catch (e) {
      if (!isReadError(e)) throw e;
    }
    // Something in the batch is missing (excluded or hole in the input dump, unmapped vmemmap):
    // retry page by page and mark the struct pages that overlap a missing page.
    valid.fill(1, idx, idx + n);
    const end = va + BigInt(n * size);
    let a = va;
    while (a < end) {
      const inPage = Number(a % BigInt(ps));
      const len = Number(BigInt(ps - inPage) < end - a ? BigInt(ps - inPage) : end - a);
      const rel = Number(a - va);
      try {
        readVirtualInto(src, a, len, buf, idx * size + rel);
      } catch (e) {
        if (!isReadError(e)) throw e;
        const first = Math.floor(rel / size);
        const last = Math.floor((rel + len - 1) / size);
        valid.fill(0, idx + first, idx + last + 1);
      }
      a += BigInt(len);
    }
  };

  // Excluded pages per category (PAGE_FREE … PAGE_OFFLINE), folded into `counts` at the end.
  const byCategory = new Float64Array(16);

  for (const region of regions) {
    const memMap = region.memMap;
    const pfnStart = region.start;
    const pfnEnd = region.end;
    let readStart = -1;
    let readEnd = -1; // inclusive, as makedumpfile's pfn_read_end
    let k = 0; // index into segRuns (pairs)
    let pfn = pfnStart;
    while (pfn < pfnEnd) {
      // Skip page frames outside every PT_LOAD's file data (is_in_segs).
      while (k < segRuns.length && segRuns[k + 1]! <= pfn) k += 2;
      if (k >= segRuns.length) break;
      if (pfn < segRuns[k]!) {
        pfn = segRuns[k]!;
        continue;
      }
      const idx = pfn < 0x40000000 ? pfn & (PGMM_CACHED - 1) : pfn % PGMM_CACHED;
      if (pfn < readStart || pfn > readEnd) {
        // makedumpfile: read up to the next 512 boundary, or to the section end.
        const n = Math.ceil((pfn + 1) / PGMM_CACHED) * PGMM_CACHED < pfnEnd ? PGMM_CACHED - idx : pfnEnd - pfn;
        readBatch(memMap, pfnStart, pfn, n, idx);
        readStart = pfn;
        readEnd = pfn + n - 1;
      }
      if (!valid[idx]) {
        if (stats.unreadable++ === 0) stats.firstUnreadable = pfn;
        pfn++;
        continue;
      }
      // The first tail is looked at only inside the same read (never for the last entry of a
      // 512 batch: heads are aligned to their order, so that head has order 0 anyway). At a
      // section end that is not 512-aligned (a trimmed max_mapnr) makedumpfile would read a
      // stale cache entry; we use no tail there.
      const tailOff = idx < PGMM_CACHED - 1 && pfn + 1 <= readEnd && valid[idx + 1] ? (idx + 1) * size : -1;
      const res = classifier.classify(dv, idx * size, tailOff, pfn, level);
      const cat = res & 15;
      if (cat === PAGE_KEEP || cat === PAGE_TAIL) {
        pfn++;
        continue;
      }
      if (cat === PAGE_BAD_FREE_ORDER) {
        if (stats.badFreeOrder++ === 0) stats.firstBadFree = pfn;
        pfn++;
        continue;
      }
      const order = res >>> 4;
      const nr = order < 30 ? 1 << order : 2 ** order; // keep small integers small (V8 Smi arithmetic)
      if (nr === 1) {
        dumpable[pfn >>> 3]! &= ~(1 << (pfn & 7));
        byCategory[cat]!++;
      } else {
        // makedumpfile counts every bit it clears inside the cycle [0, max_mapnr), set before or
        // not (set_bitmap_* return TRUE): e.g. the pages of a buddy block past a PT_LOAD's end.
        const end = Math.min(pfn + nr, maxMapnr);
        clearBits(dumpable, pfn, end);
        byCategory[cat]! += end - pfn;
      }
      pfn += nr;
    }
    onProgress?.(BigInt(Math.min(pfnEnd, maxMapnr)), total);
  }
  counts.free += byCategory[PAGE_FREE]!;
  counts.cache += byCategory[PAGE_CACHE]!;
  counts.cachePrivate += byCategory[PAGE_CACHE_PRIVATE]!;
  counts.user += byCategory[PAGE_USER]!;
  counts.hwpoison += byCategory[PAGE_HWPOISON]!;
  counts.offline += byCategory[PAGE_OFFLINE]!;
  return stats;
}
