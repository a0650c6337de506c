import type { Dump } from '../formats/open.js';
import { PT_LOAD, PT_NOTE } from '../formats/elf/elf64.js';
import { DUMP_DH_COMPRESSED_INCOMPLETE, DUMP_DH_EXCLUDED_VMEMMAP } from '../formats/kdump/header.js';
import { PAGE_DESC_SIZE } from '../formats/kdump/kdump-memory.js';
import { X86_64AddressSpace } from '../memory/arch/x86_64.js';
import { KdumpkitError } from '../util/errors.js';
import { cString } from '../util/bytes.js';

/** What `kdumpkit info` reports: the container, its pages, and who crashed. Pure data. */
export interface DumpInfoReport {
  readonly file: string;
  readonly fileSize: number;
  readonly format: string;
  readonly flattened: boolean;
  readonly codec: string;
  /** makedumpfile dump level, or undefined for formats that do not record one. */
  readonly dumpLevel: number | undefined;
  readonly incomplete: boolean;
  readonly pages: PageCounts;
  readonly kernel: KernelIdentity;
  readonly crashTime: Date | undefined;
  readonly cpus: readonly CpuInfo[];
  readonly vmcoreinfo: VmcoreinfoSummary | undefined;
  readonly layout: readonly LayoutRow[];
  readonly warnings: readonly string[];
}

export interface PageCounts {
  readonly pageSize: number;
  readonly maxPfn: number;
  /** Pages of RAM the dump describes. */
  readonly ram: number;
  /** Pages whose contents the file holds (including shared zero pages). */
  readonly present: number;
  /** RAM pages filtered out of the dump. */
  readonly excluded: number;
  /** Pages stored as the shared zero page; undefined when the format keeps zero pages in full. */
  readonly zero: number | undefined;
}

export interface KernelIdentity {
  readonly release: string | undefined;
  readonly version: string | undefined;
  readonly machine: string | undefined;
  readonly nodename: string | undefined;
  /** Where the identity came from: the crashed kernel's init_uts_ns, or the file header. */
  readonly source: 'memory' | 'header' | 'vmcoreinfo' | 'none';
}

export interface CpuInfo {
  readonly index: number;
  readonly pid: number;
  readonly rip: bigint;
  readonly rsp: bigint;
}

export interface VmcoreinfoSummary {
  readonly keys: number;
  readonly pageSize: number | undefined;
  readonly kernelOffset: bigint | undefined;
  readonly physBase: bigint | undefined;
  readonly pagingLevels: 4 | 5;
  readonly buildId: string | undefined;
  readonly hasKallsyms: boolean;
}

/** One row of the container layout, in the spirit of `objdump -p`. */
export interface LayoutRow {
  readonly what: string;
  readonly offset: bigint;
  readonly size: bigint;
  readonly vaddr?: bigint;
  readonly paddr?: bigint;
  readonly memsz?: bigint;
  readonly flags?: string;
}

