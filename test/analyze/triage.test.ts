import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AnalysisContext, analyzeReport } from '../../src/analyze/analyze.js';
import { triage } from '../../src/analyze/triage.js';
import { readPanicFacts, type LogLine } from '../../src/kernel/panic.js';
import { labDir, need, sharedDumps } from '../helpers/dumps.js';

function L(caller: string, ...texts: string[]): LogLine[] {
  return texts.map((text, i) => ({ seq: i, time: 50 + i / 1000, level: 0, caller, text }));
}

test('triage from the log alone: each kind gets its sentence and a stable signature', () => {
  const gpf = readPanicFacts(
    L(
      'T77',
      'general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] PREEMPT SMP NOPTI',
      'CPU: 1 PID: 77 Comm: kworker/1:2 Not tainted 6.1.0 #1',
      'Workqueue: events_unbound flush_thing',
      'RIP: 0010:list_del_entry+0x12/0x30',
      'Call Trace:',
      ' <TASK>',
      ' flush_thing+0x44/0x90',
      ' process_one_work+0x1c4/0x380',
      ' worker_thread+0x4d/0x380',
      ' kthread+0xe6/0x110',
      ' ret_from_fork+0x1f/0x30',
      ' </TASK>',
      'Kernel panic - not syncing: Fatal exception',
    ),
  );
  const t = triage({ panic: gpf });
  assert.equal(t.kind, 'general-protection');
  assert.match(t.sentence, /^General protection fault \(non-canonical address 0xdead000000000122\) in list_del_entry\+0x12\/0x30, in workqueue worker kworker\/1:2 \(pid 77\) running work flush_thing\.$/);
  assert.equal(t.signature, 'general-protection: list_del_entry < flush_thing');

  const oom = readPanicFacts(
    L('T1', 'stress invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0', 'Out of memory and no killable processes...', 'Kernel panic - not syncing: System is deadlocked on memory', 'Call Trace:', ' <TASK>', ' panic+0x118/0x2f4', ' out_of_memory.cold+0x1a/0x8e', ' </TASK>'),
  );
  const o = triage({ panic: oom });
  assert.equal(o.kind, 'oom');
  assert.equal(o.sentence, 'Out of memory: System is deadlocked on memory.');

  const none = triage({ panic: readPanicFacts(L('T1', 'Linux version 6.1.0', 'Run /init as init process')) });
  assert.equal(none.kind, 'unknown');
  assert.match(none.sentence, /^No crash report in the log/);
});

/** What each crash mode of ../shared/lab/crashme must be called: the cause, where, and in what context. */
const EXPECT: Record<string, { kind: string; sentence: RegExp[]; signature: RegExp }> = {
  sysrq: { kind: 'sysrq', sentence: [/^Deliberate crash: SysRq 'c' \(a write to \/proc\/sysrq-trigger\)/, /"sysrq triggered crash"/], signature: /^sysrq: sysrq_handle_crash < __handle_sysrq < write_sysrq_trigger$/ },
  nullderef: { kind: 'null-deref', sentence: [/^NULL pointer dereference at address 0x8 in crashme_recurse\+0x47\/0x80 \[crashme\]/, /insmod \(pid \d+\) while loading module crashme/], signature: /^null-deref: crashme_recurse < do_one_initcall < do_init_module \[crashme\]$/ },
  bug: { kind: 'bug', sentence: [/^BUG\(\) at crashme_init \[crashme\] \(.*crashme\.c:\d+\)/, /while loading module crashme/], signature: /^bug: crashme_init < do_one_initcall < do_init_module \[crashme\]$/ },
  kthread: { kind: 'bug', sentence: [/^BUG\(\) at crashme_thread \[crashme\]/, /in kernel thread crashme_kthread \(pid \d+\)/], signature: /^bug: crashme_thread \[crashme\]$/ },
  workqueue: { kind: 'panic', sentence: [/^panic\("crashme: panic from workqueue"\) called from crashme_work_fn \[crashme\]/, /in workqueue worker kworker\/\S+ \(pid \d+\) running work crashme_work_fn \[crashme\]/], signature: /^panic: crashme_work_fn \[crashme\]$/ },
  softlockup: { kind: 'soft-lockup', sentence: [/^Soft lockup: CPU \d stuck for \d+s in crashme_init \[crashme\]/, /insmod \(pid \d+\)/, /softlockup_panic/], signature: /^soft-lockup: crashme_init < do_one_initcall < do_init_module \[crashme\]$/ },
  panic: { kind: 'panic', sentence: [/^panic\("crashme: deliberate panic"\) called from crashme_init \[crashme\]/, /insmod \(pid \d+\) while loading module crashme/], signature: /^panic: crashme_init < do_one_initcall < do_init_module \[crashme\]$/ },
};

async function check(t: import('node:test').TestContext, path: string, mode: string, withBacktraces: boolean): Promise<void> {
  const want = EXPECT[mode];
  if (!want) return assert.fail(`no expectation for crash mode ${mode}`);
  const ctx = await AnalysisContext.open(path);
  try {
    if (!withBacktraces) ctx.backtraceProvider = undefined;
    const r = analyzeReport(ctx);
    t.diagnostic(r.triage.sentence);
    t.diagnostic(r.triage.signature);
    assert.equal(r.triage.kind, want.kind);
    for (const re of want.sentence) assert.match(r.triage.sentence, re);
    assert.match(r.triage.signature, want.signature);
    // The crashed task of the report is the task of the verdict.
    if (r.crashed.pid !== undefined && r.triage.context?.includes('pid')) assert.ok(r.triage.context.includes(`pid ${r.crashed.pid}`), `${r.triage.context} names pid ${r.crashed.pid}`);
  } finally {
    ctx.close();
  }
}

for (const s of sharedDumps()) {
  const mode = s.name.replace(/^[\d.]+-/, '');
  for (const file of [join(s.cacheDir, 'vmcore.elf'), join(s.dir, 'vmcore.d31.zstd')]) {
    for (const bt of [true, false]) {
      test(`${s.name} ${file.split('/').pop()}: triage names the cause (${bt ? 'with backtraces' : 'log and registers only'})`, async (t) => {
        if (!need(t, file)) return;
        await check(t, file, mode, bt);
      });
    }
  }
}

const LAB_RELEASES = ['6.12.117+deb12-amd64', '6.1.0-56-amd64'];
for (const release of LAB_RELEASES) {
  for (const mode of ['bug', 'workqueue', 'kthread', 'softlockup', 'panic']) {
    test(`lab ${mode}-${release}: triage names the cause`, async (t) => {
      const path = join(labDir(`${mode}-${release}`), 'vmcore.elf');
      if (!need(t, path, `../shared/lab/crashme/build.sh ${release} && LAB_CRASHKERNEL=${release.startsWith('6.1.') ? '160M' : '192M'} ../shared/lab/make-vmcore.sh ${labDir(`${mode}-${release}`)} 448 ${mode} ${release}`)) return;
      await check(t, path, mode, true);
    });
  }
}
