/**
 * Where the crashed kernel keeps its `struct page` arrays (mem_map), found the way makedumpfile's
 * get_mem_map / get_mm_sparsemem / get_mm_flatmem do it, from VMCOREINFO only
 * (format-brief.md §4.2). x86_64 is SPARSEMEM_EXTREME with VMEMMAP; plain SPARSEMEM and FLATMEM
 * are handled for completeness. DISCONTIGMEM (x86_64 before 2.6.2x) is not supported.
 */
import type { Vmcoreinfo } from '../formats/vmcore/vmcoreinfo.js';
import type { VirtualMemory } from '../memory/address-space.js';
import { FaultError, FormatError } from '../util/errors.js';

export type MemoryModel = 'sparsemem-extreme' | 'sparsemem' | 'flatmem' | 'unknown';

/** SECTION_MARKED_PRESENT; makedumpfile masks the low 5 flag bits (SECTION_MAP_LAST_BIT 1<<5). */
const SECTION_MARKED_PRESENT = 1n;
const SECTION_MAP_MASK = ~0x1fn;
const U64 = (1n << 64n) - 1n;

export interface MemMapTable {
  readonly model: MemoryModel;
  /** Pages per mem_map region (PAGES_PER_SECTION; the whole range for FLATMEM). */
  readonly pagesPerRegion: number;
  /** Number of regions (sections) covering [0, the untrimmed max_mapnr). */
  readonly count: number;
  /**
   * max_mapnr as makedumpfile writes it: the PT_LOAD-derived value, lowered to the highest
   * pfn_end of a section with a valid mem_map ("for the case that Linux uses less memory than
   * is dumped", e.g. mem=).
   */
  readonly maxMapnr: number;
  /** Virtual address of the struct page of region i's first pfn, or undefined (no mem_map). */
  memMap(i: number): bigint | undefined;
  /** [pfnStart, pfnEnd) of region i, pfnEnd clamped to the untrimmed max_mapnr. */
  pfnRange(i: number): [number, number];
  readonly warnings: readonly string[];
}

export interface MemMapOptions {
  readonly pageSize: number;
  /** makedumpfile's is_kvaddr bound on x86_64 (PAGE_OFFSET); lower addresses are not kernel addresses. */
  readonly kvBase: bigint;
}

function isReadError(e: unknown): boolean {
  return e instanceof FaultError || e instanceof FormatError;
}

