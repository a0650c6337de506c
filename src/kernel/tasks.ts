/**
 * Every task of the crashed kernel, read with BTF offsets only (no debuginfo).
 *
 * Which tasks: the thread-group leaders on init_task.tasks, every thread of each through
 * signal->thread_head / task_struct.thread_node (Linux ≥ 3.14), and the idle task of each CPU
 * (pid 0, rq->idle; init_task is CPU 0's). The PID hash alone misses threads and idle tasks —
 * crash 8.0.2 on 6.1 finds 4 tasks where there are 54.
 *
 * Per task: pid, tgid, ppid (real_parent->tgid, as ps(1) and /proc/PID/stat report it), comm,
 * the state letter exactly as the kernel's task_state_index() / ps compute it, the CPU
 * (task_struct.thread_info.cpu on Linux ≥ 5.16, task_struct.cpu before), the task flags, and
 * memory: VSZ from mm->total_vm and RSS as get_mm_rss() (file + anon + shmem pages: a
 * percpu_counter per counter on Linux ≥ 6.2, summed over CPUs; an atomic_long_t array before,
 * plus each thread's unsynced task->rss_stat cache when SPLIT_RSS_COUNTING is built in).
 */
import type { Kernel } from './kernel.js';
import { PerCpu, readCpuSet, readRunqueues, type CpuSet, type RunqueueInfo } from './cpus.js';
import { KdumpkitError, ValidationError } from '../util/errors.js';
import { cString } from '../util/bytes.js';
import { readSymbolS32 } from './attempt.js';

/** include/linux/sched.h (stable since 4.14): bits task_state_index() tests beyond TASK_REPORT. */
const TASK_UNINTERRUPTIBLE = 0x2;
const TASK_NOLOAD = 0x400;
const TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD;
const TASK_RTLOCK_WAIT = 0x1000;
const TASK_FROZEN = 0x8000;
/** PF_KTHREAD: "I am a kernel thread" (include/linux/sched.h, 0x00200000 since 2.6.x). */
export const PF_KTHREAD = 0x00200000;
const PF_IDLE = 0x2;
/** What fs/proc/array.c prints when task_state_array cannot be read (Linux ≥ 4.14). */
const DEFAULT_STATE_CHARS = 'RSDTtXZPI';

export interface TaskMemory {
  /** Virtual size in KiB (mm->total_vm pages). */
  readonly vszKiB: number;
  /** Resident set in KiB (get_mm_rss(): file + anon + shmem). */
  readonly rssKiB: number;
  /** RSS as a percentage of totalram_pages, when that is known. */
  readonly memPercent: number | undefined;
}

export interface Task {
  readonly address: bigint;
  readonly pid: number;
  readonly tgid: number;
  /** real_parent->tgid (ps semantics); 0 for init and kthreadd (parent: the idle task). */
  readonly ppid: number;
  /** real_parent->pid (what drgn prints as the parent's pid). */
  readonly parentPid: number;
  readonly comm: string;
  /** One letter, as ps and /proc/PID/stat: R S D T t X Z P I. */
  readonly state: string;
  /** The raw __state (or state) and exit_state values. */
  readonly stateValue: number;
  readonly exitState: number;
  readonly cpu: number;
  readonly flags: number;
  readonly kthread: boolean;
  /** A CPU's idle task (pid 0, swapper/N). */
  readonly idle: boolean;
  /** mm_struct address; 0 for kernel threads. */
  readonly mm: bigint;
  /** The CPU this task was current on (rq->curr), if any. */
  readonly activeOn: number | undefined;
  readonly memory: TaskMemory | undefined;
}

export interface TaskList {
  readonly tasks: readonly Task[];
  /** rq->curr/idle per CPU that could be read. */
  readonly runqueues: readonly RunqueueInfo[];
  readonly cpus: CpuSet;
  /** The kernel's own count of threads (nr_threads; idle tasks not included). */
  readonly nrThreads: number | undefined;
  /** Letters indexed like the kernel's task_state_array. */
  readonly stateChars: string;
  /** What could not be read, with reasons. */
  readonly warnings: readonly string[];
}

interface Offsets {
  state: number;
  stateSize: number;
  exitState: number;
  flags: number;
  pid: number;
  tgid: number;
  realParent: number;
  comm: number;
  commSize: number;
  tasks: number;
  threadNode: number | undefined;
  signal: number;
  threadHead: number | undefined;
  mm: number;
  cpu: number | undefined;
  /** task->rss_stat.count (SPLIT_RSS_COUNTING, Linux < 6.2). */
  taskRss: number | undefined;
  /** Smallest and largest byte (exclusive) of the fields above: read once per task. */
  lo: number;
  hi: number;
}

