import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { btfFromElf, btfFromFile, findBtfCandidates } from '../../../src/formats/btf/sources.js';
import { parseBtf, type Btf, type BtfKindName } from '../../../src/formats/btf/btf.js';
import { BtfTypeInfo } from '../../../src/kernel/types/type-info.js';
import { need, sharedDumps } from '../../helpers/dumps.js';
import { debugVmlinux, loadRealKernel } from '../../kernel/types/real-kernel.js';

/**
 * Decodes and names every type, and checks what a reader relies on: every member of a struct or
 * union lies inside it (bitfields by their bit width, in either kind_flag encoding), except
 * flexible array members. Returns the number of types of each kind.
 */
function checkEveryType(btf: Btf): Record<string, number> {
  const ti = new BtfTypeInfo(btf);
  const counts: Record<string, number> = {};
  for (const id of btf.ids()) {
    const t = btf.type(id);
    counts[t.kind] = (counts[t.kind] ?? 0) + 1;
    assert.equal(typeof ti.typeName(id), 'string');
    if (t.kind !== 'struct' && t.kind !== 'union') continue;
    for (const [i, m] of t.members.entries()) {
      const r = ti.resolve(m.type);
      if (r.kind === 'function' || r.kind === 'incomplete' || r.kind === 'void') assert.fail(`${ti.typeName(id)} [${id}] member #${i} ${m.name} has type ${ti.typeName(m.type)}`);
      let start = m.bitOffset;
      let width: number;
      if (t.kindFlag && m.bitfieldSize > 0) width = m.bitfieldSize;
      else if (!t.kindFlag && r.kind === 'int') {
        const it = btf.type(r.id);
        assert.ok(it.kind === 'int');
        start += it.bitOffset;
        width = it.bits;
      } else width = ti.sizeOfId(m.type) * 8;
      if (r.kind === 'array' && r.length === 0) continue;
      assert.ok(start + width <= t.size * 8, `${ti.typeName(id)} [${id}] member #${i} ${m.name}: bits ${start}+${width} exceed its size ${t.size}`);
    }
  }
  return counts;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

for (const s of sharedDumps()) {
  test(`BTF in the memory of ${s.name}: located, parsed completely, identical in every format`, async (t) => {
    const hashes = new Map<string, string>();
    const inputs: Array<[string, string]> = [
      ['vmcore.elf', join(s.cacheDir, 'vmcore.elf')],
      ['vmcore.d31.zstd', join(s.dir, 'vmcore.d31.zstd')],
    ];
    for (const [label, path] of inputs) {
      await t.test(label, async (t2) => {
        if (!need(t2, path)) return;
        const k = await loadRealKernel(path);
        try {
          const { btf, btfStart, btfStop } = k;
          t2.diagnostic(`__start_BTF 0x${btfStart.toString(16)} .. __stop_BTF 0x${btfStop.toString(16)}: ${btfStop - btfStart} bytes, ${btf.typeCount - 1} types, read+parsed+validated in ${k.btfMs.toFixed(1)} ms`);
          assert.equal(btf.header.totalLen, Number(btfStop - btfStart), 'the header accounts for every byte between the symbols');
          assert.equal(btf.header.littleEndian, true);
          assert.ok(btf.typeCount > 50_000, `${btf.typeCount} types`);
          const counts = checkEveryType(btf);
          t2.diagnostic(`kinds: ${JSON.stringify(counts)}`);
          const want: BtfKindName[] = ['int', 'ptr', 'array', 'struct', 'union', 'enum', 'fwd', 'typedef', 'volatile', 'const', 'restrict', 'func', 'func_proto', 'var', 'datasec', 'float', 'enum64'];
          for (const kind of want) assert.ok((counts[kind] ?? 0) > 0, `no ${kind} types`);
          hashes.set(label, sha256(btf.bytes));

          // Without symbols: scanning the kernel image from _stext finds the same range.
          const stext = k.dump.vmcoreinfo!.requireSymbol('_stext');
          const t0 = performance.now();
          const found = findBtfCandidates(k.mem, stext, stext + (64n << 20n));
          t2.diagnostic(`scan of 64 MiB from _stext: ${(performance.now() - t0).toFixed(0)} ms, ${found.length} candidate(s)`);
          assert.ok(found.length >= 1);
          assert.equal(found[0]!.start, btfStart);
          assert.equal(found[0]!.stop, btfStop);
        } finally {
          k.dump.close();
        }
      });
    }
    const [a, b] = [hashes.get('vmcore.elf'), hashes.get('vmcore.d31.zstd')];
    if (a !== undefined && b !== undefined) assert.equal(a, b, 'BTF bytes differ between the ELF and the kdump-compressed dump');
  });

  test(`BTF of ${s.name} from memory equals the debug vmlinux .BTF section, byte for byte and type for type`, async (t) => {
    const { path: vmlinux, how } = debugVmlinux(s.release);
    const dumpPath = join(s.cacheDir, 'vmcore.elf');
    if (!need(t, vmlinux, how) || !need(t, dumpPath)) return;
    const k = await loadRealKernel(dumpPath);
    try {
      const t0 = performance.now();
      const file = btfFromElf(vmlinux);
      t.diagnostic(`${vmlinux} .BTF: ${file.bytes.length} bytes parsed in ${(performance.now() - t0).toFixed(1)} ms`);
      assert.equal(file.typeCount, k.btf.typeCount);
      for (const id of file.ids()) {
        const { offset: _a, ...x } = file.type(id);
        const { offset: _b, ...y } = k.btf.type(id);
        assert.deepEqual(y, x, `type [${id}] differs`);
      }
      assert.equal(Buffer.compare(Buffer.from(k.btf.bytes), Buffer.from(file.bytes)), 0, 'BTF bytes differ');
    } finally {
      k.dump.close();
    }
  });
}

test('raw BTF of the running kernel (/sys/kernel/btf/vmlinux): parsed completely and fast', (t) => {
  const path = '/sys/kernel/btf/vmlinux';
  // The host's own BTF is not a project fixture: absent (container, old kernel) means skip.
  if (!existsSync(path)) {
    t.skip(`${path} is absent on this machine`);
    return;
  }
  const bytes = readFileSync(path);
  const t0 = performance.now();
  const btf = parseBtf(bytes, { source: path });
  const parseMs = performance.now() - t0;
  const t1 = performance.now();
  const ids = btf.findByName('task_struct', 'struct');
  const lookupMs = performance.now() - t1;
  t.diagnostic(`${bytes.length} bytes, ${btf.typeCount - 1} types: parse+validate ${parseMs.toFixed(1)} ms, first name lookup ${lookupMs.toFixed(1)} ms, rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`);
  assert.equal(ids.length, 1);
  assert.ok(parseMs < 1000, `parse took ${parseMs} ms`);
  const fromFile = btfFromFile(path);
  assert.equal(fromFile.typeCount, btf.typeCount);
  const counts = checkEveryType(btf);
  t.diagnostic(`kinds: ${JSON.stringify(counts)}`);
});
