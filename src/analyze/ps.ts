/**
 * `kdumpkit ps`: every task of the crashed kernel (src/kernel/tasks.ts), with the task each CPU
 * was running marked, as crash's `ps` lists them.
 */
import type { AnalysisContext } from './analyze.js';
import { isUnavailable } from '../kernel/attempt.js';
import type { Task } from '../kernel/tasks.js';
import { MissingInfoError } from '../util/errors.js';

export interface PsRow {
  readonly pid: number;
  readonly tgid: number;
  readonly ppid: number;
  readonly cpu: number;
  readonly task: bigint;
  /** ps state letter (R S D T t X Z P I). */
  readonly state: string;
  readonly memPercent: number | undefined;
  readonly vszKiB: number | undefined;
  readonly rssKiB: number | undefined;
  readonly comm: string;
  readonly kthread: boolean;
  readonly idle: boolean;
  /** The CPU this task was running on (rq->curr), if any. */
  readonly activeOn: number | undefined;
  /** The task that crashed. */
  readonly crashed: boolean;
}

export interface PsReport {
  readonly rows: readonly PsRow[];
  /** Tasks found (before any filter). */
  readonly total: number;
  /** How many tasks in each state. */
  readonly states: Readonly<Record<string, number>>;
  readonly nrThreads: number | undefined;
  readonly warnings: readonly string[];
}

export interface PsOptions {
  /** Keep tasks whose pid, task address (hex) or comm matches one of these (crash's `ps PID|TASK|COMM`). */
  readonly filters?: readonly string[];
  /** The crashed task's address, to mark it. */
  readonly crashedTask?: bigint;
}

export function matchesFilter(t: Task, f: string): boolean {
  if (/^\d+$/.test(f)) return t.pid === Number(f);
  if (/^(0x)?[0-9a-f]{16}$/i.test(f)) return t.address === BigInt(f.startsWith('0x') ? f : '0x' + f);
  return t.comm === f;
}

export function psReport(ctx: AnalysisContext, opts: PsOptions = {}): PsReport {
  const tl = ctx.tasks;
  if (isUnavailable(tl)) throw new MissingInfoError(`the task list cannot be read: ${tl.unavailable}`);
  let crashed = opts.crashedTask;
  if (crashed === undefined) {
    const cpu = ctx.panic.panicCpu !== undefined && ctx.panic.panicCpu >= 0 ? ctx.panic.panicCpu : ctx.panic.crashingCpu;
    if (cpu !== undefined && cpu >= 0) crashed = tl.runqueues.find((r) => r.cpu === cpu)?.curr;
  }
  const states: Record<string, number> = {};
  for (const t of tl.tasks) states[t.state] = (states[t.state] ?? 0) + 1;
  const filters = opts.filters ?? [];
  const rows = tl.tasks
    .filter((t) => filters.length === 0 || filters.some((f) => matchesFilter(t, f)))
    .map((t) => ({
      pid: t.pid,
      tgid: t.tgid,
      ppid: t.ppid,
      cpu: t.cpu,
      task: t.address,
      state: t.state,
      memPercent: t.memory?.memPercent ?? (t.mm === 0n ? 0 : undefined),
      vszKiB: t.memory?.vszKiB ?? (t.mm === 0n ? 0 : undefined),
      rssKiB: t.memory?.rssKiB ?? (t.mm === 0n ? 0 : undefined),
      comm: t.comm,
      kthread: t.kthread,
      idle: t.idle,
      activeOn: t.activeOn,
      crashed: t.address === crashed,
    }));
  return { rows, total: tl.tasks.length, states, nrThreads: tl.nrThreads, warnings: tl.warnings };
}