export function dumpInfo(dump: Dump): DumpInfoReport {
  const warnings = [...dump.warnings];
  const info = dump.vmcoreinfo;
  const pageSize = dump.memory.pageSize;
  const ps = BigInt(pageSize);
  let ram = 0;
  for (const r of dump.memory.ranges()) ram += Number((r.end - r.start + ps - 1n) / ps);

  let pages: PageCounts;
  let layout: LayoutRow[];
  let format: string;
  let codec: string;
  let dumpLevel: number | undefined;
  let incomplete: boolean;
  let headerUts: { release: string; version: string; machine: string; nodename: string } | undefined;

  if (dump.format === 'elf') {
    format = 'ELF64 core (vmcore)';
    codec = 'none';
    // Pages in [p_filesz, p_memsz) were filtered out (makedumpfile -E). The kernel-text PT_LOAD
    // repeats RAM pages, so "present" is derived from the merged RAM ranges.
    let excluded = 0;
    for (const p of dump.elf.phdrs) {
      if (p.type === PT_LOAD) excluded += Number((p.memsz + ps - 1n) / ps - (p.filesz + ps - 1n) / ps);
    }
    pages = { pageSize, maxPfn: Number(dump.memory.maxPfn), ram, present: ram - excluded, excluded, zero: undefined };
    incomplete = (dump.elf.header.flags & 1) !== 0;
    layout = dump.elf.phdrs.map((p) => ({
      what: p.type === PT_LOAD ? 'LOAD' : p.type === PT_NOTE ? 'NOTE' : `type ${p.type}`,
      offset: p.offset,
      size: p.filesz,
      vaddr: p.vaddr,
      paddr: p.paddr,
      memsz: p.memsz,
      flags: flagString(p.flags),
    }));
  } else {
    const { header, sub, memory } = dump.kdump;
    format = header.signature === 'DISKDUMP' ? 'diskdump' : `kdump-compressed (header v${header.headerVersion})`;
    codec = dump.kdump.codec ?? 'none';
    dumpLevel = sub.dumpLevel;
    incomplete = (header.status & DUMP_DH_COMPRESSED_INCOMPLETE) !== 0;
    if (header.status & DUMP_DH_EXCLUDED_VMEMMAP) warnings.push('unused vmemmap pages were excluded (makedumpfile -e)');
    const dumpable = memory.dumpableCount;
    let zero: number | undefined;
    if (memory.zeroPageOffset !== undefined) {
      zero = 0;
      for (let i = 0; i < memory.dumpableCount; i++) {
        const d = memory.descriptor(i);
        if (d.offset === memory.zeroPageOffset && d.flags === 0) zero++;
      }
    }
    pages = { pageSize, maxPfn: Number(memory.maxPfn), ram, present: dumpable, excluded: ram - dumpable, zero };
    const bs = BigInt(header.blockSize);
    const bitmapBytes = (BigInt(header.bitmapBlocks) * bs) / 2n;
    const bitmapStart = (1n + BigInt(header.subHdrSize)) * bs;
    const dataStart = memory.descsOffset + BigInt(dumpable * PAGE_DESC_SIZE);
    layout = [
      { what: 'disk_dump_header', offset: 0n, size: 464n },
      { what: 'kdump_sub_header', offset: bs, size: 104n },
      ...(sub.sizeNote > 0n ? [{ what: 'ELF notes', offset: sub.offsetNote, size: sub.sizeNote }] : []),
      ...(sub.sizeVmcoreinfo > 0n ? [{ what: 'VMCOREINFO', offset: sub.offsetVmcoreinfo, size: sub.sizeVmcoreinfo }] : []),
      { what: '1st bitmap (RAM)', offset: bitmapStart, size: bitmapBytes },
      { what: '2nd bitmap (dumped)', offset: bitmapStart + bitmapBytes, size: bitmapBytes },
      { what: `page descriptors (${dumpable})`, offset: memory.descsOffset, size: BigInt(dumpable * PAGE_DESC_SIZE) },
      { what: 'page data', offset: dataStart, size: (sub.sizeEraseinfo > 0n ? sub.offsetEraseinfo : dump.fileSize) - dataStart },
      ...(sub.sizeEraseinfo > 0n ? [{ what: 'eraseinfo', offset: sub.offsetEraseinfo, size: sub.sizeEraseinfo }] : []),
    ];
    const u = header.utsname;
    if (u.release || u.nodename) headerUts = { release: u.release, version: u.version, machine: u.machine, nodename: u.nodename };
  }

  let kernel: KernelIdentity = { release: info?.osrelease, version: undefined, machine: undefined, nodename: undefined, source: info?.osrelease ? 'vmcoreinfo' : 'none' };
  if (headerUts?.release) kernel = { ...headerUts, source: 'header' };
  if (info) {
    try {
      const as = X86_64AddressSpace.fromDump(dump);
      const base = info.requireSymbol('init_uts_ns') + BigInt(info.offset('uts_namespace', 'name') ?? 0);
      const b = as.read(base, 6 * 65);
      kernel = { release: cString(b, 2 * 65, 65), version: cString(b, 3 * 65, 65), machine: cString(b, 4 * 65, 65), nodename: cString(b, 65, 65), source: 'memory' };
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      warnings.push(`kernel identity not read from memory: ${e.message}`);
    }
  }

  // QEMU (dump/dump.c) fills pr_pid with the vCPU index + 1, not the guest's pid.
  if (dump.notes.some((n) => n.name === 'QEMU')) warnings.push('written by QEMU dump-guest-memory: the PID column holds QEMU vCPU numbers, not kernel pids');
  const crash = info?.crashTime;
  return {
    file: dump.path,
    fileSize: Number(dump.fileSize),
    format,
    flattened: dump.flattened,
    codec,
    dumpLevel,
    incomplete,
    pages,
    kernel,
    crashTime: crash === undefined ? undefined : new Date(Number(crash) * 1000),
    cpus: dump.prstatus.map((p) => ({ index: p.index, pid: p.pid, rip: p.registers.rip, rsp: p.registers.rsp })),
    vmcoreinfo: info && {
      keys: info.keys().length,
      pageSize: info.pageSize,
      kernelOffset: info.kernelOffset,
      physBase: info.physBase === undefined ? undefined : BigInt.asUintN(64, info.physBase),
      pagingLevels: (info.number('pgtable_l5_enabled') ?? 0n) !== 0n ? 5 : 4,
      buildId: info.buildId,
      hasKallsyms: info.symbol('kallsyms_names') !== undefined,
    },
    layout,
    warnings,
  };
}

function flagString(f: number): string {
  return (f & 4 ? 'R' : '-') + (f & 2 ? 'W' : '-') + (f & 1 ? 'X' : '-');
}
