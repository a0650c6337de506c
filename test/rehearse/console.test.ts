import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConsoleWatcher, parseConsole } from '../../src/rehearse/console.js';
import { judge, type HostSteps } from '../../src/rehearse/rehearse.js';
import { REPO } from '../helpers/dumps.js';

const fixture = (name: string): string => readFileSync(join(REPO, 'test/fixtures/rehearse', name), 'utf8');
const PASS = fixture('6.1-sysrq-192M.log');
const KEXEC_FAILS = fixture('6.1-sysrq-64M-kexec-fails.log');
const SILENT = fixture('6.1-sysrq-192M-silent-after-crash.log');
const VM = { timedOut: false, stalled: false, stallSeconds: 90, qemuError: undefined, elapsedMs: 100_000 };
const CTX = { mode: 'sysrq' as const, crashkernel: '192M', timeoutSeconds: 600 };
const HOST_OK: HostSteps = {
  collected: { ok: true, dir: '/x/2026-12-01-21:36:00', vmcore: '/x/2026-12-01-21:36:00/vmcore', bytes: 40 << 20, seconds: 5 },
  analyzed: { ok: true, kind: 'sysrq', sentence: 'The crash was triggered on purpose with SysRq-c.', panicString: 'sysrq triggered crash', seconds: 2 },
};

test('a full round trip: every fact of both kernels, in console order', () => {
  const f = parseConsole(PASS);
  assert.equal(f.banners.length, 2);
  assert.equal(f.reservation?.value.bytes, 192n << 20n);
  assert.match(f.reservation!.value.text, /^Reserving 192MB of memory at 608MB for crashkernel/);
  assert.ok(f.firstUp);
  assert.deepEqual(f.kexecLoad?.value, { rc: 0, loaded: true, size: 201326592n });
  assert.equal(f.crash?.value, 'sysrq');
  assert.equal(f.firstPanic?.value, 'Kernel panic - not syncing: sysrq triggered crash');
  assert.equal(f.captureUp?.value.vmcoreBytes, 926601216n);
  assert.equal(f.dumpSaved?.value.bytes, 926601216n);
  assert.equal(f.captureFailure, undefined);
  assert.deepEqual(f.kexecErrors, []);
});

test('fed in small chunks with times: each stage keeps the time it was first seen; finished only at the end', () => {
  const w = new ConsoleWatcher();
  const saved = PASS.indexOf('KDUMPKIT-REHEARSE: dump-saved');
  let finishedBefore = false;
  for (let i = 0, ms = 0; i < PASS.length; i += 97, ms += 10) {
    if (i + 97 < saved && w.finished) finishedBefore = true;
    w.feed(PASS.slice(i, i + 97), ms);
  }
  w.end(999_999);
  assert.equal(finishedBefore, false);
  assert.ok(w.finished);
  const f = w.facts;
  const order = [f.reservation!.ms, f.firstUp!.ms, f.kexecLoad!.ms, f.crash!.ms, f.firstPanic!.ms, f.banners[1]!.ms, f.captureUp!.ms, f.dumpSaved!.ms];
  assert.deepEqual([...order].sort((a, b) => a - b), order);
  assert.ok(order[0]! < order[7]!);
});

test('judge: the recorded round trip plus a good save and analysis passes every stage', () => {
  const j = judge(parseConsole(PASS), VM, HOST_OK, CTX);
  assert.equal(j.passed, true, j.verdict);
  assert.deepEqual(j.stages.map((s) => s.status), Array(8).fill('ok'));
  assert.deepEqual(j.stages.map((s) => s.id), ['first-boot', 'reservation', 'capture-load', 'crash', 'capture-boot', 'dump-saved', 'dump-collected', 'dump-analyzed']);
  assert.equal(j.hint, undefined);
  assert.match(j.verdict, /passed: crashkernel=192M/);
});

test('judge: an analysis that does not name the triggered crash fails the last stage', () => {
  const wrong: HostSteps = { ...HOST_OK, analyzed: { ok: true, kind: 'null-deref', sentence: 'NULL pointer dereference', panicString: undefined, seconds: 1 } };
  const j = judge(parseConsole(PASS), VM, wrong, CTX);
  assert.equal(j.passed, false);
  assert.equal(j.stages.at(-1)?.status, 'fail');
  assert.match(j.stages.at(-1)!.detail, /does not name the sysrq crash/);
  assert.equal(j.reservationSuspect, false);
});

test('crashkernel=64M: kexec -p finds no room; the capture kernel did not come up, the reservation is the likely cause', () => {
  const f = parseConsole(KEXEC_FAILS);
  assert.equal(f.reservation?.value.bytes, 64n << 20n);
  assert.deepEqual(f.kexecLoad?.value, { rc: 1, loaded: false, size: 67108864n });
  assert.match(f.kexecErrors.join('\n'), /Could not find a free area of memory/);
  assert.equal(f.crash, undefined);
  const j = judge(f, VM, {}, { ...CTX, crashkernel: '64M' });
  assert.equal(j.passed, false);
  assert.deepEqual(j.stages.map((s) => s.status), ['ok', 'ok', 'fail', 'not-reached', 'not-reached', 'not-reached', 'not-reached', 'not-reached']);
  assert.match(j.stages[2]!.detail, /kexec -p failed \(exit 1, kexec_crash_loaded=0\): Could not find a free area/);
  assert.equal(j.reservationSuspect, true);
  assert.match(j.verdict, /capture kernel did not come up/);
  assert.match(j.hint!, /reservation \(64M\) is the likely cause/);
});

