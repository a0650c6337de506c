import type { Dump } from '../formats/open.js';
import type { CodecName } from '../formats/codecs/index.js';
import { createPageCompressor } from './fast-codecs.js';
import { KdumpWriter, kdumpLayout, popcountBits, UTSNAME_SIZE, type KdumpWriterInput } from '../formats/kdump/writer.js';
import { ElfWriter, elfLayout, type ElfWriterInput } from '../formats/elf/writer.js';
import { PT_LOAD } from '../formats/elf/elf64.js';
import { SinkWriteError, type DumpSink } from '../formats/kdump/flattened-writer.js';
import { X86_64AddressSpace } from '../memory/arch/x86_64.js';
import { KdumpkitError, UsageError } from '../util/errors.js';
import { CompressPool, isAllZero } from './compress-pool.js';
import { filterPages, type PageCounts, type PageFilterResult } from './page-filter.js';
import type { PageRuleSet } from './page-flags.js';
import { readSourceElfHeader, readSourceNotes, SourceReader } from './source-reader.js';

/**
 * The collector: filter a dump's pages for a dump level, then write them as a kdump-compressed
 * file or an ELF core, streaming. Pages are read in ascending pfn order in batches (default 256
 * pages), compressed on worker threads, and written in order as soon as the oldest batch is
 * done; at most a few batches are in flight, so memory does not grow with the dump.
 */

export type SaveFormat = 'kdump' | 'elf';

export interface SaveProgress {
  readonly phase: 'filter' | 'zero' | 'copy';
  /** Units done and total: pfns for 'filter', pages for 'zero' and 'copy'. */
  readonly done: number;
  readonly total: number;
  /** Bytes written to the output so far. */
  readonly bytesOut: number;
  /** Bytes per unit of done/total for 'zero' and 'copy' (the page size). */
  readonly pageSize: number;
}

export interface PreparedSave {
  readonly dump: Dump;
  readonly level: number;
  readonly format: SaveFormat;
  readonly filter: PageFilterResult;
  readonly pageSize: number;
  readonly notes: Uint8Array;
  readonly utsname: Uint8Array;
  readonly crashTime: bigint;
  readonly physBase: bigint;
  /** Pages in the 2nd bitmap (before zero pages are taken out for ELF). */
  readonly numDumpable: number;
  /** RAM pages (1st bitmap). */
  readonly originalPages: number;
  readonly warnings: string[];
}

export interface SpaceEstimate {
  /** Expected output size, extrapolated from compressing a sample of the pages to be saved. */
  readonly estimate: number;
  /** Output size if no page compresses (and, for ELF, no page is zero). */
  readonly worstCase: number;
  readonly sampledPages: number;
  /** Average stored bytes per sampled page / page size. */
  readonly ratio: number;
  readonly zeroFraction: number;
}

export interface SaveSummary {
  readonly format: SaveFormat;
  readonly flattened: boolean;
  readonly codec: CodecName | 'none';
  readonly level: number;
  readonly threads: number;
  readonly pageSize: number;
  /** makedumpfile print_report's numbers. */
  readonly pages: {
    readonly original: number;
    readonly excluded: number;
    readonly zero: number;
    readonly cache: number;
    readonly cachePrivate: number;
    readonly user: number;
    readonly free: number;
    readonly hwpoison: number;
    readonly offline: number;
    readonly remaining: number;
    readonly memoryHole: number;
    readonly total: number;
    /** ELF output: excluded pages that really left the file (runs of >= 256). */
    readonly elfExcluded?: number;
  };
  /** kdump output: how the written pages are stored. */
  readonly stored?: { readonly compressed: number; readonly raw: number; readonly zero: number };
  readonly bytesWritten: number;
  /** Bytes of dump memory read and saved (pages x page size). */
  readonly bytesIn: number;
  readonly seconds: { readonly filter: number; readonly copy: number };
  readonly unreadablePages: number;
  readonly incomplete: boolean;
  readonly warnings: readonly string[];
}

/** A dump cut short by a write error: the file written so far was kept and flagged. */
export class SaveIncompleteError extends KdumpkitError {
  constructor(
    message: string,
    hint: string,
    readonly summary: SaveSummary,
    readonly flagged: boolean,
    override readonly cause: SinkWriteError,
  ) {
    super('E_INCOMPLETE', message, hint);
  }
}

