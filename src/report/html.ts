/**
 * `kdumpkit report --html`: the analysis as one self-contained HTML page (inline CSS, a small
 * inline script, inline SVG charts; nothing is fetched). A pure function of the report objects.
 *
 * Every string that comes from the dump (task names, log text, module names, symbols, the panic
 * string) is escaped by the `html` tagged template (html-escape.ts). As a second line of
 * defence the page carries a Content-Security-Policy that allows only its own style and script
 * (by SHA-256 hash) and no network at all, so even markup that slipped through could not run a
 * script or load anything.
 */
import { createHash } from 'node:crypto';
import type { AnalyzeReport, BacktraceResult, CpuReport } from '../analyze/analyze.js';
import type { PageUsage } from '../analyze/page-usage.js';
import type { PsReport } from '../analyze/ps.js';
import type { ModReport } from '../analyze/mod.js';
import { isUnavailable, type Unavailable } from '../kernel/attempt.js';
import type { LogLine } from '../kernel/panic.js';
import { renderRegisters, renderLogLine } from './analyze-text.js';
import { traceLines } from './bt-text.js';
import { crashDate, crashSize } from './sys-text.js';
import { humanBytes } from './table.js';
import { html, join, type Html, type HtmlValue } from './html-escape.js';
import { REPORT_CSS, REPORT_JS } from './html-assets.js';
import { barChart, logRate, pct, rateChart, stackedBar, type ChartItem } from './html-svg.js';

/** What the HTML report shows (and `kdumpkit report --json` prints). */
export interface CrashReport {
  /** The full analysis (src/analyze/analyze.ts), with the whole log. */
  readonly analysis: AnalyzeReport;
  /** The page categories of a level-31 filtering; undefined when not computed (--no-pages). */
  readonly pages: PageUsage | Unavailable | undefined;
  /** Who made the report and when (shown in the footer). */
  readonly generator: { readonly tool: string; readonly at: Date };
}

const hex16 = (v: bigint | undefined): string => (v === undefined ? '-' : v.toString(16).padStart(16, '0'));
const fmt = (n: number): string => n.toLocaleString('en-US');

const STATE_NAMES: Readonly<Record<string, string>> = {
  R: 'R running',
  S: 'S sleeping',
  D: 'D uninterruptible',
  T: 'T stopped',
  t: 't traced',
  X: 'X dead',
  Z: 'Z zombie',
  P: 'P parked',
  I: 'I idle',
};

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64');
}

export function renderHtmlReport(r: CrashReport): string {
  const a = r.analysis;
  const s = a.sys;
  const title = `Crash report: ${s.nodename ?? 'unknown host'} ${s.release ?? ''}`.trim();
  const csp = `default-src 'none'; style-src 'sha256-${sha256(REPORT_CSS)}'; script-src 'sha256-${sha256(REPORT_JS)}'; img-src 'none'; form-action 'none'; base-uri 'none'`;
  const body = html`<main>
<header class="top"><h1>${title}</h1><span class="dim">${s.crashTime ? crashDate(s.crashTime) : 'crash time unknown'} · ${s.dumpFile}</span></header>
<nav class="noprint"><a href="#summary">Summary</a><a href="#charts">Charts</a><a href="#crashed">Crashed task</a><a href="#cpus">CPUs</a><a href="#tasks">Tasks</a><a href="#modules">Modules</a><a href="#kernel-log">Kernel log</a>${a.warnings.length || s.warnings.length ? html`<a href="#warnings">Warnings</a>` : ''}</nav>
${verdict(a)}
${summary(a)}
${charts(r)}
${crashedSection(a)}
${cpuSection(a.cpus)}
${tasksSection(a.tasks)}
${modulesSection(a.modules)}
${logSection(a.log)}
${warningsSection(a)}
<footer>Made by ${r.generator.tool} on ${r.generator.at.toISOString()}. Everything shown was read from the dump; nothing in this page loads from the network.</footer>
</main>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="color-scheme" content="light dark">
<meta name="generator" content="${html`${r.generator.tool}`.markup}">
<title>${html`${title}`.markup}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
${body.markup}
<script>${REPORT_JS}</script>
</body>
</html>
`;
}

