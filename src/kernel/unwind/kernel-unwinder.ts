/**
 * Backtraces of the crashed kernel's tasks: the ORC tables (vmlinux and modules), the stacks of
 * each CPU (IRQ stack, exception stacks, entry stack), which task each CPU ran and the registers
 * the dump saved for it (PRSTATUS), and symbols for kernel and module text.
 *
 * Starting points, as the kernel's own unwind_start():
 * - a task running on a CPU: that CPU's PRSTATUS registers. On the CPU that crashed they come from
 *   crash_setup_regs() in __crash_kexec() (the panic path), or are the oops registers themselves
 *   when the crash came from an oops (crash_kexec(regs)); on the other CPUs they are the
 *   registers the crash NMI interrupted (crash_nmi_callback() saves the NMI's pt_regs).
 * - any other task: task->thread.sp, where __switch_to_asm left a struct inactive_task_frame.
 *
 * PRSTATUS notes are matched to CPU numbers through the per-CPU `crash_notes` buffers (the same
 * note bytes, still in memory), else taken in order over the online CPUs.
 */
import type { Kernel } from '../kernel.js';
import type { PrStatus } from '../../formats/vmcore/prstatus.js';
import { KdumpkitError } from '../../util/errors.js';
import { PerCpu, readCpuSet, readRunqueues } from '../cpus.js';
import { ModuleSymbols, readModules, type LoadedModule } from './module-symbols.js';
import { kernelVersion, OrcFinder, OrcTable, orcLayoutFor, within, type AddressRange, type OrcLayout, type OrcRegion } from './orc.js';
import { PagedMemory } from './paged.js';
import { unwind, type Backtrace, type PtRegs, type StackKind, type StackRange, type Symbolizer, type UnwindEnv, type UnwindStart } from './stack.js';
import { listTaskAddresses, readTask, type TaskInfo } from './tasks.js';

export interface CpuContext {
  readonly cpu: number;
  /** The PRSTATUS note saved for this CPU, if any. */
  readonly prstatus: PrStatus | undefined;
  /** rq->curr */
  readonly curr: bigint | undefined;
  /** rq->idle */
  readonly idle: bigint | undefined;
  /** IRQ, exception and entry stacks of this CPU. */
  readonly stacks: readonly StackRange[];
}

export interface TaskBacktrace extends Backtrace {
  readonly task: TaskInfo;
  /** Where the unwind started. */
  readonly start: 'prstatus' | 'saved-context';
  /** The CPU the task was running on (for 'prstatus'). */
  readonly runningOn: number | undefined;
}

const DEFAULT_THREAD_SIZE = 16384n;
const DEFAULT_IRQ_STACK_SIZE = 16384n;
const DEFAULT_ENTRY_STACK_SIZE = 4096n;
const PRSTATUS_NOTE_NAME = 'CORE';
/** vmlinux has ~400k ORC entries; anything beyond this is not an ORC table. */
const MAX_ORC_ENTRIES = 16_000_000;

const EXCEPTION_STACK_KINDS: Readonly<Record<string, StackKind>> = {
  DF_stack: 'df',
  NMI_stack: 'nmi',
  DB_stack: 'db',
  DB1_stack: 'db',
  DB2_stack: 'db',
  MCE_stack: 'mce',
  VC_stack: 'vc',
  VC2_stack: 'vc2',
};

/** Per-CPU stack descriptions, the same for every CPU. */
interface StackLayout {
  /** The per-CPU variable holding the IRQ stack pointer (hardirq_stack_ptr, or pcpu_hot's member). */
  readonly irqPtr: { readonly symbol: string; readonly offset: bigint } | undefined;
  readonly irqSize: bigint;
  readonly irqPtrIsTop: boolean;
  /** The *_stack members of struct cea_exception_stacks. */
  readonly exception: ReadonlyArray<{ readonly kind: StackKind; readonly offset: bigint; readonly size: bigint }>;
  /** offsetof(struct tss_struct, x86_tss.sp0). */
  readonly tssSp0: bigint | undefined;
  readonly entrySize: bigint;
}

const cache = new WeakMap<Kernel, KernelUnwinder>();

