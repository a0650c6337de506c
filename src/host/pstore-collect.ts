/**
 * `kdumpkit pstore`: moves the crash records of /sys/fs/pstore into the crash catalog.
 *
 * Each crash becomes `<crashdir>/<YYYY-MM-DD-HH:MM:SS>-pstore/` (the time the kernel stored the
 * dump, UTC) holding
 *   dmesg.txt        the crashed kernel's log joined from the dump's parts, oldest line first,
 *                    in the form of a vmcore entry's dmesg.txt (`[    1.234567] text`)
 *   dmesg-<Reason>-<N>.txt   an earlier dump of the same crash (the Oops before the Panic it
 *                    led to; dumps of one backend within 10 s count as one crash)
 *   console-*.txt    the previous boot's console (ramoops console-* records), as stored
 *   raw/<file>       every record exactly as /sys/fs/pstore had it, so nothing is lost if the
 *                    join is wrong or the data could not be decompressed
 *   pstore.json      what came from where: backend, files, ids, parts, reason, count, times,
 *                    compression, sizes and sha256 of every record, and a content hash
 * The entry is built as `<name>.incomplete/` (files written as NAME.incomplete, fsynced and
 * renamed, by src/collect/target.ts), fsynced, then renamed to its name and the crash directory
 * fsynced. Only then are its records removed from /sys/fs/pstore (which erases them in the
 * backend: the EFI variable, the ramoops zone), so a failure at any point leaves the records
 * where they were for the next run.
 *
 * Idempotent: records already in the catalog (same file name and sha256 in some entry's
 * pstore.json, e.g. because clearing failed last time) are not saved again, only cleared.
 * Records of other types (console, pmsg, ftrace, ...) join the newest crash of their backend; with
 * no crash to join they stay where they are (ramoops keeps the console of every boot, and a
 * clean reboot is not a crash).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { makeDumpDir, TargetError, writeTextFile } from '../collect/target.js';
import { syncPath } from '../util/sync-path.js';
import { groupDumps, readPstore, type PstoreDump, type PstoreRecord } from './pstore-records.js';
import type { HostRoot } from './root.js';

export const PSTORE_ENTRY_SUFFIX = '-pstore';
export const PSTORE_META = 'pstore.json';

export interface PstoreCollectOptions {
  readonly root: HostRoot;
  /** Real path of the crash directory (src/catalog/location.ts chooses it: --dir as given, else config `dir` under the root). */
  readonly crashDir: string;
  /** Show what would happen; write and clear nothing. */
  readonly dryRun?: boolean;
  /** Save, but leave the records in /sys/fs/pstore. */
  readonly keepRecords?: boolean;
}

export type EntryStatus = 'saved' | 'already-saved' | 'would-save' | 'failed';
/** cleared; would-clear (dry run); kept (--keep-records); not-cleared (its entry failed); failed. */
export type ClearStatus = 'cleared' | 'would-clear' | 'kept' | 'not-cleared' | 'failed';

export interface PstoreRecordReport {
  readonly file: string;
  readonly type: string;
  readonly backend: string;
  /** The u64 record id in decimal, as in the file name. */
  readonly id: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly time: string;
  readonly compressed: boolean;
  readonly decompression?: string;
  readonly decodeError?: string;
  readonly ecc?: string;
  readonly reason?: string;
  readonly count?: number;
  readonly part?: number;
  /** Where the entry keeps it: raw/FILE, and for console records a .txt copy. */
  readonly raw: string;
  readonly copy?: string;
}

export interface PstoreDumpReport {
  readonly backend: string;
  readonly reason: string;
  readonly count: number | null;
  readonly time: string;
  readonly parts: number[];
  readonly missingParts: number[];
  readonly records: string[];
  /** File in the entry holding this dump's joined log. */
  readonly log: string;
  readonly logBytes: number;
  readonly headline: string | null;
  readonly notes: string[];
}

export interface PstoreEntryReport {
  readonly name: string;
  /** Real path of the entry directory. */
  readonly path: string;
  readonly status: EntryStatus;
  readonly error?: string;
  /** For already-saved: the entry that holds these records. */
  readonly savedIn?: string;
  readonly time: string;
  readonly backends: string[];
  readonly contentHash: string;
  readonly dumps: PstoreDumpReport[];
  readonly records: (PstoreRecordReport & { readonly clear: ClearStatus; readonly clearError?: string })[];
}

export interface PstoreReport {
  /** Real paths. */
  readonly pstoreDir: string;
  readonly crashDir: string;
  readonly mounted: boolean;
  readonly dryRun: boolean;
  readonly keepRecords: boolean;
  readonly entries: PstoreEntryReport[];
  /** Records not collected, and why (they stay in /sys/fs/pstore). */
  readonly left: { readonly file: string; readonly why: string }[];
  /** One line per failure (save or clear); empty when everything worked. */
  readonly errors: string[];
}

/** YYYY-MM-DD-HH:MM:SS in UTC, the catalog's directory name format. */
export function utcStamp(when: Date): string {
  return when.toISOString().slice(0, 19).replace('T', '-');
}

