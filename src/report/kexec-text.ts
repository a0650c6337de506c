/**
 * Text renderers of the load / unload / status / test-crash reports (src/host/load.ts,
 * src/host/test-crash.ts). Pure functions: report in, text out.
 */
import type { LoadCheck, LoadPlan, KexecRun } from '../host/kexec.js';
import type { KexecExplanation } from '../host/kexec-errors.js';
import type { LoadReport, StatusReport, UnloadReport } from '../host/load.js';
import type { TestCrashReport } from '../host/test-crash.js';
import { formatSize } from '../host/crashkernel.js';

const MARK: Readonly<Record<LoadCheck['status'], string>> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

/** A shell-safe rendering of an argv (single quotes where needed), for copying into a terminal. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function checkLines(checks: readonly LoadCheck[]): string[] {
  const out: string[] = [];
  for (const c of checks) {
    out.push(`  [${MARK[c.status]}] ${c.title}`);
    if (c.status !== 'ok' && c.why) out.push(`         why: ${c.why}`);
    if (c.status !== 'ok' && c.fix) out.push(`         fix: ${c.fix}`);
  }
  return out;
}

function runLines(run: KexecRun | undefined, explanations: readonly KexecExplanation[]): string[] {
  if (!run) return [];
  const out = [`kexec exited ${run.exitCode ?? `on signal ${run.signal}`}`];
  const err = run.stderr.trimEnd();
  if (err) out.push('kexec said:', ...err.split('\n').map((l) => `  | ${l}`));
  for (const e of explanations) {
    out.push(`why: ${e.cause}`, `fix: ${e.fix}`);
  }
  return out;
}

function planLines(plan: LoadPlan): string[] {
  return [
    `kernel:  ${plan.kernel.path ?? '(none)'}  (${plan.kernel.from})`,
    `initrd:  ${plan.initrd.path ?? '(none)'}  (${plan.initrd.from})`,
    `cmdline: ${plan.cmdline ?? '(unknown)'}`,
    `syscall: ${plan.syscall.flag ?? 'kexec chooses'} (${plan.syscall.why})`,
  ];
}

export function renderLoadText(r: LoadReport): string {
  const lines = [r.summary, '', ...planLines(r.plan), ''];
  if (r.plan.argv) lines.push(`${r.dryRun ? 'would run' : r.run ? 'ran' : 'would run'}: ${shellQuote(r.plan.argv)}`, '');
  lines.push('checks:', ...checkLines(r.plan.checks));
  if (r.run) lines.push('', ...runLines(r.run, r.explanations));
  if (r.run) lines.push(`kexec_crash_loaded: ${r.loadedBefore === undefined ? '?' : r.loadedBefore ? 1 : 0} before, ${r.loadedAfter === undefined ? '?' : r.loadedAfter ? 1 : 0} after`);
  return lines.join('\n') + '\n';
}

export function renderUnloadText(r: UnloadReport): string {
  const lines = [r.summary];
  if (r.loadedBefore !== false) lines.push('', `${r.dryRun ? 'would run' : r.run ? 'ran' : 'would run'}: ${shellQuote(r.argv)}  (${r.syscall.why})`);
  if (r.run) lines.push('', ...runLines(r.run, r.explanations), `kexec_crash_loaded: ${r.loadedBefore === undefined ? '?' : r.loadedBefore ? 1 : 0} before, ${r.loadedAfter === undefined ? '?' : r.loadedAfter ? 1 : 0} after`);
  return lines.join('\n') + '\n';
}

export function renderStatusText(r: StatusReport): string {
  const res = r.reservation;
  const ranges = res.ranges === undefined ? '(no /proc/iomem)' : res.ranges.length === 0 ? 'none' : res.iomemHidden ? 'hidden (addresses read as 0: run as root)' : res.ranges.map((g) => `0x${g.start.toString(16)}-0x${g.end.toString(16)}`).join(', ');
  const lines = [
    r.summary,
    '',
    `kernel:        ${r.release ?? '(unknown)'}`,
    `crashkernel=:  ${res.params.length ? res.params.join(' ') : '(not on the command line)'}`,
    `reserved:      ${res.bytes === undefined ? '(unknown: no /sys/kernel/kexec_crash_size)' : res.bytes === 0n ? '0' : `${formatSize(res.bytes)} (${res.bytes} bytes)`}`,
    `iomem range:   ${ranges}`,
    `loaded:        ${r.loaded === undefined ? '(unknown: no /sys/kernel/kexec_crash_loaded)' : r.loaded ? 'yes (kexec_crash_loaded = 1)' : 'no (kexec_crash_loaded = 0)'}`,
    `lockdown:      ${r.lockdown ?? '(not available)'}`,
    `secure boot:   ${r.secureBoot === undefined ? '(unknown)' : r.secureBoot ? 'on' : 'off'}`,
    `config:        ${r.config.path}${r.config.exists ? '' : ' (absent: defaults)'}`,
    '',
    'kdumpkit load would use:',
    ...planLines(r.load).map((l) => `  ${l}`),
    `  argv:    ${r.load.argv ? shellQuote(r.load.argv) : '(cannot be built: see the checks)'}`,
  ];
  const problems = r.load.checks.filter((c) => c.status !== 'ok');
  if (problems.length) lines.push('', 'problems:', ...checkLines(problems));
  return lines.join('\n') + '\n';
}

export function renderTestCrashText(r: TestCrashReport): string {
  const lines = [...r.explanation, '', 'checks:', ...checkLines(r.checks), `  sysrq mask (keyboard only, left as is): ${r.sysrq ?? '(absent)'}`, ''];
  if (r.synced) lines.push(`synced: ${r.synced}`);
  lines.push(r.summary);
  return lines.join('\n') + '\n';
}
