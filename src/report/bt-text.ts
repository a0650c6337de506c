import type { BtFrame, BtReport, BtTrace } from '../analyze/bt.js';
import type { PtRegs, StackKind } from '../kernel/unwind/stack.js';

/**
 * Text rendering of `kdumpkit bt`, in crash's style:
 *
 *   PID: 1        TASK: ff493f84811e0000  CPU: 1    COMMAND: "init"
 *    #0 [ff6b924480013a58] __crash_kexec+0x11a/0x130 at ffffffffa7d741ba
 *    #1 [ff6b924480013b10] panic+0x13d/0x2f4 at ffffffffa8601ded
 *   ...
 *       RIP: 000000000047b7a0  RSP: 00007fff34621708  RFLAGS: 00000202
 *
 * with the kernel's own symbol strings (func+0xoff/0xsize [module]), `--- <IRQ stack> ---`
 * where the trace moves between stacks, the registers of interrupt/exception frames before the
 * interrupted frame, the user-mode registers where the kernel stack ends, and a line saying why
 * a trace stopped when it did not reach the user-mode registers or the bottom of the stack.
 */
export function renderBtText(r: BtReport): string {
  const out: string[] = [];
  r.traces.forEach((t, i) => {
    if (i > 0) out.push('');
    out.push(...traceLines(t));
  });
  if (r.traces.length === 0) out.push('no task to show');
  return out.join('\n') + '\n';
}

const STACK_NAMES: Readonly<Record<StackKind, string>> = {
  task: 'task stack',
  irq: 'IRQ stack',
  softirq: 'softirq stack',
  entry: 'entry trampoline stack',
  nmi: 'NMI exception stack',
  df: 'double-fault exception stack',
  db: 'debug exception stack',
  mce: 'machine-check exception stack',
  vc: 'VC exception stack',
  vc2: 'VC2 exception stack',
  unknown: 'unknown stack',
};

export function traceLines(t: BtTrace): string[] {
  const out: string[] = [];
  const cpu = t.cpu === undefined ? '-' : String(t.cpu);
  const task = t.task === 0n ? '-'.padEnd(16) : hex16(t.task);
  out.push(`PID: ${String(t.pid).padEnd(8)} TASK: ${task}  CPU: ${cpu.padEnd(4)} COMMAND: "${t.comm}"${t.crashed ? '  (crashed)' : ''}`);
  let prevStack: StackKind | undefined;
  for (const f of t.frames) {
    // As crash does: the marker closes the frames above it and names the stack they were on.
    if (prevStack !== undefined && f.stack !== prevStack) out.push(`    --- <${STACK_NAMES[prevStack]}> ---`);
    prevStack = f.stack;
    if (f.regs) {
      out.push(`    [exception RIP: ${f.text}]`);
      out.push(...regsLines(f.regs.values, f.regs.partial));
    }
    out.push(frameLine(f));
  }
  if (t.userRegs) {
    if (t.end.reason === 'user-start') out.push('    (running in user mode)');
    out.push(...regsLines(t.userRegs, t.userRegsPartial));
  }
  if (t.end.reason !== 'user-mode' && t.end.reason !== 'stack-end' && t.end.reason !== 'user-start') out.push(`    (trace ends: ${t.end.detail})`);
  return out;
}

function frameLine(f: BtFrame): string {
  return `${('#' + f.index).padStart(3)} [${hex16(f.sp)}] ${f.reliable ? '' : '? '}${f.text} at ${hex16(f.ip)}`;
}

function hex16(v: bigint): string {
  return v.toString(16).padStart(16, '0');
}

/** crash's register block (x86_64 `bt` exception frame format). */
export function regsLines(r: PtRegs, partial: boolean): string[] {
  const h = (v: bigint, w = 16): string => v.toString(16).padStart(w, '0');
  const lines: string[] = [];
  lines.push(`    RIP: ${h(r.ip)}  RSP: ${h(r.sp)}  RFLAGS: ${h(r.flags, 8)}`);
  if (!partial) {
    lines.push(`    RAX: ${h(r.ax)}  RBX: ${h(r.bx)}  RCX: ${h(r.cx)}`);
    lines.push(`    RDX: ${h(r.dx)}  RSI: ${h(r.si)}  RDI: ${h(r.di)}`);
    lines.push(`    RBP: ${h(r.bp)}   R8: ${h(r.r8)}   R9: ${h(r.r9)}`);
    lines.push(`    R10: ${h(r.r10)}  R11: ${h(r.r11)}  R12: ${h(r.r12)}`);
    lines.push(`    R13: ${h(r.r13)}  R14: ${h(r.r14)}  R15: ${h(r.r15)}`);
    lines.push(`    ORIG_RAX: ${h(r.orig_ax)}  CS: ${h(r.cs, 4)}  SS: ${h(r.ss, 4)}`);
  } else {
    lines.push(`    CS: ${h(r.cs, 4)}  SS: ${h(r.ss, 4)}  (hardware iret frame only)`);
  }
  return lines;
}
