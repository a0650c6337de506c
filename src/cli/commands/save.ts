import { availableParallelism } from 'node:os';
import { closeSync, existsSync, fsyncSync, statSync } from 'node:fs';
import { openDump, type Dump } from '../../formats/open.js';
import type { CodecName } from '../../formats/codecs/index.js';
import { FileSink, FlattenedSink, type DumpSink } from '../../formats/kdump/flattened-writer.js';
import { estimateSpace, prepareSave, worstCaseSpace, SaveIncompleteError, startCompression, writeDump, type SaveProgress, type SaveSummary } from '../../collect/save.js';
import { formatBytes, renderSaveReport } from '../../collect/summary.js';
import { checkNotSaved, commitFile, createIncomplete, freeSpace, makeDumpDir, planOutput, writeTextFile, INCOMPLETE_SUFFIX } from '../../collect/target.js';
import { renderJson } from '../../report/json.js';
import type { CompressPool } from '../../collect/compress-pool.js';
import { sourceReadMethod } from '../../collect/mapped-source.js';
import { KdumpkitError, UsageError } from '../../util/errors.js';
import { COMMON_OPTIONS, type CommandSpec, type Io } from '../command.js';

const CODECS = ['zlib', 'lzo', 'snappy', 'zstd', 'none'] as const;
const DEFAULT_CODEC = 'zstd';
/** Write-back in the background every 8 MiB (util/background-flush.ts): the final fsync stays short. */
const FLUSH_EVERY = 8 << 20;

const options = {
  ...COMMON_OPTIONS,
  level: { type: 'string', short: 'd' },
  compress: { type: 'string', short: 'c' },
  format: { type: 'string' },
  flat: { type: 'boolean', short: 'F' },
  dmesg: { type: 'string' },
  threads: { type: 'string', short: 't' },
  quiet: { type: 'boolean', short: 'q' },
  'no-space-check': { type: 'boolean' },
  rules: { type: 'string' },
  'no-report': { type: 'boolean' },
  'no-mmap': { type: 'boolean' },
} as const;

function defaultThreads(): number {
  const cpus = availableParallelism();
  return cpus > 1 ? Math.min(4, cpus) : 0;
}

