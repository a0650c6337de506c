/**
 * The ORC unwinder: arch/x86/kernel/unwind_orc.c unwind_next_frame() over the dump's memory.
 *
 * State: ip, sp, bp, the last pt_regs crossed (full, or only the hardware iret frame), and
 * `signal` (ip was interrupted, not a return address). Each step looks up the ORC entry for
 * `signal ? ip : ip - 1`, computes the caller's stack pointer from sp/bp (or a register of the
 * last pt_regs, or indirectly through the stack), then reads the return address below it (CALL),
 * or a whole pt_regs (REGS: an interrupt, exception or syscall entry) or the hardware iret frame
 * (REGS_PARTIAL) at it, and updates bp.
 *
 * Stops, always with a reason and never with an exception: at user-mode registers (the syscall
 * or interrupt entry from user space), at an END_OF_STACK entry (ret_from_fork of a kernel thread,
 * the idle entry), at an undefined entry or an ip no table covers, at unreadable memory, when
 * the stack pointer does not move up within a stack or returns to a stack already left (bad
 * data: the kernel's "stack going in the wrong direction"), or after `maxFrames`.
 */
import { KdumpkitError } from '../../util/errors.js';
import {
  FP_ORC_ENTRY,
  ORC_REG_BP,
  ORC_REG_BP_INDIRECT,
  ORC_REG_DI,
  ORC_REG_DX,
  ORC_REG_PREV_SP,
  ORC_REG_R10,
  ORC_REG_R13,
  ORC_REG_SP,
  ORC_REG_SP_INDIRECT,
  ORC_REG_UNDEFINED,
  type OrcEntry,
  type OrcLookup,
} from './orc.js';
import type { PagedMemory } from './paged.js';

/** struct pt_regs (x86_64) member order; 21 longs, 168 bytes. */
export const PT_REGS_NAMES = [
  'r15', 'r14', 'r13', 'r12', 'bp', 'bx', 'r11', 'r10', 'r9', 'r8', 'ax', 'cx', 'dx', 'si', 'di', 'orig_ax', 'ip', 'cs', 'flags', 'sp', 'ss',
] as const;
export type PtRegName = (typeof PT_REGS_NAMES)[number];
export type PtRegs = Readonly<Record<PtRegName, bigint>>;
export const PT_REGS_SIZE = PT_REGS_NAMES.length * 8;
/** offsetof(struct pt_regs, ip): where the hardware iret frame starts. */
export const IRET_FRAME_OFFSET = 16 * 8;
/** ip, cs, flags, sp, ss */
export const IRET_FRAME_SIZE = 5 * 8;

/** Kinds of stack (arch/x86/include/asm/stacktrace.h enum stack_type). */
export type StackKind = 'task' | 'irq' | 'softirq' | 'entry' | 'nmi' | 'df' | 'db' | 'mce' | 'vc' | 'vc2' | 'unknown';

export interface StackRange {
  readonly kind: StackKind;
  readonly start: bigint;
  readonly end: bigint;
}

/** Register values the unwinder starts from, with where they came from. */
export interface RegsStart {
  readonly kind: 'regs';
  /** Full pt_regs values (PRSTATUS registers converted). */
  readonly regs: PtRegs;
}

/** A task switched out by __switch_to_asm: `task->thread.sp` → struct inactive_task_frame. */
export interface InactiveStart {
  readonly kind: 'inactive';
  /** task->thread.sp */
  readonly threadSp: bigint;
  /** offsetof(struct inactive_task_frame, bp) and ret_addr; sizeof is ret_addr + 8. */
  readonly bpOffset: number;
  readonly retAddrOffset: number;
}

export type UnwindStart = RegsStart | InactiveStart;

export interface Symbolizer {
  /**
   * `func+0xoff/0xsize [module]` pieces for `addr`; undefined if no symbol covers it. The caller
   * has already applied the return-address adjustment.
   */
  (addr: bigint): { name: string; offset: bigint; size: bigint | undefined; module?: string | undefined } | undefined;
}

