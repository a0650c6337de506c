/**
 * System facts of the crashed kernel, the ones crash's `sys` prints, each read from the
 * kernel's own variables:
 * - identity: init_uts_ns.name (sysname, nodename, release, version, machine, domainname);
 * - time: jiffies_64, HZ (from tick_nsec, the NTP tick length: HZ = round(1e9 / tick_nsec)),
 *   uptime = (jiffies_64 - INITIAL_JIFFIES) / HZ as crash computes it, and the timekeeper's
 *   boot-based clock (tk_core.timekeeper: tkr_mono.base + offs_boot) as a cross-check;
 * - load: avenrun[3], fixed point with FSHIFT 11, printed like /proc/loadavg (rounded by
 *   FIXED_1/200);
 * - memory: totalram_pages (_totalram_pages on Linux ≥ 5.0), and the CPU clock (tsc_khz).
 * Each is best effort: what cannot be read is left undefined with a note.
 */
import type { Kernel } from './kernel.js';
import { readCpuSet } from './cpus.js';
import { cString } from '../util/bytes.js';
import { tryRead } from './attempt.js';

export interface Utsname {
  readonly sysname: string;
  readonly nodename: string;
  readonly release: string;
  readonly version: string;
  readonly machine: string;
  readonly domainname: string;
}

export interface SysFacts {
  readonly uts: Utsname | undefined;
  readonly cpus: { readonly possible: number; readonly online: number; readonly nrCpuIds: number };
  readonly jiffies: bigint | undefined;
  readonly hz: number | undefined;
  /** Seconds since boot from jiffies (crash's UPTIME). */
  readonly uptimeJiffies: number | undefined;
  /** Seconds since boot from the timekeeper (boot-based monotonic clock at the last tick). */
  readonly uptimeTimekeeper: number | undefined;
  /** avenrun[0..2] raw fixed-point values. */
  readonly avenrun: readonly [number, number, number] | undefined;
  readonly totalRamPages: number | undefined;
  /** Present pages of all memory nodes (node_present_pages): RAM including reserved areas. */
  readonly presentPages: number | undefined;
  readonly pageSize: number;
  /** The kernel's thread count (nr_threads; idle tasks not included). */
  readonly nrThreads: number | undefined;
  /** tsc_khz (or cpu_khz). */
  readonly cpuKhz: number | undefined;
  readonly notes: readonly string[];
}

/** avenrun fixed point: FSHIFT bits of fraction. */
export const FSHIFT = 11;
export const FIXED_1 = 1 << FSHIFT;

/** "0.08" as /proc/loadavg (and crash) print an avenrun value: rounded by FIXED_1/200. */
export function formatLoad(v: number): string {
  const x = v + FIXED_1 / 200;
  const int = Math.floor(x / FIXED_1);
  const frac = Math.floor(((x & (FIXED_1 - 1)) * 100) / FIXED_1);
  return `${int}.${String(frac).padStart(2, '0')}`;
}

/** INITIAL_JIFFIES = (unsigned long)(unsigned int)(-300 * HZ) (include/linux/jiffies.h). */
export function initialJiffies(hz: number): bigint {
  return BigInt.asUintN(32, BigInt(-300 * hz));
}

const KNOWN_HZ = [100, 250, 300, 1000, 24, 48, 64, 128, 256, 512, 1024, 1200, 2000, 4000, 5000];

