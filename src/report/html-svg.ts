/**
 * Inline SVG charts for the HTML report: no script, no external resources, colours from CSS
 * classes (so prefers-color-scheme and printing restyle them). Every label goes through `html`.
 */
import { html, join, type Html } from './html-escape.js';

export interface ChartItem {
  readonly label: string;
  readonly value: number;
  /** CSS class giving the fill colour (c0 … c9, or a named one from the stylesheet). */
  readonly cls: string;
  /** Shown after the value (e.g. "12.3 MiB"). */
  readonly note?: string;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** Horizontal bars, one row per item, scaled to the largest value; the value is printed. */
export function barChart(title: string, items: readonly ChartItem[], opts: { labelWidth?: number } = {}): Html {
  const row = 22;
  const lw = opts.labelWidth ?? 150;
  const w = 640;
  const barMax = w - lw - 170;
  const max = Math.max(1, ...items.map((i) => i.value));
  const h = Math.max(row, items.length * row) + 4;
  const rows = items.map((it, k) => {
    const y = k * row + 2;
    const bw = it.value > 0 ? Math.max(1, (it.value / max) * barMax) : 0;
    return html`<g><text x="${lw - 6}" y="${y + 15}" text-anchor="end">${it.label}</text><rect class="${it.cls}" x="${lw}" y="${y + 3}" width="${bw.toFixed(1)}" height="${row - 6}" rx="2"><title>${it.label}: ${fmt(it.value)}${it.note ? ` (${it.note})` : ''}</title></rect><text x="${(lw + bw + 6).toFixed(1)}" y="${y + 15}" class="v">${fmt(it.value)}${it.note ? ` · ${it.note}` : ''}</text></g>`;
  });
  return html`<svg class="chart" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${title}"><title>${title}</title>${rows}</svg>`;
}

/** One bar split in proportion to the items (a share of a whole), with a legend under it. */
export function stackedBar(title: string, items: readonly ChartItem[]): Html {
  const w = 640;
  const total = items.reduce((s, i) => s + i.value, 0);
  let x = 0;
  const parts: Html[] = [];
  for (const it of items) {
    if (it.value <= 0 || total === 0) continue;
    const bw = (it.value / total) * w;
    parts.push(html`<rect class="${it.cls}" x="${x.toFixed(2)}" y="0" width="${bw.toFixed(2)}" height="28"><title>${it.label}: ${fmt(it.value)} (${pct(it.value, total)})</title></rect>`);
    x += bw;
  }
  const legend = items.map(
    (it) => html`<tr><td><span class="sw ${it.cls}" aria-hidden="true"></span>${it.label}</td><td class="n">${fmt(it.value)}</td><td class="n">${pct(it.value, total)}</td><td class="n dim">${it.note ?? ''}</td></tr>`,
  );
  return html`<figure class="stack"><svg class="chart" viewBox="0 0 ${w} 28" width="${w}" height="28" preserveAspectRatio="none" role="img" aria-label="${title}"><title>${title}</title>${parts}</svg><table class="legend">${legend}</table></figure>`;
}

export function pct(v: number, total: number): string {
  if (total <= 0) return '-';
  const p = (v * 100) / total;
  return p > 0 && p < 0.1 ? '<0.1%' : `${p.toFixed(1)}%`;
}

export interface RateBucket {
  readonly start: number;
  readonly end: number;
  readonly lines: number;
  /** Lines of level 0..3 (emerg … err) in the bucket. */
  readonly errors: number;
  /** Lines of level 4 (warning). */
  readonly warnings: number;
}

/** Splits [0, last line's time] into `n` equal buckets and counts lines per bucket by severity. */
export function logRate(lines: readonly { readonly time: number; readonly level: number }[], n = 60): RateBucket[] {
  if (lines.length === 0) return [];
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const l of lines) {
    if (l.time < t0) t0 = l.time;
    if (l.time > t1) t1 = l.time;
  }
  t0 = Math.min(0, t0);
  const span = t1 - t0 || 1;
  const out = Array.from({ length: n }, (_, i) => ({ start: t0 + (span * i) / n, end: t0 + (span * (i + 1)) / n, lines: 0, errors: 0, warnings: 0 }));
  for (const l of lines) {
    const b = out[Math.min(n - 1, Math.floor(((l.time - t0) / span) * n))]!;
    b.lines++;
    if (l.level <= 3) b.errors++;
    else if (l.level === 4) b.warnings++;
  }
  return out;
}

/** Log lines per time bucket: vertical bars, errors and warnings stacked at the bottom. */
export function rateChart(title: string, buckets: readonly RateBucket[]): Html {
  const w = 640;
  const h = 140;
  const top = 8;
  const bottom = 22;
  const left = 44;
  const plotH = h - top - bottom;
  const plotW = w - left - 8;
  const max = Math.max(1, ...buckets.map((b) => b.lines));
  const bw = buckets.length ? plotW / buckets.length : plotW;
  const y = (v: number): number => top + plotH - (v / max) * plotH;
  const bars = buckets.map((b, i) => {
    const x = left + i * bw;
    const other = b.lines - b.errors - b.warnings;
    const hE = (b.errors / max) * plotH;
    const hW = (b.warnings / max) * plotH;
    const hO = (other / max) * plotH;
    const base = top + plotH;
    const tip = `${b.start.toFixed(3)}–${b.end.toFixed(3)} s: ${fmt(b.lines)} line${b.lines === 1 ? '' : 's'}${b.errors ? `, ${fmt(b.errors)} error+` : ''}${b.warnings ? `, ${fmt(b.warnings)} warning` : ''}`;
    return html`<g><title>${tip}</title><rect class="rate-o" x="${(x + 0.5).toFixed(2)}" y="${(base - hE - hW - hO).toFixed(2)}" width="${Math.max(0.5, bw - 1).toFixed(2)}" height="${hO.toFixed(2)}"></rect><rect class="rate-w" x="${(x + 0.5).toFixed(2)}" y="${(base - hE - hW).toFixed(2)}" width="${Math.max(0.5, bw - 1).toFixed(2)}" height="${hW.toFixed(2)}"></rect><rect class="rate-e" x="${(x + 0.5).toFixed(2)}" y="${(base - hE).toFixed(2)}" width="${Math.max(0.5, bw - 1).toFixed(2)}" height="${hE.toFixed(2)}"></rect></g>`;
  });
  const first = buckets[0];
  const last = buckets[buckets.length - 1];
  const axis = html`<line class="axis" x1="${left}" y1="${top + plotH}" x2="${w - 8}" y2="${top + plotH}"></line><text x="${left - 4}" y="${y(max) + 4}" text-anchor="end">${fmt(max)}</text><text x="${left - 4}" y="${top + plotH}" text-anchor="end">0</text>${
    first && last ? html`<text x="${left}" y="${h - 6}">${first.start.toFixed(1)} s</text><text x="${w - 8}" y="${h - 6}" text-anchor="end">${last.end.toFixed(1)} s</text>` : ''
  }`;
  return html`<svg class="chart" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${title}"><title>${title}</title>${axis}${join(bars)}</svg>`;
}