export interface UnwindEnv {
  readonly mem: PagedMemory;
  /** orc_find(); may throw KdumpkitError when a table page is unreadable. */
  readonly findOrc: (ip: bigint) => OrcLookup | undefined;
  /** True when ip lies in kernel or module text (the frame-pointer guess is tried only there). */
  readonly isKernelText: (ip: bigint) => boolean;
  /** Stacks the task may be on (its own, and its CPU's IRQ/exception/entry stacks if running). */
  readonly stacks: readonly StackRange[];
  readonly symbolize: Symbolizer;
  /** Addresses that start kernel threads (ret_from_fork, ret_from_fork_asm): a signal ip. */
  readonly forkEntries?: readonly bigint[];
  /** ORC_REG_SP_INDIRECT adds sp_offset after the dereference (Linux 5.12+; default true). */
  readonly spIndirectAddAfter?: boolean;
}

export interface UnwindOptions {
  readonly maxFrames?: number;
}

export type FrameSource =
  /** The registers the unwind started from (PRSTATUS). */
  | 'start-regs'
  /** The return address saved by __switch_to_asm for a task that is not running. */
  | 'switch-frame'
  /** A return address found below the caller's stack pointer. */
  | 'return-address'
  /** The interrupted ip of a pt_regs frame (interrupt, exception, NMI entry). */
  | 'pt-regs'
  /** The interrupted ip of a hardware iret frame (REGS_PARTIAL). */
  | 'iret-frame'
  /**
   * A return address found by scanning the stack where ORC had no information, verified by the
   * call instruction before it calling the function below.
   */
  | 'scanned';

export interface StackFrame {
  readonly index: number;
  readonly ip: bigint;
  /** The caller-visible stack pointer in this frame (CFA for call frames, regs->sp for interrupted ones). */
  readonly sp: bigint;
  /** Where the ip was read from: the return-address slot, &regs->ip, or undefined for registers. */
  readonly slot: bigint | undefined;
  readonly source: FrameSource;
  /** ip is exact (interrupted or start registers): symbolized as is, not as ip - 1. */
  readonly exact: boolean;
  readonly stack: StackKind;
  readonly symbol: { readonly name: string; readonly offset: bigint; readonly size: bigint | undefined; readonly module?: string | undefined } | undefined;
  /** The kernel's %pB/%pS text: `func+0x12/0x80 [module]`, or the raw address. */
  readonly text: string;
  /** The pt_regs this frame's ip came from (interrupt/exception frames), with its address. */
  readonly regs?: { readonly address: bigint; readonly values: PtRegs; readonly partial: boolean };
  /** False once the unwinder had to guess (code without ORC data: frame-pointer fallback). */
  readonly reliable: boolean;
}

export type EndReason =
  /** Reached the pt_regs of the entry from user space. */
  | 'user-mode'
  /** ORC END_OF_STACK: the bottom of a kernel thread (ret_from_fork) or of the idle task. */
  | 'stack-end'
  /** ORC undefined entry at the ip. */
  | 'orc-undefined'
  /** No ORC entry and not kernel text. */
  | 'no-orc'
  /** Memory the step needed is not in the dump. */
  | 'unreadable'
  /** The stack pointer went down, or back to a stack already left. */
  | 'bad-stack'
  /** The ORC entry has a type or register we cannot follow. */
  | 'bad-orc'
  | 'frame-limit'
  /** The start registers are user-mode registers (the CPU was running user code). */
  | 'user-start';

export interface Backtrace {
  readonly frames: readonly StackFrame[];
  readonly end: { readonly reason: EndReason; readonly detail: string };
  /** The user-mode registers at the bottom of the kernel stack (or the start registers if in user mode). */
  readonly userRegs: PtRegs | undefined;
  /** userRegs is only the hardware iret frame (ip, cs, flags, sp, ss); the rest reads 0. */
  readonly userRegsPartial?: boolean;
}