interface PlannedEntry {
  name: string;
  dumps: PstoreDump[];
  others: PstoreRecord[];
}

function recordReport(r: PstoreRecord): PstoreRecordReport {
  return {
    file: r.file,
    type: r.name.type,
    backend: r.name.backend,
    id: r.name.id.toString(10),
    bytes: r.raw.length,
    sha256: r.sha256,
    time: r.time.toISOString(),
    compressed: r.compressed,
    ...(r.decompression ? { decompression: r.decompression } : {}),
    ...(r.decodeError ? { decodeError: r.decodeError } : {}),
    ...(r.ecc ? { ecc: r.ecc } : {}),
    ...(r.header ? { reason: r.header.reason, count: r.header.count, part: r.header.part } : {}),
    raw: `raw/${r.file}`,
    ...(r.name.type === 'console' ? { copy: `${r.file}.txt` } : {}),
  };
}

function logFileName(d: PstoreDump, main: boolean, index: number): string {
  if (main) return 'dmesg.txt';
  return d.count === undefined ? `dmesg-${index + 1}.txt` : `dmesg-${d.reason}-${d.count}.txt`;
}

function dumpReports(e: PlannedEntry): PstoreDumpReport[] {
  return e.dumps.map((d, i) => ({
    backend: d.backend,
    reason: d.reason,
    count: d.count ?? null,
    time: d.time.toISOString(),
    parts: d.parts,
    missingParts: d.missingParts,
    records: d.records.map((r) => r.file),
    log: logFileName(d, i === e.dumps.length - 1, i),
    logBytes: d.log.length,
    headline: d.headline ?? null,
    notes: d.notes,
  }));
}

function entryRecords(e: PlannedEntry): PstoreRecord[] {
  return [...e.dumps.flatMap((d) => d.records), ...e.others];
}

/** sha256 over the names and sha256 of the entry's records, sorted: the same records, the same hash. */
function contentHash(records: readonly PstoreRecord[]): string {
  const h = createHash('sha256');
  for (const r of [...records].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))) h.update(`${r.file}\n${r.sha256}\n`);
  return h.digest('hex');
}

/** Every record already kept in a pstore entry of the catalog: `file\nsha256` → entry path. */
function savedRecords(crashReal: string): Map<string, string> {
  const saved = new Map<string, string>();
  let names: string[];
  try {
    names = readdirSync(crashReal);
  } catch {
    return saved;
  }
  for (const n of names) {
    if (!n.endsWith(PSTORE_ENTRY_SUFFIX)) continue;
    let meta: unknown;
    try {
      meta = JSON.parse(readFileSync(join(crashReal, n, PSTORE_META), 'utf8'));
    } catch {
      continue; // no or unreadable pstore.json: not an entry we can vouch for
    }
    const recs = (meta as { records?: unknown }).records;
    if (!Array.isArray(recs)) continue;
    for (const r of recs as { file?: unknown; sha256?: unknown }[]) {
      if (typeof r.file === 'string' && typeof r.sha256 === 'string') saved.set(`${r.file}\n${r.sha256}`, join(crashReal, n));
    }
  }
  return saved;
}

/**
 * An Oops and the panic it turns into (oops=panic, "Fatal exception") are two kmsg dumps a second
 * or so apart, but one crash: dumps of one backend this close together share an entry.
 */
const SAME_CRASH_SECONDS = 10;

/**
 * Plans the entries: dumps of one crash together (named after the first), other records with
 * the newest crash of their backend.
 */
function planEntries(dumps: PstoreDump[], others: PstoreRecord[], left: { file: string; why: string }[]): PlannedEntry[] {
  const entries: PlannedEntry[] = [];
  for (const d of [...dumps].sort((a, b) => a.time.getTime() - b.time.getTime() || (a.count ?? 0) - (b.count ?? 0))) {
    const e = entries.find((x) => {
      const last = x.dumps[x.dumps.length - 1]!;
      return last.backend === d.backend && d.time.getTime() - last.time.getTime() <= SAME_CRASH_SECONDS * 1000;
    });
    if (e) e.dumps.push(d);
    else entries.push({ name: utcStamp(d.time) + PSTORE_ENTRY_SUFFIX, dumps: [d], others: [] });
  }
  // Two crashes in the same second on different backends would get one name: join them.
  const byName = new Map<string, PlannedEntry>();
  for (const e of entries) {
    const prev = byName.get(e.name);
    if (prev) prev.dumps.push(...e.dumps);
    else byName.set(e.name, e);
  }
  const planned = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const r of others) {
    const e = [...planned].reverse().find((x) => x.dumps.some((d) => d.backend === r.name.backend));
    if (e) e.others.push(r);
    else left.push({ file: r.file, why: `no crash record of backend ${r.name.backend} to keep it with (${r.name.type} records of a clean reboot are not a crash)` });
  }
  return planned;
}

