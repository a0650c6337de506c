/** Text rendering of `kdumpkit rehearse` reports (a rehearsal, and a --find-min-crashkernel search). */
import type { RehearsalReport } from '../rehearse/rehearse.js';
import type { FindMinReport } from '../rehearse/find-min.js';
import { renderTable } from './table.js';

const STATUS = { ok: 'ok', fail: 'FAIL', 'not-reached': '-' } as const;

export function renderRehearsalText(r: RehearsalReport): string {
  const head = `Rehearsal of ${r.release} (${r.accel.toUpperCase()}, ${r.memoryMb}M RAM, crashkernel=${r.crashkernel} from ${r.crashkernelSource}, crash by ${r.mode})`;
  const rows = r.stages.map((s) => [s.title, STATUS[s.status], s.seconds === undefined ? '' : `${s.seconds.toFixed(1)} s`, s.detail]);
  const lines = [head, '', renderTable(['STAGE', 'RESULT', 'AT', 'DETAIL'], rows, new Set([2])).replace(/^/gm, '  ').trimEnd(), ''];
  lines.push(r.passed ? `PASSED: ${r.verdict}` : `FAILED: ${r.verdict}`);
  if (r.hint) lines.push(`hint: ${r.hint}`);
  lines.push('', `First kernel:   ${r.firstCmdline}`, `Capture kernel: ${r.captureCmdline}`);
  if (r.kept) lines.push(`Console log:    ${r.kept.consoleLog}`, ...(r.kept.dumpDir ? [`Saved dump:     ${r.kept.dumpDir}`] : []));
  lines.push(`Total: ${r.totalSeconds.toFixed(1)} s`);
  return lines.join('\n') + '\n';
}

export function renderFindMinText(r: FindMinReport): string {
  const rows = r.probes.map((p) => [`crashkernel=${p.crashkernel}`, p.passed ? 'ok' : 'FAIL', p.failedStage, `${p.seconds.toFixed(1)} s`]);
  const lines = [
    `Smallest crashkernel reservation (bisecting ${r.range.low}..${r.range.high} in ${r.range.step} steps)`,
    '',
    renderTable(['SIZE', 'RESULT', 'FAILED AT', 'TIME'], rows, new Set([3])).replace(/^/gm, '  ').trimEnd(),
    '',
    r.verdict,
  ];
  if (r.recommended) lines.push(`Recommended: crashkernel=${r.recommended} (${r.marginNote})`);
  lines.push(`Total: ${r.totalSeconds.toFixed(1)} s`);
  return lines.join('\n') + '\n';
}