const DEFAULT_MAX_FRAMES = 256;

export function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

/** `func+0x12/0x80 [module]` (kernel %pS; for return addresses the caller passes ip - 1 and adds 1). */
export function symbolText(sym: StackFrame['symbol'], ip: bigint): string {
  if (!sym) return hex(ip);
  const size = sym.size === undefined ? '' : `/${hex(sym.size)}`;
  return `${sym.name}+${hex(sym.offset)}${size}${sym.module ? ` [${sym.module}]` : ''}`;
}

/** user_mode(regs): CPL 3 in the saved CS. */
export function isUserMode(regs: Pick<PtRegs, 'cs'>): boolean {
  return (regs.cs & 3n) === 3n;
}

interface State {
  ip: bigint;
  sp: bigint;
  bp: bigint;
  signal: boolean;
  regs: { address: bigint | undefined; values: PtRegs; full: boolean } | undefined;
  prevRegs: { values: PtRegs } | undefined;
  reliable: boolean;
}

class Stop extends Error {
  constructor(
    readonly reason: EndReason,
    readonly detail: string,
  ) {
    super(detail);
  }
}

export function unwind(env: UnwindEnv, start: UnwindStart, opts: UnwindOptions = {}): Backtrace {
  const maxFrames = opts.maxFrames ?? DEFAULT_MAX_FRAMES;
  const frames: StackFrame[] = [];
  const mem = env.mem;

  const stackOf = (a: bigint): StackRange | undefined => env.stacks.find((s) => a >= s.start && a < s.end);
  const kindOf = (a: bigint): StackKind => stackOf(a)?.kind ?? 'unknown';

  const read64 = (a: bigint, what: string): bigint => {
    try {
      return mem.u64(a);
    } catch (e) {
      if (e instanceof KdumpkitError) throw new Stop('unreadable', `cannot read ${what} at ${hex(a)}: ${e.message}`);
      throw e;
    }
  };
  const readRegs = (a: bigint, what: string): PtRegs => {
    let b: Uint8Array;
    try {
      b = mem.read(a, PT_REGS_SIZE);
    } catch (e) {
      if (e instanceof KdumpkitError) throw new Stop('unreadable', `cannot read ${what} at ${hex(a)}: ${e.message}`);
      throw e;
    }
    return decodePtRegs(b);
  };
  const readIret = (a: bigint): PtRegs => {
    // Only ip, cs, flags, sp, ss are there; the rest of the pt_regs below is not ours to read.
    const v: Record<string, bigint> = {};
    for (const n of PT_REGS_NAMES) v[n] = 0n;
    v.ip = read64(a, 'the iret frame');
    v.cs = read64(a + 8n, 'the iret frame');
    v.flags = read64(a + 16n, 'the iret frame');
    v.sp = read64(a + 24n, 'the iret frame');
    v.ss = read64(a + 32n, 'the iret frame');
    return v as PtRegs;
  };

  const push = (s: State, source: FrameSource, slot: bigint | undefined): void => {
    const exact = s.signal;
    const look = exact ? s.ip : s.ip - 1n;
    const raw = env.symbolize(look);
    const symbol = raw && !exact ? { ...raw, offset: raw.offset + 1n } : raw;
    const frame: StackFrame = {
      index: frames.length,
      ip: s.ip,
      sp: s.sp,
      slot,
      source,
      exact,
      stack: kindOf(s.sp),
      symbol,
      text: symbolText(symbol, s.ip),
      reliable: s.reliable,
      ...(s.regs && (source === 'pt-regs' || source === 'iret-frame') ? { regs: { address: s.regs.address ?? 0n, values: s.regs.values, partial: !s.regs.full } } : {}),
    };
    frames.push(frame);
  };

  let state: State;
  let firstSource: FrameSource;
  let firstSlot: bigint | undefined;
  if (start.kind === 'regs') {
    if (isUserMode(start.regs)) {
      return { frames, end: { reason: 'user-start', detail: 'the CPU was running user code' }, userRegs: start.regs };
    }
    state = { ip: start.regs.ip, sp: start.regs.sp, bp: start.regs.bp, signal: true, regs: { address: undefined, values: start.regs, full: true }, prevRegs: undefined, reliable: true };
    firstSource = 'start-regs';
    firstSlot = undefined;
  } else {
    let ip: bigint;
    let bp: bigint;
    try {
      bp = read64(start.threadSp + BigInt(start.bpOffset), 'the inactive task frame');
      ip = read64(start.threadSp + BigInt(start.retAddrOffset), 'the inactive task frame');
    } catch (e) {
      if (e instanceof Stop) return { frames, end: { reason: e.reason, detail: e.detail }, userRegs: undefined };
      throw e;
    }
    const signal = (env.forkEntries ?? []).includes(ip);
    state = { ip, sp: start.threadSp + BigInt(start.retAddrOffset) + 8n, bp, signal, regs: undefined, prevRegs: undefined, reliable: true };
    firstSource = 'switch-frame';
    firstSlot = start.threadSp + BigInt(start.retAddrOffset);
  }
  push(state, firstSource, firstSlot);

  // Stacks already left: the unwinder may not return to them (the kernel's stack_mask).
  const left = new Set<bigint>();
  let end: Backtrace['end'];
  let userRegs: PtRegs | undefined;
  let userRegsPartial = false;
  for (;;) {
    if (frames.length >= maxFrames) {
      end = { reason: 'frame-limit', detail: `stopped after ${maxFrames} frames` };
      break;
    }
    try {
      const step = next(env, state, read64, readRegs, readIret);
      if (step.done) {
        end = step.end;
        userRegs = step.userRegs;
        userRegsPartial = step.userRegsPartial ?? false;
        break;
      }
      if (step.state.regs && isUserMode(step.state.regs.values)) {
        // The entry from user space: the kernel stack ends here; the registers are the user's.
        end = { reason: 'user-mode', detail: 'reached the registers saved at entry from user mode' };
        userRegs = step.state.regs.values;
        userRegsPartial = !step.state.regs.full;
        break;
      }
      const prevStack = stackOf(state.sp);
      const newStack = stackOf(step.state.sp);
      const prevKey = prevStack?.start ?? -1n;
      const newKey = newStack?.start ?? -1n;
      if (prevKey === newKey) {
        if (step.state.sp <= state.sp) throw new Stop('bad-stack', `stack going in the wrong direction at ${frames[frames.length - 1]!.text} (sp ${hex(state.sp)} -> ${hex(step.state.sp)})`);
      } else {
        if (left.has(newKey)) throw new Stop('bad-stack', `unwound back onto the ${newStack?.kind ?? 'unknown'} stack already left, at ${frames[frames.length - 1]!.text}`);
        left.add(prevKey);
      }
      state = step.state;
      push(state, step.source, step.slot);
    } catch (e) {
      if (e instanceof Stop) {
        end = { reason: e.reason, detail: e.detail };
        break;
      }
      throw e;
    }
  }
  return { frames, end, userRegs, userRegsPartial };
}

