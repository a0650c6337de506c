import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnalysisContext, analyzeReport, isUnavailable, logReport, type AnalysisOptions } from '../../src/analyze/analyze.js';
import { psReport } from '../../src/analyze/ps.js';
import { modReport } from '../../src/analyze/mod.js';
import { renderAnalyzeText, renderLogText } from '../../src/report/analyze-text.js';
import { renderPsText } from '../../src/report/ps-text.js';
import { renderModText } from '../../src/report/mod-text.js';
import { renderJson } from '../../src/report/json.js';
import { need, sharedDumps } from '../helpers/dumps.js';

interface Drgn {
  tasks: { pid: number; comm: string }[];
  crashed: { tid: number };
  modules: { name: string }[];
  uts: Record<string, string>;
}

for (const s of sharedDumps()) {
  const map = `/usr/lib/debug/boot/System.map-${s.release}`;
  const variants: [string, string, AnalysisOptions, string[]][] = [
    ['vmcore.elf', join(s.cacheDir, 'vmcore.elf'), {}, []],
    ['vmcore.d31.zstd', join(s.dir, 'vmcore.d31.zstd'), {}, []],
    ['vmcore.d31.snappy', join(s.dir, 'vmcore.d31.snappy'), {}, []],
    ['vmcore.d31.zlib (makedumpfile 1.7.2)', join(s.cacheDir, 'vmcore.d31.zlib'), {}, []],
    ['vmcore.d31.lzo (makedumpfile 1.7.2)', join(s.cacheDir, 'vmcore.d31.lzo'), {}, []],
    ['vmcore.d31.flat (flattened)', join(s.cacheDir, 'vmcore.d31.flat'), {}, []],
    ['vmcore.d31.elf (makedumpfile -E)', join(s.cacheDir, 'vmcore.d31.elf'), {}, []],
    ['vmcore.d1.raw', join(s.cacheDir, 'vmcore.d1.raw'), {}, []],
    ['vmcore.elf, kallsyms ignored, System.map', join(s.cacheDir, 'vmcore.elf'), { noKallsyms: true, systemMap: map }, [map]],
    ['vmcore.d31.zstd, kallsyms ignored, System.map', join(s.dir, 'vmcore.d31.zstd'), { noKallsyms: true, systemMap: map }, [map]],
  ];
  test(`${s.name}: the full report on every dump format: crashed task, tasks, modules, identity as drgn; nothing throws`, async (t) => {
    const refPath = join(s.dir, 'reference', 'drgn.json');
    if (!need(t, refPath)) return;
    const drgn = JSON.parse(readFileSync(refPath, 'utf8')) as Drgn;
    for (const [label, path, opts, needs] of variants) {
      if (label.includes('snappy') && !existsSync(path)) continue; // only 6.1-sysrq has one
      await t.test(label, async (t2) => {
        if (!need(t2, path)) return;
        for (const n of needs) if (!need(t2, n, `install linux-image-${s.release}-dbg`)) return;
        const t0 = performance.now();
        const ctx = await AnalysisContext.open(path, opts);
        try {
          const r = analyzeReport(ctx);
          const text = renderAnalyzeText(r);
          const json = JSON.parse(renderJson(r)) as { crashed: { pid: number }; triage: { sentence: string } };
          t2.diagnostic(`${(performance.now() - t0).toFixed(0)} ms; ${r.triage.sentence}`);
          assert.equal(r.crashed.pid, drgn.crashed.tid);
          assert.equal(json.crashed.pid, drgn.crashed.tid);
          assert.equal(r.sys.nodename, drgn.uts.nodename);
          assert.equal(r.sys.release, drgn.uts.release);
          assert.equal(r.sys.version, drgn.uts.version);
          assert.ok(!isUnavailable(r.tasks) && !isUnavailable(r.modules) && !isUnavailable(r.log));
          const found = new Set(r.tasks.rows.map((x) => `${x.pid} ${x.comm}`));
          const lost = drgn.tasks.filter((d) => !found.has(`${d.pid} ${d.comm}`));
          // A partial dump may lose a task_struct page (makedumpfile 1.7.2 on 6.12): named, never silent.
          if (lost.length > 0) assert.ok(r.tasks.warnings.length > 0, `lost ${lost.map((x) => x.pid).join(',')} without a warning`);
          assert.ok(lost.length <= 1, `lost ${lost.map((x) => x.pid).join(',')}`);
          assert.deepEqual(
            r.modules.modules.map((m) => m.name),
            drgn.modules.map((m) => m.name),
          );
          const crashedRow = r.tasks.rows.find((x) => x.crashed);
          assert.equal(crashedRow?.pid, drgn.crashed.tid);
          assert.equal(r.cpus.filter((c) => c.crashed).length, 1);
          assert.equal(r.cpus.length, 2);
          assert.ok(r.log.lines.length === 40 && r.log.total > 300);
          assert.match(text, /^VERDICT: /);
          for (const section of ['SYSTEM', 'PANIC', 'CRASHED TASK', 'CPUS', 'TASKS', 'MODULES']) assert.match(text, new RegExp(`^== ${section} ==$`, 'm'));
          assert.ok(json.triage.sentence.length > 20);
          // The crashed task's backtrace, when the unwinder is present, ends in user mode or at the stack's end.
          const bt = r.crashed.backtrace;
          if (bt && !isUnavailable(bt)) assert.ok(bt.frames.length >= 5, `backtrace of ${bt.frames.length} frames`);
        } finally {
          ctx.close();
        }
      });
    }
  });

  test(`${s.name}: ps and mod reports and their text`, async (t) => {
    const path = join(s.cacheDir, 'vmcore.elf');
    if (!need(t, path)) return;
    const ctx = await AnalysisContext.open(path);
    try {
      const ps = psReport(ctx);
      const text = renderPsText(ps);
      assert.match(text, /^\s+PID\s+PPID\s+CPU\s+TASK\s+ST\s+%MEM\s+VSZ\s+RSS\s+COMM$/m);
      assert.match(text, /\[swapper\/0\]/);
      assert.equal(ps.rows.filter((r) => r.activeOn !== undefined).length, 2);
      assert.equal(ps.rows.filter((r) => r.crashed).length, 1);
      assert.match(text, /^\*\s+\d+ /m);
      const one = psReport(ctx, { filters: ['1', 'kthreadd'] });
      assert.deepEqual(
        one.rows.map((r) => r.pid),
        [1, 2],
      );
      const mod = modReport(ctx);
      const mt = renderModText(mod);
      assert.match(mt, /^kernel taint: (Not tainted|Tainted: )/m);
      if (mod.modules.length > 0) assert.match(mt, /crashme\s+[0-9a-f]{16}\s+\d+\s+coming\s+OE/);
      const log = logReport(ctx, { wallClock: true });
      const lt = renderLogText(log);
      const crashTime = Number(ctx.kernel.info.crashTime);
      // -T: the last line's date is the crash time (to the second, CRASHTIME being whole seconds).
      const last = log.lines[log.lines.length - 1]!;
      assert.ok(Math.abs(log.bootTime! + last.time - crashTime) < 2, `${log.bootTime} + ${last.time} vs ${crashTime}`);
      assert.match(lt.split('\n')[0]!, /^\[(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d UTC \d{4}\] /);
    } finally {
      ctx.close();
    }
  });
}

test('without BTF (VMCOREINFO types only): tasks and modules are unavailable with the reason; the verdict still comes from the log', async (t) => {
  const s = sharedDumps().find((d) => d.name === '6.12-nullderef');
  if (!s) return t.skip('no 6.12-nullderef dump');
  const path = join(s.dir, 'vmcore.d31.zstd');
  if (!need(t, path)) return;
  const { openDump } = await import('../../src/formats/open.js');
  const { Kernel } = await import('../../src/kernel/kernel.js');
  const { VmcoreinfoTypeInfo } = await import('../../src/kernel/types/type-info.js');
  const dump = await openDump(path);
  try {
    const k = Kernel.open(dump);
    // As a kernel built without CONFIG_DEBUG_INFO_BTF would be read.
    Object.assign(k, { btf: undefined, types: new VmcoreinfoTypeInfo(k.info) });
    const ctx = new AnalysisContext(dump, k);
    const r = analyzeReport(ctx);
    assert.ok(isUnavailable(r.tasks) && /OFFSET\(task_struct/.test(r.tasks.unavailable));
    assert.ok(isUnavailable(r.modules));
    assert.equal(r.triage.kind, 'null-deref');
    assert.equal(r.crashed.pid, 155);
    assert.equal(r.sys.release, s.release);
    assert.match(renderAnalyzeText(r), /^== TASKS ==\nunavailable: /m);
  } finally {
    dump.close();
  }
});