const now = (): number => performance.now() / 1000;

/**
 * Filters the dump's pages (page-filter.ts) and gathers what the headers need: the notes
 * verbatim, utsname from the crashed kernel's memory, CRASHTIME, phys_base.
 */
/**
 * Filters `dump` for `level`. `rules` picks the page rule set: 'latest' (default, current
 * makedumpfile) or '1.7.2' (Debian 12's makedumpfile, which also drops slab pages on
 * Linux >= 6.2 — use it only to compare with that tool line by line).
 */
export function prepareSave(dump: Dump, level: number, format: SaveFormat, onProgress?: (p: SaveProgress) => void, rules: PageRuleSet = 'latest'): PreparedSave & { filterSeconds: number } {
  if (!Number.isInteger(level) || level < 0 || level > 31) throw new UsageError(`dump level ${level} is not in 0..31`);
  if (format === 'elf' && dump.format !== 'elf') {
    throw new UsageError(`${dump.path} is a kdump-compressed file; ELF output needs an ELF source (/proc/vmcore or an ELF vmcore)`, 'Save it as kdump (the default format), or start from the ELF vmcore.');
  }
  const t0 = now();
  const filter = filterPages(dump, level, { rules, ...(onProgress ? { onProgress: (d: bigint, t: bigint) => onProgress({ phase: 'filter', done: Number(d), total: Number(t), bytesOut: 0, pageSize: dump.memory.pageSize }) } : {}) });
  const filterSeconds = now() - t0;
  const warnings = [...filter.warnings];
  const info = dump.vmcoreinfo;
  const notes = readSourceNotes(dump);
  let crashTime = info?.crashTime;
  if (crashTime === undefined && dump.format === 'kdump') crashTime = dump.kdump.header.timestampSec;
  let physBase = info?.physBase;
  if (physBase === undefined) physBase = dump.physBaseHint ?? 0n;
  return {
    dump,
    level,
    format,
    filter,
    pageSize: dump.memory.pageSize,
    notes,
    utsname: readUtsname(dump, warnings),
    crashTime: crashTime ?? 0n,
    physBase,
    numDumpable: popcountBits(filter.dumpable, filter.maxMapnr),
    originalPages: originalPages(dump, filter),
    warnings,
    filterSeconds,
  };
}

/**
 * makedumpfile's "Original pages" (print_report: max_mapnr - pfn_memhole). For an ELF source
 * pfn_memhole starts at max_mapnr and each PT_LOAD subtracts the pages it covers, a partial
 * last page included, so pages that two PT_LOADs cover (the kernel-text segment inside a RAM
 * segment) count twice, as Debian's makedumpfile 1.7.2 prints them. For a kdump source it is
 * the number of RAM pages in the source's 1st bitmap.
 */
export function originalPages(dump: Dump, filter: PageFilterResult): number {
  if (dump.format !== 'elf') return popcountBits(filter.ram, filter.maxMapnr);
  const ps = BigInt(dump.memory.pageSize);
  const max = filter.maxMapnr;
  let covered = 0n;
  for (const p of dump.elf.phdrs) {
    if (p.type !== PT_LOAD || p.memsz === 0n) continue;
    const start = p.paddr / ps;
    let end = (p.paddr + p.memsz + ps - 1n) / ps;
    if (start >= max) continue;
    if (end > max) end = max;
    if (end > start) covered += end - start;
  }
  return Number(covered);
}

/**
 * struct new_utsname of the crashed kernel, read from its memory as makedumpfile's
 * check_release does: SYMBOL(system_utsname), else SYMBOL(init_uts_ns) + OFFSET(uts_namespace.name)
 * (+ sizeof(int) without the offset). Falls back to the source's kdump header, then to
 * OSRELEASE alone.
 */