function verdict(a: AnalyzeReport): Html {
  const t = a.triage;
  const p = a.panic;
  return html`<section class="verdict" id="verdict" aria-label="verdict">
<p class="sentence">${t.sentence}</p>
<p class="panic" id="panic-line">${p.panicString === undefined ? 'no panic message found' : html`PANIC: ${p.panicString}`}</p>
${p.cause?.oopsLine ? html`<p class="panic">${p.cause.oopsLine}</p>` : ''}
<p class="sig">signature: ${t.signature}</p>
</section>`;
}

function kv(label: string, value: HtmlValue): Html {
  return html`<dt>${label}</dt><dd>${value === undefined || value === '' ? html`<span class="dim">unavailable</span>` : value}</dd>`;
}

function summary(a: AnalyzeReport): Html {
  const s = a.sys;
  const p = a.panic;
  const t = a.triage;
  const mods = a.modules;
  const taint = !isUnavailable(mods) && !isUnavailable(mods.taint) ? mods.taint.text.trimEnd() : p.tainted;
  const taskCount = isUnavailable(a.tasks) ? undefined : a.tasks.total;
  return html`<section id="summary"><h2>Summary</h2><div class="grid">
<dl class="kv">
${kv('Host', s.nodename)}
${kv('Kernel', s.release)}
${kv('Version', s.version)}
${kv('Machine', s.machine === undefined ? undefined : `${s.machine}${s.cpuMhz ? ` (${s.cpuMhz} MHz)` : ''}`)}
${kv('CPUs', s.cpus === undefined ? undefined : s.cpusOnline !== undefined && s.cpusOnline !== s.cpus ? `${s.cpus} (${s.cpusOnline} online)` : String(s.cpus))}
${kv('Memory', s.memoryBytes === undefined ? undefined : `${crashSize(s.memoryBytes)}${s.totalRamBytes !== undefined ? ` (total RAM ${crashSize(s.totalRamBytes)})` : ''}`)}
${kv('Crash time', s.crashTime ? crashDate(s.crashTime) : undefined)}
${kv('Uptime', s.uptime)}
${kv('Load average', s.loadAverage?.join(', '))}
${kv('Tasks', taskCount === undefined ? undefined : html`<span id="task-count">${taskCount}</span>${s.nrThreads !== undefined ? html` <span class="dim">(nr_threads ${s.nrThreads}, plus one idle task per CPU)</span>` : ''}`)}
</dl>
<dl class="kv">
${kv('Panic', p.panicString)}
${p.cause && p.cause.headline !== p.panicString ? kv('Cause', p.cause.headline) : ''}
${p.panicMessageInMemory && p.panicMessageInMemory !== p.panicString ? kv('Panic buffer', p.panicMessageInMemory) : ''}
${kv('Location', t.location)}
${kv('Context', t.context)}
${kv('Crashed task', a.crashed.pid === undefined ? undefined : `PID ${a.crashed.pid} "${a.crashed.comm ?? '?'}" on CPU ${a.crashed.cpu ?? '?'} (from ${a.crashed.cpuSource})`)}
${p.cause?.workqueue ? kv('Workqueue', p.cause.workqueue) : ''}
${p.sysrq ? kv('SysRq', "the crash was triggered with SysRq 'c'") : ''}
${kv('Taint', taint)}
${kv('Dump', `${s.dumpKind.format}; ${s.dumpKind.description}`)}
${kv('Dump file', html`<span class="mono">${s.dumpFile}</span>`)}
${kv('Symbols', s.kernelSymbols)}
${kv('Types', s.kernelTypes)}
</dl></div>
${t.evidence.length ? html`<h3>Evidence</h3><ul class="evidence">${t.evidence.map((e) => html`<li>${e}</li>`)}</ul>` : ''}
</section>`;
}

