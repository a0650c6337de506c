import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { filterPagesFrom, isZeroPage, type PageFilterResult } from '../../src/collect/page-filter.js';
import { pageRulesFromVmcoreinfo, parseKernelVersion } from '../../src/collect/page-flags.js';
import { findMemMaps } from '../../src/collect/mem-section.js';
import { Vmcoreinfo } from '../../src/formats/vmcore/vmcoreinfo.js';
import { UsageError } from '../../src/util/errors.js';
import { FakeKernel, LINUX_6_1, LINUX_6_12, OFF, PAGE, PPS, VMEMMAP, bitOf, vmcoreinfoText } from './page-fake-kernel.js';

const has = (r: PageFilterResult, pfn: number): boolean => ((r.dumpable[pfn >>> 3]! >> (pfn & 7)) & 1) === 1;
const ram = (r: PageFilterResult, pfn: number): boolean => ((r.ram[pfn >>> 3]! >> (pfn & 7)) & 1) === 1;
const excluded = (r: PageFilterResult, from: number, to: number): number[] => {
  const out: number[] = [];
  for (let p = from; p < to; p++) if (!has(r, p)) out.push(p);
  return out;
};
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);
const ZERO = { zero: 0, cache: 0, cachePrivate: 0, user: 0, free: 0, hwpoison: 0, offline: 0 };

// Linux 6.1 bit numbers (LINUX_6_1)
const PG = { lru: 4, private: 13, swapcache: 10, swapbacked: 19, slab: 9, hwpoison: 23, head: 16 };
// Linux 6.12
const PG12 = { lru: 5, head: 6, waiters: 7, private: 14 };
const T12 = { buddy: -268435456, offline: -251658240, slab: -184549376, hugetlb: -201326592 };

describe('isZeroPage', () => {
  test('all zero, a single set bit anywhere, unaligned views and odd lengths', () => {
    const page = new Uint8Array(PAGE);
    assert.equal(isZeroPage(page), true);
    for (const at of [0, 1, 7, 8, 31, 32, 2048, 4093, 4095]) {
      page[at] = 0x80;
      assert.equal(isZeroPage(page), false, `byte ${at}`);
      page[at] = 0;
    }
    const big = new Uint8Array(PAGE + 3);
    assert.equal(isZeroPage(big.subarray(3)), true);
    big[PAGE + 2] = 1;
    assert.equal(isZeroPage(big.subarray(3)), false);
    assert.equal(isZeroPage(new Uint8Array(100)), true);
    assert.equal(isZeroPage(Uint8Array.of(0, 0, 0, 5)), false);
    // A word that is −0.0 as a double is not zero.
    const negZero = new Uint8Array(PAGE);
    negZero[7] = 0x80;
    assert.equal(isZeroPage(negZero), false);
  });
});

describe('page rules from VMCOREINFO', () => {
  test('kernel versions and makedumpfile fallbacks for old kernels', () => {
    assert.deepEqual(parseKernelVersion('6.12.117+deb12-amd64'), [6, 12, 117]);
    assert.deepEqual(parseKernelVersion('5.4'), [5, 4, 0]);
    assert.equal(parseKernelVersion('garbage'), undefined);
    const old = pageRulesFromVmcoreinfo(new Vmcoreinfo(vmcoreinfoText('4.9.0-19-amd64', ['OFFSET(page.compound_order)=28', 'OFFSET(page.compound_dtor)=24'])));
    assert.equal(old.pgLru, 5); // PG_lru_ORIGINAL
    assert.equal(old.pgSlab, 7);
    assert.equal(old.pgPrivate, 11);
    assert.equal(old.pgSwapcache, 15);
    assert.equal(old.pgSwapbacked, undefined); // swapcache 15 > private 11: stays unknown
    assert.equal(old.headMaskLo, 1 << 14);
    assert.equal(old.buddyMapcount, -128); // 2.6.39 and later
    assert.deepEqual(old.compound, { kind: 'fields', orderOffset: 28, dtorOffset: 24, orderWidth: 2, dtorWidth: 2 }); // 4.4–4.15: u16
    const v3 = pageRulesFromVmcoreinfo(new Vmcoreinfo(vmcoreinfoText('3.10.0', [])));
    assert.deepEqual(v3.compound, { kind: 'fields', orderOffset: 16, dtorOffset: 8, orderWidth: 2, dtorWidth: 8 }); // lru.prev/lru.next
    const r612 = pageRulesFromVmcoreinfo(new Vmcoreinfo(vmcoreinfoText('6.12.117+deb12-amd64', LINUX_6_12)));
    assert.equal(r612.pgSlab, 7); // the PG_slab fallback quirk
    assert.equal(r612.pgSlabExported, false);
    assert.equal(r612.slabMapcount, undefined); // 1.7.2 does not know page_type slab
    assert.equal(pageRulesFromVmcoreinfo(new Vmcoreinfo(vmcoreinfoText('6.12.117', LINUX_6_12)), 'latest').slabMapcount, T12.slab);
  });

  test('missing struct page layout is an error naming the keys', () => {
    assert.throws(() => pageRulesFromVmcoreinfo(new Vmcoreinfo('OSRELEASE=6.1.0\n')), /SIZE\(page\)/);
  });
});

