/**
 * Why the kernel died, as the crashed kernel itself reported it: the crash reports in its log
 * (oops, BUG, soft/hard lockup, hung task, OOM, WARNING, panic), parsed by the formats the
 * kernel prints them in (arch/x86/kernel/dumpstack.c, kernel/panic.c, lib/dump_stack.c,
 * kernel/watchdog.c, kernel/hung_task.c, mm/oom_kill.c), and what memory still holds: the
 * panic() message buffer, panic_cpu, crashing_cpu.
 *
 * The log gives each report's headline, the CPU/PID/Comm line, the "Workqueue:" line, the
 * kernel-mode "RIP:" line and the printed "Call Trace:" frames. Which report caused the crash is
 * decided structurally: the last "Kernel panic - not syncing" line, and when its own call trace
 * shows it was raised by an earlier report (oops_end, the lockup and hung-task watchdogs, the
 * OOM killer, __warn) or its message names one, that report.
 */
import type { PrintkLog } from './printk.js';
import type { Kernel } from './kernel.js';
import { KdumpkitError } from '../util/errors.js';
import { readSymbolS32 } from './attempt.js';

export interface LogLine {
  /** Index of the record in the log. */
  readonly seq: number;
  /** Seconds since boot. */
  readonly time: number;
  readonly level: number;
  /** "T155" (task) or "C1" (CPU, in interrupt context), when the kernel records callers. */
  readonly caller: string | undefined;
  readonly text: string;
}

/** One line per record line (records with embedded newlines give several). */
export function logLines(log: Pick<PrintkLog, 'records'>): LogLine[] {
  const out: LogLine[] = [];
  for (const r of log.records) {
    if (r.dataless) continue;
    const text = Buffer.from(r.text).toString('utf8');
    const caller = r.callerId === undefined ? undefined : (r.callerId & 0x80000000 ? 'C' : 'T') + String(r.callerId & 0x7fffffff);
    const time = Number(r.tsNsec / 1000n) / 1e6;
    for (const line of text.split('\n')) out.push({ seq: Number(r.seq), time, level: r.level, caller, text: line });
  }
  return out;
}

export type CrashKind =
  | 'panic'
  | 'null-deref'
  | 'page-fault'
  | 'general-protection'
  | 'bug'
  | 'invalid-opcode'
  | 'oops'
  | 'soft-lockup'
  | 'hard-lockup'
  | 'hung-task'
  | 'rcu-stall'
  | 'oom'
  | 'warning'
  | 'double-fault'
  | 'stack-protector'
  | 'bad-page';

export interface LogFrame {
  readonly name: string;
  readonly offset: bigint;
  readonly size: bigint;
  readonly module: string | undefined;
  /** Printed with '?': an address found on the stack that the unwinder did not vouch for. */
  readonly unreliable: boolean;
  /** As printed, e.g. "crashme_recurse+0x59/0x80 [crashme]". */
  readonly text: string;
}

export interface LogReport {
  readonly kind: CrashKind;
  /** The report's first line, e.g. "BUG: kernel NULL pointer dereference, address: 0000000000000008". */
  readonly headline: string;
  readonly time: number;
  /** Index of the headline in the lines. */
  readonly line: number;
  readonly caller: string | undefined;
  /** The die() line: "Oops: 0000 [#1] PREEMPT SMP NOPTI", "invalid opcode: 0000 [#1] …". */
  readonly oopsLine: string | undefined;
  /** Faulting data address (NULL dereference, page fault, GPF on a non-canonical address). */
  readonly address: bigint | undefined;
  /** file:line of "kernel BUG at" / "WARNING: … at". */
  readonly location: string | undefined;
  /** The panic() message for kind 'panic'. */
  readonly message: string | undefined;
  /** From the "CPU: N PID: P Comm: C" line (or the soft-lockup headline). */
  readonly cpu: number | undefined;
  readonly pid: number | undefined;
  readonly comm: string | undefined;
  readonly tainted: string | undefined;
  /** "events crashme_work_fn [crashme]" from the "Workqueue:" line. */
  readonly workqueue: { readonly name: string; readonly fn: string; readonly module: string | undefined } | undefined;
  /** The kernel-mode "RIP: 0010:…" location. */
  readonly rip: LogFrame | undefined;
  readonly callTrace: readonly LogFrame[];
  readonly modulesLinkedIn: string | undefined;
}

