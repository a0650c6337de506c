/**
 * Classification of one `struct page` the way makedumpfile's `__exclude_unnecessary_pages`
 * decides it (makedumpfile.c / makedumpfile.h; see ../shared/docs/format-brief.md §4.3), from
 * VMCOREINFO alone: struct offsets, PG_* bit numbers and the page_type ("mapcount") values the
 * kernel exports. Our own code; the rules are re-derived from makedumpfile's sources.
 *
 * Two rule sets exist because makedumpfile changed how it reads new kernels:
 * - `1.7.2` (Debian 12's makedumpfile, the reference our tests compare with):
 *   compound order/dtor only from OFFSET(page.compound_order/compound_dtor) (or the pre-4.4
 *   lru words); slab only by the PG_slab flag bit; isAnon is just `mapping & 1`.
 * - `latest` (makedumpfile 1.7.9 and its master branch; tests compare with 1.7.9's output of the
 *   shared dumps): also OFFSET(folio._folio_order/_folio_dtor) (6.3+),
 *   NUMBER(PG_hugetlb) with the order in the first tail's flags (6.6–6.8),
 *   NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE) (6.9+), NUMBER(PAGE_SLAB_MAPCOUNT_VALUE) (6.10+) in
 *   isSlab, `!isSlab` in isAnon (1.7.3's fix for slab pages wrongly excluded as user data on
 *   6.2+), NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE) as free pages, OFFSET(page.compound_info)
 *   (7.1+); and (page-filter.ts) the last partly-filled page of a PT_LOAD stays dumpable.
 */
import type { Vmcoreinfo } from '../formats/vmcore/vmcoreinfo.js';
import { MissingInfoError } from '../util/errors.js';

export type PageRuleSet = '1.7.2' | 'latest';

/** dump_level bits (makedumpfile DL_EXCLUDE_*). */
export const DL_ZERO = 1;
export const DL_CACHE = 2;
export const DL_CACHE_PRIVATE = 4;
export const DL_USER = 8;
export const DL_FREE = 16;

/** Results of `classify` (low 4 bits; the exclusion order is in the bits above). */
export const PAGE_KEEP = 0;
export const PAGE_FREE = 1;
export const PAGE_CACHE = 2;
export const PAGE_CACHE_PRIVATE = 3;
export const PAGE_USER = 4;
export const PAGE_HWPOISON = 5;
export const PAGE_OFFLINE = 6;
/** A compound tail page: kept (tails of excluded heads were cleared with their head). */
export const PAGE_TAIL = 7;
/** A buddy page whose order (page.private) is ≥ LENGTH(zone.free_area): kept, with a warning. */
export const PAGE_BAD_FREE_ORDER = 8;

/** makedumpfile's fallbacks for kernels that do not export a value (get_value_for_old_linux). */
const PG_LRU_ORIGINAL = 5;
const PG_SLAB_ORIGINAL = 7;
const PG_PRIVATE_ORIGINAL = 11;
const PG_COMPOUND_ORIGINAL = 14;
const PG_SWAPCACHE_ORIGINAL = 15;
const PAGE_BUDDY_MAPCOUNT_VALUE_2_6_38 = -2;
const PAGE_BUDDY_MAPCOUNT_VALUE_2_6_39 = -128;

/** How the order and destructor of a compound page are found in its first tail page. */
export type CompoundSource =
  /** Order in the low byte of the first tail's flags (folio._flags_1); hugetlb by a flag bit or the head's page_type. */
  | { readonly kind: 'flags1'; readonly hugetlbBit: number | undefined; readonly hugetlbMapcount: number | undefined }
  /** Order and dtor at byte offsets of the first tail page (0 = not available). */
  | { readonly kind: 'fields'; readonly orderOffset: number; readonly orderWidth: 1 | 2; readonly dtorOffset: number; readonly dtorWidth: 1 | 2 | 8 };