export function readUtsname(dump: Dump, warnings: string[]): Uint8Array {
  const info = dump.vmcoreinfo;
  if (info) {
    try {
      const sys = info.symbol('system_utsname');
      const addr = sys ?? info.requireSymbol('init_uts_ns') + BigInt(info.offset('uts_namespace', 'name') ?? 4);
      return X86_64AddressSpace.fromDump(dump).read(addr, UTSNAME_SIZE);
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      warnings.push(`utsname not read from the dump's memory (${e.message}); the header gets ${dump.format === 'kdump' ? "the source header's" : 'only the release'}`);
    }
  }
  const out = Buffer.alloc(UTSNAME_SIZE);
  if (dump.format === 'kdump') {
    const u = dump.kdump.header.utsname;
    [u.sysname, u.nodename, u.release, u.version, u.machine, u.domainname].forEach((s, i) => out.write(s.slice(0, 64), i * 65, 'utf8'));
  } else {
    out.write('Linux', 0, 'latin1');
    if (info?.osrelease) out.write(info.osrelease.slice(0, 64), 2 * 65, 'latin1');
    out.write('x86_64', 4 * 65, 'latin1');
  }
  return out;
}

/** Iterates the set bits of a bitmap below `max` in ascending order, a batch at a time. */
export class BitCursor {
  private p = 0;
  constructor(
    private readonly bits: Uint8Array,
    private readonly max: number,
  ) {}

  /** Fills `pfns` with up to pfns.length next set pfns; returns how many (0 at the end). */
  next(pfns: Float64Array): number {
    let n = 0;
    const bits = this.bits;
    const max = this.max;
    let p = this.p;
    const room = pfns.length;
    while (p < max && n < room) {
      const b = bits[p >>> 3]!;
      if ((p & 7) === 0) {
        if (b === 0) {
          p += 8;
          continue;
        }
        // A full byte (runs of kept pages: most of the bitmap at low levels) gives 8 pfns at once.
        if (b === 0xff && p + 8 <= max && n + 8 <= room) {
          for (let k = 0; k < 8; k++) pfns[n++] = p + k;
          p += 8;
          continue;
        }
      }
      if (b & (1 << (p & 7))) pfns[n++] = p;
      p++;
    }
    this.p = Math.min(p, max);
    return n;
  }
}

function kdumpInput(prep: PreparedSave, codec: CodecName | undefined): KdumpWriterInput {
  return {
    pageSize: prep.pageSize,
    maxMapnr: prep.filter.maxMapnr,
    ram: prep.filter.ram,
    dumpable: prep.filter.dumpable,
    notes: prep.notes,
    utsname: prep.utsname,
    crashTime: prep.crashTime,
    physBase: prep.physBase,
    dumpLevel: prep.level,
    codec,
  };
}

function elfInput(prep: PreparedSave, dumpable: Uint8Array): ElfWriterInput {
  const dump = prep.dump;
  if (dump.format !== 'elf') throw new UsageError('ELF output needs an ELF source');
  return { pageSize: prep.pageSize, ehdr: readSourceElfHeader(dump), phdrs: dump.elf.phdrs, notes: prep.notes, dumpable, maxMapnr: prep.filter.maxMapnr };
}

/** Output size if no page compresses (and, for ELF, no page is zero): no page is read. */
export function worstCaseSpace(prep: PreparedSave, codec: CodecName | undefined): number {
  if (prep.format === 'kdump') {
    const L = kdumpLayout(kdumpInput(prep, codec));
    return L.dataOffset + (L.zeroPageOffset !== undefined ? prep.pageSize : 0) + prep.numDumpable * prep.pageSize;
  }
  return Number(elfLayout(elfInput(prep, prep.filter.dumpable)).fileSize);
}

/**
 * Predicts the output size by compressing an evenly spread sample of the pages to be saved
 * (all-zero pages count as free when the level shares or drops them).
 */