describe('bitmaps from PT_LOADs', () => {
  test('holes, partial last pages, p_filesz < p_memsz; 1.7.2 and latest', () => {
    const segs = [
      { start: 0x1000n, fileEnd: 0x9fc00n, memEnd: 0x9fc00n }, // like the shared dumps: ends inside pfn 0x9f
      { start: 0x100000n, fileEnd: 0x180000n, memEnd: 0x200000n }, // last 0x80 pages not in the file
      { start: 0x300000n, fileEnd: BigInt(3 * PPS * PAGE), memEnd: BigInt(3 * PPS * PAGE) },
    ];
    const k = new FakeKernel({ segments: segs });
    const r = filterPagesFrom(k.source(), 0);
    assert.equal(r.maxMapnr, BigInt(3 * PPS));
    assert.equal(r.ram.length, Math.ceil((3 * PPS) / 8));
    assert.equal(ram(r, 0), false);
    assert.equal(ram(r, 1), true);
    assert.equal(ram(r, 0x9e), true);
    assert.equal(ram(r, 0x9f), true, 'partial last page is RAM (makedumpfile create_1st_bitmap_file)');
    assert.equal(has(r, 0x9f), false, '1.7.2 exclude_nodata_pages drops it from the 2nd bitmap');
    assert.equal(ram(r, 0xa0), false);
    assert.equal(ram(r, 0x1ff), true);
    assert.equal(has(r, 0x17f), true);
    assert.equal(has(r, 0x180), false, 'not in the file');
    assert.equal(ram(r, 0x200), false);
    assert.equal(has(r, 0x300), true);
    const latest = filterPagesFrom(k.source(), 0, { rules: 'latest' });
    assert.equal(has(latest, 0x9f), true, 'makedumpfile 1.7.6+ keeps the partial page');
    assert.equal(has(latest, 0x180), false);
  });

  test('refiltering a kdump input starts from its bitmaps', () => {
    const k = new FakeKernel();
    const n = k.maxMapnr;
    const inRam = new Uint8Array(n / 8).fill(0xff);
    const inDump = new Uint8Array(n / 8).fill(0xff);
    inRam[0] = 0xf0; // pfns 0..3 are a hole
    inDump[0] = 0xf0;
    inDump[10] = 0; // pfns 80..87 were excluded by the input's level
    k.set(100, { flags: bitOf(PG.lru) }); // cache page
    k.set(120, { mapcount: -129, private: 0n }); // free page
    const r = filterPagesFrom({ ...k.source(), segments: undefined, inputBitmaps: { ram: inRam, dumpable: inDump, dumpLevel: 0 } }, 2);
    assert.deepEqual(excluded(r, 0, 200), [0, 1, 2, 3, ...range(80, 88), 100]);
    assert.equal(ram(r, 3), false);
    assert.equal(ram(r, 80), true);
    assert.deepEqual(r.counts, { ...ZERO, cache: 1 });
    assert.equal(r.dumpLevel, 2);
    assert.deepEqual(r.warnings, []);
    // makedumpfile's update_dump_level: the input's level is OR-ed in.
    const r18 = filterPagesFrom({ ...k.source(), segments: undefined, inputBitmaps: { ram: inRam, dumpable: inDump, dumpLevel: 16 } }, 2);
    assert.equal(r18.dumpLevel, 18);
    assert.deepEqual(r18.counts, { ...ZERO, cache: 1, free: 1 });
    assert.match(r18.warnings.join('\n'), /dump level changed from 2 to 18: the input was made with dump level 16/);
  });

  test('every pfn of an excluded range below max_mapnr counts, even where the 2nd bitmap was already clear', () => {
    // makedumpfile's set_bitmap_* return TRUE for any pfn inside the cycle.
    const segs = [
      { start: 0n, fileEnd: 100n * 4096n, memEnd: 100n * 4096n },
      { start: 104n * 4096n, fileEnd: 3072n * 4096n, memEnd: 3072n * 4096n },
    ];
    const k = new FakeKernel({ segments: segs });
    k.set(96, { mapcount: -129, private: 3n }); // 96..103, of which 100..103 are a hole
    const r = filterPagesFrom(k.source(), 16);
    assert.deepEqual(r.counts, { ...ZERO, free: 8 });
    assert.equal(ram(r, 101), false);
  });
});