export class KernelUnwinder {
  readonly pm: PagedMemory;
  readonly layout: OrcLayout;
  /** What could not be read, and what was assumed. */
  readonly notes: string[] = [];
  readonly cpus: readonly CpuContext[];
  /** The CPU that crashed (panic_cpu, else crashing_cpu), if known. */
  readonly crashedCpu: number | undefined;
  private readonly textRanges: AddressRange[];
  private readonly imageRange: AddressRange | undefined;
  private readonly finder: OrcFinder;
  private loadedModules: LoadedModule[] | undefined;
  private moduleSyms: ModuleSymbols | undefined;
  private moduleOrc: OrcRegion[] | undefined;
  private taskList: TaskInfo[] | undefined;
  private stackLayoutCache: StackLayout | undefined;
  private readonly threadSize: bigint;
  private readonly frameOffsets: { bp: number; retAddr: number };
  private readonly forkEntries: bigint[];

  /** One unwinder per Kernel (its caches: ORC pages, modules, tasks). */
  static for(k: Kernel): KernelUnwinder {
    let u = cache.get(k);
    if (!u) {
      u = new KernelUnwinder(k);
      cache.set(k, u);
    }
    return u;
  }

  constructor(readonly kernel: Kernel) {
    const k = kernel;
    this.pm = new PagedMemory(k.mem);
    this.layout = orcLayoutFor(k.btf, k.info.osrelease);
    const sym = (n: string): bigint | undefined => k.symbols.address(n);

    const stext = sym('_stext') ?? sym('_text');
    const etext = sym('_etext');
    const sinit = sym('_sinittext');
    const einit = sym('_einittext');
    this.textRanges = [];
    if (stext !== undefined && etext !== undefined) this.textRanges.push({ start: stext, end: etext });
    if (sinit !== undefined && einit !== undefined) this.textRanges.push({ start: sinit, end: einit });
    const text = sym('_text') ?? stext;
    const end = sym('_end');
    this.imageRange = text !== undefined && end !== undefined ? { start: text, end } : undefined;

    let vmlinux: OrcRegion | undefined;
    const ipStart = sym('__start_orc_unwind_ip');
    const ipStop = sym('__stop_orc_unwind_ip');
    const orcStart = sym('__start_orc_unwind');
    const orcStop = sym('__stop_orc_unwind');
    if (ipStart === undefined || ipStop === undefined || orcStart === undefined) {
      this.notes.push(`no ORC tables: __start_orc_unwind_ip/__stop_orc_unwind_ip/__start_orc_unwind not in ${k.symbols.source}`);
    } else {
      const count = Number((ipStop - ipStart) / 4n);
      if (orcStop !== undefined && (orcStop - orcStart) / 6n !== BigInt(count)) {
        this.notes.push(`ORC tables disagree: ${count} ip entries, ${(orcStop - orcStart) / 6n} orc entries`);
      }
      if (count > 0 && count <= MAX_ORC_ENTRIES) vmlinux = { ranges: this.textRanges, table: new OrcTable(this.pm, ipStart, orcStart, count, this.layout, 'vmlinux') };
      else this.notes.push(`no usable ORC table: __start_orc_unwind_ip..__stop_orc_unwind_ip holds ${count} entries`);
    }
    this.finder = new OrcFinder(vmlinux, () => this.moduleOrcRegions());

    this.threadSize = threadSize(k);
    this.frameOffsets = {
      bp: offsetOr(k, 'struct inactive_task_frame', 'bp', 40),
      retAddr: offsetOr(k, 'struct inactive_task_frame', 'ret_addr', 48),
    };
    this.forkEntries = ['ret_from_fork', 'ret_from_fork_asm'].map(sym).filter((a): a is bigint => a !== undefined);

    const { cpus, crashedCpu } = this.readCpus();
    this.cpus = cpus;
    this.crashedCpu = crashedCpu;
  }

  // --- modules ---------------------------------------------------------------------------------

