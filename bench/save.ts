/**
 * Collector benchmark: `kdumpkit save` beside `makedumpfile` on the same dump, level and codec,
 * in one run, with wall time, throughput (dump size / time) and peak RSS, and the ratios.
 *
 * Usage: node dist/bench/save.js [--dump FILE] [--levels 31,1] [--codecs zlib,lzo] [--threads 2]
 *                                [--runs 3] [--make]
 *
 * The dump: --dump, else the largest ELF vmcore under .cache/bench/lab-* (made with
 * `../shared/lab/make-vmcore.sh .cache/bench/lab-2400 2400 sysrq`, or by --make when QEMU and a
 * kernel are installed), else the shared dumps (which are small: the report says so).
 * Both tools read the same file from the page cache (it is read once before timing) and write
 * to the same directory; each configuration runs --runs times, alternating the tools, and the
 * median is reported. Peak RSS is GNU time's maximum resident set size of the whole process
 * (kdumpkit's includes its worker threads).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CACHE, REPO, SHARED, sharedDumps } from '../test/helpers/dumps.js';

interface Run {
  seconds: number;
  /** user + system CPU seconds (all threads). */
  cpu: number;
  rssKb: number;
  bytes: number;
}

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');
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

function main(): void {
  if (!existsSync(TIME)) throw new Error(`${TIME} (GNU time, apt package time) is needed to measure peak RSS`);
  const mdf = spawnSync('makedumpfile', ['-v'], { encoding: 'utf8' });
  if (mdf.error) throw new Error('makedumpfile is not installed (apt package makedumpfile)');
  const { path, note } = findDump();
  const size = statSync(path).size;
  const levels = arg('levels', '31').split(',').map(Number);
  const codecs = arg('codecs', 'zlib,lzo').split(',');
  const threads = arg('threads', '2');
  const runs = Number(arg('runs', '3'));
  const work = mkdtempSync(join(tmpdir(), 'kdumpkit-bench-save-'));
  const flag: Record<string, string> = { zlib: '-c', lzo: '-l', snappy: '-p', zstd: '-z' };
  process.stdout.write(`dump: ${path} (${(size / 1e9).toFixed(2)} GB, ${note})\n`);
  process.stdout.write(`makedumpfile: ${(mdf.stdout + mdf.stderr).split('\n')[0]}; kdumpkit --threads ${threads}; ${runs} runs each, median time, max RSS\n`);
  warm(path);
  const rows: string[][] = [['level', 'codec', 'tool', 'seconds', 'best', 'CPU s', 'MB/s', 'peak RSS MB', 'output MB', 'throughput ratio', 'best ratio', 'RSS ratio']];
  for (const level of levels) {
    for (const codec of codecs) {
      const mRuns: Run[] = [];
      const kRuns: Run[] = [];
      for (let i = 0; i < runs; i++) {
        const mOut = join(work, 'mdf.out');
        const kOut = join(work, 'kdk.out');
        const m = () => mRuns.push(timed('makedumpfile', [flag[codec]!, '-d', String(level), path, mOut], mOut));
        const k = () => kRuns.push(timed(process.execPath, [MAIN, 'save', path, kOut, '--level', String(level), '--compress', codec, '--threads', threads, '--quiet'], kOut));
        if (i % 2 === 0) {
          m();
          k();
        } else {
          k();
          m();
        }
      }
      const m = median(mRuns);
      const k = median(kRuns);
      const mBest = Math.min(...mRuns.map((r) => r.seconds));
      const kBest = Math.min(...kRuns.map((r) => r.seconds));
      const mbps = (r: Run): string => (size / 1e6 / r.seconds).toFixed(0);
      rows.push([String(level), codec, 'makedumpfile', m.seconds.toFixed(2), mBest.toFixed(2), m.cpu.toFixed(2), mbps(m), (m.rssKb / 1024).toFixed(0), (m.bytes / 1e6).toFixed(1), '1.00x', '1.00x', '1.00x']);
      rows.push([String(level), codec, `kdumpkit -t${threads}`, k.seconds.toFixed(2), kBest.toFixed(2), k.cpu.toFixed(2), mbps(k), (k.rssKb / 1024).toFixed(0), (k.bytes / 1e6).toFixed(1), `${(m.seconds / k.seconds).toFixed(2)}x`, `${(mBest / kBest).toFixed(2)}x`, `${(k.rssKb / m.rssKb).toFixed(2)}x`]);
    }
  }
  rmSync(work, { recursive: true, force: true });
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  process.stdout.write(rows.map((r) => r.map((x, c) => x.padEnd(widths[c]!)).join('  ')).join('\n') + '\n');
  process.stdout.write('seconds = median wall time, best = fastest run, CPU s = user + system of the median run (all threads)\n');
  process.stdout.write('throughput ratio = makedumpfile time / kdumpkit time (> 1: kdumpkit faster), of the medians and of the best runs; RSS ratio = kdumpkit / makedumpfile\n');
  process.stdout.write(`load average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (other processes on the machine distort the times)\n`);
}

main();
