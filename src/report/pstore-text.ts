import { formatBytes } from '../collect/summary.js';
import type { ClearStatus, PstoreEntryReport, PstoreReport } from '../host/pstore-collect.js';

/**
 * `kdumpkit pstore` as text: one paragraph per crash (where it went, which dumps, parts and
 * log size, the line that says what went wrong), what happened to each record, and the records
 * left in place with the reason.
 */
const CLEAR_WORDS: Readonly<Record<ClearStatus, string>> = {
  cleared: 'cleared',
  'would-clear': 'would be cleared',
  kept: 'kept (--keep-records)',
  'not-cleared': 'kept (not saved)',
  failed: 'NOT cleared',
};

function entryHeadline(e: PstoreEntryReport, dryRun: boolean): string {
  switch (e.status) {
    case 'saved':
      return `Saved ${e.path}`;
    case 'would-save':
      return `Would save ${e.path}`;
    case 'already-saved':
      return `Already saved in ${e.savedIn ?? e.path}${dryRun ? '' : ' (an earlier run could not clear the records)'}`;
    case 'failed':
      return `FAILED ${e.path}: ${e.error ?? 'unknown error'}`;
  }
}

export function renderPstoreText(r: PstoreReport): string {
  const lines: string[] = [];
  const total = r.entries.reduce((n, e) => n + e.records.length, 0) + r.left.length;
  if (!r.mounted) {
    lines.push(`${r.pstoreDir}: not there (pstore is not mounted, or this kernel has no pstore backend): nothing to collect.`);
    return lines.join('\n') + '\n';
  }
  if (total === 0) {
    lines.push(`${r.pstoreDir}: no records: nothing to collect.`);
    return lines.join('\n') + '\n';
  }
  lines.push(`${r.pstoreDir}: ${total} record${total === 1 ? '' : 's'}, ${r.entries.length} crash${r.entries.length === 1 ? '' : 'es'}${r.dryRun ? ' (dry run: nothing is written or cleared)' : ''}`);
  for (const e of r.entries) {
    lines.push('', entryHeadline(e, r.dryRun));
    for (const d of e.dumps) {
      const parts = d.parts.length ? `${d.parts.length} part${d.parts.length === 1 ? '' : 's'}` : 'no readable part';
      const missing = d.missingParts.length ? `, parts ${d.missingParts.join(',')} missing` : '';
      lines.push(`  ${d.reason}${d.count === null ? '' : `#${d.count}`} from ${d.backend} at ${d.time}: ${parts}${missing}, ${formatBytes(d.logBytes)} of log in ${d.log}`);
      if (d.headline) lines.push(`    ${d.headline}`);
      for (const n of d.notes) lines.push(`    note: ${n}`);
    }
    for (const rec of e.records) {
      const what = rec.type === 'dmesg' ? (rec.part !== undefined ? `part ${rec.part}` : 'dmesg') : rec.type;
      const comp = rec.compressed ? (rec.decompression ? `, ${rec.decompression}` : ', compressed, undecodable') : '';
      lines.push(`  ${rec.file.padEnd(40)} ${what}, ${formatBytes(rec.bytes)}${comp}: ${CLEAR_WORDS[rec.clear]}${rec.clearError ? ` (${rec.clearError})` : ''}`);
    }
  }
  if (r.left.length) {
    lines.push('', `Left in ${r.pstoreDir}:`);
    for (const l of r.left) lines.push(`  ${l.file}: ${l.why}`);
  }
  return lines.join('\n') + '\n';
}
