import type { PsReport } from '../analyze/ps.js';
import { renderTable } from './table.js';

/**
 * crash's `ps` table: '>' marks the task each CPU was running; kernel threads are [bracketed];
 * ST is the ps state letter; VSZ and RSS in KiB.
 */
export function renderPsText(r: PsReport, opts: { warnings?: boolean } = {}): string {
  const rows = r.rows.map((t) => [
    t.activeOn !== undefined ? (t.crashed ? '*' : '>') : '',
    String(t.pid),
    String(t.ppid),
    String(t.cpu),
    t.task.toString(16).padStart(16, '0'),
    t.state,
    t.memPercent === undefined ? '-' : t.memPercent.toFixed(1),
    t.vszKiB === undefined ? '-' : String(t.vszKiB),
    t.rssKiB === undefined ? '-' : String(t.rssKiB),
    t.kthread || t.idle ? `[${t.comm}]` : t.comm,
  ]);
  let text = renderTable(['', 'PID', 'PPID', 'CPU', 'TASK', 'ST', '%MEM', 'VSZ', 'RSS', 'COMM'], rows, new Set([1, 2, 3, 6, 7, 8]));
  const states = Object.entries(r.states)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  text += `${r.rows.length === r.total ? `${r.total} tasks` : `${r.rows.length} of ${r.total} tasks`} (${states})${r.nrThreads !== undefined ? `; nr_threads ${r.nrThreads}` : ''}; '>' running on a CPU, '*' the crashed task\n`;
  if (opts.warnings !== false) for (const w of r.warnings) text += `warning: ${w}\n`;
  return text;
}
