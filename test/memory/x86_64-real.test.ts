import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDump } from '../../src/formats/open.js';
import { X86_64AddressSpace } from '../../src/memory/arch/x86_64.js';
import { cString } from '../../src/util/bytes.js';
import { labDir, need, sharedDumps } from '../helpers/dumps.js';

async function readUts(path: string): Promise<{ nodename: string; release: string; fiveLevel: boolean }> {
  const dump = await openDump(path);
  try {
    const as = X86_64AddressSpace.fromDump(dump);
    const info = dump.vmcoreinfo!;
    const base = info.requireSymbol('init_uts_ns') + BigInt(info.requireOffset('uts_namespace', 'name'));
    const b = as.read(base, 6 * 65);
    return { nodename: cString(b, 65, 65), release: cString(b, 130, 65), fiveLevel: as.config.fiveLevel };
  } finally {
    dump.close();
  }
}

for (const s of sharedDumps()) {
  test(`init_uts_ns through page tables matches drgn on ${s.name}`, async (t) => {
    const drgn = JSON.parse(readFileSync(join(s.dir, 'reference', 'drgn.json'), 'utf8')) as { uts: { nodename: string; release: string } };
    for (const file of [join(s.cacheDir, 'vmcore.elf'), join(s.dir, 'vmcore.d31.zstd')]) {
      if (!need(t, file)) continue;
      const uts = await readUts(file);
      assert.equal(uts.nodename, drgn.uts.nodename);
      assert.equal(uts.release, drgn.uts.release);
      assert.equal(uts.release, s.release);
    }
  });
}

test('init_uts_ns on a 4-level paging dump (no5lvl) matches the lab guest', async (t) => {
  const dir = labDir('4level-sysrq');
  const elf = join(dir, 'vmcore.elf');
  if (!need(t, elf)) return;
  const uts = await readUts(elf);
  assert.equal(uts.fiveLevel, false, 'the no5lvl dump must use 4-level paging');
  // make-vmcore.sh names the guest lab-MODE and records the kernel it booted.
  assert.equal(uts.nodename, `lab-${readFileSync(join(dir, 'crash-mode'), 'utf8').trim()}`);
  assert.equal(uts.release, readFileSync(join(dir, 'kernel-release'), 'utf8').trim());
});