type Step =
  | { readonly done: false; readonly state: State; readonly source: FrameSource; readonly slot: bigint | undefined }
  | { readonly done: true; readonly end: Backtrace['end']; readonly userRegs: PtRegs | undefined; readonly userRegsPartial?: boolean };

function next(
  env: UnwindEnv,
  s: State,
  read64: (a: bigint, what: string) => bigint,
  readRegs: (a: bigint, what: string) => PtRegs,
  readIret: (a: bigint) => PtRegs,
): Step {
  if (s.regs && isUserMode(s.regs.values)) {
    return { done: true, end: { reason: 'user-mode', detail: 'reached the registers saved at entry from user mode' }, userRegs: s.regs.values, userRegsPartial: !s.regs.full };
  }
  const at = s.signal ? s.ip : s.ip - 1n;
  let found: OrcLookup | undefined;
  try {
    found = env.findOrc(at);
  } catch (e) {
    if (e instanceof KdumpkitError) throw new Stop('unreadable', `cannot read the ORC table for ${hex(at)}: ${e.message}`);
    throw e;
  }
  let orc: OrcEntry;
  let reliable = s.reliable;
  if (!found || found.entry.type === 'undefined') {
    // Code objtool did not annotate (e.g. kexec_core.o, whose crash_setup_regs() is where the
    // panicking CPU's registers come from): find the caller's return address on the stack, and
    // accept it only if the call instruction before it calls the function we are in.
    const scanned = scanForCaller(env, s, at, read64);
    if (scanned) return scanned;
    if (found) throw new Stop('orc-undefined', `no unwind information at ${hex(s.ip)} (ORC entry undefined) and no verified return address above sp ${hex(s.sp)}`);
    if (!env.isKernelText(at)) throw new Stop('no-orc', `${hex(s.ip)} is not kernel or module text`);
    // unwind_orc.c: assume a frame-pointer frame for code ORC does not describe; a guess.
    orc = FP_ORC_ENTRY;
    reliable = false;
  } else {
    orc = found.entry;
    if (orc.type === 'end-of-stack') return { done: true, end: { reason: 'stack-end', detail: 'reached the bottom of the kernel stack' }, userRegs: undefined };
  }

  const getReg = (name: PtRegName): bigint | undefined => {
    if (!s.regs) return undefined;
    if (s.regs.full) return s.regs.values[name];
    if (s.prevRegs) return s.prevRegs.values[name];
    return undefined;
  };
  const needReg = (name: PtRegName): bigint => {
    const v = getReg(name);
    if (v === undefined) throw new Stop('bad-orc', `ORC needs register ${name} at ${hex(s.ip)}, but no full pt_regs is known there`);
    return v;
  };

  let sp: bigint;
  let indirect = false;
  const addAfter = env.spIndirectAddAfter ?? true;
  switch (orc.spReg) {
    case ORC_REG_SP:
      sp = s.sp + BigInt(orc.spOffset);
      break;
    case ORC_REG_BP:
      sp = s.bp + BigInt(orc.spOffset);
      break;
    case ORC_REG_SP_INDIRECT:
      sp = addAfter ? s.sp : s.sp + BigInt(orc.spOffset);
      indirect = true;
      break;
    case ORC_REG_BP_INDIRECT:
      sp = s.bp + BigInt(orc.spOffset);
      indirect = true;
      break;
    case ORC_REG_R10:
      sp = needReg('r10');
      break;
    case ORC_REG_R13:
      sp = needReg('r13');
      break;
    case ORC_REG_DI:
      sp = needReg('di');
      break;
    case ORC_REG_DX:
      sp = needReg('dx');
      break;
    default:
      throw new Stop('bad-orc', `unknown ORC sp base register ${orc.spReg} at ${hex(s.ip)}`);
  }
  sp = BigInt.asUintN(64, sp);
  if (indirect) {
    sp = read64(sp, 'an indirect stack pointer');
    if (orc.spReg === ORC_REG_SP_INDIRECT && addAfter) sp = BigInt.asUintN(64, sp + BigInt(orc.spOffset));
  }

  const n: State = { ip: 0n, sp: 0n, bp: s.bp, signal: orc.signal, regs: undefined, prevRegs: undefined, reliable };
  let source: FrameSource;
  let slot: bigint | undefined;
  switch (orc.type) {
    case 'call': {
      slot = sp - 8n;
      n.ip = read64(slot, 'a return address');
      n.sp = sp;
      source = 'return-address';
      break;
    }
    case 'regs': {
      const values = readRegs(sp, 'pt_regs');
      n.ip = values.ip;
      n.sp = values.sp;
      n.regs = { address: sp, values, full: true };
      slot = sp + BigInt(IRET_FRAME_OFFSET);
      source = 'pt-regs';
      break;
    }
    case 'regs-partial': {
      const values = readIret(sp);
      n.ip = values.ip;
      n.sp = values.sp;
      n.regs = { address: sp - BigInt(IRET_FRAME_OFFSET), values, full: false };
      if (s.regs?.full) n.prevRegs = { values: s.regs.values };
      slot = sp;
      source = 'iret-frame';
      break;
    }
    default:
      throw new Stop('bad-orc', `unknown ORC entry type ${orc.rawType} at ${hex(s.ip)}`);
  }
  // An ip taken from pt_regs or an iret frame was interrupted, never a return address.
  if (orc.type === 'regs' || orc.type === 'regs-partial') n.signal = true;

  // Find BP.
  switch (orc.bpReg) {
    case ORC_REG_UNDEFINED: {
      const tmp = regOf(n);
      if (tmp !== undefined) n.bp = tmp;
      break;
    }
    case ORC_REG_PREV_SP:
      n.bp = read64(BigInt.asUintN(64, sp + BigInt(orc.bpOffset)), 'the saved frame pointer');
      break;
    case ORC_REG_BP:
      n.bp = read64(BigInt.asUintN(64, s.bp + BigInt(orc.bpOffset)), 'the saved frame pointer');
      break;
    default:
      throw new Stop('bad-orc', `unknown ORC bp base register ${orc.bpReg} at ${hex(s.ip)}`);
  }
  return { done: false, state: n, source, slot };
}

