/**
 * The result of `check` and `doctor`: a list of findings, each saying what was looked at,
 * whether it is fine, why it matters for catching the next crash, and the exact fix.
 *
 * Statuses:
 *   ok    nothing to do
 *   warn  a crash would still be captured, but something is weaker than it should be (less
 *         memory reserved than recommended, no BTF, an old incomplete dump, ...)
 *   fail  a crash now (or after the next boot) would NOT be captured, or kdumpkit cannot work
 *
 * Exit codes (what scripts want: "will a crash be captured?"): 0 when nothing failed (warnings
 * allowed), 1 when at least one finding failed; with `strict`, warnings count as failures.
 */

export type FindingStatus = 'ok' | 'warn' | 'fail';

export interface Finding {
  /** Stable identifier, e.g. `config.crash-dump`, for scripts and tests. */
  readonly id: string;
  readonly status: FindingStatus;
  /** One line: what was found. */
  readonly title: string;
  /** Why it matters to kdump (and to kdumpkit's analysis without debuginfo). */
  readonly why: string;
  /** The exact command or file edit that fixes it (absent when there is nothing to do). */
  readonly fix?: string;
  /** What it was read from: files (real paths under the root) and values seen. */
  readonly evidence?: readonly string[];
}

/** One step of doctor's failure walk: the first broken link of the chain, with the remedy. */
export interface DiagnosisStep {
  readonly problem: string;
  readonly causes: readonly string[];
  readonly remedy: readonly string[];
}

export interface CheckReport {
  readonly command: 'check' | 'doctor';
  /** The machine root that was checked ('/' = this machine). */
  readonly root: string;
  /** The kernel release checked (running one unless --release). */
  readonly release: string | undefined;
  /** True when `release` is the running kernel (live /proc and /sys state applies to it). */
  readonly running: boolean;
  readonly findings: readonly Finding[];
  readonly counts: { readonly ok: number; readonly warn: number; readonly fail: number };
  readonly worst: FindingStatus;
  /** doctor only: the failure walk, in the order a crash goes through the chain. */
  readonly diagnosis?: readonly DiagnosisStep[];
}

const RANK: Readonly<Record<FindingStatus, number>> = { ok: 0, warn: 1, fail: 2 };

export function worstStatus(findings: readonly Finding[]): FindingStatus {
  let w: FindingStatus = 'ok';
  for (const f of findings) if (RANK[f.status] > RANK[w]) w = f.status;
  return w;
}

export function countStatuses(findings: readonly Finding[]): { ok: number; warn: number; fail: number } {
  const c = { ok: 0, warn: 0, fail: 0 };
  for (const f of findings) c[f.status]++;
  return c;
}

/** 0 when nothing failed (warnings allowed unless `strict`), 1 otherwise. */
export function exitCodeFor(worst: FindingStatus, strict = false): number {
  if (worst === 'fail') return 1;
  if (worst === 'warn' && strict) return 1;
  return 0;
}

export function makeReport(command: 'check' | 'doctor', root: string, release: string | undefined, running: boolean, findings: readonly Finding[], diagnosis?: readonly DiagnosisStep[]): CheckReport {
  return { command, root, release, running, findings, counts: countStatuses(findings), worst: worstStatus(findings), ...(diagnosis ? { diagnosis } : {}) };
}
