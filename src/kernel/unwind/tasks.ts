/**
 * The tasks `bt` can show: every thread of every process on init_task's `tasks` list (threads
 * through signal->thread_head / task->thread_node, or task->thread_group before 6.7), plus the
 * idle task of each CPU (init_task is CPU 0's; rq->idle the others'), which no list holds.
 *
 * Only what the unwinder and the bt header need is read, through member offsets looked up once
 * in BTF. (When a shared task reader lands in src/kernel/, this should become a thin view of it.)
 */
import type { Kernel } from '../kernel.js';
import { KdumpkitError } from '../../util/errors.js';
import type { PagedMemory } from './paged.js';

export interface TaskInfo {
  /** Address of the task_struct. */
  readonly address: bigint;
  readonly pid: number;
  readonly tgid: number;
  readonly comm: string;
  /** ps-style state letter: R S D T t X Z P I (or '?' when unreadable). */
  readonly state: string;
  /** task_cpu(): the CPU the task last ran on. */
  readonly cpu: number | undefined;
  /** task->stack: the bottom of its kernel stack. */
  readonly stack: bigint;
  /** task->thread.sp: the stack pointer saved when it was switched out. */
  readonly threadSp: bigint;
  readonly flags: number;
}

/** PF_KTHREAD */
export const PF_KTHREAD = 0x00200000;
const MAX_TASKS = 4_000_000;

interface Offsets {
  tasks: bigint;
  pid: bigint;
  tgid: bigint;
  comm: bigint;
  stack: bigint;
  threadSp: bigint;
  state: bigint;
  stateSize: number;
  exitState: bigint | undefined;
  flags: bigint;
  cpu: bigint | undefined;
  signal: bigint | undefined;
  threadNode: bigint | undefined;
  threadHead: bigint | undefined;
  threadGroup: bigint | undefined;
}

function offsets(k: Kernel): Offsets {
  const t = k.types;
  const off = (path: string): bigint => BigInt(t.offsetof('struct task_struct', path));
  const opt = (s: string, path: string): bigint | undefined => {
    try {
      return BigInt(t.offsetof(s, path));
    } catch (e) {
      if (e instanceof KdumpkitError) return undefined;
      throw e;
    }
  };
  const stateOff = opt('struct task_struct', '__state') ?? off('state');
  const stateSize = opt('struct task_struct', '__state') !== undefined ? (t.member('struct task_struct', '__state').size ?? 4) : 8;
  return {
    tasks: off('tasks'),
    pid: off('pid'),
    tgid: off('tgid'),
    comm: off('comm'),
    stack: off('stack'),
    threadSp: off('thread.sp'),
    state: stateOff,
    stateSize,
    exitState: opt('struct task_struct', 'exit_state'),
    flags: off('flags'),
    cpu: opt('struct task_struct', 'thread_info.cpu') ?? opt('struct task_struct', 'cpu'),
    signal: opt('struct task_struct', 'signal'),
    threadNode: opt('struct task_struct', 'thread_node'),
    threadHead: opt('struct signal_struct', 'thread_head'),
    threadGroup: opt('struct task_struct', 'thread_group'),
  };
}

const offsetCache = new WeakMap<Kernel, Offsets>();

function taskOffsets(k: Kernel): Offsets {
  let o = offsetCache.get(k);
  if (!o) {
    o = offsets(k);
    offsetCache.set(k, o);
  }
  return o;
}

/** Reads one task_struct's fields; throws KdumpkitError when the task is unreadable. */
export function readTask(k: Kernel, pm: PagedMemory, address: bigint): TaskInfo {
  const o = taskOffsets(k);
  const state = o.stateSize === 8 ? pm.u64(address + o.state) : BigInt(pm.u32(address + o.state));
  const exitState = o.exitState !== undefined ? pm.u32(address + o.exitState) : 0;
  return {
    address,
    pid: pm.i32(address + o.pid),
    tgid: pm.i32(address + o.tgid),
    comm: pm.cString(address + o.comm, 16),
    state: stateLetter(Number(state & 0xffffn), exitState),
    cpu: o.cpu !== undefined ? pm.u32(address + o.cpu) : undefined,
    stack: pm.u64(address + o.stack),
    threadSp: pm.u64(address + o.threadSp),
    flags: pm.u32(address + o.flags),
  };
}

