/**
 * `bt`: backtraces of the crashed kernel's tasks, as report objects.
 *
 * Default: the crashed task (the task running on the CPU that crashed: panic_cpu). `all`: the
 * task each CPU was running (crash's `bt -a`). `allTasks`: every task (crash's `foreach bt`).
 * `targets`: tasks by PID (decimal; several tasks for PID 0, the idle tasks) or task_struct
 * address (hex).
 *
 * Frames are symbolized as the kernel prints them (`func+0x12/0x80 [module]`); frames whose ip
 * came from registers (the start registers, an interrupt/exception pt_regs) are exact, the
 * others are return addresses (looked up at ip - 1, as %pB does).
 */
import type { Kernel } from '../kernel/kernel.js';
import { KernelUnwinder, type TaskBacktrace } from '../kernel/unwind/kernel-unwinder.js';
import type { EndReason, FrameSource, PtRegs, StackKind } from '../kernel/unwind/stack.js';
import type { TaskInfo } from '../kernel/unwind/tasks.js';
import { KdumpkitError, UsageError } from '../util/errors.js';

export interface BtOptions {
  /** The active task of every CPU that has saved registers. */
  readonly all?: boolean;
  /** Every task. */
  readonly allTasks?: boolean;
  /** PIDs (decimal) or task_struct addresses (hex, 0x… or 16 digits). */
  readonly targets?: readonly string[];
}

export interface BtFrame {
  readonly index: number;
  /** The stack address crash shows in brackets: where the ip was found (or the sp of the start registers). */
  readonly sp: bigint;
  readonly ip: bigint;
  /** `func+0x12/0x80 [module]`, or the address when no symbol covers it. */
  readonly text: string;
  readonly function: string | undefined;
  readonly offset: bigint | undefined;
  readonly size: bigint | undefined;
  readonly module: string | undefined;
  readonly stack: StackKind;
  readonly source: FrameSource;
  /** False when the unwinder had to guess (frame-pointer fallback in code without ORC data). */
  readonly reliable: boolean;
  /** For a frame interrupted by an interrupt or exception: the pt_regs found on the stack. */
  readonly regs?: { readonly address: bigint; readonly partial: boolean; readonly values: PtRegs };
}

export interface BtTrace {
  readonly pid: number;
  readonly tgid: number;
  readonly comm: string;
  readonly task: bigint;
  /** task_cpu(), or the CPU it was running on. */
  readonly cpu: number | undefined;
  readonly state: string;
  /** Running on a CPU whose registers the dump saved. */
  readonly active: boolean;
  /** The task running on the CPU that crashed. */
  readonly crashed: boolean;
  readonly start: 'prstatus' | 'saved-context';
  readonly frames: readonly BtFrame[];
  /** The user-mode registers where the kernel stack ends (syscall or interrupt from user space). */
  readonly userRegs: PtRegs | undefined;
  /** Only the hardware iret frame of userRegs is known (RIP, CS, RFLAGS, RSP, SS). */
  readonly userRegsPartial: boolean;
  readonly end: { readonly reason: EndReason; readonly detail: string };
}

export interface BtReport {
  readonly release: string | undefined;
  readonly crashedCpu: number | undefined;
  readonly traces: readonly BtTrace[];
  /** What could not be read, what was assumed. */
  readonly notes: readonly string[];
}

export function btReport(k: Kernel, opts: BtOptions = {}): BtReport {
  const u = KernelUnwinder.for(k);
  const crashed = attempt(() => u.crashedTask());
  let traces: TaskBacktrace[];
  if (opts.allTasks) {
    traces = u.tasks().map((t) => u.backtrace(t));
    // Without a task list (no BTF), at least what each CPU was running.
    if (traces.length === 0) traces = activeTraces(u);
  } else if (opts.targets && opts.targets.length > 0) {
    traces = opts.targets.flatMap((t) => resolveTarget(u, t)).map((t) => u.backtrace(t));
  } else if (opts.all || !crashed) {
    traces = activeTraces(u);
  } else {
    traces = [u.backtrace(crashed)];
  }
  const crashedAddr = crashed?.address;
  return { release: k.info.osrelease, crashedCpu: u.crashedCpu, traces: traces.map((t) => toTrace(t, crashedAddr, u.crashedCpu)), notes: [...u.notes] };
}

/** The task each CPU with saved registers was running; from the registers alone if the task is unreadable. */
function activeTraces(u: KernelUnwinder): TaskBacktrace[] {
  const out: TaskBacktrace[] = [];
  for (const c of u.cpus) {
    if (!c.prstatus) continue;
    const task = c.curr !== undefined && c.curr !== 0n ? attempt(() => u.task(c.curr!)) : undefined;
    const bt = task && u.runningCpu(task.address) === c ? u.backtrace(task) : u.backtraceCpu(c);
    if (bt) out.push(bt);
  }
  return out;
}

function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof KdumpkitError) return undefined;
    throw e;
  }
}

function resolveTarget(u: KernelUnwinder, arg: string): TaskInfo[] {
  const s = arg.trim();
  if (/^0x[0-9a-f]+$/i.test(s) || /^[0-9a-f]{9,16}$/i.test(s) || (/[a-f]/i.test(s) && /^[0-9a-f]+$/i.test(s))) {
    const addr = BigInt(s.startsWith('0x') || s.startsWith('0X') ? s : '0x' + s);
    // Kernel addresses are in the upper half (x86_64: from 0xff00… with 5-level paging).
    if (addr < 0xff00000000000000n || addr > 0xffffffffffffffffn) throw new UsageError(`bt: '${arg}' is not a kernel address`, 'Give a decimal PID or a task_struct address such as ff3e5a0e9beba100.');
    return [u.task(addr)];
  }
  if (!/^\d+$/.test(s)) throw new UsageError(`bt: '${arg}' is neither a PID nor a task address`, 'Give a decimal PID or a hex task_struct address.');
  const pid = Number(s);
  const found = u.tasks().filter((t) => t.pid === pid);
  if (found.length === 0) throw new UsageError(`bt: no task with PID ${pid}`, "List the tasks with 'kdumpkit bt --all-tasks' (or 'kdumpkit ps').");
  return found;
}

function toTrace(bt: TaskBacktrace, crashedTask: bigint | undefined, crashedCpu: number | undefined): BtTrace {
  const t = bt.task;
  return {
    pid: t.pid,
    tgid: t.tgid,
    comm: t.comm,
    task: t.address,
    cpu: bt.runningOn ?? t.cpu,
    state: t.state,
    active: bt.start === 'prstatus',
    crashed: crashedTask !== undefined ? crashedTask === t.address : bt.start === 'prstatus' && bt.runningOn === crashedCpu,
    start: bt.start,
    frames: bt.frames.map((f) => ({
      index: f.index,
      sp: f.slot ?? f.sp,
      ip: f.ip,
      text: f.text,
      function: f.symbol?.name,
      offset: f.symbol?.offset,
      size: f.symbol?.size,
      module: f.symbol?.module,
      stack: f.stack,
      source: f.source,
      reliable: f.reliable,
      ...(f.regs ? { regs: { address: f.regs.address, partial: f.regs.partial, values: f.regs.values } } : {}),
    })),
    userRegs: bt.userRegs,
    userRegsPartial: bt.userRegsPartial ?? false,
    end: bt.end,
  };
}