function offsets(k: Kernel): Offsets {
  const t = k.types;
  const has = (s: string, m: string): boolean => {
    try {
      t.member(s, m);
      return true;
    } catch (e) {
      if (e instanceof KdumpkitError) return false;
      throw e;
    }
  };
  const T = 'struct task_struct';
  const stateName = has(T, '__state') ? '__state' : 'state';
  const st = t.member(T, stateName);
  let cpu: number | undefined;
  if (has(T, 'thread_info.cpu')) cpu = t.offsetof(T, 'thread_info.cpu');
  else if (has(T, 'cpu')) cpu = t.offsetof(T, 'cpu');
  const comm = t.member(T, 'comm');
  const o: Omit<Offsets, 'lo' | 'hi'> = {
    state: st.offsetBits / 8,
    stateSize: st.size ?? 8,
    exitState: t.offsetof(T, 'exit_state'),
    flags: t.offsetof(T, 'flags'),
    pid: t.offsetof(T, 'pid'),
    tgid: t.offsetof(T, 'tgid'),
    realParent: t.offsetof(T, 'real_parent'),
    comm: comm.offsetBits / 8,
    commSize: comm.size ?? 16,
    tasks: t.offsetof(T, 'tasks'),
    threadNode: has(T, 'thread_node') ? t.offsetof(T, 'thread_node') : undefined,
    signal: t.offsetof(T, 'signal'),
    threadHead: has('struct signal_struct', 'thread_head') ? t.offsetof('struct signal_struct', 'thread_head') : undefined,
    mm: t.offsetof(T, 'mm'),
    cpu,
    taskRss: has(T, 'rss_stat.count') ? t.offsetof(T, 'rss_stat.count') : undefined,
  };
  const spans: [number, number][] = [
    [o.state, o.stateSize],
    [o.exitState, 4],
    [o.flags, 4],
    [o.pid, 4],
    [o.tgid, 4],
    [o.realParent, 8],
    [o.comm, o.commSize],
    [o.tasks, 16],
    [o.signal, 8],
    [o.mm, 8],
  ];
  if (o.threadNode !== undefined) spans.push([o.threadNode, 16]);
  if (o.cpu !== undefined) spans.push([o.cpu, 4]);
  if (o.taskRss !== undefined) spans.push([o.taskRss, 16]);
  const lo = Math.min(...spans.map(([a]) => a));
  const hi = Math.max(...spans.map(([a, n]) => a + n));
  return { ...o, lo, hi };
}

/** The letters of task_state_array ("R (running)", "S (sleeping)", …), read from the dump. */
export function readStateChars(k: Kernel, warnings: string[]): string {
  const a = k.symbols.address('task_state_array');
  if (a === undefined) {
    warnings.push(`task_state_array not in ${k.symbols.source}: assuming the state letters of Linux ≥ 4.14 (${DEFAULT_STATE_CHARS})`);
    return DEFAULT_STATE_CHARS;
  }
  try {
    const size = k.symbols.symbolize(a)?.size;
    const n = size !== undefined ? Math.min(Number(size / 8n), 16) : DEFAULT_STATE_CHARS.length;
    const ptrs = k.mem.read(a, n * 8);
    const dv = new DataView(ptrs.buffer, ptrs.byteOffset, ptrs.byteLength);
    let chars = '';
    for (let i = 0; i < n; i++) {
      const p = dv.getBigUint64(i * 8, true);
      if (p < 0xffff800000000000n) break;
      const s = k.mem.read(p, 4);
      // Entries look like "R (running)".
      if (s[1] !== 0x20 || s[2] !== 0x28) break;
      chars += String.fromCharCode(s[0]!);
    }
    if (chars.length < 2 || chars[0] !== 'R') throw new ValidationError(`task_state_array at 0x${a.toString(16)} does not hold "R (running)", … strings`);
    return chars;
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    warnings.push(`task_state_array unreadable (${e.message}): assuming ${DEFAULT_STATE_CHARS}`);
    return DEFAULT_STATE_CHARS;
  }
}

