import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDump } from '../../src/formats/open.js';
import { Kernel } from '../../src/kernel/kernel.js';
import { symReport } from '../../src/analyze/sym.js';
import { structReport } from '../../src/analyze/struct.js';
import { renderStructText } from '../../src/report/struct-text.js';
import { need, sharedDumps } from '../helpers/dumps.js';

for (const d of sharedDumps()) {
  test(`sym and struct on ${d.name}`, async (t) => {
    const file = join(d.dir, 'vmcore.d31.zstd');
    if (!need(t, file)) return;
    const dump = await openDump(file);
    try {
      const k = Kernel.open(dump);
      const info = dump.vmcoreinfo!;
      // Names resolve to the addresses the kernel itself wrote into VMCOREINFO.
      const r = symReport(k, ['init_uts_ns', 'prb', '_stext', 'no_such_symbol_xyz']);
      for (const n of ['init_uts_ns', 'prb', '_stext']) assert.equal(r.answers.find((a) => a.name === n)?.address, info.symbol(n), n);
      assert.deepEqual(r.unresolved.map((u) => u.query), ['no_such_symbol_xyz']);
      // The crashed thread's frames symbolize to the names drgn (DWARF) gave them.
      const drgn = JSON.parse(readFileSync(join(d.dir, 'reference', 'drgn.json'), 'utf8')) as { uts: { nodename: string; release: string }; crashed: { frames: { pc: string; name: string | null; inline: boolean }[] } };
      const frames = drgn.crashed.frames.filter((f) => f.name && !f.inline);
      // DWARF names a compiler-split part (foo.cold, foo.isra.0) by its function; kallsyms keeps the suffix.
      for (const f of frames) assert.equal(symReport(k, [f.pc]).answers[0]?.name.replace(/\..*$/, ''), f.name, f.pc);
      // And the kernel's own oops line, module frames included, where the log has one.
      const log = readFileSync(join(d.dir, 'console.log'), 'latin1');
      const rip = /RIP: 0010:([\w.]+)\+0x([0-9a-f]+)\/0x([0-9a-f]+)(?: \[(\w+)\])?/.exec(log);
      if (rip) {
        const hits = dump.prstatus.map((p) => symReport(k, ['0x' + p.registers.rip.toString(16)]).answers[0]).filter((x) => x?.name === rip[1]);
        assert.equal(hits.length, 1, `one CPU stopped in ${rip[1]}`);
        const x = hits[0]!;
        assert.equal(`${x.name}+0x${x.offset.toString(16)}/0x${x.size!.toString(16)}${x.module ? ` [${x.module}]` : ''}`, `${rip[1]}+0x${rip[2]}/0x${rip[3]}${rip[4] ? ` [${rip[4]}]` : ''}`);
      }
      assert.ok(frames.length > 0 || rip, 'something to compare');

      // Layouts agree with the OFFSET()/SIZE() entries the kernel exported.
      const prb = structReport(k, 'printk_ringbuffer');
      assert.equal(prb.size, info.size('printk_ringbuffer'));
      for (const m of ['desc_ring', 'text_data_ring', 'fail']) assert.equal(prb.rows.find((x) => x.path === m)?.offset, info.offset('printk_ringbuffer', m), m);
      // Values at an address: init_uts_ns's strings as drgn read them.
      const uts = structReport(k, 'new_utsname', info.symbol('init_uts_ns')! + BigInt(info.offset('uts_namespace', 'name')!));
      assert.equal(uts.rows.find((x) => x.path === 'nodename')?.value, JSON.stringify(drgn.uts.nodename));
      assert.equal(uts.rows.find((x) => x.path === 'release')?.value, JSON.stringify(drgn.uts.release));
      const text = renderStructText(structReport(k, 'task_struct'));
      assert.match(text, /^struct task_struct \{$/m);
      assert.match(text, /\] char comm\[16\];$/m);
      assert.match(text, /^SIZE: \d+$/m);
    } finally {
      dump.close();
    }
  });
}
