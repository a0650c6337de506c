import type { SaveSummary } from './save.js';

const hex16 = (n: number): string => '0x' + n.toString(16).padStart(16, '0');

/**
 * The page report makedumpfile prints at the end of a dump (makedumpfile.c print_report, as
 * Debian's makedumpfile 1.7.2 words and aligns it), so the two tools can be compared line by
 * line: category names, "0x" + 16 hex digits, the reduction percentage (integer division), the
 * memory-hole and total lines, and the "in ELF format" lines for ELF output.
 */
export function renderSaveReport(s: SaveSummary): string {
  const p = s.pages;
  const lines: string[] = [''];
  lines.push(`Original pages  : ${hex16(p.original)}`);
  lines.push(`  Excluded pages   : ${hex16(p.excluded)}`);
  if (p.elfExcluded !== undefined) lines.push(`     in ELF format : ${hex16(p.elfExcluded)}`);
  lines.push(`    Pages filled with zero  : ${hex16(p.zero)}`);
  lines.push(`    Non-private cache pages : ${hex16(p.cache)}`);
  lines.push(`    Private cache pages     : ${hex16(p.cachePrivate)}`);
  lines.push(`    User process data pages : ${hex16(p.user)}`);
  lines.push(`    Free pages              : ${hex16(p.free)}`);
  lines.push(`    Hwpoison pages          : ${hex16(p.hwpoison)}`);
  lines.push(`    Offline pages           : ${hex16(p.offline)}`);
  lines.push(`  Remaining pages  : ${hex16(p.remaining)}`);
  let excluded = p.excluded;
  if (p.elfExcluded !== undefined) {
    lines.push(`     in ELF format : ${hex16(p.original - p.elfExcluded)}`);
    excluded = p.elfExcluded;
  }
  if (p.original !== 0) lines.push(`  (The number of pages is reduced to ${Math.floor(((p.original - excluded) * 100) / p.original)}%.)`);
  lines.push(`Memory Hole     : ${hex16(p.memoryHole)}`);
  lines.push('--------------------------------------------------');
  lines.push(`Total pages     : ${hex16(p.total)}`);
  lines.push(`Write bytes     : ${s.bytesWritten}`);
  lines.push('');
  return lines.join('\n') + '\n';
}

/** Bytes as "123.4 MB" (decimal megabytes, as df -H and most progress meters show them). */
export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} bytes`;
}
