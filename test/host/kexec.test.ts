import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kexecMachine, RESERVED } from '../helpers/fake-kexec.js';
import type { HostRoot } from '../../src/host/root.js';
import { readKdumpState } from '../../src/host/state.js';
import { readConfig } from '../../src/host/config.js';
import { chooseSyscall, kexecFileConfigured, planLoad, unloadArgv } from '../../src/host/kexec.js';
import { load } from '../../src/host/load.js';

const UUID = '61ac8f48-ac5c-4f69-823b-bb89fdae68c4';
const CAPTURE = 'nr_cpus=1 reset_devices irqpoll systemd.unit=kdumpkit-save.service systemd.mask=kdumpkit-load.service panic=10';

function plan(root: HostRoot, syscall?: 'auto' | 'file' | 'load') {
  return planLoad(root, readKdumpState(root), readConfig(root).config, syscall ? { syscall } : {});
}

test('Debian: kexec -p /boot/vmlinuz-R --initrd=/boot/initrd.img-R --append=<running cmdline less BOOT_IMAGE/quiet/crashkernel, plus capture options>', () => {
  const { m, root, done } = kexecMachine('debian-grub');
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

test("Fedora: /boot/initramfs-R.img, never kdump-utils' initramfs-Rkdump.img (it runs kdump-utils' save)", () => {
  const { m, root, done } = kexecMachine('fedora-bls');
  try {
    const r = m.release;
    assert.deepEqual(plan(root).argv, ['kexec', '-p', m.root.path(`/boot/vmlinuz-${r}`), `--initrd=${m.root.path(`/boot/initramfs-${r}.img`)}`, `--append=root=UUID=${UUID} ro rootflags=subvol=root rhgb ${CAPTURE}`]);
    m.set(`/var/lib/kdump/initramfs-${r}kdump.img`, 'kdump initramfs (new place)');
    m.set(`/boot/initramfs-${r}kdump.img`, 'kdump initramfs');
    const p = plan(root);
    assert.equal(p.initrd.path, `/boot/initramfs-${r}.img`);
    assert.match(p.initrd.from, /the initramfs of/);
    // Without /boot/vmlinuz-R the kernel comes from /lib/modules/R/vmlinuz.
    m.set(`/boot/vmlinuz-${r}`, undefined);
    assert.equal(plan(root).kernel.path, `/lib/modules/${r}/vmlinuz`);
  } finally {
    done();
  }
});

test('Arch: pkgbase names /boot/vmlinuz-linux and /boot/initramfs-linux.img; systemd-boot initrd= is dropped', () => {
  for (const layout of ['arch-grub', 'arch-systemd-boot', 'arch-uki'] as const) {
    const { m, root, done } = kexecMachine(layout);
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
  const { m, root, done } = kexecMachine('debian-grub', { ...RESERVED, lockdown: 'integrity' });
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
  const { m, root, done } = kexecMachine('debian-grub');
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

test('size: kernel + initrd larger than the reservation refuses; a tight estimate warns', () => {
  const { m, fk, root, done } = kexecMachine('debian-grub', { crashkernel: { param: '16M', reservedBytes: 16n << 20n } });
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
