import type { AnalyzeReport, BacktraceResult, CpuReport, LogReport } from '../analyze/analyze.js';
import type { X86Registers } from '../formats/vmcore/prstatus.js';
import { isUnavailable, type Unavailable } from '../kernel/attempt.js';
import type { LogLine } from '../kernel/panic.js';
import { renderModText } from './mod-text.js';
import { renderPsText } from './ps-text.js';
import { crashDate, renderSysText } from './sys-text.js';
import { traceLines } from './bt-text.js';

const h = (v: bigint, w = 16): string => v.toString(16).padStart(w, '0');

/** Registers as crash prints an exception frame. */
export function renderRegisters(r: X86Registers, indent = '    '): string {
  const rows: [string, bigint, number?][][] = [
    [['RIP', r.rip], ['RSP', r.rsp], ['RFLAGS', r.eflags, 8]],
    [['RAX', r.rax], ['RBX', r.rbx], ['RCX', r.rcx]],
    [['RDX', r.rdx], ['RSI', r.rsi], ['RDI', r.rdi]],
    [['RBP', r.rbp], [' R8', r.r8], [' R9', r.r9]],
    [['R10', r.r10], ['R11', r.r11], ['R12', r.r12]],
    [['R13', r.r13], ['R14', r.r14], ['R15', r.r15]],
    [['ORIG_RAX', r.orig_rax], ['CS', r.cs, 4], ['SS', r.ss, 4]],
  ];
  return rows.map((row) => indent + row.map(([n, v, w]) => `${n}: ${h(v, w ?? 16)}`).join('  ')).join('\n') + '\n';
}

function renderBacktrace(bt: BacktraceResult | Unavailable | undefined, indent: string): string {
  if (bt === undefined) return '';
  if (isUnavailable(bt)) return `${indent}backtrace unavailable: ${bt.unavailable}\n`;
  const lines = bt.trace ? traceLines(bt.trace).slice(1) : bt.frames.map((f, i) => `#${String(i).padStart(2)} ${f.unreliable ? '? ' : ''}${f.text}`);
  let s = lines.map((l) => indent + l).join('\n') + (lines.length ? '\n' : '');
  for (const n of bt.notes ?? []) s += `${indent}note: ${n}\n`;
  return s;
}

function cpuLine(c: CpuReport): string {
  const who = c.pid === undefined ? 'unknown task' : `PID ${c.pid}${c.comm !== undefined ? ` ${c.idle ? `[${c.comm}]` : `"${c.comm}"`}` : ''}${c.task !== undefined ? ` (task ${h(c.task)})` : ''}`;
  return `CPU ${c.cpu}${c.crashed ? ' (crashed)' : ''}: ${who}  RIP ${c.rip === undefined ? '-' : h(c.rip)}${c.where ? `  ${c.where}` : ''}`;
}

/** One log line as dmesg prints it, or with a wall-clock time (`log -T`). */
export function renderLogLine(l: LogLine, bootTime?: number): string {
  if (bootTime !== undefined) return `[${crashDate(new Date(Math.floor((bootTime + l.time) * 1000)))}] ${l.text}`;
  const secs = Math.floor(l.time);
  const us = Math.round((l.time - secs) * 1e6);
  return `[${String(secs).padStart(5)}.${String(us).padStart(6, '0')}] ${l.text}`;
}

export function renderLogText(r: LogReport): string {
  let s = r.lines.map((l) => renderLogLine(l, r.bootTime)).join('\n');
  if (r.lines.length) s += '\n';
  return s;
}

