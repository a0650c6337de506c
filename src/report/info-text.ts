import type { DumpInfoReport } from '../analyze/dump-info.js';
import { hexAddr, humanBytes, renderTable } from './table.js';

/** Text rendering of `kdumpkit info`. */
export function renderInfoText(r: DumpInfoReport): string {
  const out: string[] = [];
  const kv = (k: string, v: string): void => {
    out.push(`${(k + ':').padEnd(16)}${v}`);
  };
  kv('file', `${r.file} (${humanBytes(r.fileSize)})`);
  kv('format', r.format + (r.flattened ? ', flattened (makedumpfile -F stream)' : ''));
  kv('compression', r.codec);
  kv('dump level', r.dumpLevel === undefined ? 'not recorded (unfiltered unless pages are marked excluded)' : `${r.dumpLevel}${r.dumpLevel === 0 ? ' (full)' : ' (partial)'}`);
  if (r.incomplete) kv('status', 'INCOMPLETE: the dump was cut short (disk full or write error); some pages are missing');
  const k = r.kernel;
  kv('kernel', `${k.release ?? 'unknown'}${k.version ? ' ' + k.version : ''}`);
  if (k.nodename !== undefined) kv('nodename', k.nodename);
  if (k.machine) kv('machine', k.machine);
  kv('crash time', r.crashTime ? r.crashTime.toISOString().replace('.000Z', 'Z') : 'unknown');
  const p = r.pages;
  const pct = (n: number): string => (p.ram ? ` (${((100 * n) / p.ram).toFixed(1)}%)` : '');
  kv('page size', String(p.pageSize));
  kv('RAM', `${p.ram} pages, ${humanBytes(p.ram * p.pageSize)} (max pfn 0x${p.maxPfn.toString(16)})`);
  kv('pages present', `${p.present}${pct(p.present)}`);
  kv('pages excluded', `${p.excluded}${pct(p.excluded)}`);
  kv('zero pages', p.zero === undefined ? 'not counted (stored in full in this format)' : `${p.zero} (stored once, shared)`);
  if (r.vmcoreinfo) {
    const v = r.vmcoreinfo;
    kv('VMCOREINFO', `${v.keys} keys; KERNELOFFSET ${v.kernelOffset === undefined ? '-' : '0x' + v.kernelOffset.toString(16)}; phys_base ${v.physBase === undefined ? '-' : '0x' + v.physBase.toString(16)}; ${v.pagingLevels}-level paging; kallsyms ${v.hasKallsyms ? 'yes' : 'no'}${v.buildId ? '; build id ' + v.buildId : ''}`);
  } else kv('VMCOREINFO', 'absent (kernel addresses cannot be translated)');
  out.push('');
  out.push(`CPUs (${r.cpus.length} NT_PRSTATUS notes):`);
  out.push(renderTable(['CPU', 'PID', 'RIP', 'RSP'], r.cpus.map((c) => [String(c.index), String(c.pid), hexAddr(c.rip), hexAddr(c.rsp)]), new Set([0, 1])).trimEnd());
  out.push('');
  out.push('Layout:');
  const hasSegments = r.layout.some((l) => l.paddr !== undefined);
  if (hasSegments) {
    out.push(
      renderTable(
        ['Type', 'Offset', 'VirtAddr', 'PhysAddr', 'FileSiz', 'MemSiz', 'Flg'],
        r.layout.map((l) => [l.what, hexAddr(l.offset), hexAddr(l.vaddr), hexAddr(l.paddr), hexAddr(l.size, 10), hexAddr(l.memsz, 10), l.flags ?? '']),
      ).trimEnd(),
    );
  } else {
    out.push(renderTable(['Part', 'Offset', 'Size'], r.layout.map((l) => [l.what, hexAddr(l.offset, 10), humanBytes(Number(l.size))]), new Set([2])).trimEnd());
  }
  for (const w of r.warnings) out.push(`warning: ${w}`);
  return out.join('\n') + '\n';
}
