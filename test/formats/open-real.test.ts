import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openDump, type Dump } from '../../src/formats/open.js';
import { PageNotPresentError } from '../../src/util/errors.js';
import { labDir, need, sharedDumps } from '../helpers/dumps.js';

interface Variant {
  readonly path: string;
  readonly format: 'elf' | 'kdump';
  readonly flattened: boolean;
  readonly codec?: string;
  readonly level?: number;
}

/**
 * Every page a derived file holds must equal the same page of the original ELF, every page it
 * filtered must raise PageNotPresentError('excluded'), and holes must agree.
 */
function comparePages(original: Dump, derived: Dump): { present: number; excluded: number; zero: number } {
  const a = original.memory;
  const b = derived.memory;
  const ps = a.pageSize;
  let present = 0;
  let excluded = 0;
  let zero = 0;
  const max = a.maxPfn > b.maxPfn ? a.maxPfn : b.maxPfn;
  for (let pfn = 0n; pfn < max; pfn++) {
    const sa = a.pageState(pfn);
    const sb = b.pageState(pfn);
    const pa = pfn * BigInt(ps);
    if (sa === 'hole') {
      // makedumpfile may trim max_mapnr, never invent RAM.
      assert.equal(sb, 'hole', `pfn 0x${pfn.toString(16)}: hole in the original but ${sb} in ${derived.path}`);
      continue;
    }
    if (sb === 'excluded') {
      excluded++;
      assert.throws(() => b.read(pa, ps), (e: unknown) => e instanceof PageNotPresentError && e.reason === 'excluded' && e.pfn === pfn);
      continue;
    }
    if (sb === 'hole') continue; // beyond a trimmed max_mapnr
    assert.ok(sb === 'present' || sb === 'zero', `pfn 0x${pfn.toString(16)}: unexpected state ${sb}`);
    if (sb === 'zero') zero++;
    present++;
    const want = a.read(pa, ps);
    const got = b.read(pa, ps);
    if (Buffer.compare(want, got) !== 0) assert.fail(`pfn 0x${pfn.toString(16)} of ${derived.path} differs from the original`);
  }
  return { present, excluded, zero };
}

function variantsOf(cacheDir: string, sharedDir: string | undefined): Variant[] {
  const v: Variant[] = [
    { path: join(cacheDir, 'vmcore.d0.zlib'), format: 'kdump', flattened: false, codec: 'zlib', level: 0 },
    { path: join(cacheDir, 'vmcore.d31.zlib'), format: 'kdump', flattened: false, codec: 'zlib', level: 31 },
    { path: join(cacheDir, 'vmcore.d31.lzo'), format: 'kdump', flattened: false, codec: 'lzo', level: 31 },
    { path: join(cacheDir, 'vmcore.d1.raw'), format: 'kdump', flattened: false, level: 1 },
    { path: join(cacheDir, 'vmcore.d31.flat'), format: 'kdump', flattened: true, codec: 'zlib', level: 31 },
    { path: join(cacheDir, 'vmcore.d31.elf'), format: 'elf', flattened: false },
  ];
  if (sharedDir) {
    v.push({ path: join(sharedDir, 'vmcore.d31.zstd'), format: 'kdump', flattened: false, codec: 'zstd', level: 31 });
    if (existsSync(join(sharedDir, 'vmcore.d31.snappy'))) v.push({ path: join(sharedDir, 'vmcore.d31.snappy'), format: 'kdump', flattened: false, codec: 'snappy', level: 31 });
  }
  return v;
}

async function checkVariants(t: import('node:test').TestContext, originalPath: string, variants: Variant[]): Promise<void> {
  if (!need(t, originalPath)) return;
  const original = await openDump(originalPath);
  try {
    assert.equal(original.format, 'elf');
    for (const v of variants) {
      await t.test(v.path.split('/').slice(-2).join('/'), async (tt) => {
        if (!need(tt, v.path)) return;
        const d = await openDump(v.path);
        try {
          assert.equal(d.format, v.format);
          assert.equal(d.flattened, v.flattened);
          if (d.format === 'kdump') {
            if (v.codec !== undefined) assert.equal(d.kdump.codec, v.codec);
            if (v.level !== undefined) assert.equal(d.kdump.sub.dumpLevel, v.level);
          }
          assert.equal(d.vmcoreinfo?.osrelease, original.vmcoreinfo?.osrelease);
          assert.deepEqual(d.prstatus.map((p) => p.pid), original.prstatus.map((p) => p.pid));
          const c = comparePages(original, d);
          assert.ok(c.present > 1000, `only ${c.present} pages present`);
          if (v.level === 31) assert.ok(c.excluded > 0, 'a level-31 dump must exclude pages');
          if (v.level === 0) assert.equal(c.zero, 0);
        } finally {
          d.close();
        }
      });
    }
  } finally {
    original.close();
  }
}

for (const s of sharedDumps()) {
  test(`real dump ${s.name}: derived files hold the original's pages`, async (t) => {
    await checkVariants(t, join(s.cacheDir, 'vmcore.elf'), variantsOf(s.cacheDir, s.dir));
  });
}

test('lab 4-level dump: derived files hold the original pages', async (t) => {
  const dir = labDir('4level-sysrq');
  await checkVariants(t, join(dir, 'vmcore.elf'), variantsOf(dir, undefined));
});

test('QEMU dump-guest-memory: kdump formats hold the ELF pages', async (t) => {
  // Debian's QEMU 7.2 writes its kdump formats only as flattened streams (plain kdump files
  // came with QEMU 8.2) and has no LZO or snappy support ("kdump-lzo is not available now"):
  // the prepare script records what it could make in formats.txt.
  const dir = labDir('qemu');
  const v: Variant[] = [{ path: join(dir, 'qemu.kdump-zlib'), format: 'kdump', flattened: true, codec: 'zlib' }];
  if (existsSync(join(dir, 'qemu.kdump-zlib.reassembled'))) v.push({ path: join(dir, 'qemu.kdump-zlib.reassembled'), format: 'kdump', flattened: false, codec: 'zlib' });
  for (const c of ['lzo', 'snappy']) if (existsSync(join(dir, `qemu.kdump-${c}`))) v.push({ path: join(dir, `qemu.kdump-${c}`), format: 'kdump', flattened: true, codec: c });
  await checkVariants(t, join(dir, 'qemu.elf'), v);
});