export function readSysFacts(k: Kernel): SysFacts {
  const notes: string[] = [];
  const num = <T>(what: string, f: () => T): T | undefined => tryRead(notes, what, f);
  const dv = (addr: bigint, n: number): DataView => {
    const b = k.mem.read(addr, n);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  };
  const sym = (name: string): bigint | undefined => k.symbols.address(name);

  const uts = num('init_uts_ns', () => {
    const base = k.address('init_uts_ns') + BigInt(k.types.offsetof('struct uts_namespace', 'name'));
    const b = k.mem.read(base, 6 * 65);
    const f = (i: number): string => cString(b, i * 65, 65);
    return { sysname: f(0), nodename: f(1), release: f(2), version: f(3), machine: f(4), domainname: f(5) };
  });

  const cs = readCpuSet(k);
  notes.push(...cs.notes);

  const jiffies = num('jiffies_64', () => dv(k.address(sym('jiffies_64') !== undefined ? 'jiffies_64' : 'jiffies'), 8).getBigUint64(0, true));

  let hz: number | undefined;
  const tickNsec = sym('tick_nsec') !== undefined ? num('tick_nsec', () => Number(dv(k.address('tick_nsec'), 8).getBigUint64(0, true))) : undefined;
  if (tickNsec && tickNsec > 0) {
    const raw = 1e9 / tickNsec;
    hz = KNOWN_HZ.reduce((a, b) => (Math.abs(b - raw) < Math.abs(a - raw) ? b : a));
    if (Math.abs(hz - raw) / hz > 0.01) hz = Math.round(raw);
  }

  const uptimeTimekeeper = num('timekeeper', () => readTimekeeperUptime(k));
  if (hz === undefined && jiffies !== undefined && uptimeTimekeeper !== undefined && uptimeTimekeeper > 1) {
    // No tick_nsec: the HZ whose jiffies count best matches the timekeeper's uptime.
    hz = KNOWN_HZ.reduce((a, b) => {
      const err = (h: number): number => Math.abs(Number(BigInt.asUintN(64, jiffies - initialJiffies(h))) / h - uptimeTimekeeper);
      return err(b) < err(a) ? b : a;
    });
    notes.push(`HZ ${hz} inferred from jiffies and the timekeeper (tick_nsec unavailable)`);
  }
  const uptimeJiffies = jiffies !== undefined && hz !== undefined ? Number(BigInt.asUintN(64, jiffies - initialJiffies(hz))) / hz : undefined;

  const avenrun = num('avenrun', () => {
    const d = dv(k.address('avenrun'), 24);
    return [0, 1, 2].map((i) => Number(d.getBigUint64(i * 8, true))) as unknown as readonly [number, number, number];
  });

  const totalRamPages = num('totalram_pages', () => {
    const a = sym('_totalram_pages') ?? k.address('totalram_pages');
    return Number(dv(a, 8).getBigInt64(0, true));
  });
  const presentPages = num('node_present_pages', () => readPresentPages(k));
  const nrThreads = sym('nr_threads') !== undefined ? num('nr_threads', () => dv(k.address('nr_threads'), 4).getInt32(0, true)) : undefined;
  let cpuKhz: number | undefined;
  for (const n of ['tsc_khz', 'cpu_khz']) {
    if (cpuKhz || sym(n) === undefined) continue;
    cpuKhz = num(n, () => dv(k.address(n), 4).getUint32(0, true)) || undefined;
  }
  return {
    uts,
    cpus: { possible: cs.possible.length, online: cs.online.length, nrCpuIds: cs.nrCpuIds },
    jiffies,
    hz,
    uptimeJiffies,
    uptimeTimekeeper,
    avenrun,
    totalRamPages,
    presentPages,
    pageSize: k.info.pageSize ?? 4096,
    nrThreads,
    cpuKhz,
    notes,
  };
}

/**
 * Boot-based uptime at the last timekeeping update: tkr_mono.base (CLOCK_MONOTONIC, ns) plus
 * offs_boot (time spent suspended). tk_core is `struct { seqcount; struct timekeeper timekeeper;
 * … }` with no BTF name before Linux 6.13 (struct tk_data after): the timekeeper follows the
 * 8-aligned seqcount.
 */
function readTimekeeperUptime(k: Kernel): number {
  const t = k.types;
  let tkOff: number;
  if (t.hasType('struct tk_data')) tkOff = t.offsetof('struct tk_data', 'timekeeper');
  else {
    const seq = t.hasType('seqcount_raw_spinlock_t') ? t.sizeof('seqcount_raw_spinlock_t') : t.sizeof('seqcount_t');
    tkOff = Math.ceil(seq / 8) * 8;
  }
  const tk = k.address('tk_core') + BigInt(tkOff);
  const base = readI64(k, tk + BigInt(t.offsetof('struct timekeeper', 'tkr_mono.base')));
  const offsBoot = readI64(k, tk + BigInt(t.offsetof('struct timekeeper', 'offs_boot')));
  return Number(base + offsBoot) / 1e9;
}

function readI64(k: Kernel, a: bigint): bigint {
  const b = k.mem.read(a, 8);
  return new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true);
}

/** Σ node_present_pages over node_data[] (NUMA) or contig_page_data. */
function readPresentPages(k: Kernel): number {
  const off = BigInt(k.types.offsetof('struct pglist_data', 'node_present_pages'));
  const contig = k.symbols.address('contig_page_data');
  if (contig !== undefined) return Number(readI64(k, contig + off));
  const nd = k.address('node_data');
  const n = Math.min(k.info.length('node_data') ?? 64, 1024);
  const b = k.mem.read(nd, n * 8);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const p = dv.getBigUint64(i * 8, true);
    if (p !== 0n) total += Number(readI64(k, p + off));
  }
  return total;
}