/**
 * The state letter of fs/proc/array.c task_state(): task_state_array[task_state_index()].
 * `chars` ends with 'I' on Linux ≥ 4.14: TASK_REPORT covers the letters before it and
 * TASK_REPORT_IDLE is the bit after TASK_REPORT.
 */
export function taskStateChar(state: number, exitState: number, chars: string): string {
  const idleEntry = chars.endsWith('I');
  const reportBits = idleEntry ? chars.length - 2 : chars.length - 1;
  const report = (1 << reportBits) - 1;
  let s = (state | exitState) & report;
  if (idleEntry && (state & TASK_IDLE) === TASK_IDLE) s = 1 << reportBits;
  if (state & TASK_RTLOCK_WAIT || state & TASK_FROZEN) s = TASK_UNINTERRUPTIBLE;
  const idx = s === 0 ? 0 : 32 - Math.clz32(s);
  return chars[idx] ?? '?';
}

interface RawTask {
  address: bigint;
  pid: number;
  tgid: number;
  realParent: bigint;
  comm: string;
  stateValue: number;
  exitState: number;
  flags: number;
  cpu: number;
  mm: bigint;
  signal: bigint;
  taskRss: number[] | undefined;
}

function readRaw(k: Kernel, o: Offsets, address: bigint): RawTask {
  const b = k.mem.read(address + BigInt(o.lo), o.hi - o.lo);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const at = (off: number): number => off - o.lo;
  const stateValue = o.stateSize === 8 ? Number(dv.getBigUint64(at(o.state), true) & 0xffffffffn) : dv.getUint32(at(o.state), true);
  let taskRss: number[] | undefined;
  if (o.taskRss !== undefined) taskRss = [0, 1, 2, 3].map((i) => dv.getInt32(at(o.taskRss!) + i * 4, true));
  return {
    address,
    pid: dv.getInt32(at(o.pid), true),
    tgid: dv.getInt32(at(o.tgid), true),
    realParent: dv.getBigUint64(at(o.realParent), true),
    comm: cString(b, at(o.comm), o.commSize),
    stateValue,
    exitState: dv.getInt32(at(o.exitState), true),
    flags: dv.getUint32(at(o.flags), true),
    cpu: o.cpu === undefined ? -1 : dv.getUint32(at(o.cpu), true),
    mm: dv.getBigUint64(at(o.mm), true),
    signal: dv.getBigUint64(at(o.signal), true),
    taskRss,
  };
}

export interface ReadTasksOptions {
  /** Stop after this many tasks (a corrupt list); default 1,000,000. */
  readonly limit?: number;
  /** totalram_pages, for %MEM. */
  readonly totalRamPages?: number;
  /** Skip the per-task memory figures. */
  readonly noMemory?: boolean;
}

