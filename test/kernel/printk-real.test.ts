import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openDump } from '../../src/formats/open.js';
import { X86_64AddressSpace } from '../../src/memory/arch/x86_64.js';
import { formatDmesgMakedumpfile, readPrintkLog } from '../../src/kernel/printk.js';
import { IN_CI, need, sharedDumps, type SharedDump } from '../helpers/dumps.js';

const run = promisify(execFile);

/**
 * The decompressed ELF lives in the test cache (KDUMPKIT_TEST_CACHE or <repo>/.cache). When it
 * is missing, make it from vmcore.elf.zst with the zstd tool; written under a temporary name and
 * renamed, so concurrent test files never see half a file.
 */
async function ensureElf(t: TestContext, s: SharedDump): Promise<string | undefined> {
  const elf = join(s.cacheDir, 'vmcore.elf');
  if (existsSync(elf)) return elf;
  const zst = join(s.dir, 'vmcore.elf.zst');
  const tmp = `${elf}.${process.pid}.${Date.now()}.tmp`;
  try {
    mkdirSync(s.cacheDir, { recursive: true });
    await run('zstd', ['-q', '-d', '--long=27', '-f', zst, '-o', tmp], { maxBuffer: 1 << 20 });
    renameSync(tmp, elf);
    return elf;
  } catch (e) {
    rmSync(tmp, { force: true });
    const why = `cannot make ${elf} from ${zst} with \`zstd -d --long=27\`: ${(e as Error).message}`;
    if (IN_CI) assert.fail(why);
    t.skip(why);
    return undefined;
  }
}

/** Byte comparison whose failure message shows the first line that differs. */
function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (Buffer.compare(actual, expected) === 0) return;
  const a = Buffer.from(actual).toString('latin1').split('\n');
  const e = Buffer.from(expected).toString('latin1').split('\n');
  let i = 0;
  while (i < a.length && i < e.length && a[i] === e[i]) i++;
  assert.fail(
    `${what}: first difference at line ${i + 1} (got ${a.length} lines, want ${e.length})\n` +
      `  want: ${JSON.stringify(e[i] ?? '<end of file>')}\n` +
      `  got:  ${JSON.stringify(a[i] ?? '<end of file>')}`,
  );
}

for (const s of sharedDumps()) {
  test(`dmesg of ${s.name} is byte-identical to makedumpfile --dump-dmesg`, async (t) => {
    const ref172 = join(s.dir, 'reference', 'makedumpfile-dmesg.txt');
    const ref179 = join(s.dir, 'reference', 'makedumpfile-1.7.9-dmesg.txt');
    if (!need(t, ref172, 'the shared dump should carry its reference outputs') || !need(t, ref179, 'the shared dump should carry its reference outputs')) return;
    const want172 = readFileSync(ref172);
    const want179 = readFileSync(ref179);
    const inputs: Array<[string, (t2: TestContext) => Promise<string | undefined>]> = [
      ['vmcore.elf', (t2) => ensureElf(t2, s)],
      ['vmcore.d31.zstd', async (t2) => (need(t2, join(s.dir, 'vmcore.d31.zstd')) ? join(s.dir, 'vmcore.d31.zstd') : undefined)],
    ];
    for (const [name, input] of inputs) {
      await t.test(name, async (t2) => {
        const file = await input(t2);
        if (file === undefined) return;
        const dump = await openDump(file);
        try {
          const mem = X86_64AddressSpace.fromDump(dump);
          const info = dump.vmcoreinfo!;
          const t0 = performance.now();
          const log = readPrintkLog(mem, info);
          const ms = performance.now() - t0;
          t2.diagnostic(`readPrintkLog: ${log.records.length} records in ${ms.toFixed(1)} ms (first read of this dump)`);
          assert.equal(log.kind, 'lockless');
          assert.deepEqual(log.warnings, []);
          assertSameBytes(formatDmesgMakedumpfile(log, { callerId: false }), want172, `${file} vs ${ref172}`);
          assertSameBytes(formatDmesgMakedumpfile(log, { callerId: true }), want179, `${file} vs ${ref179}`);
          // Sequence numbers are consecutive: nothing was dropped between tail and head.
          log.records.forEach((r, i) => assert.equal(r.seq, log.records[0]!.seq + BigInt(i)));
          // --partial-dmesg gives a suffix of the full log.
          const part = readPrintkLog(mem, info, { partial: true });
          assert.deepEqual(part.warnings, []);
          const full = log.records.slice(log.records.length - part.records.length);
          assert.deepEqual(
            part.records.map((r) => r.seq),
            full.map((r) => r.seq),
          );
        } finally {
          dump.close();
        }
      });
    }
  });
}