const save: CommandSpec<typeof options> = {
  name: 'save',
  summary: 'save a crash dump (/proc/vmcore) filtered and compressed, like makedumpfile',
  usage: ['save [SRC] DEST [--level N] [--compress CODEC] [--format kdump|elf|flat] [--dmesg FILE] [--threads N] [--quiet] [--json]'],
  help: `
Copies the memory of a crashed kernel (SRC, default /proc/vmcore in the kdump capture kernel;
any dump kdumpkit reads works) into a file that crash, drgn, makedumpfile and kdumpkit open:
pages the dump level excludes are left out, the rest is compressed page by page. The output
is byte-compatible with makedumpfile's: the same headers, bitmaps, page descriptors and shared
zero page ('makedumpfile -d N -c/-l/-p/-z'), an ELF core like 'makedumpfile -E', or a
flattened stream like 'makedumpfile -F'.

DEST:
  an existing directory  the dump goes to DEST/<YYYY-MM-DD-HH:MM:SS>/ (directory mode 0700,
                         named after the crash time) as 'vmcore' and 'dmesg.txt' (mode 0600),
                         then 'report.json': the analysis of the saved dump (as 'kdumpkit
                         analyze --json'), which 'kdumpkit list' and 'show' read; if the
                         analysis fails the error is recorded there and the save still
                         succeeds (--no-report skips it)
  a new file name        the dump goes to that file
  -                      a flattened stream on standard output (for ssh or a pipe; rebuild
                         it with 'kdumpkit reassemble' or 'makedumpfile -R')
Files are written as NAME${INCOMPLETE_SUFFIX} and renamed once complete and flushed to disk;
nothing existing is ever overwritten. Before copying, the free space is checked against an
estimate for the chosen level and codec (from compressing a sample of the pages); when it
does not fit, nothing but the log is written (--no-space-check writes anyway). If the disk
fills up or a write fails anyway, the partial dump is kept as vmcore${INCOMPLETE_SUFFIX} and
flagged as makedumpfile flags it (kdump header status 0x8, ELF e_flags bit 0x1): everything
written before the failure still reads. The crashed kernel's log is saved first (dmesg.txt),
as it is the most valuable part.

Dump level (--level, 0..31, default 31) adds up what to leave out:
   1  pages filled with zeros (stored once and shared)
   2  page cache without private data      4  all page cache
   8  user process memory                  16 free pages
Level 31 keeps the kernel's own data, which is what crash, drgn and kdumpkit need; level 0
keeps everything. Poisoned (hwpoison) and offline pages are always left out, as makedumpfile
does. Page counts per category are printed at the end in makedumpfile's words. Pages are
classified as current makedumpfile does; '--rules 1.7.2' reproduces Debian 12's makedumpfile
1.7.2 exactly, including its bug of dropping slab pages as user data on Linux >= 6.2.

Compression (--compress, default ${DEFAULT_CODEC}): zstd compresses best and fastest here; crash
(>= 8.0.1), drgn/libkdumpfile and kdumpkit read it, and so does makedumpfile >= 1.7.0 when built
with zstd. Debian 12's makedumpfile 1.7.2 reads only zlib and lzo: use '--compress zlib' (the
most widely readable) or 'lzo' (fastest) when the dump must go through it. 'none' stores pages
raw. A page that does not get smaller is stored raw whatever the codec. LZO pages come from
liblzo2's lzo1x_1_compress, as makedumpfile's do (the npm package 'lzo', built at install):
'--compress lzo --rules 1.7.2' then writes the very file Debian's 'makedumpfile -l' writes.

Compression runs on --threads N threads (default: one per CPU, at most 4): N - 1 worker
threads plus the main thread, which compresses whatever batch no worker has taken whenever it
is not reading or writing (1 = one worker thread, 0 = the main thread alone, best with a
single CPU); the output is identical for any number. An ELF source (/proc/vmcore) is read
through memory maps, as makedumpfile does, when the native helper was built at install
(build/kdumpkit_mmap.node, needs a C compiler); --no-mmap or no helper: read(2).
Progress goes to standard error: a live line on a terminal, plain lines otherwise (a serial
console). Memory stays small (about 100 MB) whatever the dump size.

Examples:
  kdumpkit save /var/crash                               # in the capture kernel
  kdumpkit save /proc/vmcore /var/crash --level 31 --compress lzo --threads 2
  kdumpkit save vmcore.elf vmcore.kdump --compress zlib --dmesg dmesg.txt
  kdumpkit save --format flat /proc/vmcore - | ssh host 'kdumpkit reassemble - vmcore'
  kdumpkit save /var/crash --json | jq .pages`,
  options,
  optionHelp: {
    json: 'print the summary as JSON (to stderr when the dump goes to stdout)',
    help: 'show this help',
    level: 'dump level 0..31 (makedumpfile -d), default 31',
    compress: `zlib | lzo | snappy | zstd | none, default ${DEFAULT_CODEC}`,
    format: 'kdump (default) | elf (makedumpfile -E) | flat (kdump as a flattened stream)',
    flat: 'write the chosen format as a flattened stream (makedumpfile -F)',
    dmesg: "also write the crashed kernel's log to FILE",
    threads: 'compression threads, the main thread included (default: CPUs, at most 4; 0 = main thread only)',
    quiet: 'no progress and no summary, only errors',
    'no-space-check': 'write even if the estimate says the dump will not fit (it is then kept incomplete)',
    rules: "page rules: latest (default) or 1.7.2 to match Debian 12's makedumpfile count for count",
    'no-report': 'directory mode: do not analyze the saved dump into report.json',
    'no-mmap': 'read the source with read(2) only, not through memory maps (makedumpfile --non-mmap)',
  },
  minPositionals: 1,
  maxPositionals: 2,
  async run(args, io) {
    const v = args.values;
    const [src, dest] = args.positionals.length === 1 ? ['/proc/vmcore', args.positionals[0]!] : [args.positionals[0]!, args.positionals[1]!];
    const level = parseIntOption('level', v.level ?? '31', 0, 31);
    const codecArg = (v.compress ?? DEFAULT_CODEC).toLowerCase();
    if (!(CODECS as readonly string[]).includes(codecArg)) throw new UsageError(`save: --compress ${codecArg}: not one of ${CODECS.join(', ')}`);
    const formatArg = v.format ?? 'kdump';
    if (!['kdump', 'elf', 'flat'].includes(formatArg)) throw new UsageError(`save: --format ${formatArg}: not one of kdump, elf, flat`);
    const format = formatArg === 'elf' ? 'elf' : 'kdump';
    const flattened = formatArg === 'flat' || v.flat === true || dest === '-';
    const codec: CodecName | undefined = codecArg === 'none' || format === 'elf' ? undefined : (codecArg as CodecName);
    if (format === 'elf' && v.compress !== undefined && codecArg !== 'none') throw new UsageError('save: ELF output is not compressed; drop --compress or use --format kdump');
    const threads = v.threads === undefined ? defaultThreads() : parseIntOption('threads', v.threads, 0, 64);
    if (dest === '-' && io.stdoutIsTTY) throw new UsageError('save: refusing to write a binary dump to a terminal', "Redirect standard output, e.g. '| ssh host kdumpkit reassemble - vmcore'.");
    const quiet = v.quiet === true;
    const reportTo = (text: string): void => (dest === '-' ? io.err(text) : io.out(text));
    const progress = quiet ? undefined : new Progress(io);
    const t0 = performance.now();

    const dump = await openDump(src);
    let pool: Promise<CompressPool> | undefined;
    try {
      const crash = dump.vmcoreinfo?.crashTime;
      const plan = planOutput(dest, crash !== undefined && crash > 0n ? new Date(Number(crash) * 1000) : new Date());
      if (plan.vmcore) checkNotSaved(plan.vmcore);
      if (v.dmesg) checkNotSaved(v.dmesg);

      // Compression workers boot while the pages are classified.
      pool = format === 'kdump' ? startCompression(dump, level, codec, threads, v['no-mmap'] !== true) : undefined;
      const rules = v.rules ?? 'latest';
      if (rules !== 'latest' && rules !== '1.7.2') throw new UsageError(`--rules ${rules}: expected latest or 1.7.2`);
      const prep = prepareSave(dump, level, format, progress && ((p) => progress.update(p)), rules);
      progress?.end();

      if (plan.dir) makeDumpDir(plan.dir);
      const notes: string[] = [];
      if (plan.dmesg || v.dmesg) {
        const log = await dmesgText(dump, notes);
        if (log) {
          // A dmesg.txt from an earlier attempt (e.g. one refused for lack of space) is kept.
          if (plan.dmesg && existsSync(plan.dmesg)) notes.push(`${plan.dmesg} exists already and was kept`);
          else if (plan.dmesg) writeTextFile(plan.dmesg, log);
          if (v.dmesg) writeTextFile(v.dmesg, log);
        }
      }

      // Sampling pages for the estimate costs tens of milliseconds: a quiet save skips it when
      // even the worst case fits (nothing would be printed or refused).
      const free = plan.fsDir ? freeSpace(plan.fsDir) : undefined;
      if (plan.fsDir && !(quiet && free !== undefined && free >= worstCaseSpace(prep, codec) * 1.05 + (1 << 20))) {
        const est = await estimateSpace(prep, codec);
        const what = `level ${level}${format === 'kdump' ? ` with ${codec ?? 'no compression'}` : ' as ELF'}`;
        if (free !== undefined && free < est.estimate * 1.05 + (1 << 20) && v['no-space-check'] !== true) {
          throw new KdumpkitError(
            'E_NOSPACE',
            `${plan.fsDir}: not enough free space for the dump: it needs about ${formatBytes(est.estimate)} at ${what} (worst case ${formatBytes(est.worstCase)}), ${formatBytes(free)} are free${plan.dmesg && !notes.length ? `; the log was saved to ${plan.dmesg}` : ''}`,
            'Free some space, save to another disk, or use a level that leaves out more (31 keeps only kernel data); --no-space-check saves what fits.',
          );
        }
        if (!quiet) {
          io.err(`Saving ${prep.numDumpable} pages (${what}): about ${formatBytes(est.estimate)}, worst case ${formatBytes(est.worstCase)}; ${free === undefined ? 'free space unknown' : `${formatBytes(free)} free`}\n`);
          if (free !== undefined && free < est.worstCase) notes.push(`free space (${formatBytes(free)}) is below the worst case (${formatBytes(est.worstCase)}): the dump fits only if the rest compresses like the sample`);
        }
      }

      let file: { fd: number; path: string } | undefined;
      let sink: DumpSink;
      if (!plan.vmcore) sink = new FlattenedSink('standard output', 1, false);
      else {
        file = createIncomplete(plan.vmcore);
        sink = flattened ? new FlattenedSink(file.path, file.fd, false) : new FileSink(file.path, file.fd, false, FLUSH_EVERY);
      }
      let summary: SaveSummary;
      try {
        summary = await writeDump(prep, sink, { codec, threads, pool, onProgress: progress && ((p) => progress.update(p)), filterSeconds: prep.filterSeconds });
        progress?.end();
        if (file && plan.vmcore) commitFile(file.fd, file.path, plan.vmcore);
        file = undefined;
      } catch (e) {
        progress?.end();
        if (file) {
          try {
            fsyncSync(file.fd);
          } catch {
            // The error being reported matters more.
          }
          closeSync(file.fd);
        }
        if (e instanceof SaveIncompleteError && !quiet) {
          if (v.json) reportTo(renderJson({ ...e.summary, file: file?.path, error: e.message }));
          else reportTo(renderSaveReport(e.summary));
        }
        throw e;
      }

      // Directory mode: the analysis beside the dump, for `kdumpkit list` and `show`. Only now,
      // with the dump committed: a failed analysis costs the report, never the dump.
      const reportFile = plan.dir && plan.vmcore && v['no-report'] !== true ? await saveReport(plan.vmcore, summary, notes) : undefined;

      if (!quiet) for (const w of [...summary.warnings, ...notes]) io.err(`warning: ${w}\n`);
      if (v.json) {
        // How the source pages were read: through maps only where the pool read the source file.
        const settings = (await pool?.catch(() => undefined))?.settings;
        const read = settings?.sourcePath && settings.mmap !== false ? sourceReadMethod() : 'pread';
        reportTo(renderJson({ file: plan.vmcore ?? '-', dmesg: plan.dmesg ?? v.dmesg, report: reportFile, ...summary, read, seconds: { ...summary.seconds, total: (performance.now() - t0) / 1000 } }));
      } else if (!quiet) {
        reportTo(renderSaveReport(summary));
        const secs = (performance.now() - t0) / 1000;
        reportTo(`The dumpfile is saved to ${plan.vmcore ?? 'standard output'}${plan.dmesg ? ` (log: ${plan.dmesg}${reportFile ? `, report: ${reportFile}` : ''})` : ''}: ${formatBytes(summary.bytesWritten)} in ${secs.toFixed(1)} s.\n`);
      }
      return 0;
    } finally {
      // writeDump closes the pool; on every other way out it is closed here (idempotent).
      await (await pool?.catch(() => undefined))?.close();
      dump.close();
    }
  },
};