/** Reads every task. Unreadable tasks and lists are skipped and named in `warnings`. */
export function readTasks(k: Kernel, opts: ReadTasksOptions = {}): TaskList {
  const warnings: string[] = [];
  const limit = opts.limit ?? 1_000_000;
  const o = offsets(k);
  const stateChars = readStateChars(k, warnings);
  const cpus = readCpuSet(k);
  warnings.push(...cpus.notes);

  let percpu: PerCpu | undefined;
  try {
    percpu = new PerCpu(k);
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    warnings.push(e.message);
  }
  const runqueues = percpu ? readRunqueues(k, percpu, cpus.possible, warnings) : [];

  const raws = new Map<bigint, RawTask>();
  const order: bigint[] = [];
  const add = (addr: bigint, what: string): RawTask | undefined => {
    if (raws.has(addr)) return raws.get(addr);
    if (order.length >= limit) throw new ValidationError(`more than ${limit} tasks: corrupted task lists?`);
    try {
      const r = readRaw(k, o, addr);
      raws.set(addr, r);
      order.push(addr);
      return r;
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      warnings.push(`${what} at 0x${addr.toString(16)} unreadable: ${e.message}`);
      return undefined;
    }
  };

  const initTask = k.address('init_task');
  const init = add(initTask, 'init_task');
  // Thread-group leaders: the circular list through task_struct.tasks, headed by init_task.
  const leaders = walkList(k, initTask + BigInt(o.tasks), BigInt(o.tasks), limit, 'init_task.tasks', warnings);
  for (const l of leaders) {
    const r = add(l, 'task on init_task.tasks');
    if (!r || o.threadHead === undefined || o.threadNode === undefined || r.signal === 0n) continue;
    for (const t of walkList(k, r.signal + BigInt(o.threadHead), BigInt(o.threadNode), limit, `thread list of pid ${r.pid}`, warnings)) add(t, `thread of pid ${r.pid}`);
  }
  // Idle tasks of the other CPUs (init_task is CPU 0's).
  for (const rq of runqueues) if (rq.idle !== 0n) add(rq.idle, `idle task of CPU ${rq.cpu}`);
  for (const rq of runqueues) if (rq.curr !== 0n) add(rq.curr, `current task of CPU ${rq.cpu}`);
  if (!init) warnings.push('init_task unreadable: the task list may be incomplete');

  const idleSet = new Set(runqueues.map((r) => r.idle));
  idleSet.add(initTask);
  const activeOn = new Map<bigint, number>();
  for (const rq of runqueues) activeOn.set(rq.curr, rq.cpu);

  const nrThreads = readSymbolS32(k, 'nr_threads', warnings);
  const mem = opts.noMemory ? undefined : new MemoryReader(k, o, percpu, cpus.online, warnings);

  // Threads sharing an mm: their unsynced task->rss_stat caches add up (Linux < 6.2).
  const splitRss = new Map<bigint, number[]>();
  if (o.taskRss !== undefined) {
    for (const r of raws.values()) {
      if (r.mm === 0n || !r.taskRss) continue;
      const acc = splitRss.get(r.mm) ?? [0, 0, 0, 0];
      r.taskRss.forEach((v, i) => (acc[i]! += v));
      splitRss.set(r.mm, acc);
    }
  }

  const tasks: Task[] = [];
  for (const addr of order) {
    const r = raws.get(addr)!;
    let parentPid = 0;
    let ppid = 0;
    const idle = idleSet.has(addr) || (r.pid === 0 && (r.flags & PF_IDLE) !== 0);
    // An idle task's real_parent is whoever forked it at boot; crash and ps show 0.
    if (r.realParent !== 0n && !idle) {
      const p = raws.get(r.realParent) ?? add(r.realParent, `parent of pid ${r.pid}`);
      if (p) {
        parentPid = p.pid;
        ppid = p.tgid;
      }
    }
    tasks.push({
      address: addr,
      pid: r.pid,
      tgid: r.tgid,
      ppid,
      parentPid,
      comm: r.comm,
      state: taskStateChar(r.stateValue, r.exitState, stateChars),
      stateValue: r.stateValue,
      exitState: r.exitState,
      cpu: r.cpu,
      flags: r.flags,
      kthread: (r.flags & PF_KTHREAD) !== 0,
      idle,
      mm: r.mm,
      activeOn: activeOn.get(addr),
      memory: mem && r.mm !== 0n ? mem.read(r.mm, splitRss.get(r.mm), opts.totalRamPages) : undefined,
    });
  }
  // Idle tasks first (by CPU), then by pid, as crash's ps.
  tasks.sort((a, b) => (a.idle !== b.idle ? (a.idle ? -1 : 1) : a.idle ? a.cpu - b.cpu : a.pid - b.pid));
  return { tasks, runqueues, cpus, nrThreads, stateChars, warnings };
}

/**
 * Entry addresses (node - linkOffset) of the circular list headed at `head`. When a link cannot
 * be read (a page a partial dump left out) or is corrupt, the walk continues backwards from the
 * head through the `prev` pointers, so only the unreadable entries are lost; each loss is a
 * warning.
 */
function walkList(k: Kernel, head: bigint, linkOffset: bigint, limit: number, what: string, warnings: string[]): bigint[] {
  const forward: bigint[] = [];
  const seen = new Set<bigint>([head]);
  let broken: string | undefined;
  try {
    let node = readPtr(k, head);
    while (node !== head) {
      if (node === 0n) throw new ValidationError(`NULL next pointer after ${forward.length} entries`);
      if (seen.has(node)) throw new ValidationError(`loops back to 0x${node.toString(16)} after ${forward.length} entries`);
      if (forward.length >= limit) throw new ValidationError(`more than ${limit} entries`);
      seen.add(node);
      forward.push(node - linkOffset);
      node = readPtr(k, node);
    }
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    broken = e.message;
  }
  if (broken === undefined) return forward;
  // Backwards from the head until the entries already found.
  const backward: bigint[] = [];
  let backBroken: string | undefined;
  try {
    let node = readPtr(k, head + 8n);
    while (node !== head && !seen.has(node)) {
      if (node === 0n) throw new ValidationError('NULL prev pointer');
      if (backward.length + forward.length >= limit) throw new ValidationError(`more than ${limit} entries`);
      seen.add(node);
      backward.push(node - linkOffset);
      node = readPtr(k, node + 8n);
    }
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    backBroken = e.message;
  }
  warnings.push(
    `${what}: forward walk stopped after ${forward.length} entries (${broken}); ${backward.length} more found walking backwards${backBroken ? `, which also stopped (${backBroken})` : ''}: entries in between are missing`,
  );
  return [...forward, ...backward.reverse()];
}

