/**
 * Text renderers of the crash catalog (src/catalog/): the `list` table, the signature groups,
 * a prune plan, and the report of an entry that has only a log. Pure functions; colors only
 * when the caller says the output is a terminal.
 */
import type { CatalogEntry, EntryStatus } from '../catalog/entries.js';
import type { SignatureGroup } from '../catalog/groups.js';
import type { PrunePlan } from '../catalog/prune.js';
import type { LogVerdict } from '../catalog/log-signature.js';
import type { LogLine } from '../kernel/panic.js';
import { renderLogLine } from './analyze-text.js';
import { humanBytes, renderTable } from './table.js';

const COLORS: Readonly<Record<EntryStatus, string>> = { complete: '\x1b[32m', incomplete: '\x1b[33m', unreadable: '\x1b[31m' };
const RESET = '\x1b[0m';

/** "2026-11-25 08:04:37" (UTC, as the directory name). */
export function shortTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
}

export function renderCatalogList(dir: string, entries: readonly CatalogEntry[], opts: { color?: boolean } = {}): string {
  if (entries.length === 0) return `No crashes in ${dir}.\n`;
  const header = ['ID', 'HOST', 'KERNEL', 'KIND', 'PANIC', 'SIGNATURE', 'LEVEL', 'SIZE', 'STATUS'];
  const rows = entries.map((e) => [e.id, e.host ?? '-', e.release ?? '-', e.kind, e.panicKind ?? '-', e.signature ?? '-', e.level === undefined ? '-' : String(e.level), humanBytes(e.sizeBytes), e.status]);
  let table = renderTable(header, rows, new Set([6, 7]));
  if (opts.color) {
    // STATUS is the last column, so each row line ends with it.
    const lines = table.split('\n');
    table = lines.map((l, i) => (i === 0 || i > entries.length ? l : l.replace(/(complete|incomplete|unreadable)$/, (s) => `${COLORS[s as EntryStatus]}${s}${RESET}`))).join('\n');
  }
  const notes: string[] = [];
  for (const e of entries) {
    if (e.error) notes.push(`${e.id}: ${e.status}: ${e.error}`);
    for (const n of e.notes) notes.push(`${e.id}: ${n}`);
  }
  const total = entries.reduce((s, e) => s + e.sizeBytes, 0);
  return `${table}\n${entries.length} crash${entries.length === 1 ? '' : 'es'} in ${dir}, ${humanBytes(total)} on disk.\n${notes.map((n) => n + '\n').join('')}`;
}

export function renderGroups(dir: string, groups: readonly SignatureGroup[]): string {
  if (groups.length === 0) return `No crashes with a signature in ${dir}.\n`;
  const rows = groups.map((g) => [String(g.count), shortTime(g.firstSeen), shortTime(g.lastSeen), kinds(g), g.signature]);
  return renderTable(['COUNT', 'FIRST SEEN', 'LAST SEEN', 'DUMPS/LOGS', 'SIGNATURE'], rows, new Set([0])) + `\n${groups.length} signature${groups.length === 1 ? '' : 's'} in ${dir} (times are UTC).\n`;
}

function kinds(g: SignatureGroup): string {
  return `${g.kinds.vmcore}/${g.kinds.pstore}`;
}

export function renderPrunePlan(dir: string, plan: PrunePlan, dryRun: boolean): string {
  const lines: string[] = [];
  const verb = dryRun ? 'would delete' : 'deleted';
  for (const e of plan.remove) lines.push(`${verb} ${e.id}  (${e.kind}, ${e.status}, ${humanBytes(e.sizeBytes)})`);
  for (const l of plan.leftovers) lines.push(`${verb} ${l.name}  (left by an interrupted prune, ${humanBytes(l.sizeBytes)})`);
  if (plan.protectedBeyondKeep && plan.protectedId) lines.push(`kept ${plan.protectedId}: the newest complete dump is never deleted`);
  const n = plan.remove.length;
  if (n === 0 && plan.leftovers.length === 0) lines.push(`Nothing to delete in ${dir}: ${plan.kept.length} crash${plan.kept.length === 1 ? '' : 'es'}, keeping ${plan.keep}.`);
  else lines.push(`${dryRun ? 'Would free' : 'Freed'} ${humanBytes(plan.freedBytes)}; ${plan.kept.length} crash${plan.kept.length === 1 ? '' : 'es'} kept in ${dir}.${dryRun ? ' (dry run: nothing was deleted)' : ''}`);
  return lines.join('\n') + '\n';
}

/** `show` of an entry without a vmcore: what the log says. */
export function renderLogEntry(e: CatalogEntry, v: LogVerdict, tail: readonly LogLine[], source?: string): string {
  const t = v.triage;
  const lines = [
    '== VERDICT (from the log; no vmcore) ==',
    t.sentence,
    `signature: ${t.signature}`,
    ...(t.location ? [`location:  ${t.location}`] : []),
    '',
    '== CRASH ==',
    `      ID: ${e.id}`,
    `    KIND: ${e.kind}`,
    `  STATUS: ${e.status}${e.error ? ` (${e.error})` : ''}`,
    ...(source ? [`  SOURCE: ${source}`] : []),
    `  KERNEL: ${v.release ?? '-'}`,
    `   PANIC: ${v.panic.panicString ?? v.panic.cause?.headline ?? '-'}`,
    ...(v.panic.cause?.oopsLine ? [`    OOPS: ${v.panic.cause.oopsLine}`] : []),
    `     LOG: ${v.lines} lines in ${e.path}/dmesg.txt`,
    '',
    `== LOG (last ${tail.length} lines) ==`,
    ...tail.map((l) => renderLogLine(l)),
  ];
  return lines.join('\n') + '\n';
}
