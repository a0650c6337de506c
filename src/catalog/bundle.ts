/**
 * `kdumpkit bundle`: the files of one crash that a bug report needs, as the members of one
 * tar.gz (src/util/tar.ts).
 *
 * The bundle is normally made on the machine that crashed, after it rebooted, so two systems
 * are described and kept apart by directory:
 *   crashed-kernel/   what the crashed kernel said about itself: its utsname (from the dump's
 *                     init_uts_ns), its command line (saved_command_line in the dump, else its
 *                     boot log's "Kernel command line:"),
 *                     its modules (from the dump, or the oops's "Modules linked in:" line)
 *   host/             the machine now, read through the HostRoot (--root): /etc/os-release,
 *                     uname (/proc/sys/kernel/*), /proc/cmdline — the running kernel may be a
 *                     newer one than the one that crashed
 * plus dmesg.txt, report.json (the stored one, or made now when the entry has none),
 * report.html (src/report/html.ts, from a fresh analysis of the vmcore with the whole log),
 * summary.txt, pstore.json for pstore entries, and the vmcore only when asked.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AnalysisContext, analyzeReport, isUnavailable, type AnalyzeReport } from '../analyze/analyze.js';
import { pageUsage } from '../analyze/page-usage.js';
import { attempt } from '../kernel/attempt.js';
import { readSavedCommandLine } from '../kernel/cmdline.js';
import { renderHtmlReport } from '../report/html.js';
import { renderModText } from '../report/mod-text.js';
import type { HostRoot } from '../host/root.js';
import { KdumpkitError } from '../util/errors.js';
import type { TarMember } from '../util/tar.js';
import { KDUMPKIT_VERSION } from '../util/version.js';
import { DMESG_FILE, PSTORE_META_FILE, type CatalogEntry } from './entries.js';
import { logVerdict, type LogVerdict } from './log-signature.js';
import { buildReportText, readReportFile, REPORT_FILE } from './report-file.js';

export interface BundleOptions {
  readonly withVmcore?: boolean;
  /** Classify the pages for the HTML report's memory chart (default true). */
  readonly pages?: boolean;
  readonly now?: Date;
}

export interface BundlePlan {
  /** Top directory inside the archive. */
  readonly top: string;
  readonly members: readonly TarMember[];
  /** What went in, and what could not (with why), for the user and README.txt. */
  readonly contents: readonly { readonly name: string; readonly what: string }[];
  readonly missing: readonly { readonly name: string; readonly why: string }[];
}

