import type { ModReport } from '../analyze/mod.js';
import { isUnavailable } from '../kernel/attempt.js';
import { renderTable } from './table.js';

/** Modules like crash's `mod` (MODULE, NAME, BASE, SIZE) plus state and taints; then the kernel taint. */
export function renderModText(r: ModReport, opts: { warnings?: boolean } = {}): string {
  let text = '';
  if (r.modules.length === 0) text += 'no modules loaded\n';
  else {
    text += renderTable(
      ['MODULE', 'NAME', 'BASE', 'SIZE', 'STATE', 'TAINTS', 'REFS'],
      r.modules.map((m) => [m.module.toString(16).padStart(16, '0'), m.name, m.base.toString(16).padStart(16, '0'), String(m.size), m.state, m.taints || '-', m.refcount === undefined ? '-' : String(m.refcount)]),
      new Set([3, 6]),
    );
  }
  if (isUnavailable(r.taint)) text += `kernel taint: unavailable (${r.taint.unavailable})\n`;
  else {
    const t = r.taint;
    text += `kernel taint: ${t.text.trimEnd()}${t.flags.length ? `  (${t.flags.map((f) => `${f.letter}=${f.name}`).join(', ')})` : ''}  [tainted_mask 0x${t.mask.toString(16)}]\n`;
  }
  if (opts.warnings !== false) for (const w of r.warnings) text += `warning: ${w}\n`;
  return text;
}