/** The full `kdumpkit analyze` report: verdict first, then the evidence. */
export function renderAnalyzeText(r: AnalyzeReport): string {
  const out: string[] = [];
  const section = (title: string): void => {
    out.push('', `== ${title} ==`);
  };
  const t = r.triage;
  out.push(`VERDICT: ${t.sentence}`);
  out.push(`SIGNATURE: ${t.signature}`);

  section('SYSTEM');
  out.push(renderSysText(r.sys, { warnings: false }).trimEnd());

  section('PANIC');
  const p = r.panic;
  out.push(`PANIC: ${p.panicString === undefined ? '(none found)' : `"${p.panicString}"`}`);
  if (p.cause) {
    if (p.cause.headline !== p.panicString) out.push(`CAUSE: ${p.cause.headline}`);
    if (p.cause.oopsLine) out.push(`OOPS: ${p.cause.oopsLine}`);
    if (p.cause.rip) out.push(`RIP: ${p.cause.rip}`);
    if (p.cause.workqueue) out.push(`WORKQUEUE: ${p.cause.workqueue}`);
    out.push(`REPORTED: at ${p.cause.time.toFixed(6)} s by ${p.cause.comm ?? '?'} (pid ${p.cause.pid ?? '?'}) on CPU ${p.cause.cpu ?? '?'}`);
  }
  if (p.sysrq) out.push("SYSRQ: the crash was triggered with SysRq 'c'");
  out.push(`PANIC CPU: ${p.panicCpu === undefined || p.panicCpu < 0 ? '-' : p.panicCpu} (panic_cpu); crashing_cpu ${p.crashingCpu === undefined || p.crashingCpu < 0 ? '-' : p.crashingCpu}`);
  if (p.panicMessageInMemory) out.push(`PANIC BUFFER: "${p.panicMessageInMemory}" (panic()'s message, read from memory)`);
  if (!isUnavailable(r.modules) && !isUnavailable(r.modules.taint)) out.push(`TAINT: ${r.modules.taint.text.trimEnd()}`);
  else if (p.tainted) out.push(`TAINT: ${p.tainted}`);
  if (t.evidence.length) out.push(`EVIDENCE: ${t.evidence.join('; ')}`);

  section('CRASHED TASK');
  const c = r.crashed;
  out.push(`PID: ${c.pid ?? '?'}  TASK: ${c.task === undefined ? '?' : h(c.task)}  CPU: ${c.cpu ?? '?'} (from ${c.cpuSource})  COMMAND: "${c.comm ?? '?'}"${c.state ? `  STATE: ${c.state}` : ''}${c.kthread ? '  [kernel thread]' : ''}`);
  if (c.registers) {
    out.push(`  saved registers (PRSTATUS)${c.rip ? `: RIP is ${c.rip}` : ''}`);
    out.push(renderRegisters(c.registers).trimEnd());
  }
  const bt = renderBacktrace(c.backtrace, '  ');
  if (bt) out.push('  backtrace:', bt.trimEnd());
  else if (!r.backtraces) out.push('  backtrace: not available (no unwinder in this build); see the call trace in the log below');

  section('CPUS');
  for (const cpu of r.cpus) {
    out.push(cpuLine(cpu));
    const b = renderBacktrace(cpu.backtrace, '    ');
    if (b) out.push(b.trimEnd());
  }

  section('TASKS');
  out.push(isUnavailable(r.tasks) ? `unavailable: ${r.tasks.unavailable}` : renderPsText(r.tasks, { warnings: false }).trimEnd());

  section('MODULES');
  out.push(isUnavailable(r.modules) ? `unavailable: ${r.modules.unavailable}` : renderModText(r.modules, { warnings: false }).trimEnd());

  if (isUnavailable(r.log)) {
    section('LOG');
    out.push(`unavailable: ${r.log.unavailable}`);
  } else {
    section(`LOG (last ${r.log.lines.length} of ${r.log.total} lines)`);
    out.push(r.log.lines.map((l) => renderLogLine(l)).join('\n'));
  }

  const warnings = [...r.warnings, ...r.sys.warnings, ...(isUnavailable(r.tasks) ? [] : r.tasks.warnings), ...(isUnavailable(r.modules) ? [] : r.modules.warnings)];
  if (warnings.length) {
    section('WARNINGS');
    for (const w of [...new Set(warnings)]) out.push(`warning: ${w}`);
  }
  return out.join('\n') + '\n';
}
