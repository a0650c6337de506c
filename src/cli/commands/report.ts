import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { analyzeReport, isUnavailable, type AnalysisContext } from '../../analyze/analyze.js';
import { pageUsage } from '../../analyze/page-usage.js';
import { attempt } from '../../kernel/attempt.js';
import { renderAnalyzeText } from '../../report/analyze-text.js';
import { renderHtmlReport, type CrashReport } from '../../report/html.js';
import { renderJson } from '../../report/json.js';
import { TargetError } from '../../collect/target.js';
import { UsageError } from '../../util/errors.js';
import type { CommandSpec, Io } from '../command.js';
import { KERNEL_HELP_NOTE, KERNEL_OPTION_HELP, KERNEL_OPTIONS, withContext } from './analyze.js';
import { KDUMPKIT_VERSION as VERSION } from '../../util/version.js';


const options = { ...KERNEL_OPTIONS, html: { type: 'string' }, 'no-pages': { type: 'boolean' } } as const;

/** Everything the report shows: the analysis with the whole log, and the level-31 page categories. */
export function crashReport(ctx: AnalysisContext, opts: { pages: boolean; logLines?: number; at?: Date }): CrashReport {
  const analysis = analyzeReport(ctx, { logLines: opts.logLines ?? Infinity });
  return {
    analysis,
    pages: opts.pages ? attempt(() => pageUsage(ctx.dump, 31)) : undefined,
    generator: { tool: `kdumpkit ${VERSION}`, at: opts.at ?? new Date() },
  };
}

/**
 * Writes `text` to `path` through a temporary file in the same directory and a rename, so the
 * path holds either the previous file or the whole new report, never half of one.
 */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o644);
  } catch (e) {
    throw new TargetError(tmp, e as NodeJS.ErrnoException, 'create');
  }
  try {
    const data = Buffer.from(text, 'utf8');
    let done = 0;
    while (done < data.length) done += writeSync(fd, data, done, data.length - done);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // Already renamed or never created: nothing to clean up.
    }
    throw new TargetError(path, e as NodeJS.ErrnoException, 'write');
  }
}

/** Fails before the (long) analysis when the report could not be written anyway. */
function checkTarget(path: string): void {
  const dir = dirname(path);
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new TargetError(dir, e as NodeJS.ErrnoException, 'write the report into');
  }
  if (!st.isDirectory()) throw new UsageError(`report: ${dir} is not a directory`, 'Give --html a file path in an existing directory, or - for standard output.');
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`report: ${path} is a directory`, 'Give --html a file name, e.g. --html report.html.');
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
}

function pageLines(r: CrashReport): string {
  const p = r.pages;
  if (p === undefined) return '';
  if (isUnavailable(p)) return `\n== PAGES ==\nunavailable: ${p.unavailable}\n`;
  const e = p.excluded;
  const lines = [
    '',
    `== PAGES (dump level ${p.level}) ==`,
    `RAM pages: ${p.ramPages}  kept: ${p.keptPages}`,
    `excluded: zero ${e.zero}, cache ${e.cache}, private cache ${e.cachePrivate}, user ${e.user}, free ${e.free}, hwpoison ${e.hwpoison}, offline ${e.offline}`,
  ];
  if (p.alreadyFiltered) lines.push(`the dump was saved with dump level ${p.alreadyFiltered.dumpLevel}: ${p.alreadyFiltered.presentPages} pages are in the file, ${p.alreadyFiltered.absentPages} were left out`);
  return lines.join('\n') + '\n';
}

const report: CommandSpec<typeof options> = {
  name: 'report',
  summary: 'a crash report as one self-contained HTML page (or text / JSON)',
  usage: ['report DUMP --html FILE|- [--no-pages] [--vmlinux FILE | --system-map FILE] [--btf FILE]', 'report DUMP [--json] [--no-pages]'],
  help: `
Makes the report of 'kdumpkit analyze' into one self-contained HTML file to open in a browser, attach
to a ticket or print: nothing in it is fetched from the network (no fonts, no CDN, no scripts
from elsewhere), and it reads fine without JavaScript.

The page shows:
  VERDICT       the triage sentence, the panic line and the crash signature
  SUMMARY       kernel, host, CPUs, memory, crash time, uptime, task count, taint, dump kind
  CHARTS        memory pages by makedumpfile category (what 'makedumpfile -d 31' / 'kdumpkit
                save' would keep and exclude: zero, page cache, private cache, user, free),
                tasks per state, kernel log lines over time
  CRASHED TASK  its backtrace and saved registers
  CPUS, TASKS, MODULES  tables (click a column header to sort)
  KERNEL LOG    the whole log, colored by level, with a text and level filter

Every string read from the dump (task names, log text, module names) is escaped, and the page's
Content-Security-Policy allows only its own inline style and script.

The page classification reads every struct page and every page the dump keeps (a few seconds
per GiB); --no-pages skips it. A kdump-compressed dump that was already filtered when saved is
reported as such: the chart then also shows how many pages the file holds.

Without --html the report is printed as text (the analyze report plus the page counts); with
--json the report object is printed ({ analysis, pages, generator }).
${KERNEL_HELP_NOTE}

Examples:
  kdumpkit report /var/crash/2026-11-25-08:30:00/vmcore --html crash.html
  kdumpkit report vmcore --html - > crash.html
  kdumpkit report vmcore --json | jq .pages.excluded`,
  options,
  optionHelp: {
    ...KERNEL_OPTION_HELP,
    json: 'print the report object as JSON (addresses and 64-bit values as "0x…" strings)',
    html: 'write the HTML report to FILE (replaced atomically), or - for standard output',
    'no-pages': 'skip the page classification (the memory chart)',
  },
  minPositionals: 1,
  maxPositionals: 1,
  async run(args, io: Io) {
    const v = args.values;
    const target = v.html;
    if (target !== undefined && target === '') throw new UsageError('report: --html wants a file name, or - for standard output');
    if (target === '-' && v.json) throw new UsageError('report: --html - and --json both want standard output', 'Write the HTML to a file (--html FILE) to get both.');
    if (target !== undefined && target !== '-') checkTarget(target);
    return withContext(args.positionals[0]!, v, (ctx) => {
      const html = target !== undefined;
      const r = crashReport(ctx, { pages: !v['no-pages'], ...(html || v.json ? {} : { logLines: 40 }) });
      if (html) {
        const page = renderHtmlReport(r);
        if (target === '-') io.out(page);
        else {
          writeFileAtomic(target, page);
          if (!v.json) io.err(`kdumpkit: report written to ${target} (${Math.ceil(Buffer.byteLength(page) / 1024)} KiB)\n`);
        }
      }
      if (v.json) io.out(renderJson(r));
      else if (!html) io.out(renderAnalyzeText(r.analysis) + pageLines(r));
      return 0;
    });
  },
};

export default report;