/** Writes one entry as NAME.incomplete/, then renames it; throws TargetError on failure. */
function writeEntry(crashReal: string, e: PlannedEntry, meta: object): string {
  const final = join(crashReal, e.name);
  const staging = final + '.incomplete';
  // A staging directory is ours, left by a run that failed before the rename (its records
  // were not cleared): start it over.
  rmSync(staging, { recursive: true, force: true });
  makeDumpDir(staging);
  makeDumpDir(join(staging, 'raw'));
  const records = entryRecords(e);
  for (const r of records) writeTextFile(join(staging, 'raw', r.file), r.raw);
  syncPath(join(staging, 'raw'));
  e.dumps.forEach((d, i) => writeTextFile(join(staging, logFileName(d, i === e.dumps.length - 1, i)), d.log));
  for (const r of e.others) if (r.name.type === 'console') writeTextFile(join(staging, `${r.file}.txt`), r.raw);
  writeTextFile(join(staging, PSTORE_META), JSON.stringify(meta, null, 2) + '\n');
  syncPath(staging);
  if (existsSync(final)) throw new TargetError(final, Object.assign(new Error('exists already and holds other records'), { code: 'EEXIST' }), 'create the pstore entry');
  try {
    renameSync(staging, final);
  } catch (err) {
    throw new TargetError(final, err as NodeJS.ErrnoException, `rename ${e.name}.incomplete to`);
  }
  syncPath(crashReal);
  return final;
}

function clearRecord(root: HostRoot, r: PstoreRecord): string | undefined {
  try {
    unlinkSync(root.path(r.hostPath));
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined; // gone already: cleared
    return `${root.path(r.hostPath)}: cannot remove: ${code ?? (err as Error).message}${code === 'EACCES' || code === 'EPERM' ? ' (run as root)' : ''}`;
  }
}

/** Collects the pstore records under the root into the crash directory. Never throws for one failed entry: see report.errors. */
export function collectPstore(o: PstoreCollectOptions): PstoreReport {
  const { root } = o;
  const dryRun = o.dryRun === true;
  const keepRecords = o.keepRecords === true;
  const crashReal = o.crashDir;
  const scan = readPstore(root);
  const left: { file: string; why: string }[] = scan.unknown.map((file) => ({ file, why: 'not a pstore record name; never touched' }));
  const dumps = groupDumps(scan.records);
  const entries = planEntries(
    dumps,
    scan.records.filter((r) => r.name.type !== 'dmesg'),
    left,
  );
  const saved = savedRecords(crashReal);
  const errors: string[] = [];
  const reports: PstoreEntryReport[] = [];

  if (!dryRun && entries.length && !existsSync(crashReal)) {
    try {
      mkdirSync(crashReal, { recursive: true, mode: 0o700 });
    } catch (err) {
      const te = new TargetError(crashReal, err as NodeJS.ErrnoException, 'create the crash directory');
      errors.push(te.message);
    }
  }

  for (const e of entries) {
    const records = entryRecords(e);
    const hash = contentHash(records);
    const dumpsJson = dumpReports(e);
    const recs = records.map(recordReport);
    const time = e.dumps[0]!.time.toISOString();
    const backends = [...new Set(records.map((r) => r.name.backend))].sort();
    const path = join(crashReal, e.name);
    const savedIn = records.every((r) => saved.has(`${r.file}\n${r.sha256}`)) ? saved.get(`${records[0]!.file}\n${records[0]!.sha256}`) : undefined;
    let status: EntryStatus;
    let error: string | undefined;
    if (savedIn !== undefined) status = 'already-saved';
    else if (dryRun) status = 'would-save';
    else if (errors.length && !existsSync(crashReal)) {
      status = 'failed';
      error = errors[0];
    } else {
      const meta = { kind: 'pstore', version: 1, time, backends, contentHash: hash, collected: new Date().toISOString(), dumps: dumpsJson, records: recs };
      try {
        writeEntry(crashReal, e, meta);
        status = 'saved';
      } catch (err) {
        if (!(err instanceof TargetError)) throw err;
        status = 'failed';
        error = err.message;
        errors.push(`${err.message}; the records of ${e.name} were kept in ${scan.dir}`);
        // Leave no half entry behind; the records stay in pstore for the next run.
        try {
          rmSync(path + '.incomplete', { recursive: true, force: true });
        } catch {
          // The failure being reported matters more (a read-only target cannot be cleaned).
        }
      }
    }
    const cleared = records.map((r, i) => {
      const rep = recs[i]!;
      if (status === 'failed') return { ...rep, clear: 'not-cleared' as const };
      if (dryRun) return { ...rep, clear: status === 'would-save' || status === 'already-saved' ? ('would-clear' as const) : ('not-cleared' as const) };
      if (keepRecords) return { ...rep, clear: 'kept' as const };
      const why = clearRecord(root, r);
      if (why) {
        errors.push(why);
        return { ...rep, clear: 'failed' as const, clearError: why };
      }
      return { ...rep, clear: 'cleared' as const };
    });
    reports.push({
      name: e.name,
      path: savedIn ?? path,
      status,
      ...(error ? { error } : {}),
      ...(savedIn ? { savedIn } : {}),
      time,
      backends,
      contentHash: hash,
      dumps: dumpsJson,
      records: cleared,
    });
  }
  return { pstoreDir: scan.dir, crashDir: crashReal, mounted: scan.mounted, dryRun, keepRecords, entries: reports, left, errors };
}