/** How far above sp a return address is looked for when ORC cannot say where it is. */
const SCAN_BYTES = 4096n;

/**
 * The first stack slot above `s.sp` (on the same stack, at most SCAN_BYTES up) holding an address
 * right after a `call rel32` whose target is the start of the function containing `at`.
 */
function scanForCaller(env: UnwindEnv, s: State, at: bigint, read64: (a: bigint, what: string) => bigint): Step | undefined {
  const sym = env.symbolize(at);
  if (!sym) return undefined;
  const fnStart = at - sym.offset;
  const stack = env.stacks.find((r) => s.sp >= r.start && s.sp < r.end);
  const limit = stack ? (stack.end < s.sp + SCAN_BYTES ? stack.end : s.sp + SCAN_BYTES) : s.sp + SCAN_BYTES;
  for (let a = s.sp; a + 8n <= limit; a += 8n) {
    let v: bigint;
    try {
      v = read64(a, 'the stack');
    } catch (e) {
      if (e instanceof Stop) return undefined;
      throw e;
    }
    if (!env.isKernelText(v - 1n)) continue;
    let code: Uint8Array;
    try {
      code = env.mem.read(v - 5n, 5);
    } catch (e) {
      if (e instanceof KdumpkitError) continue;
      throw e;
    }
    if (code[0] !== 0xe8) continue;
    const rel = new DataView(code.buffer, code.byteOffset + 1, 4).getInt32(0, true);
    if (BigInt.asUintN(64, v + BigInt(rel)) !== fnStart) continue;
    return { done: false, state: { ip: v, sp: a + 8n, bp: s.bp, signal: false, regs: undefined, prevRegs: undefined, reliable: s.reliable }, source: 'scanned', slot: a };
  }
  return undefined;
}

/** get_reg(state, bp) after the step: the new frame's full regs, or the previous full regs. */
function regOf(n: State): bigint | undefined {
  if (!n.regs) return undefined;
  if (n.regs.full) return n.regs.values.bp;
  if (n.prevRegs) return n.prevRegs.values.bp;
  return undefined;
}

export function decodePtRegs(b: Uint8Array): PtRegs {
  const dv = new DataView(b.buffer, b.byteOffset, PT_REGS_SIZE);
  const v: Record<string, bigint> = {};
  PT_REGS_NAMES.forEach((n, i) => {
    v[n] = dv.getBigUint64(i * 8, true);
  });
  return v as PtRegs;
}