function parseIntOption(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`save: --${name} ${text}: not a number`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`save: --${name} ${n}: must be ${min}..${max}`);
  return n;
}

/** Writes report.json beside the saved dump; returns its path, or undefined (noted) when that failed. */
async function saveReport(vmcore: string, summary: SaveSummary, notes: string[]): Promise<string | undefined> {
  try {
    // The analysis stack loads only now, after the dump is committed: it costs the copy nothing.
    const { writeReportFile } = await import('../../catalog/report-file.js');
    const r = await writeReportFile(vmcore, {
      format: summary.format + (summary.flattened ? ' (flattened)' : ''),
      level: summary.level,
      codec: summary.codec,
      fileBytes: statSync(vmcore).size,
      memoryBytes: summary.bytesIn,
      pages: summary.pages.remaining,
    });
    if (r.error) notes.push(`the saved dump could not be analyzed (${r.error}); ${r.path} records the error`);
    return r.path;
  } catch (e) {
    // Whatever went wrong (a full disk, a bug), the dump is committed and the save succeeded.
    notes.push(`no report.json: ${e instanceof KdumpkitError ? e.message : String((e as Error).stack ?? e)}`);
    return undefined;
  }
}

/**
 * The crashed kernel's log as makedumpfile --dump-dmesg writes it, or undefined (noted). The
 * printk reader is loaded only when a log is saved: a save to a plain file does not pay for it.
 */