export async function estimateSpace(prep: PreparedSave, codec: CodecName | undefined, samples = 256): Promise<SpaceEstimate> {
  const compressor = codec && prep.format === 'kdump' ? await createPageCompressor(codec, prep.pageSize) : undefined;
  const ps = prep.pageSize;
  const scratch = new Uint8Array(ps);
  const n = prep.numDumpable;
  const step = Math.max(1, Math.floor(n / samples));
  const reader = new SourceReader(prep.dump);
  const page = new Uint8Array(ps);
  const one = new Float64Array(1);
  let sampled = 0;
  let zero = 0;
  let stored = 0;
  try {
    const cur = new BitCursor(prep.filter.dumpable, Number(prep.filter.maxMapnr));
    const batch = new Float64Array(4096);
    let ordinal = 0;
    let k: number;
    while ((k = cur.next(batch)) > 0) {
      for (let i = 0; i < k; i++, ordinal++) {
        if (ordinal % step !== 0 || sampled >= samples) continue;
        one[0] = batch[i]!;
        reader.readPages(one, 1, page);
        sampled++;
        if (prep.level & 1 && isAllZero(page)) {
          zero++;
          continue;
        }
        const n = compressor ? compressor.compress(page, 0, ps, scratch, 0) : -1;
        stored += n > 0 ? n : ps;
      }
    }
  } finally {
    reader.close();
  }
  const perPage = sampled ? stored / sampled : ps;
  const zeroFraction = sampled ? zero / sampled : 0;
  const worstCase = worstCaseSpace(prep, codec);
  if (prep.format === 'kdump') {
    const fixed = worstCase - n * ps;
    return { estimate: Math.ceil(fixed + n * perPage), worstCase, sampledPages: sampled, ratio: perPage / ps, zeroFraction };
  }
  const L = elfLayout(elfInput(prep, prep.filter.dumpable));
  const data = Number(L.fileSize - L.loadOffset);
  return { estimate: Math.ceil(Number(L.loadOffset) + data * (1 - zeroFraction)), worstCase, sampledPages: sampled, ratio: 1 - zeroFraction, zeroFraction };
}

export interface WriteOptions {
  readonly codec: CodecName | undefined;
  /** Compression worker threads (0 = compress on the main thread). */
  readonly threads: number;
  /** Pages per batch (default 256 = 1 MiB of 4 KiB pages). */
  readonly batchPages?: number;
  /** Batches in flight (default 3 per thread, at least 2). */
  readonly maxInflight?: number;
  readonly onProgress?: (p: SaveProgress) => void;
  /** Seconds the filter took (for the summary). */
  readonly filterSeconds?: number;
  /**
   * A compression pool started earlier with startCompression (so its workers boot while the
   * pages are classified); writeDump closes it. Default: one is started here.
   */
  readonly pool?: Promise<CompressPool>;
}

/**
 * Starts the compression workers for a kdump save of `dump` at `level` with `codec`. `mmap`
 * false reads the source with pread only (makedumpfile --non-mmap).
 */
export function startCompression(dump: Dump, level: number, codec: CodecName | undefined, threads: number, mmap = true): Promise<CompressPool> {
  // Workers read ELF sources themselves (see SourceReader.planReads), through maps if they can.
  const sourcePath = dump.format === 'elf' && !dump.flattened ? dump.path : undefined;
  const p = CompressPool.create({ codec, pageSize: dump.memory.pageSize, shareZeroPages: (level & 1) !== 0, sourcePath, mmap }, Math.max(0, threads));
  p.catch(() => undefined);
  return p;
}

/** Writes the prepared dump to `sink` and returns makedumpfile's report numbers. */
export async function writeDump(prep: PreparedSave, sink: DumpSink, opts: WriteOptions): Promise<SaveSummary> {
  return prep.format === 'kdump' ? writeKdump(prep, sink, opts) : writeElf(prep, sink, opts);
}

function summarize(prep: PreparedSave, opts: WriteOptions, sink: DumpSink, extra: { zero: number; bytesIn: number; copySeconds: number; unreadable: number; incomplete: boolean; stored?: SaveSummary['stored']; elfExcluded?: number; warnings: string[] }): SaveSummary {
  const c: PageCounts = prep.filter.counts;
  const excluded = extra.zero + c.cache + c.cachePrivate + c.user + c.free + c.hwpoison + c.offline;
  const total = Number(prep.filter.maxMapnr);
  return {
    format: prep.format,
    flattened: sink.kind === 'stream',
    codec: prep.format === 'kdump' ? (opts.codec ?? 'none') : 'none',
    level: prep.level,
    threads: opts.threads,
    pageSize: prep.pageSize,
    pages: {
      original: prep.originalPages,
      excluded,
      zero: extra.zero,
      cache: c.cache,
      cachePrivate: c.cachePrivate,
      user: c.user,
      free: c.free,
      hwpoison: c.hwpoison,
      offline: c.offline,
      remaining: prep.originalPages - excluded,
      memoryHole: total - prep.originalPages,
      total,
      ...(extra.elfExcluded !== undefined ? { elfExcluded: extra.elfExcluded } : {}),
    },
    ...(extra.stored ? { stored: extra.stored } : {}),
    bytesWritten: sink.bytesWritten,
    bytesIn: extra.bytesIn,
    seconds: { filter: opts.filterSeconds ?? 0, copy: extra.copySeconds },
    unreadablePages: extra.unreadable,
    incomplete: extra.incomplete,
    warnings: [...prep.warnings, ...extra.warnings],
  };
}

