/**
 * `kdumpkit analyze`: one report of why the kernel died, built from the parts the subcommands
 * report on their own (sys, ps, mod, log) plus the panic reason, the crashing task, the other
 * CPUs and a triage verdict.
 *
 * AnalysisContext opens the dump and the kernel once and reads each part lazily and once, so
 * the full report and the subcommands share the work. Every part is best effort: a part that
 * cannot be read (a partial dump, a missing symbol) is reported as { unavailable: why }.
 */
import { openDump, type Dump } from '../formats/open.js';
import { Kernel, type KernelOptions } from '../kernel/kernel.js';
import { readPrintkLog } from '../kernel/printk.js';
import { logLines, readPanicFacts, type LogLine, type PanicFacts } from '../kernel/panic.js';
import { readTasks, type Task, type TaskList } from '../kernel/tasks.js';
import { ModuleSymbols, readModules, type ModuleList } from '../kernel/modules.js';
import { readSysFacts, type SysFacts } from '../kernel/sysinfo.js';
import { PerCpu, prstatusCpus, readCpuSet } from '../kernel/cpus.js';
import { attempt, isUnavailable, type Unavailable } from '../kernel/attempt.js';
import type { X86Registers } from '../formats/vmcore/prstatus.js';
import { KdumpkitError, MissingInfoError } from '../util/errors.js';
import { sysReport, type SysReport } from './sys.js';
import { psReport, type PsReport } from './ps.js';
import { modReport, type ModReport } from './mod.js';
import { triage, type Triage } from './triage.js';
import { btReport, type BtTrace } from './bt.js';

export type { Unavailable } from '../kernel/attempt.js';
export { isUnavailable } from '../kernel/attempt.js';

export type AnalysisOptions = KernelOptions;

/** Backtrace frames as the analyses use them (from the unwinder, when one is plugged in). */
export interface BacktraceFrame {
  /** "func+0x12/0x80 [module]" or a raw address. */
  readonly text: string;
  readonly name: string | undefined;
  readonly module: string | undefined;
  readonly pc: bigint;
  readonly unreliable?: boolean;
}

export interface BacktraceResult {
  readonly frames: readonly BacktraceFrame[];
  /** The unwinder's own trace object (rendered by src/report/bt-text.ts). */
  readonly trace?: BtTrace;
  readonly notes?: readonly string[];
}

/** A backtrace provider: the unwinder's API, adapted. */
export type BacktraceProvider = (ctx: AnalysisContext, task: Task) => BacktraceResult;

/** Backtraces from the ORC unwinder (src/analyze/bt.ts). */
export const orcBacktraces: BacktraceProvider = (ctx, task) => {
  const r = btReport(ctx.kernel, { targets: ['0x' + task.address.toString(16)] });
  const t = r.traces[0];
  if (!t) return { frames: [], notes: r.notes };
  return {
    frames: t.frames.map((f) => ({ text: f.text, name: f.function, module: f.module, pc: f.ip, unreliable: !f.reliable })),
    trace: t,
    notes: r.notes,
  };
};

export class AnalysisContext {
  private sysCache: SysFacts | undefined;
  private tasksCache: TaskList | Unavailable | undefined;
  private modulesCache: ModuleList | Unavailable | undefined;
  private modSymsCache: ModuleSymbols | undefined;
  private logCache: { lines: LogLine[]; kind: string; warnings: string[] } | Unavailable | undefined;
  private panicCache: PanicFacts | undefined;
  private cpuMapCache: number[] | undefined;
  /** Where backtraces come from (the ORC unwinder); undefined: no backtraces. */
  backtraceProvider: BacktraceProvider | undefined = orcBacktraces;
  readonly warnings: string[] = [];

  constructor(
    readonly dump: Dump,
    readonly kernel: Kernel,
  ) {}

  static async open(path: string, opts: AnalysisOptions = {}): Promise<AnalysisContext> {
    const dump = await openDump(path);
    try {
      return new AnalysisContext(dump, Kernel.open(dump, opts));
    } catch (e) {
      dump.close();
      throw e;
    }
  }

  close(): void {
    this.dump.close();
  }

  get sys(): SysFacts {
    this.sysCache ??= readSysFacts(this.kernel);
    return this.sysCache;
  }