  get modules(): readonly LoadedModule[] {
    if (!this.loadedModules) {
      this.loadedModules = readModules(this.kernel, this.pm, this.notes);
      for (const m of this.loadedModules) for (const n of m.notes) this.notes.push(`module ${m.name}: ${n}`);
    }
    return this.loadedModules;
  }

  private moduleOrcRegions(): OrcRegion[] {
    this.moduleOrc ??= this.modules
      .filter((m) => m.orc !== undefined)
      .map((m) => ({ ranges: m.regions, table: new OrcTable(this.pm, m.orc!.ipTable, m.orc!.orcTable, m.orc!.count, this.layout, m.name) }));
    return this.moduleOrc;
  }

  private get moduleSymbols(): ModuleSymbols {
    this.moduleSyms ??= new ModuleSymbols(this.modules);
    return this.moduleSyms;
  }

  // --- symbols ---------------------------------------------------------------------------------

  /** kallsyms-style lookup for kernel image and module addresses; undefined elsewhere. */
  readonly symbolize: Symbolizer = (addr) => {
    if (this.imageRange && addr >= this.imageRange.start && addr < this.imageRange.end) {
      const s = this.kernel.symbols.symbolize(addr);
      return s ? { name: s.symbol.name, offset: s.offset, size: s.size } : undefined;
    }
    const m = this.moduleSymbols.symbolize(addr);
    return m ? { name: m.name, offset: m.offset, size: m.size, module: m.module } : undefined;
  };

  isKernelText(ip: bigint): boolean {
    if (within(this.textRanges, ip)) return true;
    const hit = this.moduleSymbols.moduleAt(ip);
    return hit !== undefined && /text|core|init$/.test(hit.region.kind);
  }

  // --- CPUs ------------------------------------------------------------------------------------

  private readCpus(): { cpus: CpuContext[]; crashedCpu: number | undefined } {
    const k = this.kernel;
    const set = readCpuSet(k);
    for (const n of set.notes) this.notes.push(`CPUs: ${n}`);
    let percpu: PerCpu | undefined;
    try {
      percpu = new PerCpu(k);
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      this.notes.push(e.message);
    }
    const prs = k.dump.prstatus;
    const byCpu = this.matchPrstatus(set.online, set.possible, percpu);
    const cpuList = [...new Set([...set.online, ...byCpu.keys()])].sort((a, b) => a - b);
    let rqs: ReturnType<typeof readRunqueues> = [];
    try {
      if (percpu) rqs = readRunqueues(k, percpu, cpuList, this.notes);
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      this.notes.push(`runqueues (which task each CPU ran): ${e.message}`);
    }
    const cpus: CpuContext[] = cpuList.map((cpu) => {
      const rq = rqs.find((r) => r.cpu === cpu);
      return {
        cpu,
        prstatus: byCpu.get(cpu),
        curr: rq?.curr,
        idle: rq?.idle,
        stacks: percpu ? this.cpuStacks(percpu, cpu) : [],
      };
    });
    if (prs.length > 0 && byCpu.size === 0) this.notes.push('PRSTATUS notes could not be matched to CPUs');

    let crashedCpu: number | undefined;
    for (const name of ['panic_cpu', 'crashing_cpu']) {
      const a = k.symbols.address(name);
      if (a === undefined) continue;
      try {
        const v = this.pm.i32(a);
        if (v >= 0 && cpus.some((c) => c.cpu === v)) {
          crashedCpu = v;
          break;
        }
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
        this.notes.push(`${name}: ${e.message}`);
      }
    }
    if (crashedCpu === undefined) this.notes.push('neither panic_cpu nor crashing_cpu names the CPU that crashed');
    return { cpus, crashedCpu };
  }