const FRAME_RE = /^\s*(\? )?([A-Za-z0-9_.$]+)\+0x([0-9a-f]+)\/0x([0-9a-f]+)(?: \[([A-Za-z0-9_-]+)\])?\s*$/;

export function parseFrame(s: string): LogFrame | undefined {
  const m = FRAME_RE.exec(s);
  if (!m) return undefined;
  return { name: m[2]!, offset: BigInt('0x' + m[3]!), size: BigInt('0x' + m[4]!), module: m[5], unreliable: m[1] !== undefined, text: s.trim().replace(/^\? /, '') };
}

/** Headlines, in the kernel's own wording. */
const HEADERS: readonly { re: RegExp; kind: CrashKind }[] = [
  { re: /^Kernel panic - not syncing: ?(.*)$/, kind: 'panic' },
  { re: /^BUG: kernel NULL pointer dereference, address: ([0-9a-fx]+)/, kind: 'null-deref' },
  { re: /^BUG: unable to handle kernel NULL pointer dereference at ([0-9a-fx]+)/, kind: 'null-deref' },
  { re: /^BUG: unable to handle (?:page fault for address|kernel paging request at|kernel NULL pointer dereference at):? ([0-9a-fx]+)/, kind: 'page-fault' },
  { re: /^BUG: kernel NULL pointer dereference/, kind: 'null-deref' },
  { re: /^(?:watchdog: )?BUG: soft lockup - CPU#(\d+) stuck for (\d+)s! \[(.*):(\d+)\]/, kind: 'soft-lockup' },
  { re: /(?:Watchdog detected hard LOCKUP on cpu (\d+)|NMI watchdog: .*hard LOCKUP)/i, kind: 'hard-lockup' },
  { re: /^INFO: task (.*):(\d+) blocked for more than (\d+) seconds\./, kind: 'hung-task' },
  { re: /^(?:rcu: )?INFO: (?:rcu_\w+|rcu) (?:self-)?detected (?:expedited )?stalls?/, kind: 'rcu-stall' },
  { re: /^kernel BUG at (.*)!$/, kind: 'bug' },
  { re: /^general protection fault(?:, (?:probably for non-canonical address|maybe for address) (0x[0-9a-f]+))?/, kind: 'general-protection' },
  { re: /^Out of memory(?: and no killable processes)?/, kind: 'oom' },
  { re: /invoked oom-killer: /, kind: 'oom' },
  { re: /^WARNING: CPU: (\d+) PID: (\d+) at (\S+)/, kind: 'warning' },
  { re: /^traps: double fault|^double fault: /, kind: 'double-fault' },
  { re: /^BUG: Bad page (?:state|map)/, kind: 'bad-page' },
  { re: /^(?:Oops: )?invalid opcode: [0-9a-f]{4} \[#\d+\]/, kind: 'invalid-opcode' },
  { re: /^Oops: (?!.*invalid opcode)/, kind: 'oops' },
];

/** Oops/die lines that belong to the report just before them. */
const DIE_RE = /^(?:Oops: )?(?:Oops|invalid opcode|general protection fault|double fault|stack segment|int3|divide error|alignment check|SMP)?.*: [0-9a-f]{4} \[#\d+\]/;

/** panic() callers that mean "an earlier report decided to panic". */
const CONSEQUENCE_FRAMES = new Set([
  'oops_end', 'die', '__die', 'do_trap', 'do_error_trap', 'handle_invalid_op', 'exc_invalid_op', 'page_fault_oops',
  'watchdog_timer_fn', 'watchdog_overflow_callback', 'watchdog_hardlockup_check', 'check_hung_uninterruptible_tasks',
  'check_hung_task', 'watchdog', 'out_of_memory', 'check_panic_on_oom', '__warn', 'warn_slowpath_fmt', 'report_bug',
  'rcu_check_gp_kthread_starvation', 'rcu_stall_kick_kthreads', 'panic_on_rcu_stall', 'print_cpu_stall', 'print_other_cpu_stall',
]);

/** panic() messages that name an earlier report as the reason (kernel/panic.c, watchdog, hung_task). */
const CONSEQUENCE_MESSAGES: readonly { re: RegExp; kinds: readonly CrashKind[] }[] = [
  { re: /^Fatal exception/, kinds: ['null-deref', 'page-fault', 'general-protection', 'bug', 'invalid-opcode', 'oops', 'double-fault'] },
  { re: /softlockup: hung tasks/, kinds: ['soft-lockup'] },
  { re: /[Hh]ard LOCKUP/, kinds: ['hard-lockup'] },
  { re: /hung_task: blocked tasks/, kinds: ['hung-task'] },
  { re: /RCU Stall/i, kinds: ['rcu-stall'] },
  { re: /panic_on_warn set|^WARNING/, kinds: ['warning'] },
  { re: /Out of memory|deadlocked on memory/, kinds: ['oom'] },
];

/** Splits the log into crash reports, in order. */
export function findReports(lines: readonly LogLine[]): LogReport[] {
  const out: LogReport[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const text = l.text;
    let kind: CrashKind | undefined;
    let m: RegExpExecArray | null = null;
    for (const h of HEADERS) {
      m = h.re.exec(text);
      if (m) {
        kind = h.kind;
        break;
      }
    }
    if (!kind || !m) continue;
    // A die() line right after a headline belongs to it.
    const prev = out[out.length - 1];
    if ((kind === 'oops' || kind === 'invalid-opcode') && prev && prev.kind !== 'panic' && i - prev.line <= 8 && (prev.oopsLine === undefined || prev.oopsLine === text)) {
      out[out.length - 1] = { ...prev, oopsLine: text };
      continue;
    }
    // "invoked oom-killer" and the "Out of memory: Killed process" verdict are one OOM report.
    if (kind === 'oom' && prev && prev.kind === 'oom' && l.time - prev.time < 10) continue;
    out.push(parseReport(lines, i, kind, m));
  }
  return out;
}

function parseReport(lines: readonly LogLine[], i: number, kind: CrashKind, m: RegExpExecArray): LogReport {
  const l = lines[i]!;
  let address: bigint | undefined;
  let location: string | undefined;
  let message: string | undefined;
  let cpu: number | undefined;
  let pid: number | undefined;
  let comm: string | undefined;
  let oopsLine: string | undefined;
  switch (kind) {
    case 'panic':
      message = m[1];
      break;
    case 'null-deref':
    case 'page-fault':
    case 'general-protection':
      if (m[1]) address = BigInt(m[1].startsWith('0x') ? m[1] : '0x' + m[1]);
      if (kind === 'general-protection' && DIE_RE.test(l.text)) oopsLine = l.text;
      break;
    case 'bug':
      location = m[1];
      break;
    case 'soft-lockup':
      cpu = Number(m[1]);
      comm = m[3];
      pid = Number(m[4]);
      break;
    case 'hard-lockup':
      if (m[1]) cpu = Number(m[1]);
      break;
    case 'hung-task':
      comm = m[1];
      pid = Number(m[2]);
      break;
    case 'warning':
      cpu = Number(m[1]);
      pid = Number(m[2]);
      location = m[3];
      break;
    case 'oops':
    case 'invalid-opcode':
      oopsLine = l.text;
      break;
    default:
      break;
  }
  let tainted: string | undefined;
  let workqueue: LogReport['workqueue'];
  let rip: LogFrame | undefined;
  let modulesLinkedIn: string | undefined;
  const callTrace: LogFrame[] = [];
  // The report's body: until the next headline, or a generous bound.
  const end = Math.min(lines.length, i + 400);
  let inTrace = false;
  let traceDone = false;
  for (let j = i + 1; j < end; j++) {
    const t = lines[j]!.text;
    if (j > i + 1 && isHeadline(t) && !(DIE_RE.test(t) && j - i <= 8)) break;
    if (!oopsLine && j - i <= 8 && DIE_RE.test(t)) oopsLine = t;
    let c: RegExpExecArray | null;
    if (cpu === undefined || pid === undefined || comm === undefined) {
      // "CPU: 1 PID: 1 Comm: init …" (≤ 6.9) and "CPU: 0 UID: 0 PID: 155 Comm: insmod …" (6.10+).
      if ((c = /^CPU: (\d+)(?: UID: \d+)? PID: (\d+) Comm: (.{1,16}?) (?:Kdump: \S+ )?(Not tainted|Tainted: [^\n]*?)(?: {1,}\d+\.\d+\S*| \S+ #)/.exec(t)) || (c = /^CPU: (\d+)(?: UID: \d+)? PID: (\d+) Comm: (\S+)/.exec(t))) {
        cpu ??= Number(c[1]);
        pid ??= Number(c[2]);
        comm ??= c[3];
        if (c[4]) tainted = c[4].trimEnd();
        continue;
      }
    }
    if (!workqueue && (c = /^Workqueue: (\S+) (\S+?)(?: \[(\S+)\])?$/.exec(t))) {
      workqueue = { name: c[1]!, fn: c[2]!.replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+$/, ''), module: c[3] };
      continue;
    }
    if (!rip && (c = /^RIP: 0010:(.*)$/.exec(t))) {
      rip = parseFrame(c[1]!);
      continue;
    }
    if (!modulesLinkedIn && (c = /^Modules linked in:(.*)$/.exec(t))) {
      modulesLinkedIn = c[1]!.trim();
      continue;
    }
    if (/^Call Trace:/.test(t)) {
      if (callTrace.length === 0) inTrace = true;
      continue;
    }
    if (inTrace && !traceDone) {
      const f = parseFrame(t);
      if (f) callTrace.push(f);
      else if (/^\s*<\/TASK>/.test(t)) traceDone = true;
      // <TASK>, <IRQ>, </IRQ>, <NMI>, register dumps of entry frames: part of the trace.
    }
  }
  return { kind, headline: l.text.trim(), time: l.time, line: i, caller: l.caller, oopsLine, address, location, message, cpu, pid, comm, tainted, workqueue, rip, callTrace, modulesLinkedIn };
}

function isHeadline(t: string): boolean {
  return HEADERS.some((h) => h.re.test(t));
}

export interface PanicFacts {
  /** The "Kernel panic - not syncing: …" line, from the log or else rebuilt from memory. */
  readonly panicString: string | undefined;
  /** panic()'s message (after "not syncing: "). */
  readonly panicMessage: string | undefined;
  /** The message still in panic()'s static buffer in memory, if found. */
  readonly panicMessageInMemory: string | undefined;
  /** Every crash report in the log, oldest first. */
  readonly reports: readonly LogReport[];
  /** The last panic report, if the kernel got as far as panic(). */
  readonly panic: LogReport | undefined;
  /** The report that brought the kernel down (may be the panic itself). */
  readonly cause: LogReport | undefined;
  /** A "sysrq: Trigger a crash" line (the sysrq 'c' handler's announcement), or sysrq_handle_crash in the panic's trace. */
  readonly sysrq: boolean;
  /** panic_cpu (kernel/panic.c; also claimed by crash_kexec()), -1 when none. */
  readonly panicCpu: number | undefined;
  /** crashing_cpu (arch/x86/kernel/reboot.c), set by the kdump shutdown path. */
  readonly crashingCpu: number | undefined;
  readonly warnings: readonly string[];
}

/** The panic facts from the log lines and, when a Kernel is given, memory. */
export function readPanicFacts(lines: readonly LogLine[], k?: Kernel): PanicFacts {
  const warnings: string[] = [];
  const reports = findReports(lines);
  let panic: LogReport | undefined;
  for (let i = reports.length - 1; i >= 0; i--) {
    if (reports[i]!.kind === 'panic') {
      panic = reports[i];
      break;
    }
  }
  const cause = pickCause(reports, panic);
  let panicMessageInMemory: string | undefined;
  let panicCpu: number | undefined;
  let crashingCpu: number | undefined;
  if (k) {
    panicMessageInMemory = readPanicBuffer(k, warnings);
    panicCpu = readSymbolS32(k, 'panic_cpu', warnings);
    crashingCpu = readSymbolS32(k, 'crashing_cpu', warnings);
  }
  const panicMessage = panic?.message ?? (panicMessageInMemory || undefined);
  const panicString = panic ? panic.headline : panicMessage !== undefined ? `Kernel panic - not syncing: ${panicMessage}` : undefined;
  let sysrq = false;
  if (panic) {
    if (panic.callTrace.some((f) => f.name === 'sysrq_handle_crash')) sysrq = true;
    for (let j = panic.line - 1; j >= Math.max(0, panic.line - 5) && !sysrq; j--) {
      if (/^(?:sysrq: |SysRq : )Trigger a crash/.test(lines[j]!.text)) sysrq = true;
    }
  }
  return { panicString, panicMessage, panicMessageInMemory, reports, panic, cause, sysrq, panicCpu, crashingCpu, warnings };
}

function pickCause(reports: readonly LogReport[], panic: LogReport | undefined): LogReport | undefined {
  if (!panic) {
    // No panic(): the last report stopped the kernel (an oops with panic_on_oops goes straight
    // to crash_kexec()). WARNINGs and RCU stalls do not stop it by themselves; prefer a fatal one.
    for (let i = reports.length - 1; i >= 0; i--) {
      const r = reports[i]!;
      if (r.kind !== 'warning' && r.kind !== 'rcu-stall' && r.kind !== 'bad-page') return r;
    }
    return reports[reports.length - 1];
  }
  const idx = reports.indexOf(panic);
  const prevs = reports.slice(0, idx).filter((r) => r.kind !== 'panic');
  const raisedBy = panic.callTrace.find((f) => CONSEQUENCE_FRAMES.has(f.name));
  const byMessage = CONSEQUENCE_MESSAGES.find((c) => c.re.test(panic.message ?? ''));
  for (let i = prevs.length - 1; i >= 0; i--) {
    const r = prevs[i]!;
    if (panic.time - r.time > 600) break;
    if (byMessage && byMessage.kinds.includes(r.kind)) return r;
    if (!byMessage && raisedBy) return r;
  }
  return panic;
}

/**
 * panic()'s `static char buf[1024]` (kernel/panic.c) holds the formatted message. It has no
 * global name: kallsyms lists it as a local `buf.N` of 1024 bytes in panic.c's .bss, which also
 * holds tainted_mask. The nearest such symbol to tainted_mask is taken, and its contents must be
 * printable text.
 */
function readPanicBuffer(k: Kernel, warnings: string[]): string | undefined {
  const anchor = k.symbols.address('tainted_mask') ?? k.symbols.address('panic_print');
  if (anchor === undefined) return undefined;
  let best: { address: bigint; d: bigint } | undefined;
  // Local statics are numbered by the compiler per translation unit: buf.0, buf.1, …
  const candidates = Array.from({ length: 64 }, (_, n) => k.symbols.lookupAll(`buf.${n}`)).flat();
  for (const s of candidates) {
    const d = s.address > anchor ? s.address - anchor : anchor - s.address;
    if (d > 0x4000n) continue;
    if (k.symbols.symbolize(s.address)?.size !== 1024n) continue;
    if (!best || d < best.d) best = { address: s.address, d };
  }
  if (!best) return undefined;
  try {
    const b = k.mem.read(best.address, 1024);
    const end = b.indexOf(0);
    if (end <= 0) return '';
    const text = Buffer.from(b.subarray(0, end)).toString('utf8');
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x08\x0b-\x1f\x7f]/.test(text)) return undefined;
    return text.replace(/\n$/, '');
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    warnings.push(`panic message buffer unreadable: ${e.message}`);
    return undefined;
  }
}
