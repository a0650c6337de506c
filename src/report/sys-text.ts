import type { SysReport } from '../analyze/sys.js';

/** crash's DATE format: "Wed Nov 25 08:04:11 UTC 2026". */
export function crashDate(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`;
}

/** crash's MEMORY format: "447.5 MB", "1.9 GB". */
export function crashSize(bytes: number): string {
  const mb = bytes / 1048576;
  if (mb >= 1024) return `${(mb / 1024).toFixed(1).replace(/\.0$/, '')} GB`;
  return `${mb.toFixed(1).replace(/\.0$/, '')} MB`;
}

/** The `sys` block, laid out like crash's. */
export function renderSysText(r: SysReport, opts: { warnings?: boolean } = {}): string {
  const out: string[] = [];
  const kv = (k: string, v: string | undefined): void => {
    out.push(`${k.padStart(12)}: ${v ?? '(unavailable)'}`);
  };
  kv('KERNEL', `${r.release ?? '?'}  (symbols: ${r.kernelSymbols}; types: ${r.kernelTypes})`);
  kv('DUMPFILE', `${r.dumpFile}  [${r.dumpKind.format}; ${r.dumpKind.description}]`);
  kv('CPUS', r.cpus === undefined ? undefined : r.cpusOnline !== undefined && r.cpusOnline !== r.cpus ? `${r.cpus} (${r.cpusOnline} online)` : String(r.cpus));
  kv('DATE', r.crashTime ? crashDate(r.crashTime) : undefined);
  kv('UPTIME', r.uptime);
  kv('LOAD AVERAGE', r.loadAverage?.join(', '));
  kv('TASKS', r.tasks === undefined ? undefined : String(r.tasks));
  kv('NODENAME', r.nodename);
  kv('RELEASE', r.release);
  kv('VERSION', r.version);
  kv('MACHINE', r.machine === undefined ? undefined : `${r.machine}${r.cpuMhz ? `  (${r.cpuMhz} Mhz)` : ''}`);
  kv('MEMORY', r.memoryBytes === undefined ? undefined : crashSize(r.memoryBytes));
  if (r.totalRamPages !== undefined) kv('TOTALRAM', `${crashSize(r.totalRamBytes!)} (${r.totalRamPages} pages)`);
  kv('PANIC', r.panic === undefined ? '(none found)' : `"${r.panic}"`);
  if (opts.warnings !== false) for (const w of r.warnings) out.push(`warning: ${w}`);
  return out.join('\n') + '\n';
}
