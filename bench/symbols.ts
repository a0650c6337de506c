/**
 * Symbols and types benchmark: time and peak RSS to load kallsyms + BTF from a dump
 * (bench/load-kernel.ts) beside drgn loading the DWARF debug vmlinux for the same dump
 * (bench/drgn-load.py), in one run. Usage: node dist/bench/symbols.js [--runs 5]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, sharedDumps } from '../test/helpers/dumps.js';
import { arg, median, ratioTable, TIME, type Run } from './timing.js';

if (!existsSync(TIME)) throw new Error(`${TIME} (GNU time, apt package time) is needed to measure peak RSS`);
const runs = Number(arg('runs', '5'));
for (const d of sharedDumps()) {
  const dump = join(d.dir, 'vmcore.d31.zstd');
  const vmlinux = `/usr/lib/debug/boot/vmlinux-${readFileSync(join(d.dir, 'kernel-release'), 'utf8').trim()}`;
  process.stdout.write(`\n${d.name}: ${dump}; ${runs} runs each\n`);
  const rows: [string, Run | string][] = [['kdumpkit: kallsyms + BTF from the dump', median(process.execPath, [join(REPO, 'dist', 'bench', 'load-kernel.js'), dump], runs)]];
  rows.push(['drgn: DWARF from the debug vmlinux', existsSync(vmlinux) ? median('drgn', ['-q', '-c', dump, '-s', vmlinux, join(REPO, 'bench', 'drgn-load.py')], runs) : `no ${vmlinux}`]);
  process.stdout.write(ratioTable(rows));
}