  get tasks(): TaskList | Unavailable {
    this.tasksCache ??= attempt(() => readTasks(this.kernel, { totalRamPages: this.sys.totalRamPages }));
    return this.tasksCache;
  }

  get modules(): ModuleList | Unavailable {
    this.modulesCache ??= attempt(() => readModules(this.kernel));
    return this.modulesCache;
  }

  get moduleSymbols(): ModuleSymbols | undefined {
    const m = this.modules;
    if (isUnavailable(m)) return undefined;
    this.modSymsCache ??= new ModuleSymbols(this.kernel, m.modules, this.warnings);
    return this.modSymsCache;
  }

  get log(): { lines: LogLine[]; kind: string; warnings: string[] } | Unavailable {
    this.logCache ??= attempt(() => {
      const log = readPrintkLog(this.kernel.mem, this.kernel.info);
      return { lines: logLines(log), kind: log.kind, warnings: log.warnings };
    });
    return this.logCache;
  }

  get panic(): PanicFacts {
    const log = this.log;
    this.panicCache ??= readPanicFacts(isUnavailable(log) ? [] : log.lines, this.kernel);
    return this.panicCache;
  }

  /** CPU number of each PRSTATUS note (dump.prstatus order). */
  get prstatusCpus(): number[] {
    if (!this.cpuMapCache) {
      let percpu: PerCpu | undefined;
      try {
        percpu = new PerCpu(this.kernel);
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
      }
      const cpus = readCpuSet(this.kernel);
      this.cpuMapCache = prstatusCpus(this.kernel, percpu, cpus, this.warnings);
    }
    return this.cpuMapCache;
  }

  /** The PRSTATUS registers saved for `cpu`. */
  registersOf(cpu: number): { pid: number; registers: X86Registers } | undefined {
    const i = this.prstatusCpus.indexOf(cpu);
    return i < 0 ? undefined : this.dump.prstatus[i];
  }

  /** "func+0x12/0x80 [module]" for a kernel or module text address, as the kernel prints it. */
  symbolize(addr: bigint): { text: string; name: string; module: string | undefined } | undefined {
    if (addr < 0xffff800000000000n) return undefined;
    const core = this.kernel.symbols.symbolize(addr);
    if (core && core.size !== undefined && !core.symbol.module && core.offset < 0x100000n) {
      return { text: `${core.symbol.name}+0x${core.offset.toString(16)}/0x${core.size.toString(16)}`, name: core.symbol.name, module: undefined };
    }
    const m = this.moduleSymbols?.symbolize(addr);
    if (m) return { text: `${m.name}+0x${m.offset.toString(16)}/0x${m.size.toString(16)} [${m.module}]`, name: m.name, module: m.module };
    return undefined;
  }

  /** The backtrace of a task, when an unwinder is plugged in. */
  backtrace(task: Task): BacktraceResult | Unavailable | undefined {
    const p = this.backtraceProvider;
    if (!p) return undefined;
    return attempt(() => p(this, task));
  }
}

/** The CPU and task that crashed, and how we know. */
export interface CrashedTask {
  readonly cpu: number | undefined;
  /** Which evidence named the CPU: panic_cpu, crashing_cpu, the crash report's CPU line. */
  readonly cpuSource: string;
  readonly pid: number | undefined;
  readonly comm: string | undefined;
  readonly task: bigint | undefined;
  readonly state: string | undefined;
  readonly kthread: boolean | undefined;
  /** The PRSTATUS registers of that CPU. */
  readonly registers: X86Registers | undefined;
  /** RIP symbolized: the oops location (crash_kexec(regs)) or the crash path (panic). */
  readonly rip: string | undefined;
  readonly backtrace: BacktraceResult | Unavailable | undefined;
}

