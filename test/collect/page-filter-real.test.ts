/**
 * Page filtering on the shared real dumps, against makedumpfile:
 * - Debian 12's makedumpfile 1.7.2 (installed; the stored reference logs came from it), run here
 *   for each level into a temporary directory: per-category counts from its
 *   `--message-level 31` log, and its output's bitmaps and header, bit for bit;
 * - the stored reference logs for levels 0, 1 and 31 (no makedumpfile needed);
 * - makedumpfile 1.7.9's `vmcore.d31.zstd` beside each dump, for our `latest` rule set.
 */
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDump, type Dump, type KdumpDump } from '../../src/formats/open.js';
import { filterPages, isZeroPage, type PageCounts, type PageFilterResult } from '../../src/collect/page-filter.js';
import { IN_CI, need, sharedDumps } from '../helpers/dumps.js';

const LEVELS = [1, 2, 4, 8, 16, 31];
const REFERENCE_VERSION = '1.7.2';

const CATEGORIES: Array<[keyof PageCounts, string]> = [
  ['zero', 'Pages filled with zero'],
  ['cache', 'Non-private cache pages'],
  ['cachePrivate', 'Private cache pages'],
  ['user', 'User process data pages'],
  ['free', 'Free pages'],
  ['hwpoison', 'Hwpoison pages'],
  ['offline', 'Offline pages'],
];

/** The per-category counts of a makedumpfile --message-level 31 log. */
function parseCounts(log: string, what: string): PageCounts {
  const out = {} as PageCounts;
  for (const [key, label] of CATEGORIES) {
    const m = new RegExp(`^\\s*${label}\\s*: 0x([0-9a-f]+)$`, 'm').exec(log);
    assert.ok(m, `${what}: no "${label}" line`);
    out[key] = Number.parseInt(m[1]!, 16);
  }
  return out;
}

const bitOf = (bits: Uint8Array, p: number): boolean => ((bits[p >>> 3]! >> (p & 7)) & 1) === 1;

/** Zero pages among the pages kept, as makedumpfile finds them while writing (level bit 1). */
function zeroPages(dump: Dump, r: PageFilterResult): Set<number> {
  const out = new Set<number>();
  const n = Number(r.maxMapnr);
  for (let p = 0; p < n; p++) {
    if (bitOf(r.dumpable, p) && isZeroPage(dump.memory.read(BigInt(p) << 12n, 4096))) out.add(p);
  }
  return out;
}

function withZero(r: PageFilterResult, level: number, zeros: Set<number> | undefined): PageCounts {
  return { ...r.counts, zero: level & 1 && zeros ? zeros.size : 0 };
}

/** Bitmap equality whose failure names the first pfns that differ. */
function assertSameBits(ours: Uint8Array, theirs: Uint8Array, nbits: number, what: string): void {
  const n = Math.ceil(nbits / 8);
  assert.equal(ours.length, n, `${what}: our bitmap length`);
  if (Buffer.compare(ours, theirs.subarray(0, n)) === 0) return;
  const diffs: string[] = [];
  for (let p = 0; p < nbits && diffs.length < 8; p++) {
    if (bitOf(ours, p) !== bitOf(theirs, p)) diffs.push(`pfn 0x${p.toString(16)}: ours ${+bitOf(ours, p)}, makedumpfile ${+bitOf(theirs, p)}`);
  }
  assert.fail(`${what} differs from makedumpfile's: ${diffs.join('; ')}`);
}

/** Output bitmaps, header max_mapnr and shared-zero-page descriptors equal ours. */
function assertSameAsOutput(ref: KdumpDump, r: PageFilterResult, zeros: Set<number> | undefined, what: string): void {
  const m = ref.kdump.memory;
  assert.equal(r.maxMapnr, ref.kdump.sub.maxMapnr, `${what}: max_mapnr`);
  assert.equal(BigInt(ref.kdump.header.maxMapnr32), r.maxMapnr, `${what}: 32-bit header max_mapnr`);
  const n = Number(r.maxMapnr);
  assertSameBits(r.ram, m.ram.bits, n, `${what}: 1st bitmap`);
  // With level bit 1 makedumpfile keeps zero pages in the 2nd bitmap (descriptor → shared zero
  // page), so its 2nd bitmap is exactly ours before zero pages are taken out.
  assertSameBits(r.dumpable, m.dumpable.bits, n, `${what}: 2nd bitmap`);
  if (zeros) {
    const theirs = new Set<number>();
    for (let p = 0; p < n; p++) if (bitOf(r.dumpable, p) && m.pageState(BigInt(p)) === 'zero') theirs.add(p);
    assert.equal(theirs.size, zeros.size, `${what}: number of pages stored as the shared zero page`);
    for (const p of zeros) assert.ok(theirs.has(p), `${what}: pfn 0x${p.toString(16)} is zero for us, not in makedumpfile's output`);
  }
}

function makedumpfileVersion(t: TestContext): string | undefined {
  const r = spawnSync('makedumpfile', ['-v'], { encoding: 'utf8' });
  const m = /version (\d+\.\d+\.\d+)/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`);
  if (r.error || !m) {
    const why = 'makedumpfile is not installed (apt-get install makedumpfile; `bash .ci/run` does it)';
    if (IN_CI) assert.fail(why);
    t.skip(why);
    return undefined;
  }
  if (m[1] !== REFERENCE_VERSION) {
    assert.fail(`these tests compare with makedumpfile ${REFERENCE_VERSION} (Debian 12, the reference logs' version); found ${m[1]}`);
  }
  return m[1];
}