/**
 * fs/proc/array.c task_state_array via task_state_index(): R S D T t X Z P, and I for
 * TASK_IDLE (TASK_UNINTERRUPTIBLE | TASK_NOLOAD).
 */
export function stateLetter(state: number, exitState: number): string {
  const TASK_REPORT = 0x7f;
  const TASK_IDLE = 0x402;
  if (state === TASK_IDLE) return 'I';
  const s = (state | exitState) & TASK_REPORT;
  if (s === 0) return 'R';
  const index = 32 - Math.clz32(s); // fls()
  return 'RSDTtXZPI'[index] ?? '?';
}

/**
 * Task addresses in list order: each process on init_task.tasks followed by its other threads,
 * then `extraTasks` not already seen (the caller passes each CPU's rq->idle and rq->curr). Unreadable parts of the
 * lists end that walk with a note; what was read is kept.
 */
export function listTaskAddresses(k: Kernel, pm: PagedMemory, extraTasks: readonly bigint[], notes: string[]): bigint[] {
  const o = taskOffsets(k);
  const initTask = k.symbols.address('init_task');
  if (initTask === undefined) {
    notes.push(`init_task not in ${k.symbols.source}: no task list`);
    return [...new Set(extraTasks)];
  }
  const seen = new Set<bigint>();
  const out: bigint[] = [];
  const add = (a: bigint): void => {
    if (a === 0n || seen.has(a)) return;
    seen.add(a);
    out.push(a);
  };
  /**
   * Entries of the circular list at `head` (struct list_head: next, prev). When a next pointer
   * cannot be read, the rest is walked backwards from the head through the prev pointers, so one
   * missing page loses only the entries on it.
   */
  const walk = (head: bigint, memberOff: bigint, what: string, each: (task: bigint) => void): void => {
    const visited = new Set<bigint>([head]);
    const step = (dir: 0n | 8n): { broke: boolean } => {
      let node: bigint;
      try {
        node = pm.u64(head + dir);
        while (!visited.has(node)) {
          if (node === 0n) throw new KdumpkitError('E_VALIDATION', `NULL ${dir === 0n ? 'next' : 'prev'} pointer`);
          if (visited.size > MAX_TASKS) throw new KdumpkitError('E_VALIDATION', `more than ${MAX_TASKS} entries`);
          visited.add(node);
          each(node - memberOff);
          node = pm.u64(node + dir);
        }
        return { broke: false };
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
        notes.push(`${what}: ${e.message}${dir === 0n ? '; walking the rest backwards' : ''}`);
        return { broke: true };
      }
    };
    if (step(0n).broke) step(8n);
  };
  const threadsOf = (leader: bigint): void => {
    add(leader);
    if (o.signal !== undefined && o.threadHead !== undefined && o.threadNode !== undefined) {
      let signal: bigint;
      try {
        signal = pm.u64(leader + o.signal);
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
        notes.push(`threads of task 0x${leader.toString(16)}: ${e.message}`);
        return;
      }
      if (signal !== 0n) walk(signal + o.threadHead, o.threadNode, `threads of task 0x${leader.toString(16)}`, add);
    } else if (o.threadGroup !== undefined) {
      walk(leader + o.threadGroup, o.threadGroup, `threads of task 0x${leader.toString(16)}`, add);
    }
  };
  // init_task (swapper/0) heads the list but is not on it as an entry.
  add(initTask);
  const processes: bigint[] = [];
  walk(initTask + o.tasks, o.tasks, 'init_task.tasks', (t) => processes.push(t));
  for (const p of processes) threadsOf(p);
  for (const t of extraTasks) add(t);
  return out;
}
