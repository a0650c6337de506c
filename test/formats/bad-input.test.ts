import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDump, openDumpSource } from '../../src/formats/open.js';
import { FileSource, BufferSource } from '../../src/util/file.js';
import { FormatError, MissingInfoError, PageNotPresentError } from '../../src/util/errors.js';
import { X86_64AddressSpace } from '../../src/memory/arch/x86_64.js';
import { PatchedSource, le32, le64 } from '../helpers/patched-source.js';
import { need, sharedDumps } from '../helpers/dumps.js';

const dump = sharedDumps().find((d) => d.name.includes('6.12')) ?? sharedDumps()[0];

/** Asserts a FormatError naming the file and, when given, the exact offset and a message part. */
function rejects(err: unknown, path: string, offset: bigint | undefined, what: RegExp): boolean {
  assert.ok(err instanceof FormatError, `expected FormatError, got ${String(err)}`);
  assert.equal(err.file, path);
  if (offset !== undefined) assert.equal(err.offset, offset, `offset in: ${err.message}`);
  assert.match(err.message, what);
  return true;
}

test('unknown magic, empty and tiny files', async () => {
  await assert.rejects(openDumpSource(new BufferSource('junk', Buffer.alloc(4096, 0x41))), (e) => rejects(e, 'junk', 0n, /unknown dump format/));
  await assert.rejects(openDumpSource(new BufferSource('tiny', Buffer.from('KDUMP'))), (e) => rejects(e, 'tiny', 0n, /too small/));
  await assert.rejects(openDump('/nonexistent/vmcore'), (e) => rejects(e, '/nonexistent/vmcore', undefined, /no such file/));
});

test('kdump-compressed: header fields out of range name their offset', async (t) => {
  if (!dump || !need(t, join(dump.dir, 'vmcore.d31.zstd'))) return;
  const path = join(dump.dir, 'vmcore.d31.zstd');
  const base = new FileSource(path);
  try {
    const cases: [string, (s: PatchedSource) => void, bigint, RegExp][] = [
      ['block_size', (s) => s.set(428n, le32(1000)), 428n, /block_size 1000/],
      ['sub_hdr_size', (s) => s.set(432n, le32(0x7fffffff)), 432n, /sub_hdr_size/],
      ['bitmap_blocks zero', (s) => s.set(436n, le32(0)), 436n, /bitmap_blocks 0 is zero/],
      ['bitmap_blocks huge', (s) => s.set(436n, le32(0xffffff)), 436n, /bitmap_blocks/],
      ['dump_level', (s) => s.set(4096n + 8n, le32(77)), 4104n, /dump_level 77/],
      ['max_mapnr', (s) => s.set(4096n + 96n, le64(1n << 60n)), 4192n, /max_mapnr/],
      ['note offset', (s) => s.set(4096n + 48n, le64(1n << 40n)), 4144n, /note/],
      ['signature', (s) => s.set(0n, Buffer.from('KDUMQ')), 0n, /unknown dump format/],
    ];
    for (const [name, patch, offset, what] of cases) {
      const s = new PatchedSource(base);
      patch(s);
      await assert.rejects(openDumpSource(s), (e) => rejects(e, path, offset, what), name);
    }
    // Truncated in the middle of the bitmaps, and in the middle of the page data.
    await assert.rejects(openDumpSource(new PatchedSource(base, 20000n)), (e) => rejects(e, path, undefined, /truncated|past end/));
    const cut = await openDumpSource(new PatchedSource(base, base.size - 4096n * 64n));
    const kernelPages = cut.memory;
    let sawTruncation = false;
    for (let pfn = kernelPages.maxPfn - 1n; pfn > 0n && !sawTruncation; pfn--) {
      if (kernelPages.pageState(pfn) !== 'present') continue;
      try {
        kernelPages.read(pfn * 4096n, 4096);
      } catch (e) {
        rejects(e, path, undefined, /past the end|outside the data area|truncated/);
        sawTruncation = true;
      }
    }
    assert.ok(sawTruncation, 'reading the cut-off tail must fail with a FormatError');
  } finally {
    base.close();
  }
});