test('silence after the crash: the capture kernel did not start', () => {
  const f = parseConsole(SILENT);
  assert.equal(f.banners.length, 1);
  assert.ok(f.firstPanic);
  const j = judge(f, { ...VM, stalled: true }, {}, CTX);
  assert.equal(j.stages[4]!.status, 'fail');
  assert.match(j.stages[4]!.detail, /no capture kernel output for 90 s after the crash/);
  assert.equal(j.reservationSuspect, true);
});

test('a capture kernel that panics out of memory is seen at once (finished) and blamed on the reservation', () => {
  const cut = PASS.indexOf('KDUMPKIT-REHEARSE: capture-kernel-up');
  const oom = PASS.slice(0, cut) + '[    3.100000] Out of memory and no killable processes...\r\n[    3.100100] Kernel panic - not syncing: System is deadlocked on memory\r\n';
  const w = new ConsoleWatcher();
  w.feed(oom, 5);
  assert.ok(w.finished);
  assert.equal(w.facts.captureFailure?.value, 'Out of memory and no killable processes...');
  const j = judge(w.facts, VM, {}, CTX);
  assert.equal(j.stages[4]!.status, 'fail');
  assert.match(j.stages[4]!.detail, /the capture kernel died: "Out of memory/);
  assert.equal(j.reservationSuspect, true);
});

test('reservation lines of Linux >= 6.6 (crash_reserve.c) and a failed reservation', () => {
  const f = parseConsole('[    0.000000] crashkernel reserved: 0x000000002f000000 - 0x000000003b000000 (192 MB)\n');
  assert.equal(f.reservation?.value.bytes, 192n << 20n);
  const g = parseConsole('[    0.000000] crashkernel reservation failed - No suitable area found.\nKDUMPKIT-REHEARSE: first-kernel-up\nKDUMPKIT-REHEARSE: kexec-load rc=1 loaded=0 size=0\n');
  assert.equal(g.reservationFailure?.value, 'crashkernel reservation failed - No suitable area found.');
  const j = judge(g, VM, {}, { ...CTX, crashkernel: '8G' });
  assert.equal(j.stages[1]!.status, 'fail');
  assert.match(j.stages[1]!.detail, /did not reserve crashkernel=8G: "crashkernel reservation failed/);
  assert.equal(j.reservationSuspect, false);
  assert.match(j.hint!, /did not reserve memory/);
});

test('a VM that never printed: first stage fails with the reason', () => {
  const j = judge(parseConsole(''), { ...VM, qemuError: 'qemu-system-x86_64: -m 99999999: bad size' }, {}, CTX);
  assert.equal(j.stages[0]!.status, 'fail');
  assert.match(j.stages[0]!.detail, /QEMU failed: .*bad size/);
  assert.ok(j.stages.slice(1).every((s) => s.status === 'not-reached'));
});

test('6.12 with --mode panic: the crash_reserve.c reservation line, the init-exit panic, a full round trip', () => {
  const f = parseConsole(fixture('6.12-panic-192M.log'));
  assert.equal(f.reservation?.value.bytes, 192n << 20n);
  assert.match(f.reservation!.value.text, /^crashkernel reserved: 0x0*32000000 - 0x0*3e000000 \(192 MB\)$/);
  assert.equal(f.crash?.value, 'panic');
  assert.equal(f.firstPanic?.value, 'Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100');
  assert.equal(f.captureUp?.value.vmcoreBytes, f.dumpSaved?.value.bytes);
  const analyzed: HostSteps = { ...HOST_OK, analyzed: { ok: true, kind: 'panic', sentence: 'panic("Attempted to kill init! exitcode=0x00000100") called from do_exit, in init (pid 1).', panicString: 'Attempted to kill init! exitcode=0x00000100', seconds: 1 } };
  assert.equal(judge(f, VM, analyzed, { ...CTX, mode: 'panic' }).passed, true);
  // The same analysis does not pass for a sysrq rehearsal.
  assert.equal(judge(f, VM, analyzed, CTX).passed, false);
});

test('recorded crashkernel=80M: the capture kernel runs out of memory; seen from its own log, blamed on the reservation', () => {
  const f = parseConsole(fixture('6.1-sysrq-80M-capture-oom.log'));
  assert.equal(f.reservation?.value.bytes, 80n << 20n);
  assert.equal(f.kexecLoad?.value.loaded, true);
  assert.equal(f.banners.length, 2);
  assert.match(f.captureFailure?.value ?? '', /^swapper\/0 invoked oom-killer: gfp_mask=/);
  assert.equal(f.captureUp, undefined);
  const j = judge(f, VM, {}, { ...CTX, crashkernel: '80M' });
  assert.deepEqual(j.stages.map((s) => s.status).slice(0, 5), ['ok', 'ok', 'ok', 'ok', 'fail']);
  assert.equal(j.reservationSuspect, true);
  assert.match(j.hint!, /reservation \(80M\) is the likely cause/);
});