function charts(r: CrashReport): Html {
  const a = r.analysis;
  return html`<section id="charts"><h2>Charts</h2><div class="charts">
<section><h3>Memory pages by makedumpfile category</h3>${pagesChart(r.pages)}</section>
<section><h3>Task states</h3>${isUnavailable(a.tasks) ? html`<p class="dim">tasks unavailable: ${a.tasks.unavailable}</p>` : stateChart(a.tasks)}</section>
<section><h3>Kernel log lines over time (since boot)</h3>${isUnavailable(a.log) ? html`<p class="dim">log unavailable: ${a.log.unavailable}</p>` : logChart(a.log.lines)}</section>
</div></section>`;
}

function pagesChart(p: PageUsage | Unavailable | undefined): Html {
  if (p === undefined) return html`<p class="dim">not computed (--no-pages)</p>`;
  if (isUnavailable(p)) return html`<p class="dim">page classification unavailable: ${p.unavailable}</p>`;
  const size = (n: number): string => humanBytes(n * p.pageSize);
  const e = p.excluded;
  const items: ChartItem[] = [
    { label: 'kept (kernel data)', value: p.keptPages, cls: 'kept', note: size(p.keptPages) },
    { label: 'zero-filled', value: e.zero, cls: 'zero', note: size(e.zero) },
    { label: 'page cache', value: e.cache, cls: 'cache', note: size(e.cache) },
    { label: 'private cache', value: e.cachePrivate, cls: 'cachep', note: size(e.cachePrivate) },
    { label: 'user data', value: e.user, cls: 'user', note: size(e.user) },
    { label: 'free', value: e.free, cls: 'free', note: size(e.free) },
  ];
  if (e.hwpoison) items.push({ label: 'hwpoison', value: e.hwpoison, cls: 'hw', note: size(e.hwpoison) });
  if (e.offline) items.push({ label: 'offline', value: e.offline, cls: 'off', note: size(e.offline) });
  const excluded = items.slice(1).reduce((n, i) => n + i.value, 0);
  const f = p.alreadyFiltered;
  return html`${f
    ? html`<p class="note">This dump was already filtered when it was saved (dump level ${f.dumpLevel}): it holds ${fmt(f.presentPages)} of ${fmt(p.ramPages)} RAM pages (${pct(f.presentPages, p.ramPages)}); ${fmt(f.absentPages)} are not in the file. The categories below come from the struct pages, which the dump keeps; zero-filled pages are counted among the pages present.</p>
${stackedBar('pages present in the dump file', [
  { label: 'in the file', value: f.presentPages, cls: 'kept', note: size(f.presentPages) },
  { label: 'left out when saved', value: f.absentPages, cls: 'absent', note: size(f.absentPages) },
])}`
    : ''}
${stackedBar(`pages a dump level ${p.level} would keep and exclude`, items)}
<p class="dim">Dump level ${p.level} (makedumpfile -d ${p.level}) keeps ${fmt(p.keptPages)} of ${fmt(p.ramPages)} RAM pages (${size(p.keptPages)}) and excludes ${fmt(excluded)}. Counted by kdumpkit's page filter (${p.rules} makedumpfile rules) in ${p.seconds < 1 ? `${Math.round(p.seconds * 1000)} ms` : `${p.seconds.toFixed(1)} s`}.${p.unreadablePages ? ` ${fmt(p.unreadablePages)} pages could not be read.` : ''}</p>${p.warnings.map((w) => html`<p class="note">${w}</p>`)}`;
}

function stateChart(t: PsReport): Html {
  const items = Object.entries(t.states)
    .sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))
    .map(([st, n]) => ({ label: STATE_NAMES[st] ?? st, value: n, cls: /^[RSDIZT]$/.test(st) ? `s-${st}` : 's-o' }));
  return html`${barChart('tasks per state', items)}<p class="dim">${fmt(t.total)} tasks.</p>`;
}

function logChart(lines: readonly LogLine[]): Html {
  const errors = lines.filter((l) => l.level <= 3).length;
  const warnings = lines.filter((l) => l.level === 4).length;
  return html`${rateChart('kernel log lines per time interval', logRate(lines, 60))}<ul class="legend"><li><span class="sw rate-e" aria-hidden="true"></span>error or worse <b>${fmt(errors)}</b></li><li><span class="sw rate-w" aria-hidden="true"></span>warning <b>${fmt(warnings)}</b></li><li><span class="sw rate-o" aria-hidden="true"></span>other <b>${fmt(lines.length - errors - warnings)}</b></li></ul>`;
}

