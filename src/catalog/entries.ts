/**
 * The crash catalog: what is in a crash directory (/var/crash), one entry per crash.
 *
 * Layout (written by `kdumpkit save` and `kdumpkit pstore`, see src/collect/target.ts):
 *   DIR/<YYYY-MM-DD-HH:MM:SS>/          a dump: vmcore (or vmcore.incomplete when the save
 *                                       failed), dmesg.txt, report.json (the analysis)
 *   DIR/<YYYY-MM-DD-HH:MM:SS>-pstore/   a pstore crash (no vmcore): dmesg.txt (the joined
 *                                       log) and pstore.json (the records it came from)
 * The name is the crash time in UTC. Other names (and `.deleting-*` directories that prune
 * leaves behind if it is interrupted) are not entries.
 *
 * What is known of each entry comes, fastest first, from report.json (written at save time),
 * else from opening the dump (its header and VMCOREINFO, then the triage of the crashed
 * kernel), else from the log text alone (src/catalog/log-signature.ts). Nothing is written.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { AnalysisContext, triageOf } from '../analyze/analyze.js';
import type { Triage } from '../analyze/triage.js';
import { dumpInfo, type DumpInfoReport } from '../analyze/dump-info.js';
import { openDump, type Dump } from '../formats/open.js';
import { Kernel } from '../kernel/kernel.js';
import { INCOMPLETE_SUFFIX } from '../collect/target.js';
import { KdumpkitError } from '../util/errors.js';
import { logVerdict } from './log-signature.js';
import { readReportFile, REPORT_FILE, type ReportFile } from './report-file.js';

export type EntryKind = 'vmcore' | 'pstore';
/** complete; incomplete (the save failed or the dump says so); unreadable (corrupt: see error). */
export type EntryStatus = 'complete' | 'incomplete' | 'unreadable';
/** Where the verdict (panic kind, signature) came from. */
export type VerdictSource = 'report.json' | 'analysis' | 'log' | 'none';

export const VMCORE_FILE = 'vmcore';
export const DMESG_FILE = 'dmesg.txt';
export const PSTORE_META_FILE = 'pstore.json';
export const PSTORE_SUFFIX = '-pstore';

const ENTRY_RE = /^(\d{4})-(\d\d)-(\d\d)-(\d\d):(\d\d):(\d\d)(-pstore)?$/;

export interface CatalogEntry {
  /** The directory name, e.g. "2026-11-25-08:04:37" or "2026-11-25-08:04:37-pstore". */
  readonly id: string;
  readonly path: string;
  /** The crash time (from the name, UTC). */
  readonly time: Date;
  readonly kind: EntryKind;
  readonly status: EntryStatus;
  /** Why the entry is unreadable or incomplete (the reader's error, one line). */
  readonly error: string | undefined;
  /** utsname nodename of the crashed kernel. */
  readonly host: string | undefined;
  readonly release: string | undefined;
  /** The triage kind (src/analyze/triage.ts): null-deref, sysrq, soft-lockup, … */
  readonly panicKind: string | undefined;
  readonly signature: string | undefined;
  /** The triage sentence. */
  readonly sentence: string | undefined;
  /** makedumpfile dump level of the saved vmcore. */
  readonly level: number | undefined;
  /** Bytes the entry takes on disk (allocated blocks of its files). */
  readonly sizeBytes: number;
  /** Files present (names in the entry directory). */
  readonly files: readonly string[];
  /** The dump file in use: vmcore, or vmcore.incomplete. */
  readonly dumpFile: string | undefined;
  readonly verdictFrom: VerdictSource;
  /** Things worth knowing that did not make the entry unreadable (a bad report.json, …). */
  readonly notes: readonly string[];
}

export interface CatalogOptions {
  /** Open dumps that have no report.json to find their signature (default true). */
  readonly analyze?: boolean;
}

