import type { SymReport } from '../analyze/sym.js';

/** Text rendering of `kdumpkit sym`, in the spirit of crash's `sym`. */
export function renderSymText(r: SymReport): string {
  const lines = r.answers.map((a) => {
    const where = a.offset === 0n && a.size === undefined ? a.name : `${a.name}+0x${a.offset.toString(16)}${a.size !== undefined ? `/0x${a.size.toString(16)}` : ''}`;
    return `${a.address.toString(16).padStart(16, '0')} (${a.type ?? '?'}) ${where}${a.module ? ` [${a.module}]` : ''}`;
  });
  for (const u of r.unresolved) lines.push(`${u.query}: ${u.why}`);
  return lines.join('\n') + '\n';
}