function backtraceBlock(bt: BacktraceResult | Unavailable | undefined, noUnwinder: boolean): Html {
  if (bt === undefined) return noUnwinder ? html`<p class="dim">no backtrace: no unwinder in this build; see the call trace in the kernel log</p>` : html``;
  if (isUnavailable(bt)) return html`<p class="dim">backtrace unavailable: ${bt.unavailable}</p>`;
  const lines = bt.trace ? traceLines(bt.trace).slice(1) : bt.frames.map((f, i) => `#${String(i).padStart(2)} ${f.unreliable ? '? ' : ''}${f.text}`);
  return html`<pre class="bt">${lines.join('\n')}</pre>${(bt.notes ?? []).map((n) => html`<p class="dim">note: ${n}</p>`)}`;
}

function crashedSection(a: AnalyzeReport): Html {
  const c = a.crashed;
  return html`<section id="crashed"><h2>Crashed task</h2>
<p>PID <b>${c.pid ?? '?'}</b> · <span class="mono">${c.comm ?? '?'}</span> · task <span class="mono">${hex16(c.task)}</span> · CPU ${c.cpu ?? '?'} <span class="dim">(from ${c.cpuSource})</span>${c.state ? ` · state ${c.state}` : ''}${c.kthread ? ' · kernel thread' : ''}</p>
${c.rip ? html`<p>RIP at the crash: <span class="mono">${c.rip}</span></p>` : ''}
<h3>Backtrace</h3>${backtraceBlock(c.backtrace, !a.backtraces)}
${c.registers ? html`<details><summary>Saved registers (PRSTATUS)</summary><pre>${renderRegisters(c.registers, '').trimEnd()}</pre></details>` : ''}
</section>`;
}

function cpuSection(cpus: readonly CpuReport[]): Html {
  const rows = cpus.map(
    (c) => html`<tr class="${c.crashed ? 'crashed' : ''}"><td class="n">${c.cpu}</td><td class="n">${c.pid ?? '-'}</td><td>${c.comm ?? '-'}</td><td class="m">${hex16(c.task)}</td><td class="m">${hex16(c.rip)}</td><td class="w">${c.where ?? '-'}${c.crashed ? html` <b>(crashed)</b>` : ''}</td></tr>`,
  );
  const bts = cpus
    .filter((c) => c.backtrace !== undefined)
    .map((c) => html`<details><summary>CPU ${c.cpu}: backtrace of PID ${c.pid ?? '?'} ${c.comm ?? ''}</summary>${backtraceBlock(c.backtrace, false)}</details>`);
  return html`<section id="cpus"><h2>CPUs</h2><div class="wrap"><table class="tbl"><thead><tr><th class="n">CPU</th><th class="n">PID</th><th>COMM</th><th>TASK</th><th>RIP</th><th>WHERE</th></tr></thead><tbody>${rows}</tbody></table></div>${bts}</section>`;
}