function readPtr(k: Kernel, addr: bigint): bigint {
  const b = k.mem.read(addr, 8);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

/** mm_struct → VSZ/RSS, with the layout of the crashed kernel. */
class MemoryReader {
  private readonly totalVm: number;
  private readonly rssOff: number;
  /** 'percpu': struct percpu_counter rss_stat[N] (6.2+); 'atomic': atomic_long_t count[N]. */
  private readonly kind: 'percpu' | 'atomic';
  private readonly counterSize: number;
  private readonly pcCount: number;
  private readonly pcCounters: number;
  private readonly idx: number[];
  private readonly pageKiB: number;
  private readonly cache = new Map<bigint, TaskMemory | undefined>();
  private failed = false;

  constructor(
    private readonly k: Kernel,
    _o: Offsets,
    private readonly percpu: PerCpu | undefined,
    private readonly online: readonly number[],
    private readonly warnings: string[],
  ) {
    const t = k.types;
    this.totalVm = t.offsetof('struct mm_struct', 'total_vm');
    const rss = t.member('struct mm_struct', 'rss_stat');
    this.rssOff = rss.offsetBits / 8;
    const tn = rss.typeName ?? '';
    this.kind = tn.includes('percpu_counter') ? 'percpu' : 'atomic';
    if (this.kind === 'percpu') {
      this.counterSize = t.sizeof('struct percpu_counter');
      this.pcCount = t.offsetof('struct percpu_counter', 'count');
      this.pcCounters = t.offsetof('struct percpu_counter', 'counters');
    } else {
      this.rssOff += t.offsetof('struct mm_rss_stat', 'count');
      this.counterSize = 8;
      this.pcCount = 0;
      this.pcCounters = 0;
    }
    // MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES of the anonymous enum in include/linux/mm_types_task.h
    // (this order since Linux 4.5; MM_SWAPENTS, 2, is not resident). Constant rather than looked
    // up: an anonymous enum can only be found through BTF's index of every enumerator.
    this.idx = [0, 1, 3];
    this.pageKiB = (k.info.pageSize ?? 4096) / 1024;
  }

  read(mm: bigint, split: number[] | undefined, totalRam: number | undefined): TaskMemory | undefined {
    if (this.cache.has(mm)) return this.cache.get(mm);
    let m: TaskMemory | undefined;
    try {
      const vm = readPtr(this.k, mm + BigInt(this.totalVm));
      let rss = 0n;
      for (const i of this.idx) rss += this.counter(mm, i);
      if (split) for (const i of this.idx) rss += BigInt(split[i] ?? 0);
      if (rss < 0n) rss = 0n;
      const rssPages = Number(rss);
      m = {
        vszKiB: Number(vm) * this.pageKiB,
        rssKiB: rssPages * this.pageKiB,
        memPercent: totalRam ? (100 * rssPages) / totalRam : undefined,
      };
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      if (!this.failed) this.warnings.push(`memory of mm 0x${mm.toString(16)} unreadable (VSZ/RSS left out): ${e.message}`);
      this.failed = true;
      m = undefined;
    }
    this.cache.set(mm, m);
    return m;
  }

  private counter(mm: bigint, i: number): bigint {
    const at = mm + BigInt(this.rssOff + i * this.counterSize);
    if (this.kind === 'atomic') return BigInt.asIntN(64, readPtr(this.k, at));
    // percpu_counter_sum(): count plus every online CPU's s32 delta.
    let v = BigInt.asIntN(64, readPtr(this.k, at + BigInt(this.pcCount)));
    const counters = readPtr(this.k, at + BigInt(this.pcCounters));
    if (counters !== 0n && this.percpu) {
      for (const cpu of this.online) {
        const b = this.k.mem.read(this.percpu.ptr(counters, cpu), 4);
        v += BigInt(new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true));
      }
    }
    return v;
  }
}
