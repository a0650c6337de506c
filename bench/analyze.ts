/**
 * Analysis benchmark: `kdumpkit analyze` (no debuginfo) beside drgn (DWARF debug vmlinux,
 * bench/drgn-analyze.py: identity, tasks, stacks, modules, log) and crash (sys, bt -a, ps, mod,
 * log) on the same dump in one run: median wall time of N runs, peak RSS (GNU time), ratios.
 *
 * Usage: node dist/bench/analyze.js [--dump FILE] [--runs 3]
 * Default dump: .cache/bench/lab-2400/vmcore.elf (a 2.3 GB lab dump: make it with
 * `../shared/lab/make-vmcore.sh .cache/bench/lab-2400 2400 sysrq`), else the largest cached one.
 * Needs /usr/bin/time (apt package time), python3-drgn, crash and linux-image-RELEASE-dbg.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CACHE, REPO, sharedDumps } from '../test/helpers/dumps.js';

const TIME = '/usr/bin/time';

interface Run {
  seconds: number;
  rssKb: number;
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

function findDump(): string {
  const explicit = arg('dump', '');
  if (explicit) return explicit;
  const big = join(CACHE, 'bench', 'lab-2400', 'vmcore.elf');
  if (existsSync(big)) return big;
  const d = sharedDumps()[0];
  if (!d) throw new Error('no dump: give --dump FILE');
  return join(d.cacheDir, 'vmcore.elf');
}

function release(dump: string): string {
  const f = join(dirname(dump), 'kernel-release');
  if (existsSync(f)) return readFileSync(f, 'utf8').trim();
  const r = spawnSync(process.execPath, [join(REPO, 'dist', 'src', 'cli', 'main.js'), 'info', '--json', dump], { encoding: 'utf8' });
  return (JSON.parse(r.stdout) as { kernel: { release: string } }).kernel.release;
}

function timed(cmd: string, args: string[], input?: string): Run | string {
  const r = spawnSync(TIME, ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 256 << 20, input });
  const last = r.stderr.trimEnd().split('\n').pop() ?? '';
  if (r.status !== 0) return `exit ${r.status}: ${r.stderr.trim().split('\n').slice(-3, -1).join(' ')}`;
  const [secs, rss] = last.split(' ');
  return { seconds: Number(secs), rssKb: Number(rss) };
}

function median(cmd: string, args: string[], runs: number, input?: string): Run | string {
  const rs: Run[] = [];
  for (let i = 0; i < runs; i++) {
    const r = timed(cmd, args, input);
    if (typeof r === 'string') return r;
    rs.push(r);
  }
  rs.sort((a, b) => a.seconds - b.seconds);
  return { seconds: rs[Math.floor(rs.length / 2)]!.seconds, rssKb: Math.max(...rs.map((r) => r.rssKb)) };
}

function main(): void {
  if (!existsSync(TIME)) throw new Error(`${TIME} (GNU time, apt package time) is needed to measure peak RSS`);
  const dump = findDump();
  const runs = Number(arg('runs', '3'));
  const rel = release(dump);
  const vmlinux = `/usr/lib/debug/boot/vmlinux-${rel}`;
  process.stdout.write(`dump ${dump} (${(statSync(dump).size / 2 ** 30).toFixed(2)} GiB, kernel ${rel}); ${runs} runs each, median wall time, max RSS\n`);
  spawnSync('cat', [dump], { stdio: ['ignore', 'ignore', 'ignore'] }); // page cache warm for everyone
  const ours = median(process.execPath, [join(REPO, 'dist', 'src', 'cli', 'main.js'), 'analyze', '--json', dump], runs);
  const rows: [string, Run | string][] = [['kdumpkit analyze (no debuginfo)', ours]];
  if (existsSync(vmlinux)) {
    rows.push(['drgn + DWARF vmlinux', median('drgn', ['-q', '-c', dump, '-s', vmlinux, join(REPO, 'bench', 'drgn-analyze.py')], runs)]);
    const cmds = join(CACHE, 'bench', 'crash-analyze.cmds');
    writeFileSync(cmds, 'sys\nbt -a\nps\nmod\nlog\nquit\n');
    rows.push(['crash + DWARF vmlinux', median('crash', ['-s', vmlinux, dump, '-i', cmds], runs, '')]);
  } else rows.push(['drgn / crash', `no ${vmlinux} (apt-get install linux-image-${rel}-dbg)`]);
  const out: string[] = [['tool', 'seconds', 'peak RSS MB', 'time ratio (tool / kdumpkit)'].join('\t')];
  for (const [name, r] of rows) {
    if (typeof r === 'string') out.push(`${name}\tn/a (${r})`);
    else out.push([name, r.seconds.toFixed(2), (r.rssKb / 1024).toFixed(0), typeof ours === 'string' ? '-' : `${(r.seconds / ours.seconds).toFixed(1)}x`].join('\t'));
  }
  process.stdout.write(out.join('\n') + '\n');
}

main();