function readU64(mem: VirtualMemory, va: bigint): bigint | undefined {
  try {
    const b = mem.read(va, 8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  } catch (e) {
    if (isReadError(e)) return undefined;
    throw e;
  }
}

/** Reads `len` bytes or returns undefined when any of them is not in the dump. */
function tryRead(mem: VirtualMemory, va: bigint, len: number): Uint8Array | undefined {
  try {
    return mem.read(va, len);
  } catch (e) {
    if (isReadError(e)) return undefined;
    throw e;
  }
}

/**
 * Builds the mem_map table. `maxMapnr` is the PT_LOAD-derived page count (or a kdump input's
 * max_mapnr). Never throws for unreadable kernel memory: the table then has no mem_map
 * (nothing can be classified) and a warning says why.
 */
export function findMemMaps(info: Vmcoreinfo, kmem: VirtualMemory, maxMapnr: number, opts: MemMapOptions): MemMapTable {
  const warnings: string[] = [];
  const pageShift = Math.log2(opts.pageSize);
  const sizePage = info.size('page');
  const isKv = (a: bigint): boolean => a >= opts.kvBase;
  const none = (model: MemoryModel, why: string): MemMapTable => {
    warnings.push(why);
    return {
      model,
      pagesPerRegion: Math.max(1, maxMapnr),
      count: 0,
      maxMapnr,
      memMap: () => undefined,
      pfnRange: () => [0, maxMapnr],
      warnings,
    };
  };
  if (sizePage === undefined) return none('unknown', 'VMCOREINFO has no SIZE(page): struct pages cannot be located, no page was filtered by type');

  // makedumpfile checks DISCONTIGMEM first; its pglist_data.node_mem_map only exists without SPARSEMEM.
  const discontig =
    ((info.symbol('node_data') !== undefined && info.length('node_data') !== undefined) ||
      (info.symbol('pgdat_list') !== undefined && (info.offset('pglist_data', 'pgdat_next') !== undefined || info.length('pgdat_list') !== undefined))) &&
    info.size('pglist_data') !== undefined &&
    info.offset('pglist_data', 'node_mem_map') !== undefined &&
    info.offset('pglist_data', 'node_start_pfn') !== undefined &&
    info.offset('pglist_data', 'node_spanned_pages') !== undefined;
  if (discontig) return none('unknown', 'DISCONTIGMEM kernels are not supported: no page was filtered by type');

  const memSection = info.symbol('mem_section');
  const sizeMemSection = info.size('mem_section');
  const offMap = info.offset('mem_section', 'section_mem_map');
  if (memSection !== undefined && sizeMemSection !== undefined && offMap !== undefined) {
    const sectionSizeBits = Number(info.number('SECTION_SIZE_BITS') ?? 27n);
    const maxPhysmemBits = Number(info.number('MAX_PHYSMEM_BITS') ?? ((info.number('pgtable_l5_enabled') ?? 0n) !== 0n ? 52n : 46n));
    const pps = 2 ** (sectionSizeBits - pageShift);
    const sprExtreme = Math.floor(opts.pageSize / sizeMemSection);
    const nrMemSections = 2 ** (maxPhysmemBits - sectionSizeBits);
    const lengthMemSection = info.length('mem_section');
    const extreme = lengthMemSection === undefined || lengthMemSection === Math.ceil(nrMemSections / sprExtreme);
    const spr = extreme ? sprExtreme : 1;
    const numSection = Math.ceil(maxMapnr / pps);
    const nrRoots = Math.ceil(numSection / spr);
    const maps = new BigUint64Array(numSection); // 0 = no mem_map (NOT_MEMMAP_ADDR)

    /** validate_mem_section: false when the array does not hold a sane mem_section table. */
    const validate = (arrayAddr: bigint): boolean => {
      maps.fill(0n);
      const rootsLen = extreme ? 8 * nrRoots : sizeMemSection * nrRoots;
      const roots = tryRead(kmem, arrayAddr, rootsLen);
      if (!roots) return false;
      const rv = new DataView(roots.buffer, roots.byteOffset, roots.byteLength);
      let ok = false;
      let rootIndex = -1;
      let rootBytes: Uint8Array | undefined;
      for (let nr = 0; nr < numSection; nr++) {
        let addr: bigint;
        if (extreme) {
          const root = rv.getBigUint64(Math.floor(nr / spr) * 8, true);
          if (root === 0n) continue;
          addr = (root + BigInt((nr % spr) * sizeMemSection)) & U64;
          // One read per root array (SECTIONS_PER_ROOT sections = one page) instead of one per section.
          if (rootIndex !== Math.floor(nr / spr)) {
            rootIndex = Math.floor(nr / spr);
            rootBytes = isKv(root) ? tryRead(kmem, root, spr * sizeMemSection) : undefined;
          }
        } else {
          addr = (memSection + BigInt(nr * sizeMemSection)) & U64;
          rootBytes = undefined;
        }
        if (!isKv(addr)) continue;
        let map: bigint | undefined;
        if (rootBytes) {
          const o = (nr % spr) * sizeMemSection + offMap;
          map = new DataView(rootBytes.buffer, rootBytes.byteOffset, rootBytes.byteLength).getBigUint64(o, true);
        } else {
          map = readU64(kmem, addr + BigInt(offMap));
        }
        if (map === undefined || (map & SECTION_MARKED_PRESENT) === 0n) continue; // no mem_map, or hot-removed
        const memMap = ((map & SECTION_MAP_MASK) + BigInt(nr) * BigInt(pps) * BigInt(sizePage)) & U64;
        if (!isKv(memMap)) return false;
        maps[nr] = memMap;
        ok = true;
      }
      return ok;
    };

    // VMCOREINFO's SYMBOL(mem_section) is the root array itself; with vmlinux symbols (4.15+
    // SPARSEMEM_EXTREME) it is a pointer to it: makedumpfile tries both, in this order.
    let valid = validate(memSection);
    if (!valid && extreme) {
      const ptr = readU64(kmem, memSection);
      valid = ptr !== undefined && validate(ptr);
    }
    if (!valid) {
      return none(extreme ? 'sparsemem-extreme' : 'sparsemem', `could not validate mem_section at 0x${memSection.toString(16)}: struct pages cannot be located, no page was filtered by type`);
    }
    let maxPfn = 0;
    for (let nr = 0; nr < numSection; nr++) if (maps[nr] !== 0n) maxPfn = Math.min((nr + 1) * pps, maxMapnr);
    return {
      model: extreme ? 'sparsemem-extreme' : 'sparsemem',
      pagesPerRegion: pps,
      count: numSection,
      maxMapnr: Math.min(maxMapnr, maxPfn),
      memMap: (i) => {
        const m = maps[i];
        return m === undefined || m === 0n ? undefined : m;
      },
      pfnRange: (i) => [i * pps, Math.min((i + 1) * pps, maxMapnr)],
      warnings,
    };
  }

  const memMapSym = info.symbol('mem_map');
  if (memMapSym !== undefined) {
    const mm = readU64(kmem, memMapSym);
    if (mm === undefined || mm === 0n) return none('flatmem', `cannot read mem_map at 0x${memMapSym.toString(16)}: no page was filtered by type`);
    return {
      model: 'flatmem',
      pagesPerRegion: Math.max(1, maxMapnr),
      count: 1,
      maxMapnr,
      memMap: (i) => (i === 0 ? mm : undefined),
      pfnRange: () => [0, maxMapnr],
      warnings,
    };
  }
  return none('unknown', 'VMCOREINFO describes no memory model (SYMBOL(mem_section) or SYMBOL(mem_map)): no page was filtered by type');
}