  /**
   * CPU number of each PRSTATUS note: the per-CPU crash_notes buffer whose saved pid and
   * registers equal the note's; else the notes in order over the online CPUs.
   */
  private matchPrstatus(online: readonly number[], possible: readonly number[], percpu: PerCpu | undefined): Map<number, PrStatus> {
    const k = this.kernel;
    const prs = k.dump.prstatus;
    const out = new Map<number, PrStatus>();
    const notesPtr = k.symbols.address('crash_notes');
    if (percpu && notesPtr !== undefined && prs.length > 0) {
      try {
        const base = this.pm.u64(notesPtr);
        for (const cpu of possible) {
          let buf: Uint8Array;
          try {
            buf = this.pm.read(percpu.ptr(base, cpu), 12 + 8 + 336);
          } catch (e) {
            if (!(e instanceof KdumpkitError)) throw e;
            continue;
          }
          const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
          const namesz = dv.getUint32(0, true);
          const type = dv.getUint32(8, true);
          if (namesz !== PRSTATUS_NOTE_NAME.length + 1 || type !== 1) continue;
          if (Buffer.from(buf.subarray(12, 16)).toString('latin1') !== PRSTATUS_NOTE_NAME) continue;
          const desc = 20;
          const pid = dv.getInt32(desc + 32, true);
          const rip = dv.getBigUint64(desc + 112 + 16 * 8, true);
          const rsp = dv.getBigUint64(desc + 112 + 19 * 8, true);
          const p = prs.find((x) => x.pid === pid && x.registers.rip === rip && x.registers.rsp === rsp && ![...out.values()].includes(x));
          if (p) out.set(cpu, p);
        }
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
        this.notes.push(`crash_notes: ${e.message}`);
      }
    }
    if (out.size === prs.length) return out;
    // kdump writes notes for the CPUs that saved registers (the online ones), in CPU order; a
    // hypervisor dump (QEMU dump-guest-memory) one per vCPU, CPUs the panic took offline included.
    const order = prs.length - out.size <= online.filter((c) => !out.has(c)).length ? online : possible;
    this.notes.push(
      out.size > 0
        ? `only ${out.size} of ${prs.length} PRSTATUS notes found in crash_notes; the rest assigned in ${order === online ? 'online' : 'possible'}-CPU order`
        : `PRSTATUS notes not found in crash_notes (not a kdump dump?); assigned in ${order === online ? 'online' : 'possible'}-CPU order`,
    );
    const taken = new Set(out.values());
    const freeCpus = order.filter((c) => !out.has(c));
    let i = 0;
    for (const p of prs) {
      if (taken.has(p)) continue;
      const cpu = freeCpus[i++];
      if (cpu === undefined) break;
      out.set(cpu, p);
    }
    return out;
  }

  /** Where each CPU's stacks are described: looked up once, used for every CPU. */
  private stackLayout(): StackLayout {
    if (this.stackLayoutCache) return this.stackLayoutCache;
    const k = this.kernel;
    const note = (what: string, f: () => void): void => {
      try {
        f();
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
        this.notes.push(`${what}: ${e.message}`);
      }
    };
    const exception: Array<StackLayout['exception'][number]> = [];
    const l: { -readonly [K in keyof StackLayout]: StackLayout[K] } = { irqPtr: undefined, irqSize: DEFAULT_IRQ_STACK_SIZE, irqPtrIsTop: true, exception, tssSp0: undefined, entrySize: DEFAULT_ENTRY_STACK_SIZE };
    note('IRQ stacks', () => {
      l.irqSize = sizeOr(k, 'struct irq_stack', DEFAULT_IRQ_STACK_SIZE);
      if (k.symbols.address('hardirq_stack_ptr') !== undefined) l.irqPtr = { symbol: 'hardirq_stack_ptr', offset: 0n };
      else if (k.symbols.address('pcpu_hot') !== undefined) l.irqPtr = { symbol: 'pcpu_hot', offset: BigInt(k.types.offsetof('struct pcpu_hot', 'hardirq_stack_ptr')) };
      // Since 5.12 the pointer is the top-most slot (top - 8); before, the stack's base.
      const v = kernelVersion(k.info.osrelease);
      l.irqPtrIsTop = !v || v[0] > 5 || (v[0] === 5 && v[1] >= 12);
    });
    note('exception stacks', () => {
      if (k.symbols.address('cea_exception_stacks') === undefined) return;
      for (const [name, kind] of Object.entries(EXCEPTION_STACK_KINDS)) {
        let m;
        try {
          m = k.types.member('struct cea_exception_stacks', name);
        } catch (e) {
          if (e instanceof KdumpkitError) continue;
          throw e;
        }
        if (m.size !== undefined) exception.push({ kind, offset: BigInt(m.offsetBits / 8), size: BigInt(m.size) });
      }
    });
    note('entry stacks', () => {
      if (k.symbols.address('cpu_tss_rw') === undefined) return;
      l.tssSp0 = BigInt(k.types.offsetof('struct tss_struct', 'x86_tss.sp0'));
      l.entrySize = sizeOr(k, 'struct entry_stack', DEFAULT_ENTRY_STACK_SIZE);
    });
    this.stackLayoutCache = l;
    return l;
  }

