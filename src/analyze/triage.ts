/**
 * Triage: what killed the kernel, in one sentence, and a signature to group identical crashes.
 *
 * Derived from the dump only: the crash report the kernel logged (its kind, headline, RIP,
 * CPU/PID/Comm and Workqueue lines, printed call trace — see src/kernel/panic.ts), the saved
 * registers of the crashing CPU, the crashing task (kernel thread or workqueue worker, from its
 * task flags) and, when an unwinder is plugged in, its backtrace. Frames belonging to the
 * crash machinery itself (dump_stack, panic, oops_end, the exception entry, the watchdog
 * interrupt, kexec) are skipped: the first frames left are where things went wrong.
 */
import type { CrashKind, LogFrame, LogReport, PanicFacts } from '../kernel/panic.js';
import type { Task } from '../kernel/tasks.js';
import type { CrashedTask } from './analyze.js';
import { isUnavailable } from '../kernel/attempt.js';

/** PF_WQ_WORKER: "I'm a workqueue worker" (include/linux/sched.h). */
const PF_WQ_WORKER = 0x20;

/** What crashed the kernel (panic.ts CrashKind), a SysRq-triggered crash, or unknown. */
export type TriageKind = 'sysrq' | CrashKind | 'unknown';

export interface Triage {
  readonly kind: TriageKind;
  /** One sentence of cause. */
  readonly sentence: string;
  /** "kind: f1 < f2 < f3 [module]" — stable across identical crashes (no offsets, no addresses). */
  readonly signature: string;
  /** Where it happened: "func+0x47/0x80 [module]". */
  readonly location: string | undefined;
  readonly function: string | undefined;
  readonly module: string | undefined;
  /** Who was running: a process, a kernel thread, a workqueue worker, interrupt context. */
  readonly context: string | undefined;
  /** The first meaningful frames (names, innermost first). */
  readonly frames: readonly string[];
  /** Where each conclusion came from. */
  readonly evidence: readonly string[];
}

export interface TriageInput {
  readonly panic: PanicFacts;
  readonly crashed?: CrashedTask;
  readonly tasks?: readonly Task[];
  readonly symbolize?: (addr: bigint) => { text: string; name: string; module: string | undefined } | undefined;
}

/** The crash machinery: never the culprit. Compiler suffixes (.cold, .isra.0) are ignored. */
const MACHINERY = new Set([
  'dump_stack', 'dump_stack_lvl', 'show_stack', 'show_trace_log_lvl', 'panic', 'vpanic', 'nmi_panic', '__crash_kexec', 'crash_kexec',
  'machine_kexec', 'crash_setup_regs', 'native_machine_crash_shutdown', 'crash_save_cpu', 'oops_end', 'die', '__die', '__die_body', 'die_body',
  'do_trap', 'do_error_trap', 'handle_invalid_op', 'handle_bug', 'exc_invalid_op', 'asm_exc_invalid_op', 'exc_page_fault',
  'asm_exc_page_fault', 'page_fault_oops', 'do_user_addr_fault', 'do_kern_addr_fault', 'kernelmode_fixup_or_oops', '__bad_area_nosemaphore',
  'bad_area_nosemaphore', 'no_context', 'exc_general_protection', 'asm_exc_general_protection', 'fixup_exception', 'report_bug', '__warn',
  'warn_slowpath_fmt', 'watchdog_timer_fn', 'watchdog_overflow_callback', '__hrtimer_run_queues', 'hrtimer_interrupt',
  'hrtimer_run_queues', '__sysvec_apic_timer_interrupt', 'sysvec_apic_timer_interrupt', 'asm_sysvec_apic_timer_interrupt',
  'local_apic_timer_interrupt', 'smp_apic_timer_interrupt', 'apic_timer_interrupt', 'perf_event_nmi_handler', 'nmi_handle',
  'default_do_nmi', 'exc_nmi', 'asm_exc_nmi', 'end_repeat_nmi', 'check_hung_uninterruptible_tasks', 'watchdog', '_printk', 'printk',
  'vprintk', 'vprintk_emit', 'vprintk_default', 'print_cpu_stall', 'rcu_sched_clock_irq', 'update_process_times', 'tick_sched_handle',
  'tick_sched_timer', 'tick_nohz_handler', 'irq_exit_rcu', 'sysvec_call_function_single', 'exc_int3', 'asm_exc_int3',
]);

