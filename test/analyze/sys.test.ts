import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnalysisContext } from '../../src/analyze/analyze.js';
import { formatUptime, sysReport } from '../../src/analyze/sys.js';
import { renderSysText } from '../../src/report/sys-text.js';
import { need, sharedDumps } from '../helpers/dumps.js';

test('formatUptime: crash style', () => {
  assert.equal(formatUptime(7.4), '00:00:07');
  assert.equal(formatUptime(3 * 86400 + 4 * 3600 + 5 * 60 + 6), '3 days, 04:05:06');
  assert.equal(formatUptime(86400), '1 day, 00:00:00');
});

/** crash's `sys` block as KEY: VALUE. */
function crashSys(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const r = /^\s*([A-Z][A-Z ]+): (.*)$/.exec(line);
    if (r && !m.has(r[1]!)) m.set(r[1]!, r[2]!.trim());
    if (line.startsWith('PID:')) break;
  }
  return m;
}

for (const s of sharedDumps()) {
  test(`${s.name}: sys fields agree with crash where crash 8.0.2 is right, and with drgn`, async (t) => {
    const crashPath = join(s.dir, 'reference', 'crash.txt');
    const drgnPath = join(s.dir, 'reference', 'drgn.json');
    if (!need(t, crashPath) || !need(t, drgnPath)) return;
    const crash = crashSys(readFileSync(crashPath, 'utf8'));
    const drgn = JSON.parse(readFileSync(drgnPath, 'utf8')) as { uts: Record<string, string>; tasks: unknown[] };
    for (const file of [join(s.cacheDir, 'vmcore.elf'), join(s.dir, 'vmcore.d31.zstd'), join(s.cacheDir, 'vmcore.d31.lzo')]) {
      await t.test(file.split('/').pop()!, async (t2) => {
        if (!need(t2, file)) return;
        const ctx = await AnalysisContext.open(file);
        try {
          const r = sysReport(ctx);
          assert.equal(r.nodename, drgn.uts.nodename);
          assert.equal(r.release, drgn.uts.release);
          assert.equal(r.version, drgn.uts.version);
          assert.equal(r.machine, drgn.uts.machine);
          assert.equal(r.cpus, 2);
          assert.equal(r.dumpKind.partial, !file.endsWith('vmcore.elf'));
          if (file.endsWith('.zstd') || file.endsWith('.lzo')) assert.equal(r.dumpKind.dumpLevel, 31);
          // Tasks: drgn's plus one idle task per CPU (minus what a partial dump lost, which is a warning).
          if (r.warnings.length === 0) assert.equal(r.tasks, drgn.tasks.length + 2);
          assert.ok(r.crashTime && r.crashTime.getUTCFullYear() >= 2024);
          const text = renderSysText(r);
          if (crash.size === 0) return; // crash 8.0.2 cannot read 6.12
          // crash's own text, field by field (TASKS differs: crash 8.0.2 finds 4 of 56).
          for (const key of ['CPUS', 'DATE', 'UPTIME', 'LOAD AVERAGE', 'NODENAME', 'RELEASE', 'VERSION', 'MACHINE', 'MEMORY', 'PANIC']) {
            const want = crash.get(key);
            assert.ok(want !== undefined, `crash printed ${key}`);
            assert.ok(text.includes(`${key.padStart(12)}: ${want}`), `${key}: ${want}\n${text}`);
          }
          assert.equal(crash.get('TASKS'), '4');
        } finally {
          ctx.close();
        }
      });
    }
  });
}