describe('per-pfn decisions (Linux 6.1 encoding, makedumpfile 1.7.2 rules)', () => {
  test('cache, private cache, swap cache, anon and the level bits', () => {
    const k = new FakeKernel();
    k.set(10, { flags: bitOf(PG.lru) }); // non-private cache
    k.set(11, { flags: bitOf(PG.lru) | bitOf(PG.private) }); // private cache
    k.set(12, { flags: bitOf(PG.swapcache) | bitOf(PG.swapbacked) }); // swap cache
    k.set(13, { flags: bitOf(PG.swapcache) }); // PG_swapcache without swapbacked is PG_owner_priv_1: not cache
    k.set(14, { flags: bitOf(PG.lru), mapping: 0xffff888012345001n }); // anon on the LRU: user, not cache
    k.set(15, { mapping: 0xffff888012345003n }); // KSM page (mapping & 3 == 3): anon
    k.set(16, { mapping: 0xffff888012345000n }); // file mapping, not on LRU: kept
    assert.deepEqual(excluded(filterPagesFrom(k.source(), 2), 0, 40), [10, 12]);
    const r4 = filterPagesFrom(k.source(), 4);
    assert.deepEqual(excluded(r4, 0, 40), [10, 11, 12]);
    assert.deepEqual(r4.counts, { ...ZERO, cache: 2, cachePrivate: 1 });
    // Level 6: bit 2 takes the non-private ones first, bit 4 the private one.
    assert.deepEqual(filterPagesFrom(k.source(), 6).counts, { ...ZERO, cache: 2, cachePrivate: 1 });
    const r8 = filterPagesFrom(k.source(), 8);
    assert.deepEqual(excluded(r8, 0, 40), [14, 15]);
    assert.deepEqual(r8.counts, { ...ZERO, user: 2 });
    assert.deepEqual(excluded(filterPagesFrom(k.source(), 1), 0, 40), []);
  });

  test('buddy pages of order n, slab guard, invalid order', () => {
    const k = new FakeKernel();
    k.set(64, { mapcount: -129, private: 3n }); // order 3: pfns 64..71
    k.set(72, { mapcount: -129, private: 0n });
    k.set(80, { mapcount: -129, private: 2n, flags: bitOf(PG.slab) }); // slab: never buddy
    k.set(96, { mapcount: -129, private: 11n }); // order ≥ LENGTH(zone.free_area): kept, warned
    k.set(1024, { mapcount: -129, private: 10n }); // order 10 = a whole 1024-page section
    const r = filterPagesFrom(k.source(), 16);
    assert.deepEqual(excluded(r, 0, 1024), [...range(64, 73)]);
    assert.equal(excluded(r, 1024, 2048).length, 1024);
    assert.deepEqual(r.counts, { ...ZERO, free: 9 + 1024 });
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /1 free page has an invalid order.*pfn 0x60/);
    assert.deepEqual(filterPagesFrom(k.source(), 15).counts, ZERO, 'free pages need bit 16');
  });

  test('free beats every other rule; a buddy block past max_mapnr is counted only below it', () => {
    const k = new FakeKernel({ pages: 3 * PPS - 4 });
    k.set(8, { mapcount: -129, private: 0n, flags: bitOf(PG.lru) | bitOf(PG.hwpoison), mapping: 1n });
    k.set(3 * PPS - 8, { mapcount: -129, private: 3n }); // pfns past the end of RAM
    const r = filterPagesFrom(k.source(), 31);
    assert.equal(r.maxMapnr, BigInt(3 * PPS - 4));
    assert.deepEqual(r.counts, { ...ZERO, free: 1 + 4 });
  });

  test('compound pages: hugetlb by dtor, anon THP, heads and tails, misaligned and batch-end heads', () => {
    const k = new FakeKernel();
    const order = (o: number, dtor = 0): { extra: Array<[number, 1 | 2 | 8, bigint]> } => ({
      extra: [
        [OFF.compoundOrder, 1, BigInt(o)],
        [OFF.compoundDtor, 1, BigInt(dtor)],
      ],
    });
    k.compound(128, 2, { flags: bitOf(PG.head) }, order(2, 2)); // hugetlb (HUGETLB_PAGE_DTOR=2): user
    k.compound(2048, 9, { flags: bitOf(PG.head), mapping: 0xffff888000001001n }, order(9, 3)); // anon THP
    k.compound(136, 3, { flags: bitOf(PG.head) | bitOf(PG.lru) }, order(3, 1)); // page-cache folio
    k.compound(146, 2, { flags: bitOf(PG.head), mapping: 1n }, order(2, 1)); // misaligned head (146 % 4 != 0): order 0
    k.set(511, { flags: bitOf(PG.head), mapping: 1n }); // last entry of a 512-page read: order 0
    k.set(512, { extra: [[OFF.compoundOrder, 1, 7n]] }); // would be taken as 511's first tail if reads were ignored
    const r8 = filterPagesFrom(k.source(), 8);
    assert.deepEqual(excluded(r8, 0, 2048), [...range(128, 132), 146, 511]);
    assert.deepEqual(excluded(r8, 2048, 3072), range(2048, 2560));
    assert.equal(has(r8, 147), true, 'tails of a head excluded alone are kept');
    assert.deepEqual(r8.counts, { ...ZERO, user: 4 + 1 + 1 + 512 });
    const r2 = filterPagesFrom(k.source(), 2);
    assert.deepEqual(excluded(r2, 0, 1024), range(136, 144));
    // A tail page is never judged on its own, whatever its flags say.
    k.set(137, { compoundHead: (VMEMMAP + 136n * 64n) | 1n, flags: bitOf(PG.hwpoison) });
    assert.deepEqual(excluded(filterPagesFrom(k.source(), 0), 0, 1024), []);
  });

  test('hwpoison and offline are excluded at every level; offline needs !slab; no PG_hwpoison means no scan at level 0', () => {
    const k = new FakeKernel();
    k.set(5, { flags: bitOf(PG.hwpoison) });
    k.set(6, { mapcount: -257 });
    k.set(7, { mapcount: -257, flags: bitOf(PG.slab) });
    k.compound(8, 2, { flags: bitOf(PG.head) | bitOf(PG.hwpoison) }, { extra: [[OFF.compoundOrder, 1, 2n]] });
    const r = filterPagesFrom(k.source(), 0);
    assert.deepEqual(excluded(r, 0, 20), [5, 6, 8, 9, 10, 11]);
    assert.deepEqual(r.counts, { ...ZERO, hwpoison: 5, offline: 1 });
    const noHw = new FakeKernel({ info: LINUX_6_1.filter((l) => !l.includes('PG_hwpoison')) });
    noHw.set(6, { mapcount: -257 });
    assert.deepEqual(excluded(filterPagesFrom(noHw.source(), 1), 0, 20), [], 'makedumpfile skips the scan: offline pages stay');
    assert.deepEqual(excluded(filterPagesFrom(noHw.source(), 2), 0, 20), [6], 'any scan also drops offline pages');
  });
});

