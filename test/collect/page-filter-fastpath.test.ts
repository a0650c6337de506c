/**
 * The filter's fast struct-page reads (chunked reads, its own span-aware page-table walk with
 * cached table pages) against the plain path through VirtualMemory.translate, 4 KiB at a time,
 * on the shared dumps: ELF inputs, and kdump inputs (refiltering) where some struct pages may be
 * missing. Every result field must be identical.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openDump, type Dump } from '../../src/formats/open.js';
import { filterPagesFrom, filterSourceFromDump, type FilterSource, type PageFilterResult } from '../../src/collect/page-filter.js';
import { X86_64AddressSpace } from '../../src/memory/arch/x86_64.js';
import type { PageRuleSet } from '../../src/collect/page-flags.js';
import { sharedDumps } from '../helpers/dumps.js';

/** The same source, but its kernel is a plain VirtualMemory (no X86_64AddressSpace fast path). */
function plainSource(dump: Dump): FilterSource {
  const src = filterSourceFromDump(dump);
  const k = X86_64AddressSpace.fromDump(dump);
  return { ...src, kernel: { read: (va, len) => k.read(va, len), translate: (va) => k.translate(va) } };
}

function assertSame(a: PageFilterResult, b: PageFilterResult, what: string): void {
  assert.equal(a.maxMapnr, b.maxMapnr, `${what}: maxMapnr`);
  assert.equal(a.dumpLevel, b.dumpLevel, `${what}: dumpLevel`);
  assert.deepEqual(a.counts, b.counts, `${what}: counts`);
  assert.deepEqual(a.warnings, b.warnings, `${what}: warnings`);
  assert.ok(Buffer.compare(a.ram, b.ram) === 0, `${what}: 1st bitmap`);
  assert.ok(Buffer.compare(a.dumpable, b.dumpable) === 0, `${what}: 2nd bitmap`);
}

for (const s of sharedDumps()) {
  describe(`page filter fast path on ${s.name}`, () => {
    const opened: Dump[] = [];
    after(() => {
      for (const d of opened) d.close();
    });
    for (const file of ['vmcore.elf', 'vmcore.d31.lzo', 'vmcore.d1.raw']) {
      test(`${file}: same result as 4 KiB translations`, async (t) => {
        const path = join(s.cacheDir, file);
        if (!existsSync(path)) {
          t.skip(`${path} is not prepared`);
          return;
        }
        const dump = await openDump(path);
        opened.push(dump);
        for (const rules of ['1.7.2', 'latest'] as PageRuleSet[]) {
          for (const level of [16, 31]) {
            const fast = filterPagesFrom(filterSourceFromDump(dump), level, { rules });
            const plain = filterPagesFrom(plainSource(dump), level, { rules });
            assertSame(fast, plain, `${file} -d ${level} (${rules})`);
          }
        }
      });
    }
  });
}
