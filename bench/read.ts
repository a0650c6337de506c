/**
 * Read benchmark: decode every stored page of each dump with kdumpkit's readers and with
 * libkdumpfile (bench/c/kdump-read-all.c, built here with gcc) in the same run, and print MB/s
 * and the ratio. Usage: node dist/bench/read.js [DUMP...] (default: the shared and cached dumps).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openDump } from '../src/formats/open.js';
import { CACHE, REPO, sharedDumps } from '../test/helpers/dumps.js';

interface Result {
  pages: number;
  seconds: number;
}

async function ours(path: string): Promise<Result & { maxPfn: bigint }> {
  const dump = await openDump(path);
  try {
    const mem = dump.memory;
    const t0 = process.hrtime.bigint();
    let pages = 0;
    for (let pfn = 0n; pfn < mem.maxPfn; pfn++) {
      const s = mem.pageState(pfn);
      if (s !== 'present' && s !== 'zero') continue;
      mem.read(pfn << 12n, 4096);
      pages++;
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return { pages, seconds, maxPfn: mem.maxPfn };
  } finally {
    dump.close();
  }
}

function buildReference(): string | undefined {
  const out = join(CACHE, 'bench', 'kdump-read-all');
  if (existsSync(out)) return out;
  mkdirSync(join(CACHE, 'bench'), { recursive: true });
  try {
    execFileSync('gcc', ['-O2', '-o', out, join(REPO, 'bench', 'c', 'kdump-read-all.c'), '-lkdumpfile'], { stdio: 'pipe' });
    return out;
  } catch (e) {
    process.stderr.write(`cannot build the libkdumpfile reference (apt-get install libkdumpfile-dev gcc): ${(e as Error).message.split('\n')[0]}\n`);
    return undefined;
  }
}

function reference(bin: string, path: string, maxPfn: bigint): Result | string {
  try {
    const out = execFileSync(bin, [path, String(maxPfn)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const [pages, seconds] = out.trim().split(' ');
    return { pages: Number(pages), seconds: Number(seconds) };
  } catch (e) {
    return ((e as { stderr?: string }).stderr ?? String(e)).trim().split('\n')[0] ?? 'failed';
  }
}

const mbps = (r: Result): number => (r.pages * 4096) / 1e6 / r.seconds;

async function main(): Promise<void> {
  let files = process.argv.slice(2);
  if (files.length === 0) {
    for (const d of sharedDumps()) {
      files.push(join(d.cacheDir, 'vmcore.elf'), join(d.dir, 'vmcore.d31.zstd'), join(d.cacheDir, 'vmcore.d31.zlib'), join(d.cacheDir, 'vmcore.d31.lzo'), join(d.dir, 'vmcore.d31.snappy'), join(d.cacheDir, 'vmcore.d31.flat'));
    }
    files = files.filter((f) => existsSync(f));
  }
  const bin = buildReference();
  const rows: string[] = [];
  rows.push(['file', 'pages', 'kdumpkit MB/s', 'libkdumpfile MB/s', 'ratio'].join('\t'));
  for (const f of files) {
    await ours(f); // warm the page cache and the JIT so both sides read from memory
    const r = await ours(f);
    const ref = bin ? reference(bin, f, r.maxPfn) : 'not built';
    const refCell = typeof ref === 'string' ? `n/a (${ref})` : mbps(ref).toFixed(0);
    const ratio = typeof ref === 'string' ? '-' : `${(mbps(r) / mbps(ref)).toFixed(2)}x`;
    rows.push([f.replace(REPO + '/', '').replace(/^.*shared\//, 'shared/'), String(r.pages), mbps(r).toFixed(0), refCell, ratio].join('\t'));
  }
  process.stdout.write(rows.join('\n') + '\n');
}

await main();