function tasksSection(t: PsReport | Unavailable): Html {
  if (isUnavailable(t)) return html`<section id="tasks"><h2>Tasks</h2><p class="dim">unavailable: ${t.unavailable}</p></section>`;
  const num = (v: number | undefined, digits = 0): Html => (v === undefined ? html`<td class="n" data-v="-1">-</td>` : html`<td class="n">${digits ? v.toFixed(digits) : v}</td>`);
  const rows = t.rows.map(
    (x) =>
      html`<tr class="${[x.crashed ? 'crashed' : '', x.activeOn !== undefined ? 'active' : ''].join(' ').trim()}"><td class="n">${x.pid}</td><td class="n">${x.ppid}</td><td class="n">${x.cpu}</td><td>${x.state}</td>${num(x.memPercent, 1)}${num(x.vszKiB)}${num(x.rssKiB)}<td class="${x.kthread || x.idle ? 'kthread' : ''}">${x.kthread || x.idle ? html`[${x.comm}]` : x.comm}</td><td class="m">${hex16(x.task)}</td></tr>`,
  );
  const states = Object.entries(t.states)
    .map(([st, n]) => `${n} ${st}`)
    .join(', ');
  return html`<section id="tasks"><h2>Tasks</h2>
<p class="dim"><span id="task-rows">${t.rows.length}</span> tasks (${states})${t.nrThreads !== undefined ? `; nr_threads ${t.nrThreads}` : ''}. Kernel threads in [brackets]; the crashed task is highlighted, tasks running on a CPU are marked at the left. Click a column header to sort.</p>
<div class="wrap"><table class="tbl sortable" id="task-table"><thead><tr><th class="n" data-type="num">PID</th><th class="n" data-type="num">PPID</th><th class="n" data-type="num">CPU</th><th>ST</th><th class="n" data-type="num">%MEM</th><th class="n" data-type="num">VSZ KiB</th><th class="n" data-type="num">RSS KiB</th><th>COMM</th><th>TASK</th></tr></thead>
<tbody>${join(rows, '\n')}</tbody></table></div></section>`;
}

function modulesSection(m: ModReport | Unavailable): Html {
  if (isUnavailable(m)) return html`<section id="modules"><h2>Modules</h2><p class="dim">unavailable: ${m.unavailable}</p></section>`;
  const rows = m.modules.map(
    (x) =>
      html`<tr><td>${x.name}</td><td class="m">${hex16(x.base)}</td><td class="n">${x.size}</td><td>${x.state}</td><td>${x.taints || '-'}</td><td class="n">${x.refcount ?? '-'}</td><td class="m">${hex16(x.module)}</td></tr>`,
  );
  const taint = isUnavailable(m.taint)
    ? html`<p class="dim">kernel taint unavailable: ${m.taint.unavailable}</p>`
    : html`<p>Kernel taint: <span class="mono">${m.taint.text.trimEnd()}</span>${m.taint.flags.length ? html` <span class="dim">(${m.taint.flags.map((f) => `${f.letter}=${f.name}`).join(', ')})</span>` : ''}</p>`;
  return html`<section id="modules"><h2>Modules</h2>${taint}${
    m.modules.length
      ? html`<div class="wrap"><table class="tbl sortable" id="module-table"><thead><tr><th>NAME</th><th>BASE</th><th class="n" data-type="num">SIZE</th><th>STATE</th><th>TAINTS</th><th class="n" data-type="num">REFS</th><th>MODULE</th></tr></thead><tbody>${rows}</tbody></table></div>`
      : html`<p class="dim">no modules loaded</p>`
  }</section>`;
}

function logSection(log: AnalyzeReport['log']): Html {
  if (isUnavailable(log)) return html`<section id="log"><h2>Kernel log</h2><p class="dim">unavailable: ${log.unavailable}</p></section>`;
  const items = log.lines.map((l) => {
    const text = renderLogLine(l);
    const cut = text.indexOf('] ') + 1;
    const lvl = Math.min(7, Math.max(0, l.level));
    return html`<li class="l${lvl}"><span class="t">${text.slice(0, cut)}</span>${text.slice(cut)}</li>`;
  });
  const shown = log.lines.length === log.total ? `${fmt(log.total)} lines` : `the last ${fmt(log.lines.length)} of ${fmt(log.total)} lines`;
  return html`<section id="kernel-log"><h2 id="log-title">Kernel log</h2>
<p class="dim">${shown}; errors in red, warnings in amber, debug dimmed.</p>
<div class="filter noprint" id="log-filter" hidden></div>
<ol class="log" id="log">${join(items)}</ol></section>`;
}

function warningsSection(a: AnalyzeReport): Html {
  const all = [...new Set([...a.warnings, ...a.sys.warnings, ...(isUnavailable(a.tasks) ? [] : a.tasks.warnings), ...(isUnavailable(a.modules) ? [] : a.modules.warnings)])];
  if (!all.length) return html``;
  return html`<section id="warnings"><h2>Warnings</h2><ul class="warnings">${all.map((w) => html`<li>${w}</li>`)}</ul></section>`;
}