export interface Catalog {
  readonly dir: string;
  /** Newest first. */
  readonly entries: readonly CatalogEntry[];
}

/** The crash time a directory name stands for, or undefined when the name is not an entry's. */
export function entryTime(name: string): { time: Date; pstore: boolean } | undefined {
  const m = ENTRY_RE.exec(name);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const time = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (Number.isNaN(time.getTime()) || time.getUTCDate() !== d) return undefined;
  return { time, pstore: m[7] !== undefined };
}

function errorText(e: unknown): string {
  if (e instanceof KdumpkitError) return e.message;
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message}` : String(err.message ?? e);
}

/** Allocated bytes of the files in `dir` (like du), not following symbolic links. */
export function diskUsage(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const n of names) {
    try {
      const st = lstatSync(join(dir, n));
      total += st.isDirectory() ? diskUsage(join(dir, n)) : st.blocks * 512;
    } catch {
      // Vanished meanwhile.
    }
  }
  return total;
}

/** Every entry of the crash directory `dir`, newest first; a missing directory has none. */
export async function readCatalog(dir: string, opts: CatalogOptions = {}): Promise<Catalog> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { dir, entries: [] };
    throw new KdumpkitError('E_CATALOG', `${dir}: cannot list the crash directory: ${errorText(e)}`);
  }
  const entries: CatalogEntry[] = [];
  for (const name of names) {
    const t = entryTime(name);
    if (!t) continue;
    const path = join(dir, name);
    try {
      if (!statSync(path).isDirectory()) continue;
    } catch {
      continue;
    }
    entries.push(await readEntry(path, name, t.time, t.pstore, opts));
  }
  return { dir, entries: sortNewestFirst(entries) };
}

export function sortNewestFirst<T extends { time: Date; id: string }>(entries: T[]): T[] {
  return entries.sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** Reads one entry directory (see the file comment for where each fact comes from). */
export async function readEntry(path: string, id: string, time: Date, pstoreName: boolean, opts: CatalogOptions = {}): Promise<CatalogEntry> {
  let files: string[];
  try {
    files = readdirSync(path).sort();
  } catch (e) {
    return blank(path, id, time, pstoreName ? 'pstore' : 'vmcore', [], 'unreadable', `${path}: cannot list: ${errorText(e)}`);
  }
  const has = (f: string): boolean => files.includes(f);
  const kind: EntryKind = pstoreName || (has(PSTORE_META_FILE) && !has(VMCORE_FILE) && !has(VMCORE_FILE + INCOMPLETE_SUFFIX)) ? 'pstore' : 'vmcore';
  const notes: string[] = [];
  const base = { id, path, time, kind, files, sizeBytes: diskUsage(path), notes };

  if (kind === 'pstore') {
    const log = readLog(path, files, notes);
    if (log === undefined) return { ...blank(path, id, time, kind, files, 'unreadable', `${join(path, DMESG_FILE)}: missing: a pstore entry holds its log there`), sizeBytes: base.sizeBytes, notes };
    if (has(PSTORE_META_FILE)) readPstoreMeta(join(path, PSTORE_META_FILE), notes);
    const v = logVerdict(log);
    return { ...base, status: 'complete', error: undefined, host: undefined, release: v.release, panicKind: v.triage.kind, signature: v.triage.signature, sentence: v.triage.sentence, level: undefined, dumpFile: undefined, verdictFrom: 'log' };
  }

  const dumpFile = has(VMCORE_FILE) ? VMCORE_FILE : has(VMCORE_FILE + INCOMPLETE_SUFFIX) ? VMCORE_FILE + INCOMPLETE_SUFFIX : undefined;
  let status: EntryStatus = dumpFile === VMCORE_FILE ? 'complete' : 'incomplete';
  let error: string | undefined = dumpFile === VMCORE_FILE + INCOMPLETE_SUFFIX ? 'the save did not finish (vmcore.incomplete)' : undefined;

  // Fast path: the report written at save time.
  let report: ReportFile | undefined;
  if (has(REPORT_FILE)) {
    try {
      report = readReportFile(join(path, REPORT_FILE));
      if (report.header.error) notes.push(`report.json: the analysis at save time failed: ${report.header.error}`);
    } catch (e) {
      notes.push(errorText(e));
    }
  }
  const a = report?.analysis;
  if (a && dumpFile !== undefined) {
    if (a.sys.dumpKind.incomplete && status === 'complete') {
      status = 'incomplete';
      error = 'the dump is flagged incomplete';
    }
    const v = betterFromLog(a.triage, path, files, notes);
    return { ...base, status, error, host: a.sys.nodename, release: a.sys.release, panicKind: v?.kind ?? a.triage.kind, signature: v?.signature ?? a.triage.signature, sentence: v?.sentence ?? a.triage.sentence, level: a.sys.dumpKind.dumpLevel ?? report?.header.level, dumpFile, verdictFrom: v ? 'log' : 'report.json' };
  }

  if (dumpFile === undefined) {
    // A save refused for lack of space keeps only the log (src/cli/commands/save.ts).
    const log = readLog(path, files, notes);
    if (log === undefined) return { ...blank(path, id, time, kind, files, 'unreadable', `${path}: no vmcore, vmcore.incomplete or dmesg.txt`), sizeBytes: base.sizeBytes, notes };
    const v = logVerdict(log);
    return { ...base, status: 'incomplete', error: 'no vmcore: only the log was saved', host: undefined, release: v.release, panicKind: v.triage.kind, signature: v.triage.signature, sentence: v.triage.sentence, level: undefined, dumpFile, verdictFrom: 'log' };
  }

  // Slow path: open the dump.
  let dump: Dump;
  try {
    dump = await openDump(join(path, dumpFile));
  } catch (e) {
    return { ...base, status: 'unreadable', error: errorText(e), host: undefined, release: undefined, panicKind: undefined, signature: undefined, sentence: undefined, level: undefined, dumpFile, verdictFrom: 'none' };
  }
  try {
    let info: DumpInfoReport;
    try {
      info = dumpInfo(dump);
    } catch (e) {
      return { ...base, status: 'unreadable', error: errorText(e), host: undefined, release: undefined, panicKind: undefined, signature: undefined, sentence: undefined, level: undefined, dumpFile, verdictFrom: 'none' };
    }
    if (info.incomplete && status === 'complete') {
      status = 'incomplete';
      error = `the dump is flagged incomplete (${dump.format === 'kdump' ? 'kdump header status 0x8' : 'ELF e_flags bit 0x1'}): the save was cut short`;
    }
    let verdict: { kind: string; signature: string; sentence: string } | undefined;
    let verdictFrom: VerdictSource = 'none';
    if (opts.analyze !== false) {
      try {
        const ctx = new AnalysisContext(dump, Kernel.open(dump));
        verdict = triageOf(ctx);
        verdictFrom = 'analysis';
        const v = betterFromLog(verdict, path, files, notes);
        if (v) {
          verdict = v;
          verdictFrom = 'log';
        }
      } catch (e) {
        notes.push(`analysis failed: ${errorText(e)}`);
      }
    }
    if (!verdict) {
      const log = readLog(path, files, notes);
      if (log !== undefined) {
        verdict = logVerdict(log).triage;
        verdictFrom = 'log';
      }
    }
    return { ...base, status, error, host: info.kernel.nodename, release: info.kernel.release, panicKind: verdict?.kind, signature: verdict?.signature, sentence: verdict?.sentence, level: info.dumpLevel, dumpFile, verdictFrom };
  } finally {
    dump.close();
  }
}

/**
 * The verdict of dmesg.txt when the dump's own is 'unknown' (no crash report in the part of
 * the log the dump holds: an incomplete dump may lack the log's pages) and the saved log knows
 * better. dmesg.txt was saved first, from the whole dump (src/cli/commands/save.ts).
 */
function betterFromLog(t: { kind: string }, path: string, files: readonly string[], notes: string[]): Triage | undefined {
  if (t.kind !== 'unknown') return undefined;
  const log = readLog(path, files, notes);
  if (log === undefined) return undefined;
  const v = logVerdict(log).triage;
  if (v.kind === 'unknown') return undefined;
  notes.push("the dump's log holds no crash report; the verdict is from dmesg.txt");
  return v;
}

function blank(path: string, id: string, time: Date, kind: EntryKind, files: string[], status: EntryStatus, error: string): CatalogEntry {
  return { id, path, time, kind, status, error, host: undefined, release: undefined, panicKind: undefined, signature: undefined, sentence: undefined, level: undefined, sizeBytes: 0, files, dumpFile: undefined, verdictFrom: 'none', notes: [] };
}

function readLog(path: string, files: readonly string[], notes: string[]): string | undefined {
  if (!files.includes(DMESG_FILE)) return undefined;
  try {
    return readFileSync(join(path, DMESG_FILE), 'utf8');
  } catch (e) {
    notes.push(`${join(path, DMESG_FILE)}: cannot read: ${errorText(e)}`);
    return undefined;
  }
}

/** pstore.json as `kdumpkit pstore` writes it; only checked to be a JSON object here. */
export function readPstoreMeta(file: string, notes: string[]): Record<string, unknown> | undefined {
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof j === 'object' && j !== null && !Array.isArray(j)) return j as Record<string, unknown>;
    notes.push(`${file}: not a JSON object`);
  } catch (e) {
    notes.push(`${file}: ${errorText(e)}`);
  }
  return undefined;
}

/**
 * The entry `ref` names: an id in the crash directory `dir` ("2026-11-25-08:04:37"), "latest"
 * (the newest entry), or a path to an entry directory or to a file in one (its vmcore).
 */
export async function resolveEntry(dir: string, ref: string, opts: CatalogOptions = {}): Promise<CatalogEntry> {
  let path: string | undefined;
  if (ref === 'latest') {
    const names = listEntryNames(dir);
    const newest = sortNewestFirst(names.map((n) => ({ id: n, time: entryTime(n)!.time })))[0];
    if (!newest) throw new KdumpkitError('E_NO_ENTRY', `${dir}: no crashes`, "Run 'kdumpkit list' to see the crash directory.");
    path = join(dir, newest.id);
  } else if (ref.includes('/')) {
    let st;
    try {
      st = statSync(ref);
    } catch {
      throw new KdumpkitError('E_NO_ENTRY', `${ref}: no such crash directory`);
    }
    path = st.isDirectory() ? ref : dirname(ref);
  } else {
    if (!entryTime(ref)) throw new KdumpkitError('E_NO_ENTRY', `'${ref}' is not a crash id (YYYY-MM-DD-HH:MM:SS, optionally with -pstore)`, "Run 'kdumpkit list' for the ids, or give the path of a crash directory.");
    path = join(dir, ref);
    if (!existsSync(path)) throw new KdumpkitError('E_NO_ENTRY', `${path}: no such crash`, "Run 'kdumpkit list' for the ids (or --dir for another crash directory).");
  }
  const id = basename(resolve(path));
  const t = entryTime(id);
  let time = t?.time;
  if (time === undefined) {
    // A directory with another name (a copy, a bug report's attachment): its modification time.
    try {
      time = statSync(path).mtime;
    } catch (e) {
      throw new KdumpkitError('E_NO_ENTRY', `${path}: ${errorText(e)}`);
    }
  }
  return readEntry(path, id, time, t?.pstore ?? false, opts);
}

function listEntryNames(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => entryTime(n) !== undefined);
  } catch (e) {
    throw new KdumpkitError('E_CATALOG', `${dir}: cannot list the crash directory: ${errorText(e)}`);
  }
}