async function dmesgText(dump: Dump, notes: string[]): Promise<Uint8Array | undefined> {
  const [{ readDumpLog }, { formatDmesgMakedumpfile }] = await Promise.all([import('../../analyze/dmesg.js'), import('../../kernel/printk.js')]);
  try {
    const log = readDumpLog(dump);
    notes.push(...log.warnings);
    return formatDmesgMakedumpfile(log, { callerId: false });
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    notes.push(`the kernel log could not be read, no dmesg saved: ${e.message}`);
    return undefined;
  }
}

const PHASES: Record<SaveProgress['phase'], string> = {
  filter: 'Excluding unnecessary pages',
  zero: 'Excluding zero pages',
  copy: 'Copying data',
};

/**
 * Progress on standard error: on a terminal one line rewritten in place (percent, MB/s, ETA)
 * at most 10 times a second; otherwise (serial console, log file) a plain line every 10%.
 */
class Progress {
  private phase: SaveProgress['phase'] | undefined;
  private start = 0;
  private lastDraw = 0;
  private lastStep = -1;
  private last: SaveProgress | undefined;
  private readonly tty: boolean;

  constructor(private readonly io: Io) {
    this.tty = io.stderrIsTTY;
  }

  update(p: SaveProgress): void {
    const t = performance.now();
    if (p.phase !== this.phase) {
      this.end();
      this.phase = p.phase;
      this.start = t;
      this.lastStep = -1;
      this.lastDraw = 0;
    }
    this.last = p;
    if (this.tty) {
      if (t - this.lastDraw >= 100 || p.done >= p.total) {
        this.lastDraw = t;
        this.io.err(`\r${this.line(p, t)}\x1b[K`);
      }
      return;
    }
    const step = p.total > 0 ? Math.floor((p.done / p.total) * 10) : 10;
    if (step > this.lastStep) {
      this.lastStep = step;
      this.io.err(`${this.line(p, t)}\n`);
    }
  }

  private line(p: SaveProgress, t: number): string {
    const pct = p.total > 0 ? Math.min(100, (p.done / p.total) * 100) : 100;
    let s = `${PHASES[p.phase].padEnd(28)}: [${pct.toFixed(1).padStart(5)} %]`;
    const secs = (t - this.start) / 1000;
    if (p.phase !== 'filter' && secs > 0 && p.done > 0 && (secs > 0.2 || p.done >= p.total)) {
      const rate = (p.done * p.pageSize) / secs; // bytes of dump memory per second
      const eta = ((p.total - p.done) * p.pageSize) / rate;
      s += `  ${(rate / 1e6).toFixed(1).padStart(6)} MB/s  eta ${formatEta(eta)}  ${formatBytes(p.bytesOut)} written`;
    }
    return s;
  }

  end(): void {
    if (this.phase && this.tty && this.last) this.io.err('\n');
    this.phase = undefined;
    this.last = undefined;
  }
}

function formatEta(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

export default save;