/** Frames of the generic paths below the culprit (syscall and kthread entry): not culprits either. */
const ENTRY = new Set(['entry_SYSCALL_64_after_hwframe', 'do_syscall_64', 'ret_from_fork', 'ret_from_fork_asm', 'kthread', 'worker_thread', 'process_one_work']);

export function baseName(name: string): string {
  return name.replace(/\.(cold|isra|constprop|part|llvm|lto_priv)(\.\d+)*.*$/, '');
}

interface Frame {
  readonly name: string;
  readonly text: string;
  readonly module: string | undefined;
}

/** Frames after the crash machinery; for a panic() report, the callers of panic(). */
export function meaningfulFrames(frames: readonly Frame[], kind: string): Frame[] {
  let start = 0;
  if (kind === 'panic' || kind === 'sysrq') {
    const i = frames.findIndex((f) => baseName(f.name) === 'panic' || baseName(f.name) === 'vpanic');
    if (i >= 0) start = i + 1;
  }
  return frames.slice(start).filter((f) => !MACHINERY.has(baseName(f.name)));
}

function fromLog(fr: readonly LogFrame[]): Frame[] {
  return fr.filter((f) => !f.unreliable).map((f) => ({ name: f.name, text: f.text, module: f.module }));
}

function hexAddr(a: bigint): string {
  return '0x' + a.toString(16);
}

/** Who was running, in words. */
function describeContext(cause: LogReport | undefined, task: Task | undefined, crashed: CrashedTask | undefined, moduleInit: string | undefined): string | undefined {
  const comm = task?.comm ?? cause?.comm ?? crashed?.comm;
  const pid = task?.pid ?? cause?.pid ?? crashed?.pid;
  const who = comm !== undefined ? `${comm}${pid !== undefined ? ` (pid ${pid})` : ''}` : pid !== undefined ? `pid ${pid}` : undefined;
  // Lockup and stall reports are printed from a timer interrupt about the task it interrupted.
  const reportedFromIrq = cause?.kind === 'soft-lockup' || cause?.kind === 'hard-lockup' || cause?.kind === 'rcu-stall' || cause?.kind === 'hung-task';
  if (cause?.caller?.startsWith('C') && !reportedFromIrq) return `in interrupt context on CPU ${cause.caller.slice(1)}`;
  if (cause?.workqueue) return `in workqueue worker ${who ?? '?'} running work ${cause.workqueue.fn}${cause.workqueue.module ? ` [${cause.workqueue.module}]` : ''}`;
  if (task && task.flags & PF_WQ_WORKER) return `in workqueue worker ${who}`;
  if (task?.idle) return `in the idle task of CPU ${task.cpu}`;
  if (task?.kthread || crashed?.kthread) return `in kernel thread ${who}`;
  if (who === undefined) return undefined;
  return `in ${who}${moduleInit ? ` while loading module ${moduleInit}` : ''}`;
}