/** Runs makedumpfile -l -d LEVEL --message-level 31 and returns the output path and its log. */
function runMakedumpfile(input: string, dir: string, name: string, level: number): { out: string; log: string } {
  const out = join(dir, `${name}.lzo`);
  rmSync(out, { force: true });
  const r = spawnSync('makedumpfile', ['-l', '-d', String(level), '--message-level', '31', input, out], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, TMPDIR: dir } });
  const log = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  writeFileSync(`${out}.log`, log);
  assert.equal(r.status, 0, `makedumpfile -d ${level} ${input} failed (status ${r.status}):\n${log.slice(-2000)}`);
  assert.match(log, /makedumpfile Completed\./);
  return { out, log };
}

const dumps = sharedDumps();

test('shared dumps are present', (t) => {
  if (dumps.length === 0) {
    if (IN_CI) assert.fail('no shared dumps under ../shared/vmcores (KDUMPKIT_SHARED)');
    t.skip('no shared dumps under ../shared/vmcores');
  }
});

for (const s of dumps) {
  describe(`page filter on ${s.name} (${s.release})`, () => {
    const elfPath = join(s.cacheDir, 'vmcore.elf');
    let dump: Dump | undefined;
    let work: string | undefined;
    const results = new Map<number, { r: PageFilterResult; zeros: Set<number> | undefined }>();
    /** Our result for a level, with the zero pages makedumpfile would find while writing. */
    const ours = (level: number): { r: PageFilterResult; zeros: Set<number> | undefined } => {
      let v = results.get(level);
      if (!v) {
        const r = filterPages(dump!, level);
        assert.deepEqual(r.warnings, [], `level ${level}: no warnings on a complete ELF vmcore`);
        v = { r, zeros: level & 1 ? zeroPages(dump!, r) : undefined };
        results.set(level, v);
      }
      return v;
    };

    const outputs = new Map<number, { out: string; log: string }>();
    /** makedumpfile's output for the ELF at a level, made once per run. */
    const output = (level: number): { out: string; log: string } => {
      let o = outputs.get(level);
      if (!o) {
        o = runMakedumpfile(elfPath, work!, `d${level}`, level);
        outputs.set(level, o);
      }
      return o;
    };

    before(async () => {
      if (existsSync(elfPath)) dump = await openDump(elfPath);
      work = mkdtempSync(join(tmpdir(), `kdumpkit-page-filter-${s.name}-`));
    });
    after(() => {
      dump?.close();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    test('levels 0, 1 and 31: counts equal the stored makedumpfile 1.7.2 reference logs', (t) => {
      if (!need(t, elfPath)) return;
      for (const level of [0, 1, 31]) {
        const refLog = join(s.dir, 'reference', `makedumpfile-d${level}.log`);
        if (!need(t, refLog, 'the shared dump should carry its reference outputs')) return;
        const { r, zeros } = ours(level);
        assert.deepEqual(withZero(r, level, zeros), parseCounts(readFileSync(refLog, 'utf8'), refLog), `level ${level}`);
      }
    });

    for (const level of LEVELS) {
      test(`level ${level}: counts, 1st/2nd bitmaps and max_mapnr equal makedumpfile ${REFERENCE_VERSION}'s`, async (t) => {
        if (!need(t, elfPath) || !makedumpfileVersion(t)) return;
        const { out, log } = output(level);
        const { r, zeros } = ours(level);
        assert.deepEqual(withZero(r, level, zeros), parseCounts(log, `makedumpfile -d ${level}`), `level ${level} counts`);
        const ref = await openDump(out);
        try {
          assert.equal(ref.format, 'kdump');
          assertSameAsOutput(ref as KdumpDump, r, zeros, `level ${level}`);
        } finally {
          ref.close();
        }
      });
    }

    // Refiltering a kdump file: its bitmaps are the starting point, its level is OR-ed in, and
    // makedumpfile counts pages again that the input had already excluded.
    for (const [from, to] of [
      [1, 31],
      [16, 2],
      [31, 31],
    ] as const) {
      test(`refiltering makedumpfile -d ${from} output with -d ${to} equals makedumpfile refiltering it`, async (t) => {
        if (!need(t, elfPath) || !makedumpfileVersion(t)) return;
        const src = output(from);
        const re = runMakedumpfile(src.out, work!, `re-d${from}-d${to}`, to);
        const input = await openDump(src.out);
        const ref = await openDump(re.out);
        try {
          const r = filterPages(input, to);
          assert.equal(r.dumpLevel, from | to);
          assert.deepEqual(
            r.warnings.filter((w) => !w.startsWith('dump level changed')),
            [],
          );
          const zeros = r.dumpLevel & 1 ? zeroPages(input, r) : undefined;
          assert.deepEqual(withZero(r, r.dumpLevel, zeros), parseCounts(re.log, 'refiltering'));
          assertSameAsOutput(ref as KdumpDump, r, zeros, `-d ${from} refiltered with -d ${to}`);
        } finally {
          input.close();
          ref.close();
        }
      });
    }

    test("'latest' rules equal makedumpfile 1.7.9's -d 31 output (vmcore.d31.zstd)", async (t) => {
      const zst = join(s.dir, 'vmcore.d31.zstd');
      if (!need(t, elfPath) || !need(t, zst, 'the shared dump should carry vmcore.d31.zstd')) return;
      const ref = await openDump(zst);
      try {
        const r = filterPages(dump!, 31, { rules: 'latest' });
        assert.deepEqual(r.warnings, []);
        assertSameAsOutput(ref as KdumpDump, r, zeroPages(dump!, r), 'latest rules, level 31');
      } finally {
        ref.close();
      }
    });
  });
}
