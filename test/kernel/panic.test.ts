import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDump } from '../../src/formats/open.js';
import { Kernel } from '../../src/kernel/kernel.js';
import { readPrintkLog } from '../../src/kernel/printk.js';
import { findReports, logLines, parseFrame, readPanicFacts, type LogLine } from '../../src/kernel/panic.js';
import { need, sharedDumps } from '../helpers/dumps.js';

/** Log lines as the kernel prints them; caller T<pid>. */
function L(pid: number | string, ...texts: string[]): LogLine[] {
  return texts.map((text, i) => ({ seq: i, time: 100 + i / 1000, level: 4, caller: typeof pid === 'string' ? pid : `T${pid}`, text }));
}

test('parseFrame: kernel %pS/%pB call-trace entries', () => {
  assert.deepEqual(parseFrame(' foo_bar+0x1a/0x80 [mymod]'), { name: 'foo_bar', offset: 0x1an, size: 0x80n, module: 'mymod', unreliable: false, text: 'foo_bar+0x1a/0x80 [mymod]' });
  const q = parseFrame(' ? __handle_sysrq.cold+0x44/0x11c')!;
  assert.equal(q.unreliable, true);
  assert.equal(q.name, '__handle_sysrq.cold');
  assert.equal(parseFrame(' <TASK>'), undefined);
  assert.equal(parseFrame('RIP: 0033:0x47fbe9'), undefined);
});

test('an oops with panic_on_oops: NULL dereference report, die line merged, no panic() line', () => {
  const lines = [
    ...L(200, 'mymod: loading'),
    ...L(
      201,
      'BUG: kernel NULL pointer dereference, address: 0000000000000010',
      '#PF: supervisor read access in kernel mode',
      'Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI',
      'CPU: 3 UID: 0 PID: 201 Comm: modprobe Kdump: loaded Tainted: G           OE      6.12.0 #1',
      'RIP: 0010:bad_fn+0x10/0x40 [mymod]',
      'Call Trace:',
      ' <TASK>',
      ' ? show_regs+0x6c/0x80',
      ' caller_fn+0x20/0x50 [mymod]',
      ' do_one_initcall+0x5b/0x320',
      ' </TASK>',
      'Modules linked in: mymod(OE+)',
    ),
  ];
  const r = findReports(lines);
  assert.equal(r.length, 1);
  const c = r[0]!;
  assert.equal(c.kind, 'null-deref');
  assert.equal(c.address, 0x10n);
  assert.equal(c.oopsLine, 'Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI');
  assert.deepEqual([c.cpu, c.pid, c.comm, c.tainted], [3, 201, 'modprobe', 'Tainted: G           OE']);
  assert.equal(c.rip?.text, 'bad_fn+0x10/0x40 [mymod]');
  assert.deepEqual(
    c.callTrace.map((f) => [f.name, f.unreliable]),
    [
      ['show_regs', true],
      ['caller_fn', false],
      ['do_one_initcall', false],
    ],
  );
  assert.equal(c.modulesLinkedIn, 'mymod(OE+)');
  const p = readPanicFacts(lines);
  assert.equal(p.panic, undefined);
  assert.equal(p.panicString, undefined);
  assert.deepEqual(p.cause, c);
});

test('Fatal exception: the cause is the oops before the panic (6.1 format)', () => {
  const lines = [
    ...L(
      5,
      'kernel BUG at drivers/foo/bar.c:123!',
      'invalid opcode: 0000 [#1] PREEMPT SMP NOPTI',
      'CPU: 0 PID: 5 Comm: kworker/0:0 Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2',
      'Workqueue: events foo_work [foo]',
      'RIP: 0010:foo_work+0x13/0x20 [foo]',
      'Call Trace:',
      ' <TASK>',
      ' process_one_work+0x1c4/0x380',
      ' </TASK>',
      'Kernel panic - not syncing: Fatal exception',
    ),
  ];
  const p = readPanicFacts(lines);
  assert.equal(p.panicString, 'Kernel panic - not syncing: Fatal exception');
  assert.equal(p.cause?.kind, 'bug');
  assert.equal(p.cause?.location, 'drivers/foo/bar.c:123');
  assert.equal(p.cause?.oopsLine, 'invalid opcode: 0000 [#1] PREEMPT SMP NOPTI');
  assert.deepEqual(p.cause?.workqueue, { name: 'events', fn: 'foo_work', module: 'foo' });
  assert.deepEqual([p.cause?.cpu, p.cause?.pid, p.cause?.comm, p.cause?.tainted], [0, 5, 'kworker/0:0', 'Not tainted']);
});

