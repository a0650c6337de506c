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
import { arg, median, ratioTable, TIME, type Run } from './timing.js';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CACHE, REPO, sharedDumps } from '../test/helpers/dumps.js';

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
  process.stdout.write(ratioTable(rows));
}

main();