export interface PageRules {
  readonly ruleSet: PageRuleSet;
  readonly kernelVersion: readonly [number, number, number] | undefined;
  readonly pageSize: number;
  /** SIZE(page). */
  readonly structSize: number;
  readonly offFlags: number;
  readonly offMapping: number;
  /** −1 when the offset is not exported (the field then reads as 0, as in makedumpfile). */
  readonly offMapcount: number;
  readonly offPrivate: number;
  readonly offCompoundHead: number;
  readonly pgLru: number;
  readonly pgPrivate: number;
  readonly pgSwapcache: number;
  readonly pgSwapbacked: number | undefined;
  /** NUMBER(PG_slab), or makedumpfile's fallback 7 when the kernel (≥ 6.10) has none. */
  readonly pgSlab: number;
  readonly pgSlabExported: boolean;
  readonly pgHwpoison: number | undefined;
  readonly headMaskLo: number;
  readonly headMaskHi: number;
  readonly buddyMapcount: number | undefined;
  readonly offlineMapcount: number | undefined;
  readonly slabMapcount: number | undefined;
  readonly unacceptedMapcount: number | undefined;
  readonly hugetlbDtor: bigint | undefined;
  readonly freeHugePage: bigint | undefined;
  readonly compound: CompoundSource;
  /** LENGTH(zone.free_area) (MAX_ORDER + 1). */
  readonly freeAreaLength: number | undefined;
  /** Buddy pages can be recognised from struct page (page_is_buddy_v3 selected). */
  readonly buddyFromStructPage: boolean;
  /** Buddy pages are recognised by NUMBER(PG_buddy) (2.6.17–2.6.37); not supported here. */
  readonly pgBuddy: number | undefined;
}