  /** The IRQ stack, exception stacks and entry stack of `cpu`; what cannot be read is left out. */
  private cpuStacks(percpu: PerCpu, cpu: number): StackRange[] {
    const l = this.stackLayout();
    const out: StackRange[] = [];
    const tryAdd = (what: string, f: () => void): void => {
      try {
        f();
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
        this.notes.push(`CPU ${cpu} ${what}: ${e.message}`);
      }
    };
    if (l.irqPtr) {
      const irq = l.irqPtr;
      tryAdd('IRQ stack', () => {
        const p = this.pm.u64(percpu.symbol(irq.symbol, cpu) + irq.offset);
        if (p === 0n) return;
        const top = l.irqPtrIsTop ? p + 8n : p + l.irqSize;
        out.push({ kind: 'irq', start: top - l.irqSize, end: top });
      });
    }
    if (l.exception.length > 0) {
      tryAdd('exception stacks', () => {
        const base = this.pm.u64(percpu.symbol('cea_exception_stacks', cpu));
        if (base === 0n) return;
        for (const e of l.exception) out.push({ kind: e.kind, start: base + e.offset, end: base + e.offset + e.size });
      });
    }
    if (l.tssSp0 !== undefined) {
      const sp0Off = l.tssSp0;
      // x86_64 keeps TSS.sp0 at the top of the entry (trampoline) stack, whatever task runs.
      tryAdd('entry stack', () => {
        const sp0 = this.pm.u64(percpu.symbol('cpu_tss_rw', cpu) + sp0Off);
        if (sp0 !== 0n) out.push({ kind: 'entry', start: sp0 - l.entrySize, end: sp0 });
      });
    }
    return out;
  }

  // --- tasks -----------------------------------------------------------------------------------

  /** Every task (threads of all processes, and each CPU's idle task); empty without BTF. */
  tasks(): readonly TaskInfo[] {
    if (!this.taskList) {
      // Idle tasks are on no list; a current task may already be off them (exiting).
      const extra = this.cpus.flatMap((c) => [c.idle, c.curr]).filter((a): a is bigint => a !== undefined && a !== 0n);
      let addrs: bigint[] = [];
      try {
        addrs = listTaskAddresses(this.kernel, this.pm, extra, this.notes);
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
        this.notes.push(`task list: ${e.message}`);
      }
      const list: TaskInfo[] = [];
      for (const a of addrs) {
        try {
          list.push(readTask(this.kernel, this.pm, a));
        } catch (e) {
          if (!(e instanceof KdumpkitError)) throw e;
          this.notes.push(`task 0x${a.toString(16)}: ${e.message}`);
        }
      }
      this.taskList = list;
    }
    return this.taskList;
  }

  /** The task at `address` (from the task list, or read directly). */
  task(address: bigint): TaskInfo {
    return this.tasks().find((t) => t.address === address) ?? readTask(this.kernel, this.pm, address);
  }

  /** The CPU whose rq->curr is this task and that has saved registers. */
  runningCpu(task: bigint): CpuContext | undefined {
    return this.cpus.find((c) => c.curr === task && c.prstatus !== undefined);
  }

  /** The task running on the crashed CPU. */
  crashedTask(): TaskInfo | undefined {
    const c = this.cpus.find((x) => x.cpu === this.crashedCpu);
    if (!c || c.curr === undefined) return undefined;
    return this.task(c.curr);
  }

  // --- unwinding -------------------------------------------------------------------------------