function incompleteError(prep: PreparedSave, sink: DumpSink, e: SinkWriteError, summary: SaveSummary, flagged: boolean, done: number, total: number): SaveIncompleteError {
  const mb = (sink.bytesWritten / 1048576).toFixed(1);
  const flag = prep.format === 'kdump' ? 'header status 0x8, DUMP_DH_COMPRESSED_INCOMPLETE' : 'ELF e_flags bit 0x1, DUMP_ELF_INCOMPLETE';
  const kept = sink.kind === 'file' ? (flagged ? `; the ${mb} MB written (${done} of ${total} pages) are kept, flagged incomplete (${flag})` : `; ${mb} MB were written but the incomplete flag could not be set`) : '';
  return new SaveIncompleteError(
    `${e.message}${kept}`,
    e.errno === 'ENOSPC' || e.errno === 'EDQUOT' ? 'Free space or save with a higher --level / another codec; the partial dump still opens (kdumpkit info / dmesg read what was written).' : 'The partial dump still opens with kdumpkit info / dmesg; check the target device.',
    summary,
    flagged,
    e,
  );
}

async function writeKdump(prep: PreparedSave, sink: DumpSink, opts: WriteOptions): Promise<SaveSummary> {
  const ps = prep.pageSize;
  const batchPages = opts.batchPages ?? Math.max(1, Math.floor((1 << 20) / ps));
  const threads = Math.max(0, opts.threads);
  const maxInflight = opts.maxInflight ?? (threads === 0 ? 1 : Math.max(2, threads * 3));
  const writer = new KdumpWriter(sink, kdumpInput(prep, opts.codec));
  const reader = new SourceReader(prep.dump);
  const total = writer.layout.numDumpable;
  const t0 = now();
  let pool: CompressPool | undefined;
  let done = 0;
  let unreadable = 0;
  const finishSummary = (incomplete: boolean): SaveSummary =>
    summarize(prep, opts, sink, {
      zero: writer.stats.zeroPages,
      bytesIn: writer.stats.pages * ps,
      copySeconds: now() - t0,
      unreadable: reader.unreadable + unreadable,
      incomplete,
      stored: { compressed: writer.stats.compressedPages, raw: writer.stats.rawPages, zero: writer.stats.zeroPages },
      warnings: reader.warnings,
    });
  try {
    writer.begin();
    pool = await (opts.pool ?? startCompression(prep.dump, prep.level, opts.codec, threads));
    if (pool.settings.codec !== opts.codec || pool.settings.shareZeroPages !== ((prep.level & 1) !== 0) || pool.settings.pageSize !== ps) {
      throw new Error('compression pool started for another codec, level or page size');
    }
    const cursor = new BitCursor(prep.filter.dumpable, Number(prep.filter.maxMapnr));
    const pfns = new Float64Array(batchPages);
    const freeInputs: ArrayBuffer[] = [];
    let exhausted = false;
    opts.onProgress?.({ phase: 'copy', done: 0, total, bytesOut: sink.bytesWritten, pageSize: ps });
    for (;;) {
      while (!exhausted && pool.outstanding < maxInflight) {
        const n = cursor.next(pfns);
        if (n === 0) {
          exhausted = true;
          break;
        }
        const input = freeInputs.pop() ?? new ArrayBuffer(batchPages * ps);
        const reads = pool.settings.sourcePath ? reader.planReads(pfns, n) : undefined;
        if (!reads) reader.readPages(pfns, n, new Uint8Array(input, 0, n * ps));
        pool.submit({ input, count: n, reads });
      }
      const r = await pool.next();
      if (!r) break;
      writer.writeBatch(r);
      if (r.unreadable) {
        unreadable += r.unreadable;
        if (r.unreadableNote && reader.warnings.length < 10) reader.warnings.push(r.unreadableNote);
      }
      done += r.count;
      freeInputs.push(r.input);
      pool.recycle(r.output);
      opts.onProgress?.({ phase: 'copy', done, total, bytesOut: sink.bytesWritten, pageSize: ps });
    }
    writer.finish();
    await sink.settle?.();
    sink.end();
    return finishSummary(false);
  } catch (e) {
    // No write-back may still use the descriptor when the caller closes it.
    await sink.settle?.().catch(() => undefined);
    if (e instanceof SinkWriteError) {
      const flagged = writer.markIncomplete();
      sink.close();
      throw incompleteError(prep, sink, e, finishSummary(true), flagged, writer.pagesWritten, total);
    }
    sink.close();
    throw e;
  } finally {
    await (pool ?? (await opts.pool?.catch(() => undefined)))?.close();
    reader.close();
  }
}

