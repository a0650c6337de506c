/**
 * The kernel's own printed backtrace of a crash (show_regs / show_trace_log_lvl output in the
 * log), parsed into what bt must reproduce:
 *
 *   RIP: 0010:crashme_recurse+0x47/0x80 [crashme]     <- the oops registers (before the trace)
 *   Call Trace:
 *    <TASK>
 *    crashme_recurse+0x59/0x80 [crashme]             <- reliable frames
 *    ? _printk+0x68/0x83                             <- unreliable: ignored
 *   RIP: 0010:crashme_init+0xa7/0xff0 [crashme]      <- an exception frame inside the trace
 *    entry_SYSCALL_64_after_hwframe+0x76/0x7e
 *   RIP: 0033:0x47fbe9                               <- the user-mode registers
 *   RSP: 002b:00007ffe3143c2e8 EFLAGS: 00000246 ORIG_RAX: 0000000000000139
 *    </TASK>
 */

export interface KernelCallTrace {
  /** The kernel-mode RIP printed before "Call Trace:" (an oops), as `func+0x…/0x… [mod]`. */
  readonly oopsRip: string | undefined;
  /** Reliable frames and in-trace exception RIPs, in order. */
  readonly entries: readonly string[];
  readonly userRip: bigint | undefined;
  readonly userRsp: bigint | undefined;
}

/** A frame line: `func+0x12/0x80 [mod]`, or a bare address where no symbol covers it; `? ` marks guesses. */
const FRAME = /^\s*(\? )?(\S+\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[[^\]]+\])?|0x[0-9a-f]+)\s*$/;
const MARKER = /^\s*<\/?[A-Z#_0-9]+>\s*$/;
const REG_LINE = /^(RIP|RSP|RAX|RDX|RBP|R10|R13|FS|CS|CR2|DR0|DR3|DR6|PKRU|Code):/;

/** Strips a console/printk timestamp ("[    7.538119] "). */
export function stripTimestamp(line: string): string {
  return line.replace(/^\[\s*\d+\.\d+\] ?/, '');
}

/**
 * The last "Call Trace:" block in `lines` (log text without timestamps), with the oops RIP
 * printed before it in the same report (back to its "CPU: N … PID:" line).
 */
export function parseLastCallTrace(lines: readonly string[]): KernelCallTrace | undefined {
  let at = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]!.trim() === 'Call Trace:') {
      at = i;
      break;
    }
  }
  if (at < 0) return undefined;
  let oopsRip: string | undefined;
  for (let i = at - 1; i >= 0 && i >= at - 40; i--) {
    const l = lines[i]!;
    const m = /^RIP: 0010:(.*\S)\s*$/.exec(l);
    if (m) {
      oopsRip = m[1];
      break;
    }
    if (/^CPU: \d+ /.test(l)) break;
  }
  const entries: string[] = [];
  let userRip: bigint | undefined;
  let userRsp: bigint | undefined;
  for (let i = at + 1; i < lines.length; i++) {
    const l = lines[i]!;
    const f = FRAME.exec(l);
    if (f) {
      if (!f[1]) entries.push(f[2]!);
      continue;
    }
    if (MARKER.test(l)) {
      if (l.trim() === '</TASK>') break;
      continue;
    }
    const rip = /^RIP: (\w{4}):(.*\S)\s*$/.exec(l);
    if (rip) {
      if (rip[1] === '0010') entries.push(rip[2]!);
      else userRip = BigInt(rip[2]!.startsWith('0x') ? rip[2]! : '0x' + rip[2]!);
      continue;
    }
    const rsp = /^RSP: (\w{4}):([0-9a-f]+)/.exec(l);
    if (rsp) {
      if (rsp[1] !== '0018') userRsp = BigInt('0x' + rsp[2]!);
      continue;
    }
    if (REG_LINE.test(l)) continue;
    break;
  }
  return { oopsRip, entries, userRip, userRsp };
}

/** The first kernel's part of a lab console.log: up to the capture kernel's "Linux version" banner. */
export function crashedKernelConsole(text: string): string[] {
  const lines = text.split('\n').map(stripTimestamp);
  const firstTrace = lines.findIndex((l) => l.trim() === 'Call Trace:');
  const capture = lines.findIndex((l, i) => i > firstTrace && firstTrace >= 0 && l.startsWith('Linux version '));
  return capture < 0 ? lines : lines.slice(0, capture);
}

/** The function name of `func+0x12/0x80 [mod]`. */
export function functionOf(text: string): string {
  return text.replace(/\+0x.*$/, '');
}

export interface Alignment {
  /** Index in our frames where the kernel's sequence starts being compared. */
  readonly ours: number;
  /** The kernel entries our frames from `ours` on must equal (the first by name only if byName). */
  readonly kernel: readonly string[];
  /** The first compared entry matches by function name only (panic: another call site in it). */
  readonly firstByName: boolean;
}

/**
 * How our frames line up with the kernel's printout. An oops: the PRSTATUS registers are the oops
 * registers, so our frame 0 is the oops RIP and the rest is the Call Trace. A panic: the kernel
 * printed its trace from dump_stack() inside panic(), we start in __crash_kexec() (or wherever
 * the CPU stopped): the traces meet at panic(), whose offset differs (another call in it).
 */
export function align(ourFunctions: readonly string[], k: KernelCallTrace): Alignment | undefined {
  const kernelFns = k.entries.map(functionOf);
  const kp = kernelFns.indexOf('panic');
  const op = ourFunctions.indexOf('panic');
  if (kp >= 0 && op >= 0) return { ours: op, kernel: k.entries.slice(kp), firstByName: true };
  if (k.oopsRip !== undefined) return { ours: 0, kernel: [k.oopsRip, ...k.entries], firstByName: false };
  return undefined;
}