describe('Linux 6.12 encodings (page_type in the top byte, no PG_slab)', () => {
  const k12 = (): FakeKernel => new FakeKernel({ osrelease: '6.12.117+deb12-amd64', info: LINUX_6_12 });

  test('buddy, offline and the PG_slab = 7 (PG_waiters) quirk, both rule sets', () => {
    for (const rules of ['1.7.2', 'latest'] as const) {
      const k = k12();
      k.set(16, { mapcount: T12.buddy, private: 2n });
      k.set(20, { mapcount: T12.buddy, private: 0n, flags: bitOf(PG12.waiters) }); // "slab" by the fallback bit
      k.set(21, { mapcount: T12.offline });
      k.set(22, { mapcount: T12.offline, flags: bitOf(PG12.waiters) });
      const r = filterPagesFrom(k.source(), 31, { rules });
      assert.deepEqual(excluded(r, 0, 40), [16, 17, 18, 19, 21], rules);
      assert.deepEqual(r.counts, { ...ZERO, free: 4, offline: 1 }, rules);
    }
  });

  test('slab pages with an odd word at page.mapping: user data for 1.7.2, kept by latest', () => {
    const k = k12();
    k.set(30, { mapcount: T12.slab, mapping: 0x3n }); // struct slab's counters overlay page.mapping
    assert.deepEqual(excluded(filterPagesFrom(k.source(), 8), 0, 40), [30]);
    assert.deepEqual(excluded(filterPagesFrom(k.source(), 8, { rules: 'latest' }), 0, 40), []);
  });

  test('hugetlb by page_type and large folios by the order in the first tail (latest); 1.7.2 sees order 0', () => {
    const k = k12();
    k.compound(512, 9, { flags: bitOf(PG12.head), mapcount: T12.hugetlb }, { flags: 9n });
    k.compound(256, 4, { flags: bitOf(PG12.head), mapping: 0xffff888000002001n }, { flags: 4n }); // anon folio
    k.compound(288, 2, { flags: bitOf(PG12.head) | bitOf(PG12.lru) | bitOf(PG12.private) }, { flags: 2n });
    const latest = filterPagesFrom(k.source(), 8, { rules: 'latest' });
    assert.deepEqual(excluded(latest, 0, 1024), [...range(256, 272), ...range(512, 1024)]);
    assert.deepEqual(latest.counts, { ...ZERO, user: 16 + 512 });
    const old = filterPagesFrom(k.source(), 8);
    assert.deepEqual(excluded(old, 0, 1024), [256], 'only the head page, as makedumpfile 1.7.2 does');
    assert.deepEqual(filterPagesFrom(k.source(), 4, { rules: 'latest' }).counts, { ...ZERO, cachePrivate: 4 });
    assert.deepEqual(filterPagesFrom(k.source(), 4).counts, { ...ZERO, cachePrivate: 1 });
  });

  test('unaccepted memory (6.16+) counts as free with latest rules', () => {
    const k = new FakeKernel({ osrelease: '6.16.0', info: [...LINUX_6_12, 'NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE)=-134217728'] });
    k.set(1024, { mapcount: -134217728 });
    assert.deepEqual(filterPagesFrom(k.source(), 16, { rules: 'latest' }).counts, { ...ZERO, free: 1024 });
    assert.deepEqual(filterPagesFrom(k.source(), 16).counts, ZERO);
  });
});

