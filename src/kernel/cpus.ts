/**
 * CPUs of the crashed kernel: the cpumasks (possible/online), per-CPU variable addresses and the
 * scheduler's runqueues (which task each CPU was running, and its idle task).
 *
 * per_cpu_ptr(ptr, cpu) is `ptr + __per_cpu_offset[cpu]` on every x86_64 kernel: with the
 * zero-based per-CPU area of Linux < 6.15 the symbol is a small offset (kallsyms type 'A'),
 * later it is an address in the kernel image; the sum is right either way.
 */
import type { Kernel } from './kernel.js';
import { readU32, readU64 } from '../memory/address-space.js';
import { KdumpkitError, ValidationError } from '../util/errors.js';

/** Upper bound on CPUs we believe (NR_CPUS of distro kernels is 8192). */
const MAX_CPUS = 8192;

export interface CpuSet {
  /** nr_cpu_ids: the number of CPU ids the kernel could use. */
  readonly nrCpuIds: number;
  readonly possible: readonly number[];
  readonly online: readonly number[];
  /** Where the masks came from, or why they could not be read. */
  readonly notes: readonly string[];
}

/** Reads nr_cpu_ids and the possible/online cpumasks. Falls back to the PRSTATUS notes. */
export function readCpuSet(k: Kernel): CpuSet {
  const notes: string[] = [];
  let nr: number | undefined;
  const nrAddr = k.symbols.address('nr_cpu_ids');
  if (nrAddr !== undefined) {
    try {
      const v = readU32(k.mem, nrAddr);
      if (v >= 1 && v <= MAX_CPUS) nr = v;
      else notes.push(`nr_cpu_ids is ${v}: ignored`);
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      notes.push(`nr_cpu_ids unreadable: ${e.message}`);
    }
  }
  const fromNotes = k.dump.prstatus.length;
  const bits = nr ?? Math.max(fromNotes, 1);
  const mask = (name: string): number[] | undefined => {
    const a = k.symbols.address(name);
    if (a === undefined) {
      notes.push(`${name} not in ${k.symbols.source}`);
      return undefined;
    }
    try {
      return readBitmap(k, a, bits);
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      notes.push(`${name} unreadable: ${e.message}`);
      return undefined;
    }
  };
  const prCpus = Array.from({ length: fromNotes }, (_, i) => i);
  const possible = mask('__cpu_possible_mask') ?? (nr !== undefined ? Array.from({ length: nr }, (_, i) => i) : prCpus);
  const online = mask('__cpu_online_mask') ?? prCpus;
  return { nrCpuIds: nr ?? possible.length, possible, online, notes };
}

function readBitmap(k: Kernel, addr: bigint, bits: number): number[] {
  const words = Math.ceil(bits / 64);
  const b = k.mem.read(addr, words * 8);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: number[] = [];
  for (let w = 0; w < words; w++) {
    const lo = dv.getUint32(w * 8, true);
    const hi = dv.getUint32(w * 8 + 4, true);
    for (let i = 0; i < 64; i++) {
      const bit = i < 32 ? (lo >>> i) & 1 : (hi >>> (i - 32)) & 1;
      const cpu = w * 64 + i;
      if (bit && cpu < bits) out.push(cpu);
    }
  }
  return out;
}

/** Per-CPU offsets (__per_cpu_offset[cpu]), cached per kernel. */
export class PerCpu {
  private readonly offsets = new Map<number, bigint>();
  private readonly base: bigint;

  constructor(private readonly k: Kernel) {
    const a = k.symbols.address('__per_cpu_offset');
    if (a === undefined) throw new ValidationError(`__per_cpu_offset not in ${k.symbols.source}: per-CPU variables cannot be located`);
    this.base = a;
  }

  offset(cpu: number): bigint {
    let o = this.offsets.get(cpu);
    if (o === undefined) {
      o = readU64(this.k.mem, this.base + BigInt(cpu) * 8n);
      this.offsets.set(cpu, o);
    }
    return o;
  }

  /** per_cpu_ptr(ptr, cpu). */
  ptr(ptr: bigint, cpu: number): bigint {
    return BigInt.asUintN(64, ptr + this.offset(cpu));
  }

  /** The address of per-CPU variable `name` on `cpu`. */
  symbol(name: string, cpu: number): bigint {
    const a = this.k.symbols.address(name);
    if (a === undefined) throw new ValidationError(`per-CPU variable ${name} not in ${this.k.symbols.source}`);
    return this.ptr(a, cpu);
  }
}

export interface RunqueueInfo {
  readonly cpu: number;
  /** rq->curr: the task the CPU was running. */
  readonly curr: bigint;
  /** rq->idle: the CPU's idle task (swapper/N). */
  readonly idle: bigint;
}

/** rq->curr and rq->idle of each CPU in `cpus`; CPUs whose runqueue is unreadable are left out. */
export function readRunqueues(k: Kernel, percpu: PerCpu, cpus: readonly number[], notes: string[]): RunqueueInfo[] {
  const currOff = BigInt(k.types.offsetof('struct rq', 'curr'));
  const idleOff = BigInt(k.types.offsetof('struct rq', 'idle'));
  const out: RunqueueInfo[] = [];
  for (const cpu of cpus) {
    try {
      const rq = percpu.symbol('runqueues', cpu);
      out.push({ cpu, curr: readU64(k.mem, rq + currOff), idle: readU64(k.mem, rq + idleOff) });
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      notes.push(`runqueue of CPU ${cpu} unreadable: ${e.message}`);
    }
  }
  return out;
}

/**
 * Which CPU each NT_PRSTATUS note belongs to. The kernel writes each CPU's note into its per-CPU
 * `crash_notes` buffer (kernel/crash_core.c crash_save_cpu()), and the vmcore's notes are copies
 * of those buffers; matching pid and RIP finds the CPU. Notes not found there are given the
 * online CPUs in order (the kernel's note order).
 */
export function prstatusCpus(k: Kernel, percpu: PerCpu | undefined, cpus: CpuSet, notes: string[]): number[] {
  const prs = k.dump.prstatus;
  const out: (number | undefined)[] = prs.map(() => undefined);
  const sym = k.symbols.address('crash_notes');
  if (percpu && sym !== undefined) {
    try {
      const base = readU64(k.mem, sym);
      for (const cpu of cpus.possible) {
        const b = k.mem.read(percpu.ptr(base, cpu), 20 + 112 + 27 * 8);
        const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
        const namesz = dv.getUint32(0, true);
        if (namesz !== 5 || b[12] !== 0x43 /* C */) continue;
        const pid = dv.getInt32(20 + 32, true);
        const rip = dv.getBigUint64(20 + 112 + 16 * 8, true);
        const i = prs.findIndex((p, j) => out[j] === undefined && p.pid === pid && p.registers.rip === rip);
        if (i >= 0) out[i] = cpu;
      }
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      notes.push(`crash_notes unreadable (PRSTATUS notes taken in CPU order): ${e.message}`);
    }
  }
  // Unmatched notes (QEMU's dump-guest-memory writes one per vCPU; a kernel that never reached
  // crash_save_cpu() leaves its buffers empty) follow CPU order. The possible mask, not the
  // online one: panic() without kdump takes the other CPUs offline before the dump is made.
  const used = new Set(out.filter((c): c is number => c !== undefined));
  const rest = cpus.possible.filter((c) => !used.has(c));
  return out.map((c) => c ?? rest.shift() ?? -1);
}
