import { test } from 'node:test';
import { symlinkSync } from 'node:fs';
import assert from 'node:assert/strict';
import { fakeMachine, type FakeMachine, type Layout, type MachineOptions } from '../helpers/fake-roots.js';
import { fakeKexec, type FakeKexec } from '../helpers/fake-kexec.js';
import { HostRoot } from '../../src/host/root.js';
import { readKdumpState } from '../../src/host/state.js';
import { DEFAULT_CONFIG, readConfig } from '../../src/host/config.js';
import { chooseSyscall, kexecFileConfigured, planLoad, unloadArgv } from '../../src/host/kexec.js';
import { explainKexecFailure } from '../../src/host/kexec-errors.js';
import { bzImageInitSize, estimateCaptureMemory, RUNTIME_BYTES } from '../../src/host/capture-memory.js';
import { load, status, unload } from '../../src/host/load.js';
import { isLiveProcFile, sysrqWriteDecision, testCrash } from '../../src/host/test-crash.js';

const UUID = '61ac8f48-ac5c-4f69-823b-bb89fdae68c4';
const CAPTURE = 'nr_cpus=1 reset_devices irqpoll systemd.unit=kdumpkit-save.service systemd.mask=kdumpkit-load.service panic=10';
const RESERVED: MachineOptions = { crashkernel: { param: '256M', reservedBytes: 256n << 20n } };

/** A fake machine with a fake kexec on its PATH (and nothing else on PATH). */
function armedMachine(layout: Layout, o: MachineOptions = RESERVED): { m: FakeMachine; fk: FakeKexec; root: HostRoot; done: () => void } {
  const m = fakeMachine(layout, o);
  const fk = fakeKexec(m.dir);
  return { m, fk, root: new HostRoot(m.dir, { PATH: fk.bin }), done: () => (m.remove(), fk.remove()) };
}

function plan(root: HostRoot, syscall?: 'auto' | 'file' | 'load') {
  return planLoad(root, readKdumpState(root), readConfig(root).config, syscall ? { syscall } : {});
}

test('Debian: kexec -p /boot/vmlinuz-R --initrd=/boot/initrd.img-R --append=<running cmdline less BOOT_IMAGE/quiet/crashkernel, plus capture options>', () => {
  const { m, root, done } = armedMachine('debian-grub');
  try {
    const p = plan(root);
    assert.equal(p.ok, true, JSON.stringify(p.checks));
    assert.deepEqual(p.argv, ['kexec', '-p', m.root.path(`/boot/vmlinuz-${m.release}`), `--initrd=${m.root.path(`/boot/initrd.img-${m.release}`)}`, `--append=root=UUID=${UUID} ro ${CAPTURE}`]);
    assert.equal(p.syscall.flag, undefined);
    assert.equal(p.kexecFileConfigured, true, 'Debian 6.1 is built with CONFIG_KEXEC_FILE=y');
  } finally {
    done();
  }
});

test("Fedora: /boot/initramfs-R.img, and kdump-utils' initramfs-Rkdump.img when present", () => {
  const { m, root, done } = armedMachine('fedora-bls');
  try {
    const r = m.release;
    assert.deepEqual(plan(root).argv, ['kexec', '-p', m.root.path(`/boot/vmlinuz-${r}`), `--initrd=${m.root.path(`/boot/initramfs-${r}.img`)}`, `--append=root=UUID=${UUID} ro rootflags=subvol=root rhgb ${CAPTURE}`]);
    m.set(`/var/lib/kdump/initramfs-${r}kdump.img`, 'kdump initramfs (new place)');
    assert.equal(plan(root).initrd.path, `/var/lib/kdump/initramfs-${r}kdump.img`);
    m.set(`/boot/initramfs-${r}kdump.img`, 'kdump initramfs');
    const p = plan(root);
    assert.equal(p.initrd.path, `/boot/initramfs-${r}kdump.img`);
    assert.match(p.initrd.from, /kdump-utils/);
    // Without /boot/vmlinuz-R the kernel comes from /lib/modules/R/vmlinuz.
    m.set(`/boot/vmlinuz-${r}`, undefined);
    assert.equal(plan(root).kernel.path, `/lib/modules/${r}/vmlinuz`);
  } finally {
    done();
  }
});