describe('other kernel generations', () => {
  test('6.6–6.8: PG_hugetlb in the first tail', () => {
    const k = new FakeKernel({ osrelease: '6.6.0', info: [...LINUX_6_12.filter((l) => !/SLAB|HUGETLB/.test(l)), 'NUMBER(PG_hugetlb)=22'] });
    k.compound(64, 3, { flags: bitOf(PG12.head) }, { flags: 3n | bitOf(22) });
    k.compound(128, 3, { flags: bitOf(PG12.head) }, { flags: 3n });
    assert.deepEqual(excluded(filterPagesFrom(k.source(), 8, { rules: 'latest' }), 0, 200), range(64, 72));
  });

  test('6.3–6.5: folio._folio_order/_folio_dtor (latest only)', () => {
    const info = [...LINUX_6_1.filter((l) => !l.includes('compound_')), 'OFFSET(folio._folio_dtor)=80', 'OFFSET(folio._folio_order)=81'];
    const k = new FakeKernel({ osrelease: '6.4.0', info });
    k.compound(64, 2, { flags: bitOf(PG.head) }, { extra: [[16, 1, 2n], [17, 1, 2n]] }); // 80 − SIZE(page) = 16
    assert.deepEqual(excluded(filterPagesFrom(k.source(), 8, { rules: 'latest' }), 0, 100), range(64, 68));
    assert.deepEqual(excluded(filterPagesFrom(k.source(), 8), 0, 100), []);
  });

  test('4.4–4.15: u16 compound order', () => {
    const info = [...LINUX_6_1.filter((l) => !l.includes('compound_')), 'OFFSET(page.compound_dtor)=24', 'OFFSET(page.compound_order)=28'];
    const k = new FakeKernel({ osrelease: '4.9.0-19-amd64', info });
    k.compound(256, 8, { flags: bitOf(PG.head), mapping: 1n }, { extra: [[28, 2, 8n]] });
    assert.equal(excluded(filterPagesFrom(k.source(), 8), 0, 1024).length, 256);
  });
});

