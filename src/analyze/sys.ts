/**
 * `kdumpkit sys`: the system summary crash's `sys` command prints, computed from the crashed
 * kernel's own variables (see src/kernel/sysinfo.ts) and the dump's container.
 */
import type { AnalysisContext } from './analyze.js';
import { isUnavailable } from '../kernel/attempt.js';
import { formatLoad } from '../kernel/sysinfo.js';
import { codecFromFlags } from '../formats/codecs/index.js';
import { PT_LOAD } from '../formats/elf/elf64.js';
import { DUMP_DH_COMPRESSED_INCOMPLETE } from '../formats/kdump/header.js';

export interface DumpKind {
  /** "ELF vmcore", "kdump-compressed (zlib)", … */
  readonly format: string;
  /** makedumpfile dump level, when the container records one. */
  readonly dumpLevel: number | undefined;
  /** Pages of RAM filtered out of the dump (dump level, or ELF segments with p_filesz < p_memsz). */
  readonly partial: boolean;
  readonly flattened: boolean;
  readonly incomplete: boolean;
  /** "full dump", "partial dump (dump level 31: zero, cache, cache private, user and free pages excluded)". */
  readonly description: string;
}

export interface SysReport {
  readonly kernelSymbols: string;
  readonly kernelTypes: string;
  readonly dumpFile: string;
  readonly dumpKind: DumpKind;
  readonly cpus: number | undefined;
  readonly cpusOnline: number | undefined;
  /** VMCOREINFO CRASHTIME. */
  readonly crashTime: Date | undefined;
  readonly uptimeSeconds: number | undefined;
  /** crash's "00:00:07" / "3 days, 04:05:06". */
  readonly uptime: string | undefined;
  /** Seconds since boot from the timekeeper (cross-check). */
  readonly uptimeTimekeeper: number | undefined;
  readonly hz: number | undefined;
  readonly jiffies: bigint | undefined;
  readonly loadAverage: readonly string[] | undefined;
  readonly avenrun: readonly number[] | undefined;
  /** Tasks found (threads and per-CPU idle tasks), as crash counts them. */
  readonly tasks: number | undefined;
  /** The kernel's nr_threads (no idle tasks). */
  readonly nrThreads: number | undefined;
  readonly sysname: string | undefined;
  readonly nodename: string | undefined;
  readonly release: string | undefined;
  readonly version: string | undefined;
  readonly machine: string | undefined;
  readonly domainname: string | undefined;
  readonly cpuMhz: number | undefined;
  /** RAM present (Σ node_present_pages) in bytes, crash's MEMORY. */
  readonly memoryBytes: number | undefined;
  readonly totalRamPages: number | undefined;
  readonly totalRamBytes: number | undefined;
  readonly pageSize: number;
  /** crash's PANIC: the panic() line, or the headline of the report that stopped the kernel. */
  readonly panic: string | undefined;
  readonly warnings: readonly string[];
}

const DUMP_LEVEL_BITS = ['zero', 'cache', 'cache private', 'user', 'free'];

export function dumpKind(ctx: AnalysisContext): DumpKind {
  const d = ctx.dump;
  if (d.format === 'elf') {
    let partial = false;
    for (const p of d.elf.phdrs) if (p.type === PT_LOAD && p.filesz < p.memsz) partial = true;
    const incomplete = (d.elf.header.flags & 1) !== 0;
    return {
      format: 'ELF vmcore' + (d.flattened ? ' (flattened stream)' : ''),
      dumpLevel: undefined,
      partial,
      flattened: d.flattened,
      incomplete,
      description: (partial ? 'partial dump (filtered ELF: some pages excluded)' : 'full dump') + (incomplete ? ', INCOMPLETE' : ''),
    };
  }
  const { header, sub } = d.kdump;
  const codec = codecFromFlags(header.status) ?? 'uncompressed';
  const level = sub.dumpLevel;
  const incomplete = (header.status & DUMP_DH_COMPRESSED_INCOMPLETE) !== 0;
  const excluded = DUMP_LEVEL_BITS.filter((_, i) => (level >> i) & 1);
  return {
    format: `kdump-compressed (${codec})` + (d.flattened ? ', flattened stream' : ''),
    dumpLevel: level,
    partial: level !== 0,
    flattened: d.flattened,
    incomplete,
    description: (level === 0 ? 'full dump (dump level 0)' : `partial dump (dump level ${level}: ${excluded.join(', ')} pages excluded)`) + (incomplete ? ', INCOMPLETE' : ''),
  };
}

/** crash's uptime: "HH:MM:SS", with "N days, " in front past a day. */
export function formatUptime(seconds: number): string {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const hms = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60].map((v) => String(v).padStart(2, '0')).join(':');
  return d > 0 ? `${d} day${d === 1 ? '' : 's'}, ${hms}` : hms;
}

export function sysReport(ctx: AnalysisContext): SysReport {
  const k = ctx.kernel;
  const s = ctx.sys;
  const warnings = [...s.notes];
  const tl = ctx.tasks;
  if (isUnavailable(tl)) warnings.push(`tasks: ${tl.unavailable}`);
  else warnings.push(...tl.warnings);
  const crash = k.info.crashTime;
  const uptimeSeconds = s.uptimeJiffies ?? s.uptimeTimekeeper;
  const p = ctx.panic;
  return {
    kernelSymbols: k.sources.symbols,
    kernelTypes: k.sources.types,
    dumpFile: ctx.dump.path,
    dumpKind: dumpKind(ctx),
    cpus: s.cpus.possible || undefined,
    cpusOnline: s.cpus.online || undefined,
    crashTime: crash === undefined ? undefined : new Date(Number(crash) * 1000),
    uptimeSeconds,
    uptime: uptimeSeconds === undefined ? undefined : formatUptime(uptimeSeconds),
    uptimeTimekeeper: s.uptimeTimekeeper,
    hz: s.hz,
    jiffies: s.jiffies,
    loadAverage: s.avenrun?.map(formatLoad),
    avenrun: s.avenrun,
    tasks: isUnavailable(tl) ? undefined : tl.tasks.length,
    nrThreads: s.nrThreads,
    sysname: s.uts?.sysname,
    nodename: s.uts?.nodename,
    release: s.uts?.release ?? k.info.osrelease,
    version: s.uts?.version,
    machine: s.uts?.machine,
    domainname: s.uts?.domainname,
    cpuMhz: s.cpuKhz === undefined ? undefined : Math.floor(s.cpuKhz / 1000),
    memoryBytes: s.presentPages === undefined ? undefined : s.presentPages * s.pageSize,
    totalRamPages: s.totalRamPages,
    totalRamBytes: s.totalRamPages === undefined ? undefined : s.totalRamPages * s.pageSize,
    pageSize: s.pageSize,
    panic: p.panicString ?? p.cause?.headline,
    warnings,
  };
}
