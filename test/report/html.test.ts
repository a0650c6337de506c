import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { renderHtmlReport, type CrashReport } from '../../src/report/html.js';
import { escapeHtml } from '../../src/report/html-escape.js';
import { logRate } from '../../src/report/html-svg.js';
import { syntheticCrashReport } from '../helpers/crash-report.js';
import { join } from 'node:path';
import { AnalysisContext, isUnavailable } from '../../src/analyze/analyze.js';
import { crashReport } from '../../src/cli/commands/report.js';
import { REPO, need } from '../helpers/dumps.js';

const ELF = join(REPO, '.cache', 'vmcores', '6.12-nullderef', 'vmcore.elf');

const payload = (field: string): string => `<script>window.__xss=1</script>"'><img src=x onerror=alert(1)>&<!--${field}`;

/** Fields the page shows (each must appear, escaped). */
const SHOWN = [
  'sys.kernelSymbols', 'sys.kernelTypes', 'sys.dumpFile', 'dumpKind.format', 'dumpKind.description', 'sys.uptime', 'load1', 'sys.nodename', 'sys.release',
  'sys.version', 'sys.machine', 'sys.warning', 'panic.panicString', 'panic.panicMessageInMemory', 'cause.headline', 'cause.oopsLine', 'cause.workqueue',
  'crashed.cpuSource', 'crashed.comm', 'crashed.state', 'crashed.rip', 'frame.text', 'frame2.text', 'bt.note', 'cpu0.comm', 'cpu0.where', 'cpu1.where',
  'cpu1.bt.unavailable', 'row1.state', 'row1.comm', 'row155.comm', 'states.key', 'tasks.warning', 'mod.name', 'mod.state', 'mod.taints', 'taint.text',
  'taint.letter', 'taint.name', 'mod.warning', 'log0.text', 'log6.text', 'triage.sentence', 'triage.signature', 'triage.location', 'triage.context',
  'triage.evidence', 'warning', 'pages.warning', 'generator.tool',
];

function between(s: string, open: string, close: string): string {
  const a = s.indexOf(open);
  const b = s.indexOf(close, a);
  assert.ok(a >= 0 && b > a, `${open}…${close} present`);
  return s.slice(a + open.length, b);
}

test('renderHtmlReport: hostile strings in every field are shown as text, never as markup', () => {
  const out = renderHtmlReport(syntheticCrashReport(payload));
  for (const f of SHOWN) assert.ok(out.includes(escapeHtml(payload(f))), `field ${f} is shown, escaped`);
  // Only the report's own script element; no image, no comment opened by a payload.
  assert.equal(out.match(/<script/gi)?.length, 1);
  assert.doesNotMatch(out, /<img/i);
  assert.doesNotMatch(out, /<!--/);
  assert.ok(!out.includes(`"'>`), 'no attribute break-out sequence');
  // The raw payload never appears, in any field.
  assert.ok(!out.includes('<script>window.__xss'));
});

