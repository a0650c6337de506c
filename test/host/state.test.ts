import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeMachine } from '../helpers/fake-roots.js';
import { parseIomemCrashRanges, parseLockdown, readKdumpState, splitCmdline } from '../../src/host/state.js';
import { captureCmdline } from '../../src/host/capture-cmdline.js';

test('splitCmdline keeps quoted values whole, as lib/cmdline.c next_arg does', () => {
  assert.deepEqual(splitCmdline(' root=/dev/sda1  dyndbg="file foo.c +p" quiet\n'), ['root=/dev/sda1', 'dyndbg="file foo.c +p"', 'quiet']);
});

test('parseIomemCrashRanges finds nested Crash kernel lines', () => {
  const r = parseIomemCrashRanges('00100000-bffdffff : System RAM\n  8f000000-9effffff : Crash kernel\n100000000-13fffffff : System RAM\n  13f000000-13fffffff : Crash kernel\n');
  assert.deepEqual(r, [
    { start: 0x8f000000n, end: 0x9effffffn },
    { start: 0x13f000000n, end: 0x13fffffffn },
  ]);
  assert.equal(parseLockdown('none [integrity] confidentiality\n'), 'integrity');
});

test('readKdumpState on a fake Debian root with a 256M reservation', () => {
  const m = fakeMachine('debian-grub', { crashkernel: { param: '256M', reservedBytes: 256n << 20n }, loaded: true, lockdown: 'integrity' });
  try {
    const s = readKdumpState(m.root);
    assert.equal(s.release, '6.1.0-56-amd64');
    assert.deepEqual(s.crashkernelParams, ['256M']);
    assert.equal(s.reservedBytes, 256n << 20n);
    assert.equal(s.crashRanges?.length, 1);
    assert.equal(s.crashRanges![0]!.end - s.crashRanges![0]!.start + 1n, 256n << 20n);
    assert.equal(s.iomemHidden, false);
    assert.equal(s.loaded, true);
    assert.equal(s.lockdown, 'integrity');
    assert.equal(s.secureBoot, undefined);
    assert.equal(s.btf, true);
    m.set('/proc/iomem', '00000000-00000000 : Reserved\n00000000-00000000 : System RAM\n  00000000-00000000 : Crash kernel\n');
    assert.equal(readKdumpState(m.root).iomemHidden, true);
    m.set('/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c', new Uint8Array([6, 0, 0, 0, 1]));
    assert.equal(readKdumpState(m.root).secureBoot, true);
  } finally {
    m.remove();
  }
});

test('captureCmdline drops crashkernel/quiet/hugepages and appends the capture options last-wins', () => {
  const c = captureCmdline('BOOT_IMAGE=/boot/vmlinuz-6.1 root=UUID=x ro quiet crashkernel=256M hugepages=512 console=ttyS0,115200 nr_cpus=8', 'nr_cpus=2 mitigations=off');
  assert.equal(c, 'root=UUID=x ro console=ttyS0,115200 nr_cpus=1 reset_devices irqpoll systemd.unit=kdumpkit-save.service systemd.mask=kdumpkit-load.service panic=10 nr_cpus=2 mitigations=off');
});

test('captureCmdline keeps init arguments after a bare -- last (the kernel stops parsing there)', () => {
  assert.equal(
    captureCmdline('root=/dev/vda ro quiet -- --init-flag x', 'mitigations=off -- --more'),
    'root=/dev/vda ro nr_cpus=1 reset_devices irqpoll systemd.unit=kdumpkit-save.service systemd.mask=kdumpkit-load.service panic=10 mitigations=off -- --init-flag x --more',
  );
});