test('Arch: pkgbase names /boot/vmlinuz-linux and /boot/initramfs-linux.img; systemd-boot initrd= is dropped', () => {
  for (const layout of ['arch-grub', 'arch-systemd-boot', 'arch-uki'] as const) {
    const { m, root, done } = armedMachine(layout);
    try {
      const p = plan(root);
      const kept = layout === 'arch-grub' ? `root=UUID=${UUID} rw loglevel=3` : `root=UUID=${UUID} rw`;
      assert.deepEqual(p.argv, ['kexec', '-p', m.root.path('/boot/vmlinuz-linux'), `--initrd=${m.root.path('/boot/initramfs-linux.img')}`, `--append=${kept} ${CAPTURE}`], layout);
      assert.equal(p.kexecFileConfigured, true, `${layout}: read from /proc/config.gz`);
    } finally {
      done();
    }
  }
});

test('lockdown or Secure Boot → -s; no CONFIG_KEXEC_FILE under lockdown → refused; --syscall forces -s / -c', () => {
  const { m, root, done } = armedMachine('debian-grub', { ...RESERVED, lockdown: 'integrity' });
  try {
    const p = plan(root);
    assert.deepEqual(p.argv!.slice(0, 3), ['kexec', '-p', '-s']);
    assert.match(p.syscall.why, /lockdown is 'integrity'/);
    assert.equal(p.ok, true);
    // --syscall load cannot work under lockdown: refused before kexec.
    const c = plan(root, 'load');
    assert.equal(c.ok, false);
    assert.match(c.checks.find((x) => x.id === 'syscall')!.title, /--syscall load cannot work here/);
    m.set(`/boot/config-${m.release}`, 'CONFIG_KEXEC_CORE=y\nCONFIG_KEXEC=y\n# CONFIG_KEXEC_FILE is not set\n');
    assert.equal(kexecFileConfigured(root, m.release), false);
    const n = plan(root);
    assert.equal(n.ok, false);
    assert.match(n.checks.find((x) => x.id === 'syscall')!.title, /CONFIG_KEXEC_FILE is not set/);
  } finally {
    done();
  }
  assert.equal(chooseSyscall({ lockdown: 'none', secureBoot: true }, 'auto').flag, '-s');
  assert.equal(chooseSyscall({ lockdown: 'none', secureBoot: false }, 'auto').flag, undefined);
  assert.equal(chooseSyscall({ lockdown: 'none', secureBoot: false }, 'file').flag, '-s');
  assert.equal(chooseSyscall({ lockdown: undefined, secureBoot: undefined }, 'load').flag, '-c');
});