test('renderHtmlReport: self-contained, with a CSP that allows exactly its own style and script', () => {
  const out = renderHtmlReport(syntheticCrashReport((f) => `value of ${f}`));
  assert.match(out, /^<!DOCTYPE html>\n<html lang="en">/);
  const csp = between(out, '<meta http-equiv="Content-Security-Policy" content="', '">');
  const hash = (s: string): string => createHash('sha256').update(s, 'utf8').digest('base64');
  assert.ok(csp.includes(`script-src 'sha256-${hash(between(out, '<script>', '</script>'))}'`), 'script hash in the CSP');
  assert.ok(csp.includes(`style-src 'sha256-${hash(between(out, '<style>', '</style>'))}'`), 'style hash in the CSP');
  assert.match(csp, /default-src 'none'/);
  // Nothing to fetch: no src attributes, links only to anchors in the page, no CSS url()/@import.
  assert.doesNotMatch(out, /\ssrc=/i);
  for (const m of out.matchAll(/href="([^"]*)"/g)) assert.match(m[1]!, /^#[a-z-]+$/, `link ${m[1]} stays in the page`);
  assert.doesNotMatch(out, /url\(|@import|https?:\/\//i);
  // Charts are inline SVG; every section is there.
  assert.equal(out.match(/<svg /g)?.length, 4, 'page stacks (present, categories), task states, log rate');
  for (const id of ['verdict', 'summary', 'charts', 'crashed', 'cpus', 'tasks', 'modules', 'kernel-log', 'warnings']) assert.ok(out.includes(`id="${id}"`), id);
  assert.ok(out.includes('already filtered when it was saved (dump level 31)'));
});

test('renderHtmlReport: parts that could not be read are reported with their reason (escaped)', () => {
  const base = syntheticCrashReport((f) => f);
  const r: CrashReport = {
    ...base,
    analysis: { ...base.analysis, tasks: { unavailable: 'no <tasks>' }, modules: { unavailable: 'no <mods>' }, log: { unavailable: 'no <log>' } },
    pages: { unavailable: 'no <pages>' },
  };
  const out = renderHtmlReport(r);
  for (const w of ['tasks', 'mods', 'log', 'pages']) assert.ok(out.includes(`no &lt;${w}&gt;`), w);
  assert.ok(!out.includes('id="task-table"'));
  assert.ok(renderHtmlReport({ ...base, pages: undefined }).includes('not computed (--no-pages)'));
});

test('renderHtmlReport: a 10,000-line log stays a reasonable page (markup per line is small)', () => {
  const base = syntheticCrashReport((f) => f);
  const text = 'usb 1-1: new high-speed USB device number 2 using xhci_hcd and some more text'; // 78 chars
  const lines = Array.from({ length: 10000 }, (_, i) => ({ seq: i, time: i / 100, level: i % 8, caller: undefined, text }));
  const small = renderHtmlReport({ ...base, analysis: { ...base.analysis, log: { lines: [], total: 0 } } });
  const big = renderHtmlReport({ ...base, analysis: { ...base.analysis, log: { lines, total: lines.length } } });
  const perLine = (big.length - small.length) / lines.length;
  assert.ok(perLine < text.length + 60, `${perLine.toFixed(1)} bytes per log line`);
  assert.equal(big.match(/<li class="l\d">/g)?.length, 10000);
});

test('logRate: buckets cover the whole log and count by severity', () => {
  const lines = [0, 0.1, 0.2, 5, 9.9, 10].map((time, i) => ({ time, level: [3, 4, 6, 2, 7, 4][i]! }));
  const b = logRate(lines, 10);
  assert.equal(b.length, 10);
  assert.equal(b[0]!.start, 0);
  assert.equal(b[9]!.end, 10);
  assert.equal(b.reduce((n, x) => n + x.lines, 0), lines.length);
  assert.deepEqual([b[0]!.lines, b[0]!.errors, b[0]!.warnings], [3, 1, 1]);
  assert.deepEqual([b[5]!.lines, b[5]!.errors], [1, 1]);
  assert.deepEqual([b[9]!.lines, b[9]!.warnings], [2, 1]);
  assert.deepEqual(logRate([]), []);
});

/** Every string in `v` (at any depth) replaced by the hostile payload naming its path. */
function poison(v: unknown, path: string): unknown {
  if (typeof v === 'string') return payload(path);
  if (Array.isArray(v)) return v.map((x, i) => poison(x, `${path}.${i}`));
  if (v && typeof v === 'object' && !(v instanceof Date) && !(v instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, poison(x, `${path}.${k}`)]));
  }
  return v;
}

test('renderHtmlReport: the report of a real dump with every string made hostile (backtrace frames, registers, log, pages)', async (t) => {
  if (!need(t, ELF)) return;
  const ctx = await AnalysisContext.open(ELF);
  let real: CrashReport;
  try {
    real = crashReport(ctx, { pages: true, at: new Date(0) });
  } finally {
    ctx.close();
  }
  const bt = real.analysis.crashed.backtrace;
  assert.ok(bt && !isUnavailable(bt) && bt.trace, 'the real report has an unwound backtrace');
  const hostile = poison(real, 'r') as CrashReport;
  const out = renderHtmlReport(hostile);
  assert.equal(out.match(/<script/gi)?.length, 1);
  assert.doesNotMatch(out, /<img|<!--/i);
  assert.ok(!out.includes(`"'>`));
  for (const p of ['r.analysis.crashed.backtrace.trace.frames.0.text', 'r.analysis.crashed.comm', 'r.analysis.cpus.1.comm', 'r.analysis.tasks.rows.0.comm', 'r.analysis.log.lines.0.text', 'r.analysis.panic.panicString']) {
    assert.ok(out.includes(escapeHtml(payload(p))), `${p} shown escaped`);
  }
  // The real report renders too, and its page has one row per task and one item per log line.
  const page = renderHtmlReport(real);
  assert.ok(!isUnavailable(real.analysis.tasks) && !isUnavailable(real.analysis.log));
  assert.equal(page.match(/<tr class="[^"]*"><td class="n">\d+<\/td><td class="n">\d+<\/td><td class="n">\d+<\/td>/g)?.length, real.analysis.tasks.total);
  assert.equal(page.match(/<li class="l\d">/g)?.length, real.analysis.log.total);
});
