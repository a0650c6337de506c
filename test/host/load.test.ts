import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostRoot } from '../../src/host/root.js';
import { kexecMachine, KEXEC_FAILURES, RESERVED } from '../helpers/fake-kexec.js';
import { load, status, unload } from '../../src/host/load.js';

test('no reservation: load refuses and never runs kexec', () => {
  const { fk, root, done } = kexecMachine('debian-grub', {});
  try {
    const r = load(root);
    assert.equal(r.ok, false);
    assert.equal(r.run, undefined);
    assert.deepEqual(fk.calls(), []);
    assert.match(r.summary, /kexec_crash_size is 0: no memory is reserved/);
  } finally {
    done();
  }
  // crashkernel= given but the kernel reserved nothing
  const b = kexecMachine('debian-grub', { crashkernel: { param: '64G', reservedBytes: 0n } });
  try {
    const r = load(b.root);
    assert.match(r.summary, /crashkernel=64G is on the command line but nothing was reserved/);
    assert.deepEqual(b.fk.calls(), []);
  } finally {
    b.done();
  }
});

test('load runs the fake kexec with the planned argv, then reads kexec_crash_loaded', () => {
  const { m, fk, root, done } = kexecMachine('debian-grub');
  try {
    const r = load(root);
    assert.equal(r.ok, true, r.summary);
    assert.deepEqual(fk.calls(), [r.plan.argv!.slice(1)]);
    assert.equal(r.loadedBefore, false);
    assert.equal(r.loadedAfter, true);
    assert.equal(m.read('/sys/kernel/kexec_crash_loaded').trim(), '1');
    // Loading again replaces: still one kexec -p, no unload first.
    const again = load(root);
    assert.equal(again.ok, true);
    assert.match(again.summary, /reloaded/);
    assert.equal(fk.calls().length, 2);
    assert.deepEqual(fk.calls()[1], fk.calls()[0]);
    // dry run: kexec is not run
    assert.equal(load(root, { dryRun: true }).ok, true);
    assert.equal(fk.calls().length, 2);
    // unload, and unload again (idempotent: kexec not run the second time)
    const u = unload(root);
    assert.equal(u.ok, true);
    assert.deepEqual(fk.calls()[2], ['-p', '-u']);
    assert.equal(m.read('/sys/kernel/kexec_crash_loaded').trim(), '0');
    const u2 = unload(root);
    assert.equal(u2.ok, true);
    assert.match(u2.summary, /nothing to unload/);
    assert.equal(fk.calls().length, 3);
  } finally {
    done();
  }
});

test("kexec exits 0 but nothing is loaded: reported as a failure", () => {
  const { fk, root, done } = kexecMachine('debian-grub');
  try {
    fk.quiet();
    const r = load(root);
    assert.equal(r.ok, false);
    assert.match(r.summary, /kexec exited 0 but .*kexec_crash_loaded is 0/);
  } finally {
    done();
  }
});

test('each kexec failure is explained after a real run of the fake kexec', () => {
  for (const f of KEXEC_FAILURES.slice(0, 9)) {
    const { fk, root, done } = kexecMachine('debian-grub', { ...RESERVED, ...(f.lockdown ? { lockdown: f.lockdown } : {}) });
    try {
      fk.fail(f.stderr);
      const r = load(root);
      assert.equal(r.ok, false);
      assert.equal(r.run!.exitCode, 1);
      assert.equal(r.run!.stderr, f.stderr);
      assert.equal(r.explanations[0]!.id, f.id, f.stderr);
      assert.equal(r.loadedAfter, false);
      assert.match(r.summary, /^kexec failed \(exit 1\): /);
    } finally {
      done();
    }
  }
});

test('a failed reload says the old capture kernel is gone too', () => {
  const { m, fk, root, done } = kexecMachine('debian-grub', { ...RESERVED, loaded: true });
  try {
    // userspace refusal: the kernel was never called, the old image stays
    fk.fail('Could not find a free area of memory of 0x1c1f000 bytes...\nlocate_hole failed\n');
    const kept = load(root);
    assert.equal(kept.ok, false);
    assert.equal(kept.loadedAfter, true);
    assert.doesNotMatch(kept.summary, /gone too/);
    // the kernel frees the old crash image before it fails the new one
    fk.fail('kexec_load failed: Cannot assign requested address\n', 1, true);
    const lost = load(root);
    assert.equal(lost.ok, false);
    assert.equal(lost.loadedAfter, false);
    assert.match(lost.summary, /the capture kernel loaded before is gone too: nothing is loaded now/);
    assert.equal(m.read('/sys/kernel/kexec_crash_loaded').trim(), '0');
  } finally {
    done();
  }
});

test('status: reservation, loaded, what load would use; armed only when reserved and loaded', () => {
  const { m, root, done } = kexecMachine('debian-grub', { ...RESERVED, loaded: true });
  try {
    const s = status(root);
    assert.equal(s.armed, true);
    assert.equal(s.reservation.bytes, 256n << 20n);
    assert.deepEqual(s.reservation.params, ['256M']);
    assert.equal(s.reservation.ranges![0]!.end - s.reservation.ranges![0]!.start + 1n, 256n << 20n);
    assert.equal(s.load.argv![2], m.root.path(`/boot/vmlinuz-${m.release}`));
    m.set('/sys/kernel/kexec_crash_loaded', '0\n');
    assert.equal(status(root).armed, false);
    assert.match(status(root).summary, /memory is reserved but no capture kernel is loaded/);
  } finally {
    done();
  }
});

test('a fake root never runs a real (ELF) kexec: it would change the running kernel', () => {
  const { m, fk, done } = kexecMachine('debian-grub', { ...RESERVED, loaded: true });
  try {
    // An ELF-looking file in place of the fake script; it is never executed.
    const elf = join(fk.bin, 'kexec');
    writeFileSync(elf, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]));
    chmodSync(elf, 0o755);
    const root = new HostRoot(m.dir, { PATH: fk.bin });
    const l = load(root);
    assert.equal(l.ok, false);
    assert.equal(l.run, undefined);
    assert.match(l.summary, /is a real kexec binary: with --root .* it would still change the running kernel/);
    const u = unload(root);
    assert.equal(u.ok, false);
    assert.equal(u.run, undefined);
    assert.match(u.summary, /^refused: .*real kexec binary/);
    assert.equal(m.read('/sys/kernel/kexec_crash_loaded').trim(), '1');
  } finally {
    done();
  }
});
