import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDump } from '../../src/formats/open.js';
import { Kernel, type KernelOptions } from '../../src/kernel/kernel.js';
import { formatLoad, initialJiffies, readSysFacts } from '../../src/kernel/sysinfo.js';
import { need, sharedDumps } from '../helpers/dumps.js';

test('formatLoad: avenrun as /proc/loadavg prints it (FIXED_1/200 rounding)', () => {
  assert.equal(formatLoad(164), '0.08');
  assert.equal(formatLoad(34), '0.02');
  assert.equal(formatLoad(11), '0.01');
  assert.equal(formatLoad(0), '0.00');
  assert.equal(formatLoad(2048), '1.00');
  assert.equal(formatLoad(2048 * 12 + 1024), '12.50');
});

test('initialJiffies: (unsigned long)(unsigned int)(-300 * HZ)', () => {
  assert.equal(initialJiffies(250), 4294892296n);
  assert.equal(initialJiffies(1000), 4294667296n);
});

interface Drgn {
  uts: Record<string, string>;
  totalram_pages: number;
  avenrun: number[];
  jiffies: number;
}

for (const s of sharedDumps()) {
  const map = `/usr/lib/debug/boot/System.map-${s.release}`;
  const variants: [string, string, KernelOptions, string[]][] = [
    ['vmcore.elf', join(s.cacheDir, 'vmcore.elf'), {}, []],
    ['vmcore.d31.zstd', join(s.dir, 'vmcore.d31.zstd'), {}, []],
    ['vmcore.d31.zlib (makedumpfile 1.7.2)', join(s.cacheDir, 'vmcore.d31.zlib'), {}, []],
    ['vmcore.elf, kallsyms ignored, System.map', join(s.cacheDir, 'vmcore.elf'), { noKallsyms: true, systemMap: map }, [map]],
  ];
  test(`${s.name}: uts, totalram_pages, avenrun, jiffies equal drgn's`, async (t) => {
    const refPath = join(s.dir, 'reference', 'drgn.json');
    if (!need(t, refPath)) return;
    const drgn = JSON.parse(readFileSync(refPath, 'utf8')) as Drgn;
    for (const [label, path, opts, needs] of variants) {
      await t.test(label, async (t2) => {
        if (!need(t2, path)) return;
        for (const n of needs) if (!need(t2, n, `install linux-image-${s.release}-dbg`)) return;
        const dump = await openDump(path);
        try {
          const f = readSysFacts(Kernel.open(dump, opts));
          assert.deepEqual(f.notes, []);
          for (const key of ['sysname', 'nodename', 'release', 'version', 'machine'] as const) assert.equal(f.uts?.[key], drgn.uts[key], key);
          assert.equal(f.totalRamPages, drgn.totalram_pages);
          assert.deepEqual(f.avenrun, drgn.avenrun);
          assert.equal(f.jiffies, BigInt(drgn.jiffies));
          // Debian kernels: CONFIG_HZ=250.
          assert.equal(f.hz, 250);
          assert.ok(f.uptimeJiffies! > 5 && f.uptimeJiffies! < 60, `uptime ${f.uptimeJiffies}`);
          assert.ok(Math.abs(f.uptimeJiffies! - f.uptimeTimekeeper!) < 2, `jiffies ${f.uptimeJiffies} vs timekeeper ${f.uptimeTimekeeper}`);
          assert.deepEqual([f.cpus.possible, f.cpus.online], [2, 2]);
          // The VM had 448 MB: crash's MEMORY "447.5 MB" is the memory nodes' present pages.
          assert.equal(((f.presentPages! * f.pageSize) / 1048576).toFixed(1), '447.5');
          assert.ok(f.cpuKhz! > 100_000);
        } finally {
          dump.close();
        }
      });
    }
  });
}
