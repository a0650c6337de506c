import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { HostRoot } from '../../src/host/root.js';
import { buildInitramfs, initScript, MARKER, parseLdd } from '../../src/rehearse/initramfs.js';
import { qemuArgs } from '../../src/rehearse/qemu.js';
import { chooseCrashkernel, chooseRelease, firstCmdline, rehearse, vmCaptureCmdline } from '../../src/rehearse/rehearse.js';
import { KdumpkitError } from '../../src/util/errors.js';
import { IN_CI } from '../helpers/dumps.js';

const REL = '6.1.0-56-amd64';

/** A fake machine with what a rehearsal reads: kernel, modules, busybox, kexec (static fakes). */
function fakeHost(omit: readonly string[] = [], env: Record<string, string> = { PATH: '' }): { dir: string; root: HostRoot; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'rehearse-host-'));
  const files: Record<string, string> = {
    [`boot/vmlinuz-${REL}`]: 'fake bzImage',
    [`boot/config-${REL}`]: 'CONFIG_RD_GZIP=y\nCONFIG_CRASH_DUMP=y\n',
    [`lib/modules/${REL}/modules.dep`]: 'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio.ko:\nkernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\n',
    [`lib/modules/${REL}/kernel/drivers/virtio/virtio_pci.ko`]: 'ELF virtio_pci',
    [`lib/modules/${REL}/kernel/drivers/virtio/virtio.ko`]: 'ELF virtio',
    [`lib/modules/${REL}/kernel/drivers/block/virtio_blk.ko`]: 'ELF virtio_blk',
    'bin/busybox': 'fake busybox',
    'usr/sbin/kexec': 'fake kexec',
    'proc/sys/kernel/osrelease': `${REL}\n`,
  };
  for (const [p, c] of Object.entries(files)) {
    if (omit.some((o) => p.startsWith(o))) continue;
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  return { dir, root: new HostRoot(dir, env), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A PATH with a fake `ldd` (kexec is static here) and optionally a fake qemu that must never run. */
function fakeBin(withQemu: boolean): string {
  const bin = mkdtempSync(join(tmpdir(), 'rehearse-bin-'));
  writeFileSync(join(bin, 'ldd'), '#!/bin/sh\necho "\tnot a dynamic executable"; exit 1\n');
  chmodSync(join(bin, 'ldd'), 0o755);
  if (withQemu) {
    writeFileSync(join(bin, 'qemu-system-x86_64'), '#!/bin/sh\necho "fake qemu must not run" >&2; exit 3\n');
    chmodSync(join(bin, 'qemu-system-x86_64'), 0o755);
  }
  return bin;
}

function cpioNames(archive: Buffer): string[] {
  const r = spawnSync('cpio', ['-it', '--quiet'], { input: archive, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

test('parseLdd takes resolved libraries and the loader, not the vDSO', () => {
  const out = '\tlinux-vdso.so.1 (0x00007ffd)\n\tlibxenctrl.so.4.17 => /lib/x86_64-linux-gnu/libxenctrl.so.4.17 (0x00007f8d)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f8d)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f8d)\n';
  assert.deepEqual(parseLdd(out), ['/lib/x86_64-linux-gnu/libxenctrl.so.4.17', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
  assert.deepEqual(parseLdd('\tnot a dynamic executable\n'), []);
});

test('the init script: capture branch on /proc/vmcore, kexec -p with the capture cmdline, one crash per mode', () => {
  const s = initScript('sysrq', ['virtio', 'virtio_blk']);
  assert.match(s, /^#!\/bin\/busybox sh\n/);
  assert.match(s, /if \[ -e \/proc\/vmcore \]; then/);
  assert.match(s, /for m in virtio virtio_blk; do/);
  assert.match(s, /kexec -p \/vmlinuz --initrd=\/capture\.img --append="\$\(cat \/capture-cmdline\)"/);
  assert.match(s, /echo c > \/proc\/sysrq-trigger/);
  assert.ok(s.indexOf('dd if=/proc/vmcore of=/dev/vda bs=1M oflag=direct') < s.indexOf(`${MARKER} first-kernel-up`));
  const p = initScript('panic', []);
  assert.doesNotMatch(p, /sysrq-trigger/);
  assert.match(p, /\nexit 1\n/);
});

test('the VM command lines: reservation on the first, captureCmdline() less systemd units on the capture kernel', () => {
  const first = firstCmdline('192M');
  assert.equal(first, 'console=ttyS0 crashkernel=192M loglevel=7 panic=1');
  const cap = vmCaptureCmdline(first, 'nokaslr panic=30');
  assert.equal(cap, 'console=ttyS0 loglevel=7 nr_cpus=1 reset_devices irqpoll panic=10 nokaslr panic=30');
  assert.deepEqual(chooseCrashkernel(undefined, '', 1024), { value: '192M', source: 'recommend' });
  assert.deepEqual(chooseCrashkernel(undefined, '1G-4G:256M', 1024), { value: '1G-4G:256M', source: 'config' });
  assert.deepEqual(chooseCrashkernel('64M', '1G-4G:256M', 1024), { value: '64M', source: 'option' });
  assert.throws(() => chooseCrashkernel('64Q', '', 1024), /bad --crashkernel '64Q'/);
  assert.throws(() => chooseCrashkernel(undefined, '', 512), /reserves nothing for 512M/);
});

test('builds both initramfs archives from a fake root: busybox, kexec, modules in order, init, kernel, capture image', (t) => {
  if (spawnSync('cpio', ['--version']).status !== 0) {
    if (IN_CI) assert.fail('GNU cpio missing');
    t.skip('GNU cpio not installed');
    return;
  }
  const bin = fakeBin(false);
  const h = fakeHost([], { PATH: bin });
  try {
    const r = buildInitramfs({ root: h.root, release: REL, kernelImage: `/boot/vmlinuz-${REL}`, mode: 'sysrq', captureCmdline: 'console=ttyS0 nr_cpus=1' });
    assert.deepEqual(r.modules.load.map((m) => m.name), ['virtio', 'virtio_pci', 'virtio_blk']);
    assert.deepEqual(r.libraries, []);
    const names = cpioNames(gunzipSync(r.first));
    for (const n of ['init', 'bin/busybox', 'sbin/kexec', 'dev/console', 'capture-cmdline', 'lib/modules/rehearse/virtio_blk.ko', 'vmlinuz', 'capture.img']) assert.ok(names.includes(n), n);
    const inner = gunzipSync(spawnSync('cpio', ['-i', '--quiet', '--to-stdout', 'capture.img'], { input: gunzipSync(r.first) }).stdout);
    assert.equal(inner.length > 0 && r.captureBytes > 0, true);
    const capNames = cpioNames(inner);
    assert.ok(capNames.includes('init') && capNames.includes('lib/modules/rehearse/virtio.ko'));
    assert.ok(!capNames.includes('vmlinuz') && !capNames.includes('capture.img'), 'the capture initramfs holds neither the kernel nor itself');
    const cmd = spawnSync('cpio', ['-i', '--quiet', '--to-stdout', 'capture-cmdline'], { input: inner, encoding: 'utf8' }).stdout;
    assert.equal(cmd, 'console=ttyS0 nr_cpus=1\n');
  } finally {
    h.remove();
    rmSync(bin, { recursive: true, force: true });
  }
});

async function errorOf(p: Promise<unknown>): Promise<KdumpkitError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof KdumpkitError, String(e));
    return e;
  }
  assert.fail('expected an error');
}

test('missing pieces are one-line errors naming the Debian package to install; QEMU never starts', async () => {
  const bin = fakeBin(true);
  const noQemu = fakeBin(false);
  const cases: [string[], string, RegExp, RegExp][] = [
    [[], noQemu, /qemu-system-x86_64 is not on PATH/, /apt-get install qemu-system-x86/],
    [['bin/busybox'], bin, /busybox not found/, /apt-get install busybox-static/],
    [['usr/sbin/kexec'], bin, /kexec not found/, /apt-get install kexec-tools/],
    [['boot/vmlinuz'], bin, /no kernel image for 6\.1\.0-56-amd64/, /apt-get install linux-image-6\.1\.0-56-amd64/],
  ];
  try {
    for (const [omit, path, msg, hint] of cases) {
      const h = fakeHost(omit, { PATH: path });
      try {
        const e = await errorOf(rehearse({ root: h.root, release: REL }));
        assert.match(e.message, msg);
        assert.match(e.hint ?? '', hint);
        assert.doesNotMatch(e.message, /\n/);
      } finally {
        h.remove();
      }
    }
    const h = fakeHost(['boot/vmlinuz', 'proc'], { PATH: bin });
    try {
      assert.throws(() => chooseRelease(h.root, undefined), /no kernel image in .*\/boot/);
    } finally {
      h.remove();
    }
  } finally {
    rmSync(bin, { recursive: true, force: true });
    rmSync(noQemu, { recursive: true, force: true });
  }
});

test('QEMU arguments: TCG with -cpu max by default, KVM with the host CPU; no reboot; the dump disk raw on virtio', () => {
  const base = { qemu: 'q', kernel: '/boot/k', initrd: '/tmp/i', append: 'console=ttyS0', memoryMb: 768, disk: '/tmp/d', timeoutSeconds: 60, consoleLog: '/tmp/c' };
  const tcg = qemuArgs({ ...base, accel: 'tcg' });
  const at = (a: string[], flag: string): string | undefined => a[a.indexOf(flag) + 1];
  assert.equal(at(tcg, '-machine'), 'q35,accel=tcg');
  assert.equal(at(tcg, '-cpu'), 'max');
  assert.equal(at(tcg, '-m'), '768');
  assert.equal(at(tcg, '-serial'), 'stdio');
  assert.equal(at(tcg, '-append'), 'console=ttyS0');
  assert.equal(at(tcg, '-drive'), 'file=/tmp/d,format=raw,if=virtio');
  assert.ok(tcg.includes('-no-reboot'));
  assert.equal(at(qemuArgs({ ...base, accel: 'kvm' }), '-cpu'), 'host,-arch-capabilities');
});