export function crashedTask(ctx: AnalysisContext): CrashedTask {
  const p = ctx.panic;
  let cpu: number | undefined;
  let cpuSource = 'unknown';
  if (p.panicCpu !== undefined && p.panicCpu >= 0) {
    cpu = p.panicCpu;
    cpuSource = 'panic_cpu';
  } else if (p.crashingCpu !== undefined && p.crashingCpu >= 0) {
    cpu = p.crashingCpu;
    cpuSource = 'crashing_cpu';
  } else if (p.cause?.cpu !== undefined) {
    cpu = p.cause.cpu;
    cpuSource = 'the crash report in the log';
  }
  const regs = cpu === undefined ? undefined : ctx.registersOf(cpu);
  const tl = ctx.tasks;
  let task: Task | undefined;
  if (!isUnavailable(tl) && cpu !== undefined) {
    const rq = tl.runqueues.find((r) => r.cpu === cpu);
    task = tl.tasks.find((t) => t.address === rq?.curr);
  }
  // A PRSTATUS pid is the kernel's only for kdump-made notes (QEMU numbers its vCPUs there).
  const pid = task?.pid ?? p.cause?.pid;
  const rip = regs ? ctx.symbolize(regs.registers.rip)?.text : undefined;
  return {
    cpu,
    cpuSource,
    pid,
    comm: task?.comm ?? p.cause?.comm,
    task: task?.address,
    state: task?.state,
    kthread: task?.kthread,
    registers: regs?.registers,
    rip,
    backtrace: task ? ctx.backtrace(task) : undefined,
  };
}

export interface CpuReport {
  readonly cpu: number;
  readonly pid: number | undefined;
  readonly comm: string | undefined;
  readonly task: bigint | undefined;
  readonly idle: boolean | undefined;
  readonly crashed: boolean;
  readonly rip: bigint | undefined;
  /** Symbolized RIP, or "user mode" for a user-space address. */
  readonly where: string | undefined;
  readonly backtrace: BacktraceResult | Unavailable | undefined;
}

export function cpuReports(ctx: AnalysisContext, crashedCpu: number | undefined, withBacktraces: boolean): CpuReport[] {
  const tl = ctx.tasks;
  const cpus = ctx.prstatusCpus;
  const out: CpuReport[] = [];
  const seen = new Set<number>();
  cpus.forEach((cpu, i) => {
    const pr = ctx.dump.prstatus[i]!;
    seen.add(cpu);
    let task: Task | undefined;
    if (!isUnavailable(tl)) {
      const rq = tl.runqueues.find((r) => r.cpu === cpu);
      task = tl.tasks.find((t) => t.address === rq?.curr);
    }
    const rip = pr.registers.rip;
    const user = (pr.registers.cs & 3n) === 3n;
    out.push({
      cpu,
      pid: task?.pid,
      comm: task?.comm,
      task: task?.address,
      idle: task?.idle,
      crashed: cpu === crashedCpu,
      rip,
      where: user ? 'user mode' : ctx.symbolize(rip)?.text,
      backtrace: withBacktraces && task && cpu !== crashedCpu ? ctx.backtrace(task) : undefined,
    });
  });
  if (!isUnavailable(tl)) {
    for (const rq of tl.runqueues) {
      if (seen.has(rq.cpu)) continue;
      const task = tl.tasks.find((t) => t.address === rq.curr);
      out.push({ cpu: rq.cpu, pid: task?.pid, comm: task?.comm, task: rq.curr, idle: task?.idle, crashed: rq.cpu === crashedCpu, rip: undefined, where: 'no saved registers (no PRSTATUS note for this CPU)', backtrace: undefined });
    }
  }
  return out.sort((a, b) => a.cpu - b.cpu);
}

export interface PanicSection {
  /** crash's PANIC: the panic() line, or the headline of the report that stopped the kernel. */
  readonly panicString: string | undefined;
  readonly panicMessageInMemory: string | undefined;
  readonly cause: {
    readonly kind: string;
    readonly headline: string;
    readonly oopsLine: string | undefined;
    readonly rip: string | undefined;
    readonly time: number;
    readonly cpu: number | undefined;
    readonly pid: number | undefined;
    readonly comm: string | undefined;
    readonly workqueue: string | undefined;
  } | undefined;
  readonly sysrq: boolean;
  readonly panicCpu: number | undefined;
  readonly crashingCpu: number | undefined;
  readonly tainted: string | undefined;
}

export function panicSection(ctx: AnalysisContext): PanicSection {
  const p = ctx.panic;
  const c = p.cause;
  const mods = ctx.modules;
  return {
    panicString: p.panicString ?? c?.headline,
    panicMessageInMemory: p.panicMessageInMemory,
    cause: c && {
      kind: c.kind,
      headline: c.headline,
      oopsLine: c.oopsLine,
      rip: c.rip?.text,
      time: c.time,
      cpu: c.cpu,
      pid: c.pid,
      comm: c.comm,
      workqueue: c.workqueue ? `${c.workqueue.name} ${c.workqueue.fn}${c.workqueue.module ? ` [${c.workqueue.module}]` : ''}` : undefined,
    },
    sysrq: p.sysrq,
    panicCpu: p.panicCpu,
    crashingCpu: p.crashingCpu,
    tainted: isUnavailable(mods) ? c?.tainted : undefined,
  };
}