test('soft lockup then panic from the watchdog; hung task; plain panic(); sysrq', () => {
  const soft = [
    ...L('C1', 'watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [insmod:154]', 'Modules linked in: m(OE+)', 'CPU: 1 UID: 0 PID: 154 Comm: insmod Tainted: G           OE      6.12.0 #1', 'RIP: 0010:spin_fn+0xa7/0xff0 [m]'),
    ...L('C1', 'Kernel panic - not syncing: softlockup: hung tasks', 'CPU: 1 UID: 0 PID: 154 Comm: insmod Tainted: G           OEL     6.12.0 #1', 'Call Trace:', ' <IRQ>', ' dump_stack_lvl+0x5d/0x80', ' panic+0x118/0x2f4', ' watchdog_timer_fn+0x238/0x250', ' </IRQ>'),
  ];
  let p = readPanicFacts(soft);
  assert.equal(p.cause?.kind, 'soft-lockup');
  assert.deepEqual([p.cause?.cpu, p.cause?.pid, p.cause?.comm], [1, 154, 'insmod']);
  assert.equal(p.panic?.message, 'softlockup: hung tasks');

  const hung = [
    ...L('T34', 'INFO: task mount:312 blocked for more than 120 seconds.', '      Not tainted 6.1.0-56-amd64 #1', 'task:mount state:D stack:0 pid:312 ppid:1 flags:0x00004000', 'Call Trace:', ' <TASK>', ' __schedule+0x34d/0x9e0', ' schedule+0x5a/0xd0', ' </TASK>'),
    ...L('T34', 'Kernel panic - not syncing: hung_task: blocked tasks', 'CPU: 1 PID: 34 Comm: khungtaskd Not tainted 6.1.0-56-amd64 #1', 'Call Trace:', ' <TASK>', ' panic+0x118/0x2f4', ' watchdog+0x2c5/0x420', ' kthread+0xe6/0x110', ' </TASK>'),
  ];
  p = readPanicFacts(hung);
  assert.equal(p.cause?.kind, 'hung-task');
  assert.deepEqual([p.cause?.pid, p.cause?.comm], [312, 'mount']);

  const plain = L(7, 'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)', 'CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0 #1', 'Call Trace:', ' <TASK>', ' dump_stack_lvl+0x44/0x5c', ' panic+0x118/0x2f4', ' mount_block_root+0x1d3/0x1e6', ' </TASK>');
  p = readPanicFacts(plain);
  assert.equal(p.cause, p.panic);
  assert.equal(p.cause?.kind, 'panic');
  assert.equal(p.sysrq, false);

  const sysrq = [...L(1, 'sysrq: Trigger a crash', 'Kernel panic - not syncing: sysrq triggered crash')];
  assert.equal(readPanicFacts(sysrq).sysrq, true);
});

test('a WARNING before a panic it did not raise is not its cause', () => {
  const lines = [
    ...L(9, 'WARNING: CPU: 0 PID: 9 at mm/foo.c:10 foo+0x1/0x2'),
    ...L(10, 'Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009', 'Call Trace:', ' <TASK>', ' panic+0x118/0x2f4', ' do_exit.cold+0x15/0x15', ' </TASK>'),
  ];
  const p = readPanicFacts(lines);
  assert.equal(p.cause?.kind, 'panic');
  assert.equal(p.cause?.message, 'Attempted to kill init! exitcode=0x00000009');
});

/** The "Kernel panic - not syncing:" line of a makedumpfile --dump-dmesg text, found independently. */
function panicLineOf(dmesg: string): string | undefined {
  const l = dmesg
    .split('\n')
    .map((x) => x.replace(/^\[\s*\d+\.\d+\] /, ''))
    .filter((x) => x.startsWith('Kernel panic - not syncing:'));
  return l[l.length - 1];
}

for (const s of sharedDumps()) {
  test(`${s.name}: the panic string is the log's "Kernel panic - not syncing:" line; panic_cpu/crashing_cpu name the crashed CPU`, async (t) => {
    const dmesgPath = join(s.dir, 'reference', 'makedumpfile-dmesg.txt');
    const drgnPath = join(s.dir, 'reference', 'drgn.json');
    if (!need(t, dmesgPath) || !need(t, drgnPath)) return;
    const expected = panicLineOf(readFileSync(dmesgPath, 'utf8'));
    const drgn = JSON.parse(readFileSync(drgnPath, 'utf8')) as { crashed: { tid: number } };
    for (const file of [join(s.cacheDir, 'vmcore.elf'), join(s.dir, 'vmcore.d31.zstd')]) {
      await t.test(file.split('/').pop()!, async (t2) => {
        if (!need(t2, file)) return;
        const dump = await openDump(file);
        try {
          const k = Kernel.open(dump);
          const p = readPanicFacts(logLines(readPrintkLog(k.mem, k.info)), k);
          assert.equal(p.panicString, expected);
          if (expected !== undefined) {
            assert.equal(`Kernel panic - not syncing: ${p.panicMessageInMemory}`, expected, "panic()'s buffer in memory holds the same message");
            assert.equal(p.cause?.kind, 'panic');
          } else {
            // 6.12-nullderef: oops=panic goes to crash_kexec() from oops_end(), before panic().
            assert.equal(p.panicMessageInMemory, '');
            assert.equal(p.cause?.kind, 'null-deref');
            assert.equal(p.cause?.address, 8n);
          }
          assert.ok(p.panicCpu !== undefined && p.panicCpu >= 0);
          assert.equal(p.crashingCpu, p.panicCpu);
          assert.equal(p.cause?.cpu, p.panicCpu);
          assert.equal(p.cause?.pid, drgn.crashed.tid);
          const idx = dump.prstatus.findIndex((x) => x.pid === drgn.crashed.tid);
          assert.equal(idx, p.panicCpu, 'the PRSTATUS note of panic_cpu names the crashed task');
        } finally {
          dump.close();
        }
      });
    }
  });
}