/** OSRELEASE "6.12.117+deb12-amd64" → [6, 12, 117] (makedumpfile get_kernel_version). */
export function parseKernelVersion(release: string | undefined): [number, number, number] | undefined {
  const m = release === undefined ? null : /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

function versionBelow(v: readonly [number, number, number] | undefined, a: number, b: number, c: number): boolean {
  if (!v) return false; // unknown: assume a current kernel
  if (v[0] !== a) return v[0] < a;
  if (v[1] !== b) return v[1] < b;
  return v[2] < c;
}

function i32(v: bigint | undefined): number | undefined {
  return v === undefined ? undefined : Number(BigInt.asIntN(32, v));
}

function smallNumber(info: Vmcoreinfo, name: string): number | undefined {
  const v = info.number(name);
  return v === undefined ? undefined : Number(v);
}

/** Derives the classification rules from VMCOREINFO, with makedumpfile's fallbacks for old kernels. */
export function pageRulesFromVmcoreinfo(info: Vmcoreinfo, ruleSet: PageRuleSet = '1.7.2'): PageRules {
  const structSize = info.size('page');
  const offFlags = info.offset('page', 'flags');
  const offMapping = info.offset('page', 'mapping');
  // makedumpfile's get_mem_type also requires OFFSET(page._refcount) (or _count); it is never
  // used in a decision on kernels with buddy mapcount values.
  const offRefcount = info.offset('page', '_refcount') ?? info.offset('page', '_count');
  if (structSize === undefined || offFlags === undefined || offMapping === undefined || offRefcount === undefined) {
    throw new MissingInfoError('VMCOREINFO lacks SIZE(page) or OFFSET(page.flags/_refcount/mapping): struct pages cannot be classified');
  }
  const version = parseKernelVersion(info.osrelease);
  const pageSize = info.pageSize ?? 4096;

  const pgPrivate = smallNumber(info, 'PG_private') ?? PG_PRIVATE_ORIGINAL;
  const pgSwapcache = smallNumber(info, 'PG_swapcache') ?? PG_SWAPCACHE_ORIGINAL;
  let pgSwapbacked = smallNumber(info, 'PG_swapbacked');
  if (pgSwapbacked === undefined && pgSwapcache < pgPrivate) pgSwapbacked = pgPrivate + 6;
  const pgSlabExported = info.number('PG_slab') !== undefined;
  // PG_slab disappeared in Linux 6.10 (slab became a page_type). Both makedumpfile 1.7.2 and the
  // latest release then fall back to the historic bit 7 (get_value_for_old_linux), which on 6.10+
  // is PG_waiters (6.12: locked 0 … lru 5, head 6, waiters 7). We mimic it: a page with waiters
  // counts as "slab", so page_is_buddy and isOffline reject it (and isAnon too with `latest`
  // rules) and it is never excluded as free, offline (or user) page. Decided on the dumps: no
  // struct page of the shared 6.12 dump has bit 7 set, so mimicking or not gives makedumpfile
  // 1.7.2's counts there either way; mimicking also keeps us equal to both makedumpfile releases
  // on dumps taken while pages had waiters. The quirk can only keep a page that would otherwise
  // be excluded, never drop one.
  const pgSlab = smallNumber(info, 'PG_slab') ?? PG_SLAB_ORIGINAL;
  const headMask = BigInt.asUintN(64, info.number('PG_head_mask') ?? 1n << BigInt(PG_COMPOUND_ORIGINAL));

  let buddyMapcount = i32(info.number('PAGE_BUDDY_MAPCOUNT_VALUE'));
  if (buddyMapcount === undefined && version) {
    if (version[0] === 2 && version[1] === 6 && version[2] === 38) buddyMapcount = PAGE_BUDDY_MAPCOUNT_VALUE_2_6_38;
    else if (!versionBelow(version, 2, 6, 39)) buddyMapcount = PAGE_BUDDY_MAPCOUNT_VALUE_2_6_39;
  }
  const offMapcount = info.offset('page', '_mapcount') ?? -1;
  const offPrivate = info.offset('page', 'private') ?? -1;
  const pgBuddy = smallNumber(info, 'PG_buddy');
  // setup_page_is_buddy: needs page.private; 1.7.2 prefers PG_buddy when exported, the latest
  // release the mapcount value. We only implement the mapcount form (2.6.38+).
  let buddyFromStructPage = false;
  if (offPrivate >= 0) {
    const useV3 = ruleSet === '1.7.2' ? pgBuddy === undefined : true;
    buddyFromStructPage = useV3 && buddyMapcount !== undefined && offMapcount >= 0;
  }

  const old = versionBelow(version, 4, 4, 0);
  const lru = info.offset('page', 'lru');
  const lhNext = info.offset('list_head', 'next');
  const lhPrev = info.offset('list_head', 'prev');
  const legacyOrder = old && lru !== undefined && lhPrev !== undefined ? lru + lhPrev : 0;
  const legacyDtor = old && lru !== undefined && lhNext !== undefined ? lru + lhNext : 0;
  const hugetlbMapcount = i32(info.number('PAGE_HUGETLB_MAPCOUNT_VALUE'));
  const pgHugetlb = smallNumber(info, 'PG_hugetlb');
  let compound: CompoundSource;
  const widths = (): { orderWidth: 1 | 2; dtorWidth: 1 | 2 | 8 } =>
    !versionBelow(version, 4, 16, 0) ? { orderWidth: 1, dtorWidth: 1 } : !old ? { orderWidth: 2, dtorWidth: 2 } : { orderWidth: 2, dtorWidth: 8 };
  if (ruleSet === 'latest' && hugetlbMapcount !== undefined) {
    compound = { kind: 'flags1', hugetlbBit: undefined, hugetlbMapcount };
  } else if (ruleSet === 'latest' && pgHugetlb !== undefined) {
    compound = { kind: 'flags1', hugetlbBit: pgHugetlb, hugetlbMapcount: undefined };
  } else {
    const folioOrder = ruleSet === 'latest' ? info.offset('folio', '_folio_order') : undefined;
    const folioDtor = ruleSet === 'latest' ? info.offset('folio', '_folio_dtor') : undefined;
    const orderOffset = folioOrder !== undefined ? folioOrder - structSize : (info.offset('page', 'compound_order') ?? legacyOrder);
    const dtorOffset = folioDtor !== undefined ? folioDtor - structSize : (info.offset('page', 'compound_dtor') ?? legacyDtor);
    compound = { kind: 'fields', orderOffset, dtorOffset, ...widths() };
  }

  return {
    ruleSet,
    kernelVersion: version,
    pageSize,
    structSize,
    offFlags,
    offMapping,
    offMapcount,
    offPrivate,
    // Linux 7.1 renamed page.compound_head to compound_info (makedumpfile after 1.7.9 reads both).
    offCompoundHead: info.offset('page', 'compound_head') ?? (ruleSet === 'latest' ? info.offset('page', 'compound_info') : undefined) ?? -1,
    pgLru: smallNumber(info, 'PG_lru') ?? PG_LRU_ORIGINAL,
    pgPrivate,
    pgSwapcache,
    pgSwapbacked,
    pgSlab,
    pgSlabExported,
    pgHwpoison: smallNumber(info, 'PG_hwpoison'),
    headMaskLo: Number(headMask & 0xffffffffn),
    headMaskHi: Number(headMask >> 32n),
    buddyMapcount,
    offlineMapcount: i32(info.number('PAGE_OFFLINE_MAPCOUNT_VALUE')),
    slabMapcount: ruleSet === 'latest' ? i32(info.number('PAGE_SLAB_MAPCOUNT_VALUE')) : undefined,
    unacceptedMapcount: ruleSet === 'latest' ? i32(info.number('PAGE_UNACCEPTED_MAPCOUNT_VALUE')) : undefined,
    hugetlbDtor: info.number('HUGETLB_PAGE_DTOR'),
    freeHugePage: info.symbol('free_huge_page'),
    compound,
    freeAreaLength: info.length('zone.free_area'),
    buddyFromStructPage,
    pgBuddy,
  };
}

/** Tests bit `n` of a 64-bit value held as two 32-bit halves. */
function bit(lo: number, hi: number, n: number): boolean {
  if (n < 32) return ((lo >>> n) & 1) !== 0;
  if (n < 64) return ((hi >>> (n - 32)) & 1) !== 0;
  return false;
}

/**
 * Per-pfn decision of makedumpfile's `__exclude_unnecessary_pages`, in its order. Returns
 * `category | (order << 4)`: PAGE_KEEP/PAGE_TAIL/PAGE_BAD_FREE_ORDER (order 0), or an exclusion
 * category whose 2^order pages starting at this pfn are to be removed.
 */
export class PageClassifier {
  private readonly r: PageRules;
  private readonly latest: boolean;
  /** isHugetlb(0): only with a (never seen) HUGETLB_PAGE_DTOR of 0. */
  private readonly zeroDtorIsHugetlb: boolean;

  constructor(rules: PageRules) {
    this.r = rules;
    this.latest = rules.ruleSet === 'latest';
    this.zeroDtorIsHugetlb = rules.hugetlbDtor === 0n;
  }

  get rules(): PageRules {
    return this.r;
  }

  /** PG_slab (or the fallback bit 7), plus the slab page_type in `latest` rules. */
  isSlab(flagsLo: number, flagsHi: number, mapcount: number): boolean {
    const r = this.r;
    if (r.slabMapcount !== undefined && mapcount === r.slabMapcount) return true;
    return bit(flagsLo, flagsHi, r.pgSlab);
  }

  /** is_cache_page: PG_lru, or PG_swapcache when PG_swapbacked is set (or does not exist). */
  isCache(flagsLo: number, flagsHi: number): boolean {
    const r = this.r;
    if (bit(flagsLo, flagsHi, r.pgLru)) return true;
    return (r.pgSwapbacked === undefined || bit(flagsLo, flagsHi, r.pgSwapbacked)) && bit(flagsLo, flagsHi, r.pgSwapcache);
  }

  /**
   * Classifies the struct page at `off` in `dv`. `tailOff` is the offset of the next struct
   * page when makedumpfile would look at it (same 512-page read, not past the section), else −1.
   */
  classify(dv: DataView, off: number, tailOff: number, pfn: number, level: number): number {
    const r = this.r;
    const flagsLo = dv.getUint32(off + r.offFlags, true);
    const flagsHi = dv.getUint32(off + r.offFlags + 4, true);
    const mappingLo = dv.getUint32(off + r.offMapping, true);
    const mapcount = r.offMapcount >= 0 ? dv.getInt32(off + r.offMapcount, true) : 0;

    let order = 0;
    // isHugetlb(compound_dtor): the dtor stays 0 unless this is a compound head.
    let hugetlb = this.zeroDtorIsHugetlb;
    if (tailOff >= 0 && ((flagsLo & r.headMaskLo) !== 0 || (flagsHi & r.headMaskHi) !== 0)) {
      const c = r.compound;
      if (c.kind === 'flags1') {
        const tailFlagsLo = dv.getUint32(tailOff + r.offFlags, true);
        const tailFlagsHi = dv.getUint32(tailOff + r.offFlags + 4, true);
        order = tailFlagsLo & 0xff;
        if (c.hugetlbMapcount !== undefined ? mapcount === c.hugetlbMapcount : c.hugetlbBit !== undefined && bit(tailFlagsLo, tailFlagsHi, c.hugetlbBit)) hugetlb = true;
      } else {
        if (c.orderOffset) order = c.orderWidth === 1 ? dv.getUint8(tailOff + c.orderOffset) : dv.getUint16(tailOff + c.orderOffset, true);
        if (c.dtorOffset) {
          const dtor =
            c.dtorWidth === 1 ? BigInt(dv.getUint8(tailOff + c.dtorOffset)) : c.dtorWidth === 2 ? BigInt(dv.getUint16(tailOff + c.dtorOffset, true)) : dv.getBigUint64(tailOff + c.dtorOffset, true);
          hugetlb = dtor === r.hugetlbDtor || dtor === r.freeHugePage;
        }
      }
      // Invalid order: too large, or the head is not aligned to it.
      if (order >= 64 || (order > 0 && pfn % 2 ** order !== 0)) order = 0;
    }

    if (r.offCompoundHead >= 0 && (dv.getUint32(off + r.offCompoundHead, true) & 1) !== 0) return PAGE_TAIL;

    const slab = this.isSlab(flagsLo, flagsHi, mapcount);
    if (level & DL_FREE && r.buddyFromStructPage && !slab && mapcount === r.buddyMapcount) {
      const privLo = r.offPrivate >= 0 ? dv.getUint32(off + r.offPrivate, true) : 0;
      const privHi = r.offPrivate >= 0 ? dv.getUint32(off + r.offPrivate + 4, true) : 0;
      const max = r.freeAreaLength ?? 64;
      if (privHi !== 0 || privLo >= max) return PAGE_BAD_FREE_ORDER;
      return PAGE_FREE | (privLo << 4);
    }
    if (level & DL_FREE && r.unacceptedMapcount !== undefined && mapcount === r.unacceptedMapcount && r.freeAreaLength !== undefined) {
      return PAGE_FREE | ((r.freeAreaLength - 1) << 4);
    }
    const anon = (mappingLo & 1) !== 0 && !(this.latest && slab);
    const cache = level & (DL_CACHE | DL_CACHE_PRIVATE) ? this.isCache(flagsLo, flagsHi) : false;
    const priv = bit(flagsLo, flagsHi, r.pgPrivate);
    if (level & DL_CACHE && cache && !priv && !anon) return PAGE_CACHE | (order << 4);
    if (level & DL_CACHE_PRIVATE && cache && !anon) return (priv ? PAGE_CACHE_PRIVATE : PAGE_CACHE) | (order << 4);
    if (level & DL_USER && (anon || hugetlb)) return PAGE_USER | (order << 4);
    if (r.pgHwpoison !== undefined && bit(flagsLo, flagsHi, r.pgHwpoison)) return PAGE_HWPOISON | (order << 4);
    if (r.offlineMapcount !== undefined && !slab && mapcount === r.offlineMapcount) return PAGE_OFFLINE | (order << 4);
    return PAGE_KEEP;
  }
}
