/**
 * Text rendering of a `check` / `doctor` report: one aligned line per finding (status word,
 * then what was found); failures and warnings add why, the fix and the evidence, indented under
 * it. Colour (green/yellow/red status words) only when writing to a terminal, so logs and pipes
 * get plain text.
 */
import type { CheckReport, Finding, FindingStatus } from '../host/findings.js';

export interface CheckTextOptions {
  /** Colour the status words (the CLI sets this when stdout is a TTY). */
  readonly color?: boolean;
  /** Also print why/evidence for ok findings. */
  readonly verbose?: boolean;
}

const WORD: Readonly<Record<FindingStatus, string>> = { ok: 'ok', warn: 'WARN', fail: 'FAIL' };
const COLOR: Readonly<Record<FindingStatus, string>> = { ok: '\x1b[32m', warn: '\x1b[33m', fail: '\x1b[1;31m' };
const RESET = '\x1b[0m';
const INDENT = ' '.repeat(6);

function word(s: FindingStatus, color: boolean): string {
  const w = WORD[s].padEnd(4);
  return color ? `${COLOR[s]}${w}${RESET}` : w;
}

function renderFinding(f: Finding, o: CheckTextOptions): string[] {
  const lines = [`${word(f.status, o.color === true)}  ${f.title}`];
  if (f.status === 'ok' && !o.verbose) return lines;
  lines.push(`${INDENT}why: ${f.why}`);
  if (f.fix) lines.push(`${INDENT}fix: ${f.fix}`);
  for (const e of f.evidence ?? []) lines.push(`${INDENT}from: ${e}`);
  return lines;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function renderCheckText(r: CheckReport, o: CheckTextOptions = {}): string {
  const head = `kdumpkit ${r.command}: kernel ${r.release ?? '(unknown release)'}${r.running ? '' : ' (not the running kernel)'}${r.root === '/' ? '' : `, root ${r.root}`}`;
  const lines = [head, ''];
  for (const f of r.findings) lines.push(...renderFinding(f, o));
  if (r.diagnosis) {
    lines.push('', 'Diagnosis (the chain a crash goes through: reserved, loaded, saved, stored):');
    if (r.diagnosis.length === 0) lines.push('  no broken link found.');
    r.diagnosis.forEach((d, i) => {
      lines.push(`  ${i + 1}. ${d.problem}`);
      for (const c of d.causes) lines.push(`       cause: ${c}`);
      lines.push(`       remedy: ${d.remedy.join('; then ')}`);
    });
  }
  const { ok, warn, fail } = r.counts;
  const verdict = fail > 0 ? 'a crash now would not be captured.' : warn > 0 ? 'a crash would be captured; the warnings make it less reliable or less useful.' : 'a crash would be captured and analyzed.';
  lines.push('', `${plural(ok, 'ok', 'ok')}, ${plural(warn, 'warning', 'warnings')}, ${plural(fail, 'failure', 'failures')}: ${verdict}`);
  return lines.join('\n') + '\n';
}
