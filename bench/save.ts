/**
 * Collector benchmark: `kdumpkit save` beside `makedumpfile` on the same dump, level and codec,
 * in one run, with wall time, throughput (dump size / time) and peak RSS, and the ratios.
 *
 * Usage: node dist/bench/save.js [--dump FILE] [--levels 31,1] [--codecs zlib,lzo] [--threads 2]
 *                                [--runs 5] [--mdf-threads 1,2] [--no-mdf-sync] [--make]
 *
 * The dump: --dump, else the largest ELF vmcore under .cache/bench/lab-* (made with
 * `../shared/lab/make-vmcore.sh .cache/bench/lab-2400 2400 sysrq`, or by --make when QEMU and a
 * kernel are installed), else the shared dumps (which are small: the report says so).
 * Both tools read the same file from the page cache (it is read once before timing) and write
 * to the same directory; each configuration runs --runs times, alternating the tools, and the
 * median is reported. Peak RSS is GNU time's maximum resident set size of the whole process
 * (kdumpkit's includes its worker threads). CPU seconds (user + system, all threads) are printed
 * beside the wall time: on a machine shared with other work they move much less than wall time.
 *
 * kdumpkit fsyncs its output before calling the dump complete; makedumpfile does not, so a row
 * "makedumpfile + sync FILE" (coreutils sync of the one output file) shows makedumpfile with the
 * same durability (--no-mdf-sync leaves it out). The ratios stay against plain makedumpfile.
 *
 * makedumpfile runs single-threaded by default; --mdf-threads adds runs with its --num-threads N
 * (makedumpfile >= 1.6.0; 0 or 1 = its default single thread), so that kdumpkit --threads N is
 * also compared with makedumpfile using N threads. The ratios are against the first entry.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CACHE, REPO, SHARED, sharedDumps } from '../test/helpers/dumps.js';
import { lzoImplementation } from '../src/collect/fast-codecs.js';
import { sourceReadMethod } from '../src/collect/mapped-source.js';

interface Run {
  seconds: number;
  /** user + system CPU seconds (all threads). */
  cpu: number;
  rssKb: number;
  bytes: number;
}

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');
/** The collector issue's targets: >= 1.3x makedumpfile's throughput with 2 threads, peak RSS <= 128 MB. */
const TARGET_RATIO = 1.3;
const TARGET_RSS_MB = 128;
const TIME = '/usr/bin/time';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

function findDump(): { path: string; note: string } {
  const given = arg('dump', '');
  if (given) return { path: given, note: 'given with --dump' };
  const labs = existsSync(join(CACHE, 'bench')) ? readdirSync(join(CACHE, 'bench')).filter((n) => n.startsWith('lab-')) : [];
  const found = labs.map((n) => join(CACHE, 'bench', n, 'vmcore.elf')).filter((p) => existsSync(p));
  found.sort((a, b) => statSync(b).size - statSync(a).size);
  if (found[0] && statSync(found[0]).size >= 2 * 1024 ** 3) return { path: found[0], note: 'lab dump' };
  if (process.argv.includes('--make')) {
    const out = join(CACHE, 'bench', 'lab-2400');
    mkdirSync(out, { recursive: true });
    process.stderr.write(`making a 2400 MB lab dump in ${out} (QEMU, a few minutes)...\n`);
    const r = spawnSync(join(SHARED, 'lab', 'make-vmcore.sh'), [out, '2400', 'sysrq'], { stdio: 'inherit', env: { ...process.env, LAB_TIMEOUT: '1500' } });
    if (r.status === 0 && existsSync(join(out, 'vmcore.elf'))) return { path: join(out, 'vmcore.elf'), note: 'lab dump made now' };
    process.stderr.write('making the lab dump failed; falling back to the shared dumps\n');
  }
  const shared = sharedDumps()
    .map((d) => join(d.cacheDir, 'vmcore.elf'))
    .filter((p) => existsSync(p));
  if (!shared[0]) throw new Error('no dump to benchmark: pass --dump FILE, or run npm test once to prepare the shared dumps');
  return { path: shared[0], note: `SMALL shared dump (no >= 2 GB lab dump found: run with --make, or ../shared/lab/make-vmcore.sh ${join(CACHE, 'bench', 'lab-2400')} 2400 sysrq)` };
}