/** "2026-11-25-08:04:37" → "2026-11-25-080437": GNU tar takes "host:file" for a remote archive. */
export function bundleBaseName(id: string): string {
  return `kdumpkit-${id.replace(/:/g, '')}`;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The host's uname -a fields, from /proc/sys/kernel (kernel/utsname_sysctl.c). */
function hostUname(root: HostRoot): string | undefined {
  const f = (n: string): string | undefined => root.read(`/proc/sys/kernel/${n}`)?.trim();
  const release = f('osrelease');
  if (release === undefined) return undefined;
  return [
    `sysname:  ${f('ostype') ?? 'Linux'}`,
    `nodename: ${f('hostname') ?? '?'}`,
    `release:  ${release}`,
    `version:  ${f('version') ?? '?'}`,
    `machine:  ${f('arch') ?? '?'}`,
    '',
  ].join('\n');
}

function crashedUname(a: AnalyzeReport): string {
  const s = a.sys;
  return [`sysname:  ${s.sysname ?? '?'}`, `nodename: ${s.nodename ?? '?'}`, `release:  ${s.release ?? '?'}`, `version:  ${s.version ?? '?'}`, `machine:  ${s.machine ?? '?'}`, ''].join('\n');
}

/** Everything that goes into the bundle of `entry` (reads the entry and the host; writes nothing). */
export async function planBundle(entry: CatalogEntry, root: HostRoot, opts: BundleOptions = {}): Promise<BundlePlan> {
  if (entry.status === 'unreadable' && !entry.files.includes(DMESG_FILE)) {
    throw new KdumpkitError('E_BUNDLE', `${entry.path}: nothing to bundle: ${entry.error ?? 'unreadable'}`);
  }
  const now = opts.now ?? new Date();
  const top = bundleBaseName(entry.id);
  const members: TarMember[] = [{ name: top, type: 'dir', mtime: now }];
  const contents: { name: string; what: string }[] = [];
  const missing: { name: string; why: string }[] = [];
  const add = (name: string, data: string | Uint8Array, what: string): void => {
    members.push({ name: `${top}/${name}`, data, mtime: now });
    contents.push({ name, what });
  };
  const dir = (name: string): void => {
    members.push({ name: `${top}/${name}`, type: 'dir', mtime: now });
  };

  const log = entry.files.includes(DMESG_FILE) ? readText(join(entry.path, DMESG_FILE)) : undefined;
  const verdict: LogVerdict | undefined = log === undefined ? undefined : logVerdict(log);

  // The analysis: fresh from the vmcore (whole log, for the HTML page), else the stored one.
  let analysis: AnalyzeReport | undefined;
  let reportJson: string | undefined;
  let htmlPage: string | undefined;
  let dumpCmdline: string | undefined;
  const dumpPath = entry.dumpFile === undefined ? undefined : join(entry.path, entry.dumpFile);
  if (dumpPath !== undefined && entry.status !== 'unreadable') {
    try {
      const ctx = await AnalysisContext.open(dumpPath);
      try {
        const full = analyzeReport(ctx, { logLines: Infinity });
        const pages = opts.pages === false ? undefined : attempt(() => pageUsage(ctx.dump, 31));
        htmlPage = renderHtmlReport({ analysis: full, pages, generator: { tool: `kdumpkit ${KDUMPKIT_VERSION}`, at: now } });
        analysis = full;
        dumpCmdline = readSavedCommandLine(ctx.kernel, []);
      } finally {
        ctx.close();
      }
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      missing.push({ name: 'report.html', why: `the analysis failed: ${e.message}` });
    }
  }
  if (entry.files.includes(REPORT_FILE)) {
    reportJson = readText(join(entry.path, REPORT_FILE));
    if (!analysis) {
      try {
        analysis = readReportFile(join(entry.path, REPORT_FILE)).analysis;
      } catch {
        // Copied as it is; the README says what it is.
      }
    }
  } else if (dumpPath !== undefined && entry.status !== 'unreadable') {
    let fileBytes = 0;
    try {
      fileBytes = statSync(dumpPath).size;
    } catch {
      // reported by the analysis
    }
    reportJson = (await buildReportText(dumpPath, { fileBytes, ...(entry.level !== undefined ? { level: entry.level } : {}) }, () => now)).text;
  }
  if (htmlPage === undefined && analysis && !missing.some((m) => m.name === 'report.html')) {
    htmlPage = renderHtmlReport({ analysis, pages: undefined, generator: { tool: `kdumpkit ${KDUMPKIT_VERSION}`, at: now } });
  }

  add('summary.txt', summaryText(entry, verdict, now), 'what this crash is: id, kind, status, kernel, verdict, signature');
  if (log !== undefined) add('dmesg.txt', log, "the crashed kernel's log");
  else missing.push({ name: 'dmesg.txt', why: 'the entry has no dmesg.txt' });
  if (reportJson !== undefined) add('report.json', reportJson, entry.files.includes(REPORT_FILE) ? 'the analysis saved with the dump (as kdumpkit analyze --json)' : 'the analysis, made now (as kdumpkit analyze --json)');
  else missing.push({ name: 'report.json', why: entry.kind === 'pstore' ? 'a pstore crash has no vmcore to analyze; summary.txt has the verdict from the log' : 'no readable vmcore' });
  if (htmlPage !== undefined) add('report.html', htmlPage, 'the report as one self-contained HTML page (open in a browser)');
  else if (!missing.some((m) => m.name === 'report.html')) missing.push({ name: 'report.html', why: 'no analysis (it needs a vmcore)' });
  if (entry.files.includes(PSTORE_META_FILE)) {
    const meta = readText(join(entry.path, PSTORE_META_FILE));
    if (meta !== undefined) add(PSTORE_META_FILE, meta, 'the pstore records the log was joined from');
  }

  dir('crashed-kernel');
  if (analysis) add('crashed-kernel/uname.txt', crashedUname(analysis), "the crashed kernel's utsname (init_uts_ns in the dump)");
  else if (verdict?.release) add('crashed-kernel/uname.txt', `release:  ${verdict.release}\n(from the log's "CPU: … Comm: …" or "Linux version" line; no dump to read the rest from)\n`, "the crashed kernel's release, from its log");
  if (dumpCmdline !== undefined) add('crashed-kernel/cmdline.txt', dumpCmdline.trimEnd() + '\n', "the crashed kernel's command line (saved_command_line in the dump)");
  else if (verdict?.cmdline !== undefined) add('crashed-kernel/cmdline.txt', verdict.cmdline + '\n', 'the crashed kernel\'s command line (its log\'s "Kernel command line:")');
  else missing.push({ name: 'crashed-kernel/cmdline.txt', why: 'the log does not reach back to the boot' });
  const mods = analysis?.modules;
  if (mods && !isUnavailable(mods)) add('crashed-kernel/modules.txt', renderModText(mods), 'modules loaded in the crashed kernel and its taint (from the dump)');
  else {
    const linked = verdict?.panic.cause?.modulesLinkedIn ?? verdict?.panic.panic?.modulesLinkedIn;
    if (linked !== undefined) add('crashed-kernel/modules.txt', `Modules linked in: ${linked.trim()}\n(from the crash report in the log)\n`, 'modules loaded in the crashed kernel (the oops\'s "Modules linked in:" line)');
    else missing.push({ name: 'crashed-kernel/modules.txt', why: mods && isUnavailable(mods) ? `unavailable: ${mods.unavailable}` : 'no dump and no "Modules linked in:" line' });
  }

  dir('host');
  const osRelease = root.read('/etc/os-release') ?? root.read('/usr/lib/os-release');
  if (osRelease !== undefined) add('host/os-release', osRelease, 'this machine now: /etc/os-release');
  else missing.push({ name: 'host/os-release', why: `${root.path('/etc/os-release')} does not exist` });
  const uname = hostUname(root);
  if (uname !== undefined) add('host/uname.txt', uname, 'this machine now: the running kernel (/proc/sys/kernel)');
  else missing.push({ name: 'host/uname.txt', why: `${root.path('/proc/sys/kernel/osrelease')} does not exist` });
  const cmdline = root.read('/proc/cmdline');
  if (cmdline !== undefined) add('host/cmdline.txt', cmdline.endsWith('\n') ? cmdline : cmdline + '\n', 'this machine now: /proc/cmdline of the running kernel');
  else missing.push({ name: 'host/cmdline.txt', why: `${root.path('/proc/cmdline')} does not exist` });

  if (opts.withVmcore) {
    if (dumpPath === undefined) missing.push({ name: 'vmcore', why: 'the entry has no vmcore' });
    else {
      const size = statSync(dumpPath).size;
      members.push({ name: `${top}/${entry.dumpFile!}`, file: { path: dumpPath, size }, mode: 0o600, mtime: now });
      contents.push({ name: entry.dumpFile!, what: 'the dump itself (kdumpkit analyze, crash or drgn read it)' });
    }
  }

  const readme = readmeText(entry, contents, missing, opts.withVmcore === true);
  members.splice(1, 0, { name: `${top}/README.txt`, data: readme, mtime: now });
  contents.unshift({ name: 'README.txt', what: 'this list' });
  return { top, members, contents, missing };
}

function summaryText(e: CatalogEntry, v: LogVerdict | undefined, now: Date): string {
  const lines = [
    `crash:      ${e.id} (${e.time.toISOString()})`,
    `kind:       ${e.kind}${e.kind === 'pstore' ? ' (log from /sys/fs/pstore, no vmcore)' : ''}`,
    `status:     ${e.status}${e.error ? ` (${e.error})` : ''}`,
    `host:       ${e.host ?? '?'}`,
    `kernel:     ${e.release ?? '?'}`,
    `dump level: ${e.level ?? '-'}`,
    `panic:      ${e.panicKind ?? '?'}`,
    `verdict:    ${e.sentence ?? '?'}`,
    `signature:  ${e.signature ?? '?'}  (from ${e.verdictFrom})`,
  ];
  if (v && e.verdictFrom !== 'log' && v.triage.signature !== e.signature) lines.push(`log signature: ${v.triage.signature}  (from the log alone, as for a pstore record)`);
  lines.push(`bundled:    ${now.toISOString()} by kdumpkit ${KDUMPKIT_VERSION}`, '');
  return lines.join('\n');
}

function readmeText(e: CatalogEntry, contents: readonly { name: string; what: string }[], missing: readonly { name: string; why: string }[], withVmcore: boolean): string {
  const w = Math.max(...contents.map((c) => c.name.length), ...missing.map((m) => m.name.length), 10);
  const lines = [`kdumpkit bundle of crash ${e.id}`, '', 'Contents:', ...contents.map((c) => `  ${c.name.padEnd(w)}  ${c.what}`)];
  lines.push(`  ${'README.txt'.padEnd(w)}  this list`);
  if (missing.length) lines.push('', 'Not included:', ...missing.map((m) => `  ${m.name.padEnd(w)}  ${m.why}`));
  if (!withVmcore && e.dumpFile !== undefined) lines.push('', `The vmcore is not included (it holds the crashed machine's memory); 'kdumpkit bundle ${e.id} --with-vmcore' adds it.`);
  lines.push('', "crashed-kernel/ describes the kernel that crashed (read from the dump or its log); host/ describes", 'the machine when the bundle was made, which may run another kernel by now.', '');
  return lines.join('\n');
}