export interface AnalyzeReport {
  readonly sys: SysReport;
  readonly panic: PanicSection;
  readonly crashed: CrashedTask;
  readonly cpus: readonly CpuReport[];
  readonly tasks: PsReport | Unavailable;
  readonly modules: ModReport | Unavailable;
  /** The last lines of the log. */
  readonly log: { readonly lines: readonly LogLine[]; readonly total: number } | Unavailable;
  readonly triage: Triage;
  /** Whether backtraces could be made (an unwinder is plugged in). */
  readonly backtraces: boolean;
  readonly warnings: readonly string[];
}

/** The triage verdict alone (what `analyze` reports as .triage), e.g. for the crash catalog. */
export function triageOf(ctx: AnalysisContext, crashed: CrashedTask = crashedTask(ctx)): Triage {
  const tl = ctx.tasks;
  return triage({
    panic: ctx.panic,
    crashed,
    tasks: isUnavailable(tl) ? undefined : tl.tasks,
    symbolize: (a) => ctx.symbolize(a),
  });
}

export interface AnalyzeOptions {
  /** How many log lines to include (default 40). */
  readonly logLines?: number;
}

export function analyzeReport(ctx: AnalysisContext, opts: AnalyzeOptions = {}): AnalyzeReport {
  const sys = sysReport(ctx);
  const crashed = crashedTask(ctx);
  const cpus = cpuReports(ctx, crashed.cpu, true);
  const tl = ctx.tasks;
  const tasks = isUnavailable(tl) ? tl : psReport(ctx);
  const mods = ctx.modules;
  const modules = isUnavailable(mods) ? mods : modReport(ctx);
  const log = ctx.log;
  const n = opts.logLines ?? 40;
  const tri = triageOf(ctx, crashed);
  const warnings = [...ctx.warnings, ...ctx.panic.warnings];
  if (!isUnavailable(log)) warnings.push(...log.warnings);
  return {
    sys,
    panic: panicSection(ctx),
    crashed,
    cpus,
    tasks,
    modules,
    log: isUnavailable(log) ? log : { lines: log.lines.slice(-n), total: log.lines.length },
    triage: tri,
    backtraces: ctx.backtraceProvider !== undefined,
    warnings,
  };
}

/** `kdumpkit log`: the log lines, and the boot time that turns their timestamps into dates. */
export interface LogReport {
  readonly kind: string;
  readonly lines: readonly LogLine[];
  /** Seconds since the epoch at boot = CRASHTIME - uptime (for -T), when asked for and known. */
  readonly bootTime: number | undefined;
  /** How the boot time was derived. */
  readonly bootTimeSource: string | undefined;
  readonly warnings: readonly string[];
}

export function logReport(ctx: AnalysisContext, opts: { wallClock?: boolean } = {}): LogReport {
  const log = ctx.log;
  if (isUnavailable(log)) throw new MissingInfoError(`the kernel log cannot be read: ${log.unavailable}`);
  let bootTime: number | undefined;
  let bootTimeSource: string | undefined;
  if (opts.wallClock) {
    const crash = ctx.kernel.info.crashTime;
    if (crash === undefined) throw new MissingInfoError('VMCOREINFO has no CRASHTIME: log timestamps cannot be turned into dates');
    const s = ctx.sys;
    const up = s.uptimeJiffies ?? s.uptimeTimekeeper ?? log.lines[log.lines.length - 1]?.time;
    if (up === undefined) throw new MissingInfoError('the uptime at the crash is unknown: log timestamps cannot be turned into dates');
    bootTime = Number(crash) - up;
    bootTimeSource = `CRASHTIME ${crash} - uptime ${up.toFixed(3)} s (${s.uptimeJiffies !== undefined ? 'jiffies_64' : s.uptimeTimekeeper !== undefined ? 'timekeeper' : 'last log record'})`;
  }
  return { kind: log.kind, lines: log.lines, bootTime, bootTimeSource, warnings: log.warnings };
}
