import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDump } from '../../src/formats/open.js';
import { Kernel, type KernelOptions } from '../../src/kernel/kernel.js';
import { ModuleSymbols, readKernelTaint, readModules, taintText, type TaintFlag } from '../../src/kernel/modules.js';
import { readPrintkLog } from '../../src/kernel/printk.js';
import { logLines } from '../../src/kernel/panic.js';
import { need, sharedDumps } from '../helpers/dumps.js';

test('taintText: print_tainted() layout', () => {
  const flags: TaintFlag[] = [...'PFSRMBUDAWCIOELKXTN'].map((letter, bit) => ({ bit, letter, clear: bit === 0 ? 'G' : ' ', module: false, name: '' }));
  assert.equal(taintText(0n, flags), 'Not tainted');
  assert.equal(taintText((1n << 12n) | (1n << 13n), flags), 'Tainted: G           OE     ');
  assert.equal(taintText(1n, flags), 'Tainted: P                  ');
});

for (const s of sharedDumps()) {
  const map = `/usr/lib/debug/boot/System.map-${s.release}`;
  const variants: [string, string, KernelOptions, string[]][] = [
    ['vmcore.elf', join(s.cacheDir, 'vmcore.elf'), {}, []],
    ['vmcore.d31.zstd', join(s.dir, 'vmcore.d31.zstd'), {}, []],
    ['vmcore.d31.zstd, kallsyms ignored, System.map', join(s.dir, 'vmcore.d31.zstd'), { noKallsyms: true, systemMap: map }, [map]],
  ];
  test(`${s.name}: modules equal drgn's; taint and module symbols as the kernel printed them`, async (t) => {
    const refPath = join(s.dir, 'reference', 'drgn.json');
    if (!need(t, refPath)) return;
    const drgn = JSON.parse(readFileSync(refPath, 'utf8')) as { modules: { name: string }[] };
    for (const [label, path, opts, needs] of variants) {
      await t.test(label, async (t2) => {
        if (!need(t2, path)) return;
        for (const n of needs) if (!need(t2, n, `install linux-image-${s.release}-dbg`)) return;
        const dump = await openDump(path);
        try {
          const k = Kernel.open(dump, opts);
          const ml = readModules(k);
          assert.deepEqual(ml.warnings, []);
          assert.deepEqual(
            ml.modules.map((m) => m.name),
            drgn.modules.map((m) => m.name),
          );
          const lines = logLines(readPrintkLog(k.mem, k.info)).map((l) => l.text);
          // "Modules linked in: crashme(OE+)" is /proc/modules' name(flags) of every module.
          const linked = lines.filter((l) => l.startsWith('Modules linked in:')).pop();
          if (linked !== undefined) assert.equal(ml.modules.map((m) => m.name + m.flags).join(' '), linked.slice('Modules linked in:'.length).trim());
          // The kernel's taint: as the "CPU: … Tainted: …" header line shows it.
          const taint = readKernelTaint(k, ml.taintFlags);
          const cpuLine = lines.filter((l) => /^CPU: \d+ /.test(l)).pop()!;
          assert.ok(cpuLine.includes(taint.text.trimEnd()), `${JSON.stringify(taint.text)} in ${JSON.stringify(cpuLine)}`);
          for (const m of ml.modules) {
            assert.ok(m.base !== 0n && m.size > 0, `${m.name} has a base and a size`);
            assert.ok(m.regions.some((r) => r.base === m.base));
          }
          // The oops RIP of a module crash, symbolized from the saved registers, is the kernel's "RIP: 0010:" text.
          const rip = lines.find((l) => l.startsWith('RIP: 0010:'));
          if (ml.modules.length > 0 && rip) {
            const ms = new ModuleSymbols(k, ml.modules);
            const hits = dump.prstatus.map((p) => ms.symbolize(p.registers.rip)).filter((x) => x !== undefined);
            assert.equal(hits.length, 1);
            const h = hits[0]!;
            assert.equal(`${h.name}+0x${h.offset.toString(16)}/0x${h.size.toString(16)} [${h.module}]`, rip.slice('RIP: 0010:'.length));
            // Every frame of the printed call trace inside a module resolves to the same text.
            const frames = lines.filter((l) => /^\s+\S+\+0x[0-9a-f]+\/0x[0-9a-f]+ \[\w+\]$/.test(l)).map((l) => l.trim());
            assert.ok(frames.length > 0);
            const sym = ms.symbolsOf(ml.modules[0]!)!.syms;
            for (const f of frames) {
              const m = /^(\S+)\+0x([0-9a-f]+)\/0x([0-9a-f]+) \[(\w+)\]$/.exec(f)!;
              const s0 = sym.find((x) => x.name === m[1] && x.type.toLowerCase() === 't')!;
              const r = ms.symbolize(s0.address + BigInt('0x' + m[2]!))!;
              assert.equal(`${r.name}+0x${r.offset.toString(16)}/0x${r.size.toString(16)} [${r.module}]`, f);
            }
          }
        } finally {
          dump.close();
        }
      });
    }
  });
}