describe('mem_map discovery and unreadable struct pages', () => {
  test('sections without mem_map are skipped and trim max_mapnr', () => {
    const k = new FakeKernel({ absentSections: [1, 2] });
    k.set(10, { flags: bitOf(PG.lru) });
    k.set(PPS + 10, { flags: bitOf(PG.lru) });
    const r = filterPagesFrom(k.source(), 2);
    assert.equal(r.maxMapnr, BigInt(PPS), 'makedumpfile lowers max_mapnr to the last section with a mem_map');
    assert.equal(r.ram.length, PPS / 8);
    assert.deepEqual(r.counts, { ...ZERO, cache: 1 });
    const mid = new FakeKernel({ absentSections: [1] });
    mid.set(PPS + 10, { flags: bitOf(PG.lru) });
    const rm = filterPagesFrom(mid.source(), 2);
    assert.equal(rm.maxMapnr, BigInt(3 * PPS));
    assert.equal(has(rm, PPS + 10), true);
  });

  test('SYMBOL(mem_section) as a pointer to the root array is followed', () => {
    const k = new FakeKernel({ pointerToRoots: true });
    k.set(10, { flags: bitOf(PG.lru) });
    const t = findMemMaps(k.info, k.kernel, k.maxMapnr, { pageSize: PAGE, kvBase: 0xffff800000000000n });
    assert.equal(t.model, 'sparsemem-extreme');
    assert.equal(t.memMap(2), VMEMMAP + BigInt(2 * PPS * 64));
    assert.deepEqual(filterPagesFrom(k.source(), 2).counts, { ...ZERO, cache: 1 });
  });

  test('an unreadable mem_section table keeps everything, with a warning', () => {
    const k = new FakeKernel();
    k.set(10, { flags: bitOf(PG.lru) });
    k.phys.drop(Number(0x50_0000_0000n / 4096n)); // the root array
    const r = filterPagesFrom(k.source(), 31);
    assert.deepEqual(r.counts, ZERO);
    assert.match(r.warnings.join('\n'), /could not validate mem_section/);
  });

  test('struct pages missing from the dump keep their pfns and are counted in a warning', () => {
    const k = new FakeKernel();
    k.set(10, { flags: bitOf(PG.lru) });
    for (const p of [600, 700, 1100]) k.set(p, { flags: bitOf(PG.lru) });
    k.dropStructPages(640); // struct pages of pfns 640..703
    k.set(639, { mapcount: -129, private: 0n });
    k.set(704, { mapcount: -129, private: 1n });
    const r = filterPagesFrom(k.source(), 31);
    assert.deepEqual(excluded(r, 0, 2048), [10, 600, 639, 704, 705, 1100]);
    assert.equal(has(r, 700), true);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /^64 struct pages could not be read .*pfn 0x280\); those page frames were kept/);
  });

  test('progress reaches the total; bad levels are usage errors', () => {
    const k = new FakeKernel();
    const seen: Array<[bigint, bigint]> = [];
    filterPagesFrom(k.source(), 31, { onProgress: (d, t) => seen.push([d, t]) });
    assert.deepEqual(seen.at(-1), [BigInt(3 * PPS), BigInt(3 * PPS)]);
    assert.ok(seen.length >= 3);
    assert.throws(() => filterPagesFrom(k.source(), 32), UsageError);
    assert.throws(() => filterPagesFrom(k.source(), 1.5), UsageError);
  });
});
