import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logVerdict, parseLogText } from '../../src/catalog/log-signature.js';

// The oops of the shared 6.12-nullderef dump as the kernel printed it (lib/dump_stack.c,
// arch/x86/kernel/dumpstack.c), in the ramoops format (fs/pstore/platform.c: header line,
// "<level>[time]" lines), cut to the lines the triage reads.
const OOPS = [
  'Panic#1 Part1',
  '<1>[    7.532627] BUG: kernel NULL pointer dereference, address: 0000000000000008',
  '<1>[    7.532900] #PF: supervisor read access in kernel mode',
  '<4>[    7.533500] Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI',
  '<4>[    7.534148] CPU: 0 UID: 0 PID: 155 Comm: insmod Kdump: loaded Tainted: G           OE      6.12.117+deb12-amd64 #1  Debian 6.12.117-1~deb12u1',
  '<4>[    7.535166] RIP: 0010:crashme_recurse+0x47/0x80 [crashme]',
  '<4>[    7.538119] Call Trace:',
  '<4>[    7.538300]  <TASK>',
  '<4>[    7.538400]  ? __die+0x23/0x70',
  '<4>[    7.538500]  ? page_fault_oops+0x173/0x5b0',
  '<4>[    7.538600]  crashme_recurse+0x47/0x80 [crashme]',
  '<4>[    7.538700]  ? __pfx_crashme_init+0x10/0x10 [crashme]',
  '<4>[    7.538800]  do_one_initcall+0x5b/0x340',
  '<4>[    7.538900]  do_init_module+0x97/0x2a0',
  '<4>[    7.539000]  init_module_from_file+0x96/0x100',
  '<4>[    7.539100]  </TASK>',
  '<4>[    7.539200] Modules linked in: crashme(OE+) ext4 crc16',
  '<0>[    7.540000] Kernel panic - not syncing: Fatal exception',
].join('\n');

test('parses dmesg, caller-id and ramoops lines; continuation lines keep the time', () => {
  const lines = parseLogText('[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)\n[    1.500000] [  T155] hello\n  continued\n<3>[    2.250000] [    C1] irq line\n');
  assert.deepEqual(
    lines.map((l) => [l.time, l.level, l.caller, l.text]),
    [
      [0, 6, undefined, 'Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)'],
      [1.5, 6, 'T155', 'hello'],
      [1.5, 6, 'T155', '  continued'],
      [2.25, 3, 'C1', 'irq line'],
    ],
  );
  const r = parseLogText(OOPS);
  assert.equal(r[0]!.text, 'BUG: kernel NULL pointer dereference, address: 0000000000000008', 'the pstore header line is not log text');
  assert.equal(r[0]!.level, 1);
});

test('a NULL dereference oops from the log alone: kind, signature, release, modules', () => {
  const v = logVerdict(OOPS);
  assert.equal(v.triage.kind, 'null-deref');
  // The same signature `analyze` gives the vmcore of this crash (checked on the real dump in catalog.test.ts).
  assert.equal(v.triage.signature, 'null-deref: crashme_recurse < do_one_initcall < do_init_module [crashme]');
  assert.equal(v.triage.location, 'crashme_recurse+0x47/0x80 [crashme]');
  assert.equal(v.release, '6.12.117+deb12-amd64');
  assert.equal(v.cmdline, undefined);
  assert.equal(v.panic.cause?.modulesLinkedIn?.trim(), 'crashme(OE+) ext4 crc16');
});

test('a sysrq crash from the log: the panic string and the callers of panic()', () => {
  const log = [
    '[    7.769000] sysrq: Trigger a crash',
    '[    7.770292] Kernel panic - not syncing: sysrq triggered crash',
    '[    7.771000] CPU: 1 PID: 402 Comm: bash Not tainted 6.1.0-56-amd64 #1  Debian 6.1.158-1',
    '[    7.771362] Call Trace:',
    '[    7.772000]  <TASK>',
    '[    7.773000]  dump_stack_lvl+0x44/0x5c',
    '[    7.774076]  panic+0x118/0x2f4',
    '[    7.775000]  sysrq_handle_crash+0x16/0x20',
    '[    7.776000]  __handle_sysrq.cold+0x43/0x11b',
    '[    7.777000]  write_sysrq_trigger+0x24/0x40',
    '[    7.778000]  proc_reg_write+0x56/0xa0',
    '[    7.779000]  </TASK>',
  ].join('\n');
  const v = logVerdict(log);
  assert.equal(v.triage.kind, 'sysrq');
  assert.equal(v.triage.signature, 'sysrq: sysrq_handle_crash < __handle_sysrq < write_sysrq_trigger');
  assert.equal(v.release, '6.1.0-56-amd64');
  assert.equal(v.panic.panicString, 'Kernel panic - not syncing: sysrq triggered crash');
});

test('a log without any crash report: kind unknown, no invented signature frames', () => {
  const v = logVerdict('[    0.000000] Command line: console=ttyS0 quiet\n[    1.000000] systemd[1]: started\n');
  assert.equal(v.triage.kind, 'unknown');
  assert.equal(v.triage.signature, 'unknown');
  assert.equal(v.cmdline, 'console=ttyS0 quiet');
});