export function triage(input: TriageInput): Triage {
  const { panic: p, crashed } = input;
  const evidence: string[] = [];
  const cause = p.cause;
  if (!cause) {
    const why = p.panicMessageInMemory ? `panic() message in memory: "${p.panicMessageInMemory}"` : 'no oops, BUG, lockup or panic line in the log';
    evidence.push(why);
    const sentence = p.panicMessageInMemory
      ? `Kernel panic ("${p.panicMessageInMemory}"); the log holds no report of it.`
      : 'No crash report in the log: the dump was taken without a kernel panic or oops (e.g. by the hypervisor, or a live dump).';
    return { kind: 'unknown', sentence, signature: 'unknown', location: undefined, function: undefined, module: undefined, context: undefined, frames: [], evidence };
  }
  let kind: TriageKind = cause.kind;
  if (kind === 'panic' && p.sysrq) kind = 'sysrq';
  if (kind === 'panic' && /stack-protector|stack is corrupted/i.test(cause.message ?? '')) kind = 'stack-protector';
  evidence.push(`log: "${cause.headline}" at ${cause.time.toFixed(6)}`);
  if (cause !== p.panic && p.panic) evidence.push(`log: then "${p.panic.headline}"`);

  // The task: by the report's pid, else the one running on the crashing CPU.
  const pid = cause.pid ?? crashed?.pid;
  const task = input.tasks?.find((t) => t.pid === pid && (cause.comm === undefined || t.comm === cause.comm)) ?? input.tasks?.find((t) => t.pid === pid);

  // Frames: the unwinder's backtrace of the crashed task when it is the report's task; else the
  // kernel's own printed trace (reliable lines only).
  let frames: Frame[] = [];
  const bt = crashed?.backtrace;
  const sameTask = crashed?.pid !== undefined && (cause.pid === undefined || cause.pid === crashed.pid);
  if (bt && !isUnavailable(bt) && sameTask && bt.frames.length > 0) {
    frames = bt.frames.filter((f) => f.name !== undefined && !f.unreliable).map((f) => ({ name: f.name!, text: f.text, module: f.module }));
    evidence.push(`backtrace of pid ${crashed.pid} (${frames.length} frames, unwound from the dump)`);
  }
  if (frames.length === 0) {
    frames = fromLog(cause.callTrace);
    if (frames.length === 0 && p.panic && cause !== p.panic) frames = fromLog(p.panic.callTrace);
    if (frames.length > 0) evidence.push(`call trace printed by the kernel (${frames.length} frames)`);
  }

  // Where: the oops RIP (log line, confirmed by or taken from the saved registers), else the
  // first meaningful frame.
  let location: string | undefined;
  let locName: string | undefined;
  let locModule: string | undefined;
  const regsRip = crashed?.rip;
  if (kind !== 'panic' && kind !== 'sysrq' && kind !== 'stack-protector') {
    if (cause.rip) {
      location = cause.rip.text;
      locName = cause.rip.name;
      locModule = cause.rip.module;
      evidence.push(`log: RIP ${cause.rip.text}${regsRip === cause.rip.text ? ' (the saved registers agree)' : ''}`);
    } else if (regsRip && crashed?.registers && input.symbolize) {
      const s = input.symbolize(crashed.registers.rip);
      if (s && !MACHINERY.has(baseName(s.name))) {
        location = s.text;
        locName = s.name;
        locModule = s.module;
        evidence.push(`saved registers of CPU ${crashed.cpu}: RIP ${s.text}`);
      }
    }
  }
  const mf = meaningfulFrames(frames, kind);
  if (location === undefined) {
    const first = mf.find((f) => !ENTRY.has(baseName(f.name))) ?? mf[0];
    if (first) {
      location = first.text;
      locName = first.name;
      locModule = first.module;
    }
  }
  // Signature frames: the location, then the callers; recursion collapsed.
  const names: string[] = [];
  const sigFrames = locName !== undefined && (mf.length === 0 || baseName(mf[0]!.name) !== baseName(locName)) ? [{ name: locName, text: location ?? locName, module: locModule }, ...mf] : mf;
  for (const f of sigFrames) {
    const n = baseName(f.name);
    if (names[names.length - 1] !== n) names.push(n);
  }
  const top = names.filter((n) => !ENTRY.has(n)).slice(0, 3);
  const module = locModule ?? sigFrames.find((f) => f.module)?.module;
  const signature = `${kind}: ${top.join(' < ') || '?'}${module ? ` [${module}]` : ''}`;

  const moduleInit = module && sigFrames.some((f) => /^(do_init_module|do_one_initcall)$/.test(baseName(f.name))) ? module : undefined;
  const context = describeContext(cause, task, crashed, moduleInit);
  const ctx = context ? `, ${context}` : '';
  const where = location ?? 'an unknown function';
  const fn = locName !== undefined ? `${baseName(locName)}${locModule ? ` [${locModule}]` : ''}` : where;
  let sentence: string;
  switch (kind) {
    case 'sysrq': {
      const via = frames.some((f) => baseName(f.name) === 'write_sysrq_trigger') ? 'a write to /proc/sysrq-trigger' : "the SysRq 'c' key";
      sentence = `Deliberate crash: SysRq 'c' (${via}) made the kernel panic ("${cause.message ?? ''}")${ctx}; not a kernel fault.`;
      break;
    }
    case 'null-deref':
      sentence = `NULL pointer dereference${cause.address !== undefined ? ` at address ${hexAddr(cause.address)}` : ''} in ${where}${ctx}.`;
      break;
    case 'page-fault':
      sentence = `Bad kernel memory access (page fault at ${cause.address !== undefined ? hexAddr(cause.address) : 'an unmapped address'}) in ${where}${ctx}.`;
      break;
    case 'general-protection':
      sentence = `General protection fault${cause.address !== undefined ? ` (non-canonical address ${hexAddr(cause.address)})` : ''} in ${where}${ctx}.`;
      break;
    case 'bug':
      sentence = `BUG() at ${fn}${cause.location ? ` (${cause.location})` : ''}${ctx}.`;
      break;
    case 'invalid-opcode':
      sentence = `Invalid opcode (a BUG()/UD2 or corrupt code) at ${where}${ctx}.`;
      break;
    case 'oops':
      sentence = `Kernel oops (${cause.oopsLine ?? cause.headline}) at ${where}${ctx}.`;
      break;
    case 'soft-lockup': {
      const m = /stuck for (\d+)s/.exec(cause.headline);
      sentence = `Soft lockup: CPU ${cause.cpu ?? '?'} stuck for ${m?.[1] ?? '?'}s in ${fn}${ctx}; the watchdog panicked (softlockup_panic).`;
      break;
    }
    case 'hard-lockup':
      sentence = `Hard lockup: CPU ${cause.cpu ?? '?'} stopped taking interrupts in ${where}${ctx}.`;
      break;
    case 'hung-task': {
      const m = /more than (\d+) seconds/.exec(cause.headline);
      sentence = `Hung task: ${cause.comm ?? '?'} (pid ${cause.pid ?? '?'}) blocked in D state for more than ${m?.[1] ?? '?'}s${location ? ` in ${fn}` : ''}; khungtaskd panicked (hung_task_panic).`;
      break;
    }
    case 'rcu-stall':
      sentence = `RCU stall (${cause.headline})${location ? ` in ${where}` : ''}${ctx}.`;
      break;
    case 'oom':
      sentence = `Out of memory: ${p.panic && p.panic !== cause ? p.panic.message ?? cause.headline : cause.headline}.`;
      break;
    case 'warning':
      sentence = `WARNING at ${cause.location ?? where} in ${fn}${ctx}, turned into a panic (panic_on_warn).`;
      break;
    case 'double-fault':
      sentence = `Double fault (usually a kernel stack overflow) in ${where}${ctx}.`;
      break;
    case 'stack-protector':
      sentence = `Kernel stack corruption detected by the stack protector ("${cause.message ?? ''}")${location ? ` in ${fn}` : ''}${ctx}.`;
      break;
    case 'bad-page':
      sentence = `Bad page state (${cause.headline})${ctx}.`;
      break;
    default:
      sentence = `panic("${cause.message ?? ''}") called from ${fn}${ctx}.`;
      break;
  }
  return { kind, sentence, signature, location, function: locName, module, context, frames: names.slice(0, 8), evidence };
}
