/**
 * Lab dumps of every crashme mode (and 4-level paging), checked against drgn run on the spot
 * with the debug vmlinux: task set, crashed thread, modules, identity. drgn runs only where it
 * and the debug kernel are installed (CI installs them: there a missing one is a failure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnalysisContext, analyzeReport, isUnavailable } from '../../src/analyze/analyze.js';
import { CACHE, SHARED, need } from '../helpers/dumps.js';

/**
 * ../shared/lab/reference.py without the crashed thread's stack trace (drgn 0.0.22 cannot unwind
 * some 6.12 ORC entries: "unknown ORC entry type 3"), which these tests do not compare.
 */
let script: string | undefined;
function drgnScript(): string {
  if (script) return script;
  const ref = readFileSync(join(SHARED, 'lab', 'reference.py'), 'utf8');
  const patched = ref.replace(/frames = \[\]\nfor f in ct\.stack_trace\(\):\n( {4}.*\n)+/, 'frames = []\n');
  assert.notEqual(patched, ref, 'reference.py has the stack-trace loop this test removes');
  const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-drgn-'));
  writeFileSync(join(dir, 'reference.py'), patched);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  script = join(dir, 'reference.py');
  return script;
}

interface DrgnRef {
  uts: Record<string, string>;
  tasks: { pid: number; ppid: number; comm: string; state: string; cpu: number; task: string }[];
  crashed: { tid: number };
  modules: { name: string }[];
  totalram_pages: number;
  avenrun: number[];
}

const DRGN = '/usr/bin/drgn';
const labRoot = join(CACHE, 'lab');
const labs = existsSync(labRoot)
  ? readdirSync(labRoot, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.endsWith('.tmp') && existsSync(join(labRoot, d.name, 'vmcore.elf')) && existsSync(join(labRoot, d.name, 'kernel-release')))
      .map((d) => d.name)
  : [];

for (const name of labs) {
  test(`lab ${name}: tasks, crashed thread, modules and identity equal drgn's`, async (t) => {
    const dir = join(labRoot, name);
    const release = readFileSync(join(dir, 'kernel-release'), 'utf8').trim();
    const vmlinux = `/usr/lib/debug/boot/vmlinux-${release}`;
    if (!need(t, DRGN, 'apt-get install python3-drgn') || !need(t, vmlinux, `apt-get install linux-image-${release}-dbg`)) return;
    const r = spawnSync(DRGN, ['-q', '-c', join(dir, 'vmcore.elf'), '-s', vmlinux, drgnScript()], { encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr);
    const drgn = JSON.parse(r.stdout) as DrgnRef;
    const ctx = await AnalysisContext.open(join(dir, 'vmcore.elf'));
    try {
      const rep = analyzeReport(ctx);
      assert.ok(!isUnavailable(rep.tasks) && !isUnavailable(rep.modules));
      const key = (x: { pid: number; ppid: number; comm: string; state: string; cpu: number; task: string }): string => `${x.pid}/${x.ppid}/${x.comm}/${x.state}/${x.cpu}/${x.task}`;
      assert.deepEqual(
        rep.tasks.rows.filter((x) => !x.idle).map((x) => key({ ...x, task: '0x' + x.task.toString(16) })).sort(),
        drgn.tasks.map(key).sort(),
      );
      assert.equal(rep.crashed.pid, drgn.crashed.tid);
      assert.deepEqual(
        rep.modules.modules.map((m) => m.name),
        drgn.modules.map((m) => m.name),
      );
      for (const k of ['nodename', 'release', 'version', 'machine'] as const) assert.equal(rep.sys[k], drgn.uts[k]);
      assert.equal(rep.sys.totalRamPages, drgn.totalram_pages);
      assert.deepEqual(rep.sys.avenrun, drgn.avenrun);
      t.diagnostic(rep.triage.sentence);
    } finally {
      ctx.close();
    }
  });
}