test('kdump-compressed: bad page descriptor and corrupt compressed data', async (t) => {
  if (!dump || !need(t, join(dump.dir, 'vmcore.d31.zstd'))) return;
  const path = join(dump.dir, 'vmcore.d31.zstd');
  const base = new FileSource(path);
  try {
    const clean = await openDumpSource(base);
    assert.equal(clean.format, 'kdump');
    if (clean.format !== 'kdump') return;
    const mem = clean.kdump.memory;
    // Find a zstd-compressed page and its descriptor.
    let pfn = 0n;
    let index = -1;
    for (; pfn < mem.maxPfn; pfn++) {
      if (mem.pageState(pfn) !== 'present') continue;
      index = mem.dumpable.rank(pfn);
      if (mem.descriptor(index).flags !== 0) break;
    }
    assert.ok(index >= 0);
    const descAt = mem.descriptorOffset(index);
    const desc = mem.descriptor(index);

    const pastEnd = await openDumpSource(new PatchedSource(base).set(descAt, le64(base.size + 10n)));
    assert.throws(() => pastEnd.memory.read(pfn * 4096n, 8), (e) => rejects(e, path, descAt, /outside the data area/));

    const bigSize = await openDumpSource(new PatchedSource(base).set(descAt + 8n, le32(70000)));
    assert.throws(() => bigSize.memory.read(pfn * 4096n, 8), (e) => rejects(e, path, descAt, /size 70000/));

    const garbage = await openDumpSource(new PatchedSource(base).set(desc.offset + 4n, Buffer.alloc(Math.min(32, desc.size - 4), 0xa5)));
    assert.throws(() => garbage.memory.read(pfn * 4096n, 8), (e) => rejects(e, path, desc.offset, /corrupt zstd data/));

    const missing = await openDumpSource(new PatchedSource(base).set(descAt, le64(0n)));
    assert.throws(() => missing.memory.read(pfn * 4096n, 8), (e: unknown) => e instanceof PageNotPresentError && e.reason === 'incomplete');
  } finally {
    base.close();
  }
});

test('ELF: truncated segments, bad program headers, missing VMCOREINFO keys', async (t) => {
  if (!dump || !need(t, join(dump.cacheDir, 'vmcore.elf'))) return;
  const path = join(dump.cacheDir, 'vmcore.elf');
  const base = new FileSource(path);
  try {
    await assert.rejects(openDumpSource(new PatchedSource(base, base.size / 2n)), (e) => rejects(e, path, undefined, /PT_LOAD #\d data .* extends past end of file/));
    await assert.rejects(openDumpSource(new PatchedSource(base).set(16n, Uint8Array.of(2, 0))), (e) => rejects(e, path, 16n, /ET_CORE/));
    await assert.rejects(openDumpSource(new PatchedSource(base).set(18n, Uint8Array.of(183, 0))), (e) => rejects(e, path, 18n, /EM_X86_64/));
    await assert.rejects(openDumpSource(new PatchedSource(base).set(32n, le64(base.size))), (e) => rejects(e, path, 32n, /program header table/));
    await assert.rejects(openDumpSource(new PatchedSource(base, 200n)), (e) => rejects(e, path, undefined, /program header table|truncated/));

    // Blank out every key that names the top page table: translation must say what is missing.
    const clean = await openDumpSource(base);
    assert.equal(clean.format, 'elf');
    if (clean.format !== 'elf') return;
    const note = clean.elf.phdrs.find((p) => p.type === 4)!;
    const all = Buffer.from(base.read(note.offset, Number(note.filesz)));
    const patched = new PatchedSource(base);
    let blanked = 0;
    for (const key of ['SYMBOL(init_top_pgt)', 'SYMBOL(init_level4_pgt)', 'SYMBOL(swapper_pg_dir)']) {
      const at = all.indexOf(key);
      if (at < 0) continue;
      patched.set(note.offset + BigInt(at), Buffer.from('XXXXXX'));
      blanked++;
    }
    assert.ok(blanked >= 1);
    const noPgd = await openDumpSource(patched);
    assert.throws(() => X86_64AddressSpace.fromDump(noPgd), (e: unknown) => e instanceof MissingInfoError && /init_top_pgt/.test(e.message));
  } finally {
    base.close();
  }
});