test('config overrides: kernel, initrd and cmdline from /etc/kdumpkit.conf', () => {
  const { m, root, done } = armedMachine('debian-grub');
  try {
    m.set('/boot/vmlinuz-6.1.0-99-amd64', 'MZ other kernel');
    m.set('/boot/initrd.img-6.1.0-99-amd64', 'its initrd');
    m.set('/boot/kdump-initrd.img', 'small initrd');
    m.set('/etc/kdumpkit.conf', 'kernel = /boot/vmlinuz-6.1.0-99-amd64\ncmdline = console=ttyS0,115200 nr_cpus=2\n');
    // initrd follows the configured kernel's release
    assert.deepEqual(plan(root).argv, ['kexec', '-p', m.root.path('/boot/vmlinuz-6.1.0-99-amd64'), `--initrd=${m.root.path('/boot/initrd.img-6.1.0-99-amd64')}`, `--append=root=UUID=${UUID} ro ${CAPTURE} console=ttyS0,115200 nr_cpus=2`]);
    m.set('/etc/kdumpkit.conf', 'kernel = /boot/vmlinuz-6.1.0-99-amd64\ninitrd = /boot/kdump-initrd.img\n');
    assert.equal(plan(root).argv![3], `--initrd=${m.root.path('/boot/kdump-initrd.img')}`);
    m.set('/etc/kdumpkit.conf', 'kernel = /boot/vmlinuz-missing\n');
    const p = plan(root);
    assert.equal(p.ok, false);
    assert.equal(p.argv, undefined);
    assert.match(p.checks.find((c) => c.id === 'kernel')!.title, /vmlinuz-missing does not exist \(\/etc\/kdumpkit\.conf \(kernel = /);
    assert.match(p.checks.find((c) => c.id === 'initrd')!.title, /no initrd found for/);
  } finally {
    done();
  }
});

test('unload argv: kexec -p -u, with -s under lockdown', () => {
  assert.deepEqual(unloadArgv({ lockdown: 'none', secureBoot: undefined }).argv, ['kexec', '-p', '-u']);
  assert.deepEqual(unloadArgv({ lockdown: 'confidentiality', secureBoot: undefined }).argv, ['kexec', '-p', '-u', '-s']);
});

test('no reservation: load refuses and never runs kexec', () => {
  const { fk, root, done } = armedMachine('debian-grub', {});
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
  const b = armedMachine('debian-grub', { crashkernel: { param: '64G', reservedBytes: 0n } });
  try {
    const r = load(b.root);
    assert.match(r.summary, /crashkernel=64G is on the command line but nothing was reserved/);
    assert.deepEqual(b.fk.calls(), []);
  } finally {
    b.done();
  }
});

test('size: kernel + initrd larger than the reservation refuses; a tight estimate warns', () => {
  const { m, fk, root, done } = armedMachine('debian-grub', { crashkernel: { param: '16M', reservedBytes: 16n << 20n } });
  try {
    m.set(`/boot/initrd.img-${m.release}`, Buffer.alloc(17 << 20));
    const r = load(root);
    assert.equal(r.ok, false);
    assert.match(r.plan.checks.find((c) => c.id === 'size')!.title, /more than the 16M reserved/);
    assert.deepEqual(fk.calls(), []);
    m.set(`/boot/initrd.img-${m.release}`, Buffer.alloc(4 << 20));
    const w = plan(root);
    assert.equal(w.ok, true, 'a warning does not refuse');
    const size = w.checks.find((c) => c.id === 'size')!;
    assert.equal(size.status, 'warn');
    assert.match(size.title, /needs about 137M to run, more than the 16M reserved/);
  } finally {
    done();
  }
});

test('bzImage init_size from the setup header; the estimate adds 2 x initrd and the runtime', () => {
  const head = Buffer.alloc(0x1000);
  head.write('HdrS', 0x202, 'latin1');
  head.writeUInt16LE(0x020f, 0x206);
  head.writeUInt32LE(0x2b6b000, 0x260);
  assert.equal(bzImageInitSize(head), 0x2b6b000n);
  head.writeUInt16LE(0x0209, 0x206);
  assert.equal(bzImageInitSize(head), undefined, 'init_size exists since boot protocol 2.10');
  assert.equal(bzImageInitSize(Buffer.from('MZ fake bzImage')), undefined);
  const m = fakeMachine('debian-grub');
  try {
    head.writeUInt16LE(0x020f, 0x206);
    m.set('/boot/k', head);
    m.set('/boot/i', Buffer.alloc(1000));
    const e = estimateCaptureMemory(m.root.path('/boot/k'), m.root.path('/boot/i'));
    assert.equal(e.kernelInitSize, 0x2b6b000n);
    assert.equal(e.segmentBytes, 0x1000n + 1000n);
    assert.equal(e.estimatedBytes, 0x2b6b000n + 2000n + RUNTIME_BYTES);
  } finally {
    m.remove();
  }
});

test('load runs the fake kexec with the planned argv, then reads kexec_crash_loaded', () => {
  const { m, fk, root, done } = armedMachine('debian-grub');
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
  const { fk, root, done } = armedMachine('debian-grub');
  try {
    fk.quiet();
    const r = load(root);
    assert.equal(r.ok, false);
    assert.match(r.summary, /kexec exited 0 but .*kexec_crash_loaded is 0/);
  } finally {
    done();
  }
});

// The texts are kexec-tools' own (kexec/kexec.c; errno texts are glibc's strerror).
const FAILURES: readonly { stderr: string; id: string; cause: RegExp; lockdown?: 'integrity' }[] = [
  { stderr: 'Memory for crashkernel is not reserved\nPlease reserve memory by passing"crashkernel=Y@X" parameter to kernel\nThen try to loading kdump kernel\n', id: 'no-reservation', cause: /no memory is reserved/ },
  { stderr: 'Could not find a free area of memory of 0x1c1f000 bytes...\nlocate_hole failed\n', id: 'too-big', cause: /do not fit in the crashkernel reservation \(kexec needed a free area of 29487104 bytes\)/ },
  { stderr: 'kexec_file_load failed: Cannot assign requested address\n', id: 'too-big', cause: /do not fit/ },
  { stderr: 'kexec_load failed: Cannot assign requested address\nentry       = 0x9f7a55c0 flags = 0x3e0001\nnr_segments = 7\n', id: 'too-big', cause: /do not fit/ },
  { stderr: 'kexec_load failed: Operation not permitted\nentry       = 0x9f7a55c0 flags = 0x3e0001\n', id: 'not-permitted', cause: /kexec_load is refused under kernel lockdown \(integrity\)/, lockdown: 'integrity' },
  { stderr: 'kexec_load failed: Operation not permitted\n', id: 'not-permitted', cause: /not running as root/ },
  { stderr: 'kexec_file_load failed: Operation not permitted\n', id: 'not-permitted', cause: /under lockdown \(integrity\) the kernel only loads images whose signature/, lockdown: 'integrity' },
  { stderr: 'kexec_load failed: Permission denied\n', id: 'ima-refused', cause: /IMA appraisal/ },
  { stderr: 'kexec_file_load failed: Key was rejected by service\n', id: 'signature', cause: /signature and rejected it/ },
  { stderr: 'kexec_file_load failed: Required key not available\n', id: 'signature', cause: /signature/ },
  { stderr: 'syscall kexec_file_load not available.\n', id: 'file-syscall-refused', cause: /CONFIG_KEXEC_FILE not set/ },
  { stderr: 'kexec_load failed: Invalid argument\n', id: 'image-format', cause: /not in a format/ },
  { stderr: 'Cannot determine the file type of /boot/vmlinux-6.1\n', id: 'image-format', cause: /not in a format/ },
  { stderr: "Cannot open `/boot/initrd.img': Permission denied\n", id: 'cannot-open', cause: /could not read a file/ },
  { stderr: 'Command line overflow\n', id: 'cmdline-too-long', cause: /COMMAND_LINE_SIZE/ },
  { stderr: 'Nothing has been loaded!\n', id: 'nothing-loaded', cause: /none is loaded/ },
  { stderr: 'something new\n', id: 'unknown', cause: /kexec failed: something new/ },
];

test('each kexec failure message is explained (unit)', () => {
  for (const f of FAILURES) {
    const e = explainKexecFailure(f.stderr, { fileSyscall: f.stderr.includes('kexec_file_load'), lockdown: f.lockdown ?? 'none', secureBoot: undefined });
    assert.equal(e[0]!.id, f.id, f.stderr);
    assert.match(e[0]!.cause, f.cause, f.stderr);
    assert.ok(e[0]!.fix.length > 10);
  }
});

test('each kexec failure is explained after a real run of the fake kexec', () => {
  for (const f of FAILURES.slice(0, 9)) {
    const { fk, root, done } = armedMachine('debian-grub', { ...RESERVED, ...(f.lockdown ? { lockdown: f.lockdown } : {}) });
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
  const { m, fk, root, done } = armedMachine('debian-grub', { ...RESERVED, loaded: true });
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
  const { m, root, done } = armedMachine('debian-grub', { ...RESERVED, loaded: true });
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

test('test-crash: refuses without --yes, when not loaded, and writes c to the fake trigger with --yes', () => {
  const { m, fk, root, done } = armedMachine('debian-grub', { ...RESERVED, loaded: false });
  try {
    m.set('/proc/sysrq-trigger', '');
    m.set('/proc/sys/kernel/sysrq', '176\n');
    const no = testCrash(root, { yes: false });
    assert.equal(no.ok, false);
    assert.match(no.summary, /add --yes/);
    assert.match(no.explanation.join('\n'), /crashes the machine NOW/);
    assert.equal(m.read('/proc/sysrq-trigger'), '');
    const notLoaded = testCrash(root, { yes: true });
    assert.equal(notLoaded.ok, false);
    assert.match(notLoaded.summary, /no capture kernel is loaded/);
    assert.equal(m.read('/proc/sysrq-trigger'), '');
    assert.equal(fk.syncs(), 0);
    m.set('/sys/kernel/kexec_crash_loaded', '1\n');
    m.set('/var/crash', undefined);
    assert.match(testCrash(root, { yes: true }).summary, /crash directory .*\/var\/crash does not exist/);
    m.set('/var/crash/.keep', '');
    const yes = testCrash(root, { yes: true });
    assert.equal(yes.ok, true, yes.summary);
    assert.equal(m.read('/proc/sysrq-trigger'), 'c');
    assert.equal(fk.syncs(), 1);
    assert.equal(yes.sysrq, '176');
    assert.equal(m.read('/proc/sys/kernel/sysrq'), '176\n', 'the sysrq mask is left alone');
  } finally {
    done();
  }
});

test('sysrq guard: the live trigger only with root / and --yes; never from a fake root', () => {
  assert.equal(sysrqWriteDecision({ fakeRoot: true, yes: true, targetIsLiveProc: false }).allowed, true);
  assert.equal(sysrqWriteDecision({ fakeRoot: true, yes: false, targetIsLiveProc: false }).allowed, false);
  assert.equal(sysrqWriteDecision({ fakeRoot: true, yes: true, targetIsLiveProc: true }).allowed, false);
  assert.equal(sysrqWriteDecision({ fakeRoot: false, yes: false, targetIsLiveProc: true }).allowed, false);
  assert.equal(sysrqWriteDecision({ fakeRoot: false, yes: true, targetIsLiveProc: false }).allowed, false);
  assert.equal(sysrqWriteDecision({ fakeRoot: false, yes: true, targetIsLiveProc: true }).allowed, true);
  // A plain file in a temp dir is not procfs; /proc/self/status is (read-only look, nothing written).
  const m = fakeMachine('debian-grub');
  try {
    m.set('/proc/sysrq-trigger', '');
    assert.equal(isLiveProcFile(m.root.path('/proc/sysrq-trigger')), false);
    assert.equal(isLiveProcFile('/proc/self/status'), true);
    // A fake root whose proc leads to the real procfs is recognised (only stat/realpath: nothing
    // is written, and testCrash is never called on such a root).
    m.set('/proc', undefined);
    symlinkSync('/proc', m.root.path('/proc'));
    assert.equal(isLiveProcFile(m.root.path('/proc/sysrq-trigger')), true);
  } finally {
    m.remove();
  }
  assert.equal(DEFAULT_CONFIG.dir, '/var/crash');
});
