/**
 * What a dump's page frames hold, by the categories makedumpfile's dump level filters on: zero,
 * non-private cache, private cache, user data and free pages, and what a dump of that level
 * would keep. It runs the collector's own classification (src/collect/save.ts prepareSave →
 * page-filter.ts, the struct-page scan of makedumpfile's __exclude_unnecessary_pages) and
 * then looks at every kept page for all-zero content, as `kdumpkit save` does while writing
 * (makedumpfile finds zero pages only then too: exclude_zero_pages_cyclic / write_kdump_pages).
 *
 * A kdump-compressed input may already be filtered (its sub-header records the dump level it
 * was made with): its missing pages cannot be looked at, only the struct pages that describe
 * them. The classification still counts them (it reads struct pages, which are kernel memory
 * and kept at every level), and `alreadyFiltered` says how many pages the file really holds.
 */
import type { Dump } from '../formats/open.js';
import { popcountBits } from '../formats/kdump/writer.js';
import type { PageCounts } from '../collect/page-filter.js';
import type { PageRuleSet } from '../collect/page-flags.js';
import { BitCursor, prepareSave } from '../collect/save.js';
import { isAllZero } from '../collect/compress-pool.js';
import { SourceReader } from '../collect/source-reader.js';

export interface PageUsage {
  /** The dump level classified for (the requested one OR-ed with a kdump input's own). */
  readonly level: number;
  readonly rules: PageRuleSet;
  readonly pageSize: number;
  /** Page frames of RAM (makedumpfile's 1st bitmap). */
  readonly ramPages: number;
  /** Pages a dump of `level` would keep (2nd bitmap, zero pages taken out when level has bit 1). */
  readonly keptPages: number;
  /** Pages a dump of `level` would leave out, per category (makedumpfile print_report's lines). */
  readonly excluded: PageCounts;
  /** A kdump-compressed input made with a dump level of its own: what the file really holds. */
  readonly alreadyFiltered: { readonly dumpLevel: number; readonly presentPages: number; readonly absentPages: number } | undefined;
  /** Kept pages that could not be read (looked at as zero-filled; see SourceReader). */
  readonly unreadablePages: number;
  readonly seconds: number;
  readonly warnings: readonly string[];
}

/** Pages read at once in the zero-page pass (1 MiB of 4 KiB pages, as save's batches). */
const BATCH = 256;

/** Classifies every page frame of `dump` for dump level `level` (default 31, the usual kdump level). */
export function pageUsage(dump: Dump, level = 31, rules: PageRuleSet = 'latest'): PageUsage {
  const t0 = performance.now();
  const prep = prepareSave(dump, level, 'kdump', undefined, rules);
  const f = prep.filter;
  const ps = prep.pageSize;
  const max = Number(f.maxMapnr);
  const warnings = [...prep.warnings];
  let zero = 0;
  let unreadable = 0;
  if (f.dumpLevel & 1) {
    const reader = new SourceReader(dump);
    try {
      const cur = new BitCursor(f.dumpable, max);
      const pfns = new Float64Array(BATCH);
      const buf = new Uint8Array(BATCH * ps);
      let k: number;
      while ((k = cur.next(pfns)) > 0) {
        reader.readPages(pfns, k, buf);
        for (let i = 0; i < k; i++) if (isAllZero(buf.subarray(i * ps, (i + 1) * ps))) zero++;
      }
      unreadable = reader.unreadable;
      warnings.push(...reader.warnings);
    } finally {
      reader.close();
    }
  }
  const ramPages = popcountBits(f.ram, f.maxMapnr);
  let alreadyFiltered: PageUsage['alreadyFiltered'];
  if (dump.format === 'kdump' && dump.kdump.sub.dumpLevel !== 0) {
    const presentPages = popcountBits(dump.kdump.memory.dumpable.bits, f.maxMapnr);
    alreadyFiltered = { dumpLevel: dump.kdump.sub.dumpLevel, presentPages, absentPages: Math.max(0, ramPages - presentPages) };
  }
  return {
    level: f.dumpLevel,
    rules,
    pageSize: ps,
    ramPages,
    keptPages: prep.numDumpable - zero,
    excluded: { ...f.counts, zero },
    alreadyFiltered,
    unreadablePages: unreadable,
    seconds: (performance.now() - t0) / 1000,
    warnings,
  };
}