/** Runs a command under GNU time; returns wall seconds, max RSS and the output file size. */
function timed(cmd: string, args: string[], outFile: string): Run {
  rmSync(outFile, { force: true });
  const r = spawnSync(TIME, ['-f', '%e %U %S %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-500)}`);
  const last = r.stderr.trimEnd().split('\n').pop() ?? '';
  const [secs, user, sys, rss] = last.split(' ');
  const bytes = existsSync(outFile) ? statSync(outFile).size : 0;
  rmSync(outFile, { force: true });
  return { seconds: Number(secs), cpu: Number(user) + Number(sys), rssKb: Number(rss), bytes };
}

function median(rs: Run[]): Run {
  const s = [...rs].sort((a, b) => a.seconds - b.seconds);
  const m = s[Math.floor(s.length / 2)]!;
  return { seconds: m.seconds, cpu: m.cpu, rssKb: Math.max(...rs.map((r) => r.rssKb)), bytes: m.bytes };
}

function warm(path: string): void {
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(8 << 20);
  let pos = 0;
  let n: number;
  while ((n = readSync(fd, buf, 0, buf.length, pos)) > 0) pos += n;
  closeSync(fd);
}

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

function tools0(): string {
  const t = Number(arg('mdf-threads', '1').split(',')[0]);
  return t > 1 ? `makedumpfile --num-threads ${t}` : 'makedumpfile';
}

function main(): void {
  if (!existsSync(TIME)) throw new Error(`${TIME} (GNU time, apt package time) is needed to measure peak RSS`);
  const mdf = spawnSync('makedumpfile', ['-v'], { encoding: 'utf8' });
  if (mdf.error) throw new Error('makedumpfile is not installed (apt package makedumpfile)');
  const { path, note } = findDump();
  const size = statSync(path).size;
  const levels = arg('levels', '31').split(',').map(Number);
  const codecs = arg('codecs', 'zlib,lzo').split(',');
  const threads = arg('threads', '2');
  const runs = Number(arg('runs', '5'));
  const mdfThreads = arg('mdf-threads', '1').split(',').map(Number);
  const work = mkdtempSync(join(tmpdir(), 'kdumpkit-bench-save-'));
  const flag: Record<string, string> = { zlib: '-c', lzo: '-l', snappy: '-p', zstd: '-z' };
  process.stdout.write(`dump: ${path} (${(size / 1e9).toFixed(2)} GB, ${note})\n`);
  process.stdout.write(`makedumpfile: ${(mdf.stdout + mdf.stderr).split('\n')[0]}, threads ${mdfThreads.map((t) => (t > 1 ? `--num-threads ${t}` : '1 (default)')).join(' and ')}; kdumpkit --threads ${threads} (LZO1X: ${lzoImplementation()}; source read with ${sourceReadMethod()}); ${runs} runs each, alternating, median time, max RSS\n`);
  process.stdout.write(`machine: ${availableParallelism()} CPUs, load average at the start ${loadavg()}\n`);
  warm(path);
  const rows: string[][] = [['level', 'codec', 'tool', 'seconds', 'best', 'CPU s', 'best CPU s', 'MB/s', 'peak RSS MB', 'output MB', 'throughput ratio', 'best ratio', 'CPU ratio', 'RSS ratio']];
  const notes: string[] = [];
  const verdicts: string[] = [];
  for (const level of levels) {
    for (const codec of codecs) {
      const tools: { name: string; run: (out: string) => Run }[] = [
        ...mdfThreads.map((t) => ({
          name: t > 1 ? `makedumpfile --num-threads ${t}` : 'makedumpfile',
          run: (out: string) => timed('makedumpfile', [flag[codec]!, '-d', String(level), ...(t > 1 ? ['--num-threads', String(t)] : []), path, out], out),
        })),
        // kdumpkit fsyncs the dump before it is complete; makedumpfile leaves it dirty in the page
        // cache (kdump-tools runs sync(1) after it). Same durability: sync(1) of its output file.
        ...(process.argv.includes('--no-mdf-sync')
          ? []
          : [{ name: 'makedumpfile + sync FILE', run: (out: string) => timed('sh', ['-c', 'makedumpfile "$@" && sync "$5"', 'sh', flag[codec]!, '-d', String(level), path, out], out) }]),
        { name: `kdumpkit -t${threads}`, run: (out: string) => timed(process.execPath, [MAIN, 'save', path, out, '--level', String(level), '--compress', codec, '--threads', threads, '--quiet'], out) },
      ];
      const results: Run[][] = tools.map(() => []);
      // A tool that fails (Debian 12's static makedumpfile aborts with --num-threads: "libgcc_s.so.1
      // must be installed for pthread_exit to work") is reported as such and not run again.
      const failed: (string | undefined)[] = tools.map(() => undefined);
      for (let i = 0; i < runs; i++) {
        // Alternate the order so that neither tool always runs right after the other.
        const order = tools.map((_, j) => j);
        if (i % 2 === 1) order.reverse();
        for (const j of order) {
          if (failed[j]) continue;
          try {
            results[j]!.push(tools[j]!.run(join(work, `out.${j}`)));
          } catch (e) {
            if (j === tools.length - 1) throw e;
            failed[j] = (e as Error).message.split('\n').find((l) => /must be installed|error|fail/i.test(l) && !l.includes(' failed (')) ?? (e as Error).message.slice(0, 200);
          }
        }
      }
      tools.forEach((tool, j) => {
        if (failed[j]) notes.push(`level ${level} ${codec}: ${tool.name} failed: ${failed[j]!.replace(/.*\r/, '').trim().slice(-160)}`);
      });
      if (results[0]!.length === 0) continue;
      const base = median(results[0]!);
      const baseBest = Math.min(...results[0]!.map((r) => r.seconds));
      const baseCpu = Math.min(...results[0]!.map((r) => r.cpu));
      const mbps = (r: Run): string => (size / 1e6 / r.seconds).toFixed(0);
      tools.forEach((tool, j) => {
        const rs = results[j]!;
        if (rs.length === 0) return;
        const m = median(rs);
        if (j === tools.length - 1) {
          const ratio = base.seconds / m.seconds;
          const rssMb = m.rssKb / 1024;
          verdicts.push(`level ${level} ${codec}: ${ratio.toFixed(2)}x ${tools0()}'s throughput (target >= ${TARGET_RATIO}x: ${ratio >= TARGET_RATIO ? 'met' : 'missed'}), peak RSS ${rssMb.toFixed(0)} MB (target <= ${TARGET_RSS_MB} MB: ${rssMb <= TARGET_RSS_MB ? 'met' : 'missed'})`);
        }
        const best = Math.min(...rs.map((r) => r.seconds));
        const bestCpu = Math.min(...rs.map((r) => r.cpu));
        rows.push([
          String(level),
          codec,
          tool.name,
          m.seconds.toFixed(2),
          best.toFixed(2),
          m.cpu.toFixed(2),
          bestCpu.toFixed(2),
          mbps(m),
          (m.rssKb / 1024).toFixed(0),
          (m.bytes / 1e6).toFixed(1),
          `${(base.seconds / m.seconds).toFixed(2)}x`,
          `${(baseBest / best).toFixed(2)}x`,
          `${(baseCpu / bestCpu).toFixed(2)}x`,
          `${(m.rssKb / base.rssKb).toFixed(2)}x`,
        ]);
      });
    }
  }
  rmSync(work, { recursive: true, force: true });
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  process.stdout.write(rows.map((r) => r.map((x, c) => x.padEnd(widths[c]!)).join('  ')).join('\n') + '\n');
  for (const n of notes) process.stdout.write(`${n}\n`);
  process.stdout.write('seconds = median wall time, best = fastest run, CPU s = user + system of the median run (all threads), best CPU s = least of the runs\n');
  process.stdout.write(`throughput ratio = ${tools0()} time / the tool's time (> 1: faster), of the medians and of the best runs; CPU ratio = of the best CPU seconds; RSS ratio = the tool's / ${tools0()}'s\n`);
  process.stdout.write(`load average at the end: ${loadavg()} (other processes on the machine distort the wall times)\n`);
  process.stdout.write(`issue #5 targets, kdumpkit --threads ${threads} (medians):\n${verdicts.map((v) => `  ${v}\n`).join('')}`);
}

main();