  private env(stacks: StackRange[]): UnwindEnv {
    return {
      mem: this.pm,
      findOrc: (ip) => this.finder.find(ip),
      isKernelText: (ip) => this.isKernelText(ip),
      stacks,
      symbolize: this.symbolize,
      forkEntries: this.forkEntries,
      spIndirectAddAfter: this.layout.spIndirectAddAfter,
    };
  }

  /** Backtrace of one task: from its CPU's saved registers if it was running, else its switch frame. */
  backtrace(task: TaskInfo): TaskBacktrace {
    const taskStack: StackRange = { kind: 'task', start: task.stack, end: task.stack + this.threadSize };
    const cpu = this.runningCpu(task.address);
    let start: UnwindStart;
    let stacks: StackRange[];
    if (cpu?.prstatus) {
      start = { kind: 'regs', regs: prstatusToPtRegs(cpu.prstatus) };
      stacks = [taskStack, ...cpu.stacks];
    } else {
      start = { kind: 'inactive', threadSp: task.threadSp, bpOffset: this.frameOffsets.bp, retAddrOffset: this.frameOffsets.retAddr };
      stacks = [taskStack];
    }
    const bt = unwind(this.env(stacks), start);
    return { ...bt, task, start: start.kind === 'regs' ? 'prstatus' : 'saved-context', runningOn: cpu?.cpu };
  }

  /**
   * Backtrace of what a CPU was running, from its PRSTATUS registers alone: for when the task
   * cannot be read (no BTF, or its task_struct is not in the dump). The task is described by
   * the note's pid only.
   */
  backtraceCpu(cpu: CpuContext): TaskBacktrace | undefined {
    if (!cpu.prstatus) return undefined;
    const task: TaskInfo = { address: cpu.curr ?? 0n, pid: cpu.prstatus.pid, tgid: cpu.prstatus.pid, comm: '?', state: 'R', cpu: cpu.cpu, stack: 0n, threadSp: 0n, flags: 0 };
    const bt = unwind(this.env([...cpu.stacks]), { kind: 'regs', regs: prstatusToPtRegs(cpu.prstatus) });
    return { ...bt, task, start: 'prstatus', runningOn: cpu.cpu };
  }
}

/** PRSTATUS (user_regs_struct order) to pt_regs names. */
export function prstatusToPtRegs(p: PrStatus): PtRegs {
  const r = p.registers;
  return {
    r15: r.r15,
    r14: r.r14,
    r13: r.r13,
    r12: r.r12,
    bp: r.rbp,
    bx: r.rbx,
    r11: r.r11,
    r10: r.r10,
    r9: r.r9,
    r8: r.r8,
    ax: r.rax,
    cx: r.rcx,
    dx: r.rdx,
    si: r.rsi,
    di: r.rdi,
    orig_ax: r.orig_rax,
    ip: r.rip,
    cs: r.cs,
    flags: r.eflags,
    sp: r.rsp,
    ss: r.ss,
  };
}

/**
 * THREAD_SIZE: the size of init_task's stack as the linker script lays it out
 * (__start_init_stack..__end_init_stack since 6.2, init_stack..__end_init_task before), else
 * sizeof(union thread_union), else 16 KiB (x86_64 without KASAN).
 */
function threadSize(k: Kernel): bigint {
  const s = k.symbols;
  for (const [a, b] of [
    ['__start_init_stack', '__end_init_stack'],
    ['init_stack', '__end_init_task'],
  ] as const) {
    const start = s.address(a);
    const end = s.address(b);
    if (start !== undefined && end !== undefined && end > start && end - start <= 1n << 20n) return end - start;
  }
  return sizeOr(k, 'union thread_union', DEFAULT_THREAD_SIZE);
}

function sizeOr(k: Kernel, type: string, dflt: bigint): bigint {
  try {
    return BigInt(k.types.sizeof(type));
  } catch (e) {
    if (e instanceof KdumpkitError) return dflt;
    throw e;
  }
}

function offsetOr(k: Kernel, type: string, member: string, dflt: number): number {
  try {
    return k.types.offsetof(type, member);
  } catch (e) {
    if (e instanceof KdumpkitError) return dflt;
    throw e;
  }
}