async function writeElf(prep: PreparedSave, sink: DumpSink, opts: WriteOptions): Promise<SaveSummary> {
  const ps = prep.pageSize;
  const reader = new SourceReader(prep.dump);
  const t0 = now();
  let zero = 0;
  let dumpable = prep.filter.dumpable;
  let written = 0;
  let writer: ElfWriter | undefined;
  const summary = (incomplete: boolean): SaveSummary =>
    summarize(prep, opts, sink, {
      zero,
      bytesIn: written,
      copySeconds: now() - t0,
      unreadable: reader.unreadable,
      incomplete,
      elfExcluded: writer ? Number(writer.layout.elfExcludedPages) : undefined,
      warnings: reader.warnings,
    });
  try {
    // makedumpfile exclude_zero_pages_cyclic: for ELF output the zero pages leave the bitmap
    // before the program headers are laid out, which costs a first reading pass.
    if (prep.level & 1) {
      dumpable = Uint8Array.from(dumpable);
      const batch = Math.max(1, Math.floor((1 << 20) / ps));
      const pfns = new Float64Array(batch);
      const buf = new Uint8Array(batch * ps);
      const cur = new BitCursor(prep.filter.dumpable, Number(prep.filter.maxMapnr));
      let seen = 0;
      let n: number;
      while ((n = cur.next(pfns)) > 0) {
        reader.readPages(pfns, n, buf);
        for (let i = 0; i < n; i++) {
          if (isAllZero(buf.subarray(i * ps, (i + 1) * ps))) {
            const p = pfns[i]!;
            dumpable[p >>> 3]! &= ~(1 << (p & 7));
            zero++;
          }
        }
        seen += n;
        opts.onProgress?.({ phase: 'zero', done: seen, total: prep.numDumpable, bytesOut: 0, pageSize: ps });
      }
    }
    writer = new ElfWriter(sink, elfInput(prep, dumpable));
    const L = writer.layout;
    writer.begin();
    const totalBytes = Number(L.fileSize - L.loadOffset);
    const total = Math.ceil(totalBytes / ps);
    const chunk = 1 << 20;
    const buf = new Uint8Array(chunk);
    opts.onProgress?.({ phase: 'copy', done: 0, total, bytesOut: sink.bytesWritten, pageSize: ps });
    for (const seg of L.loads) {
      let off = 0n;
      while (off < seg.filesz) {
        const n = Number(seg.filesz - off < BigInt(chunk) ? seg.filesz - off : BigInt(chunk));
        reader.readBytes(seg.paddr + off, buf, 0, n);
        writer.writeData(seg.offset + off, buf.subarray(0, n));
        off += BigInt(n);
        written += n;
        opts.onProgress?.({ phase: 'copy', done: Math.floor(written / ps), total, bytesOut: sink.bytesWritten, pageSize: ps });
      }
    }
    writer.finish();
    await sink.settle?.();
    sink.end();
    return summary(false);
  } catch (e) {
    await sink.settle?.().catch(() => undefined);
    if (e instanceof SinkWriteError && writer) {
      const flagged = writer.markIncomplete();
      sink.close();
      throw incompleteError(prep, sink, e, summary(true), flagged, Math.floor(written / ps), Math.ceil(Number(writer.layout.fileSize - writer.layout.loadOffset) / ps));
    }
    sink.close();
    throw e;
  } finally {
    reader.close();
  }
}
