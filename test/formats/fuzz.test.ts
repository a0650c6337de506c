import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDumpSource } from '../../src/formats/open.js';
import { FileSource, type ByteSource } from '../../src/util/file.js';
import { KdumpkitError } from '../../src/util/errors.js';
import { dumpInfo } from '../../src/analyze/dump-info.js';
import { PatchedSource, le32, le64 } from '../helpers/patched-source.js';
import { IN_CI, need, sharedDumps } from '../helpers/dumps.js';

/** Small deterministic PRNG (mulberry32) so a failing case can be replayed by its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0n, 1n, 0x7fffffffn, 0xffffffffn, 0x100000000n, 0x7fffffffffffffffn, 0xffffffffffffffffn, 4096n, 4095n];

/** Regions worth hitting: headers, notes, bitmaps, descriptors, and the start of page data. */
function regions(base: ByteSource, kind: 'kdump' | 'elf' | 'flat'): [bigint, bigint][] {
  if (kind === 'kdump') return [[0n, 464n], [4096n, 4200n], [4200n, 12288n], [12288n, 45056n], [45056n, 500000n], [500000n, 600000n]];
  if (kind === 'flat') return [[0n, 32n], [4096n, 4200n], [4096n, 300000n]];
  return [[0n, 64n], [64n, 64n + 56n * 8n], [4096n, 8192n]];
}

/** Everything a user-facing command does with a dump must end in success or a KdumpkitError. */
function exercise(src: ByteSource, r: () => number): Promise<void> {
  return (async () => {
    const dump = await openDumpSource(src);
    try {
      dumpInfo(dump);
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
    }
    for (let i = 0; i < 64; i++) {
      const pfn = BigInt(Math.floor(r() * Number(dump.memory.maxPfn + 16n)));
      try {
        dump.memory.pageState(pfn);
        dump.memory.read(pfn * 4096n, 4096);
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
      }
    }
  })();
}

function mutate(base: ByteSource, kind: 'kdump' | 'elf' | 'flat', r: () => number): PatchedSource {
  const op = Math.floor(r() * 4);
  if (op === 0) return new PatchedSource(base, BigInt(Math.floor(r() * Math.min(Number(base.size), 2_000_000))));
  const s = new PatchedSource(base);
  const regs = regions(base, kind);
  const [lo, hi] = regs[Math.floor(r() * regs.length)]!;
  const at = lo + BigInt(Math.floor(r() * Number(hi - lo)));
  if (op === 1) s.set(at, Uint8Array.of(Math.floor(r() * 256)));
  else if (op === 2) s.set(at & ~3n, le32(Number(INTERESTING[Math.floor(r() * INTERESTING.length)]! & 0xffffffffn)));
  else s.set(at & ~7n, le64(INTERESTING[Math.floor(r() * INTERESTING.length)]!));
  return s;
}

const CASES = Number(process.env.KDUMPKIT_FUZZ_CASES ?? 1200);

test(`fuzz: ${CASES} mutated real dumps raise only KdumpkitErrors and never hang`, { timeout: 600_000 }, async (t) => {
  const d = sharedDumps()[0];
  if (!d) return assert.fail('no shared dumps found');
  const files: [string, 'kdump' | 'elf' | 'flat'][] = [
    [join(d.dir, 'vmcore.d31.zstd'), 'kdump'],
    [join(d.cacheDir, 'vmcore.elf'), 'elf'],
    [join(d.cacheDir, 'vmcore.d31.flat'), 'flat'],
  ];
  let ran = 0;
  for (const [path, kind] of files) {
    if (!need(t, path)) continue;
    const base = new FileSource(path);
    try {
      for (let i = 0; i < Math.ceil(CASES / files.length); i++) {
        const seed = (i * 2654435761) >>> 0;
        const r = rng(seed);
        const src = mutate(base, kind, r);
        try {
          await exercise(src, r);
        } catch (e) {
          if (!(e instanceof KdumpkitError)) assert.fail(`${kind} case seed ${seed}: unhandled ${(e as Error).stack}`);
        }
        ran++;
      }
    } finally {
      base.close();
    }
  }
  assert.ok(ran > 0, 'no fuzz case ran');
  if (IN_CI) assert.ok(ran >= 1000, `only ${ran} fuzz cases ran in CI`);
});
