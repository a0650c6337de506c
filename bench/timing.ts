import { spawnSync } from 'node:child_process';

/** GNU time, for wall time and peak RSS of a whole child process. */
export const TIME = '/usr/bin/time';

export interface Run {
  seconds: number;
  rssKb: number;
}

/** Runs a command under GNU time; a failure comes back as a one-line string. */
export function timed(cmd: string, args: string[], input?: string): Run | string {
  const r = spawnSync(TIME, ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 256 << 20, input });
  const last = r.stderr.trimEnd().split('\n').pop() ?? '';
  if (r.status !== 0) return `exit ${r.status}: ${r.stderr.trim().split('\n').slice(-3, -1).join(' ')}`;
  const [secs, rss] = last.split(' ');
  return { seconds: Number(secs), rssKb: Number(rss) };
}

/** Median wall time of `runs` runs and the largest peak RSS. */
export function median(cmd: string, args: string[], runs: number, input?: string): Run | string {
  const rs: Run[] = [];
  for (let i = 0; i < runs; i++) {
    const r = timed(cmd, args, input);
    if (typeof r === 'string') return r;
    rs.push(r);
  }
  rs.sort((a, b) => a.seconds - b.seconds);
  return { seconds: rs[Math.floor(rs.length / 2)]!.seconds, rssKb: Math.max(...rs.map((r) => r.rssKb)) };
}

export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

/** Rows of (tool, run) as a table with the time ratio to the first row. */
export function ratioTable(rows: readonly [string, Run | string][]): string {
  const base = rows[0]?.[1];
  const out: string[] = [['tool', 'seconds', 'peak RSS MB', 'time ratio (tool / kdumpkit)'].join('\t')];
  for (const [name, r] of rows) {
    if (typeof r === 'string') out.push(`${name}\tn/a (${r})`);
    else out.push([name, r.seconds.toFixed(2), (r.rssKb / 1024).toFixed(0), base === undefined || typeof base === 'string' ? '-' : `${(r.seconds / base.seconds).toFixed(1)}x`].join('\t'));
  }
  return out.join('\n') + '\n';
}
