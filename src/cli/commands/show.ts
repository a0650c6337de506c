import { join } from 'node:path';
import { AnalysisContext, analyzeReport } from '../../analyze/analyze.js';
import { DMESG_FILE, PSTORE_META_FILE, readPstoreMeta, resolveEntry } from '../../catalog/entries.js';
import { chooseCrashDir } from '../../catalog/location.js';
import { logVerdict, parseLogText } from '../../catalog/log-signature.js';
import { readReportFile, REPORT_FILE } from '../../catalog/report-file.js';
import { renderAnalyzeText } from '../../report/analyze-text.js';
import { renderLogEntry } from '../../report/catalog-text.js';
import { renderJson } from '../../report/json.js';
import { KdumpkitError } from '../../util/errors.js';
import { readFileSync } from 'node:fs';
import type { CommandSpec } from '../command.js';
import { CATALOG_HELP_NOTE, CATALOG_OPTION_HELP, CATALOG_OPTIONS } from './list.js';
import { hostRootOf } from '../host-root.js';

const options = { ...CATALOG_OPTIONS } as const;
const LOG_LINES = 40;

const show: CommandSpec<typeof options> = {
  name: 'show',
  summary: 'the report of one saved crash (from its report.json, or analyzed now)',
  usage: ['show ID|latest|PATH [--dir DIR] [--root DIR] [--json]'],
  help: `
Prints the report of one crash of the catalog: the verdict, panic, crashing task and its
backtrace, CPUs, tasks, modules and the last log lines, as 'kdumpkit analyze' prints them.

ID is a name from 'kdumpkit list' (2026-11-25-08:04:37), 'latest' is the newest crash, and
PATH is a crash directory anywhere (or a file in one). The report comes from the crash's
report.json (written by 'kdumpkit save') when there is one, else the vmcore is analyzed now;
nothing is written either way. A pstore crash (no vmcore) shows the verdict and signature
derived from its log, and the log's last lines.

An unreadable crash (a corrupt vmcore) is an error naming the file and what is wrong with it.
${CATALOG_HELP_NOTE}

--json prints { entry, source, report } where report is what 'analyze --json' prints, or
{ entry, source: "log", verdict } for a crash without a vmcore.

Examples:
  kdumpkit show latest
  kdumpkit show 2026-11-25-08:04:37
  kdumpkit show /var/crash/2026-11-25-08:04:37 --json | jq .report.triage`,
  options,
  optionHelp: { ...CATALOG_OPTION_HELP, json: 'print { entry, source, report } as JSON' },
  minPositionals: 1,
  maxPositionals: 1,
  async run(args, io) {
    const v = args.values;
    const root = hostRootOf(v.root, 'show');
    const { dir } = chooseCrashDir(root, v.dir);
    // Only the verdict's source matters here: the full report is read below.
    const entry = await resolveEntry(dir, args.positionals[0]!, { analyze: false });

    if (entry.files.includes(REPORT_FILE) && entry.dumpFile !== undefined) {
      try {
        const r = readReportFile(join(entry.path, REPORT_FILE));
        if (r.analysis) {
          io.out(v.json ? renderJson({ entry, source: 'report.json', report: r.analysis }) : renderAnalyzeText(r.analysis));
          return 0;
        }
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
        io.err(`warning: ${e.message}; analyzing the vmcore instead\n`);
      }
    }
    if (entry.dumpFile !== undefined && entry.status !== 'unreadable') {
      const ctx = await AnalysisContext.open(join(entry.path, entry.dumpFile));
      try {
        const report = analyzeReport(ctx, { logLines: LOG_LINES });
        io.out(v.json ? renderJson({ entry, source: 'analysis', report }) : renderAnalyzeText(report));
      } finally {
        ctx.close();
      }
      return 0;
    }
    if (entry.files.includes(DMESG_FILE)) {
      const text = readFileSync(join(entry.path, DMESG_FILE), 'utf8');
      const verdict = logVerdict(text);
      if (v.json) io.out(renderJson({ entry, source: 'log', verdict: { triage: verdict.triage, release: verdict.release, cmdline: verdict.cmdline, panicString: verdict.panic.panicString, lines: verdict.lines } }));
      else io.out(renderLogEntry(entry, verdict, parseLogText(text).slice(-LOG_LINES), pstoreSource(entry.path, entry.files)));
      return 0;
    }
    throw new KdumpkitError('E_UNREADABLE', entry.error ?? `${entry.path}: nothing to show`, 'The crash cannot be read; kdumpkit prune deletes it, or inspect it with kdumpkit info.');
  },
};

/** "pstore (ramoops, 2 records)" from pstore.json, as `kdumpkit pstore` writes it; undefined without one. */
function pstoreSource(path: string, files: readonly string[]): string | undefined {
  if (!files.includes(PSTORE_META_FILE)) return undefined;
  const meta = readPstoreMeta(join(path, PSTORE_META_FILE), []);
  if (!meta) return `pstore (${PSTORE_META_FILE} unreadable)`;
  const backend = typeof meta.backend === 'string' ? meta.backend : undefined;
  const records = Array.isArray(meta.records) ? meta.records.length : undefined;
  const parts = [backend, records === undefined ? undefined : `${records} record${records === 1 ? '' : 's'}`].filter((x) => x !== undefined);
  return `pstore${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

export default show;
