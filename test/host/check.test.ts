import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCheck } from '../../src/host/check.js';
import { exitCodeFor, type CheckReport } from '../../src/host/findings.js';
import { HostRoot } from '../../src/host/root.js';
import { CONFIG_TEXT, LAYOUTS } from '../helpers/fake-roots.js';
import { finding, withHost } from '../helpers/fake-kdump-host.js';

function fails(r: CheckReport): string[] {
  return r.findings.filter((f) => f.status === 'fail').map((f) => `${f.id}: ${f.title}`);
}


for (const layout of LAYOUTS) {
  test(`check: a healthy ${layout} machine (reserved + loaded) has no failure and runs nothing`, () => {
    withHost(layout, (h) => {
      const r = runCheck(h.root);
      assert.deepEqual(fails(r), []);
      assert.equal(r.release, h.release);
      assert.equal(r.running, true);
      assert.equal(exitCodeFor(r.worst), 0);
      assert.match(finding(r, 'config.file').title, layout.startsWith('arch') ? /\/proc\/config\.gz$/ : /config/);
      assert.equal(finding(r, 'config.crash-dump').title, 'CONFIG_CRASH_DUMP=y');
      assert.equal(finding(r, 'cmdline.crashkernel').title, 'crashkernel=256M reserves 256M with 3.8G of RAM');
      assert.equal(finding(r, 'reserve.size').title, '256M reserved for the capture kernel');
      assert.equal(finding(r, 'reserve.iomem').title, '"Crash kernel" in /proc/iomem: 90000000-9fffffff (256M)');
      assert.equal(finding(r, 'kexec.binary').title, `kexec found: ${h.tools.dir}/kexec`);
      assert.equal(finding(r, 'capture.kernel').status, 'ok');
      assert.equal(finding(r, 'capture.initrd').status, 'ok');
      assert.equal(finding(r, 'config.kdumpkit').status, 'ok');
      // check only reads: the fake kexec and systemctl were never called.
      assert.equal(h.tools.calls(), '');
    });
  });
}

test('check: no crashkernel= on the command line fails, with the recommended value in the fix', () => {
  withHost('debian-grub', (h) => {
    const r = runCheck(h.root);
    const f = finding(r, 'cmdline.crashkernel');
    assert.equal(f.status, 'fail');
    assert.equal(f.title, 'no crashkernel= on the kernel command line');
    assert.match(f.fix!, /kdumpkit setup \(puts crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M on the boot command line\), then reboot/);
    assert.deepEqual(f.evidence, [h.root.path('/proc/cmdline')]);
    assert.equal(finding(r, 'reserve.size').status, 'fail');
    assert.equal(exitCodeFor(r.worst), 1);
  }, { crashkernel: undefined, loaded: false });
});

test('check: crashkernel= present but nothing reserved (kexec_crash_size 0) is a failed reservation', () => {
  withHost('fedora-bls', (h) => {
    h.set('/sys/kernel/kexec_crash_size', '0\n');
    h.set('/proc/iomem', '00100000-bffdffff : System RAM\n');
    const r = runCheck(h.root);
    assert.equal(finding(r, 'cmdline.crashkernel').status, 'ok');
    const f = finding(r, 'reserve.size');
    assert.equal(f.status, 'fail');
    assert.equal(f.title, 'crashkernel= is set but nothing was reserved (kexec_crash_size is 0)');
    assert.match(f.fix!, /dmesg \| grep -i crashkernel/);
    assert.equal(r.findings.some((x) => x.id === 'reserve.iomem'), false);
  });
});

test('check: bad crashkernel syntax and a range list that reserves nothing on this RAM', () => {
  withHost('arch-grub', (h) => {
    h.set('/proc/cmdline', 'root=UUID=x rw crashkernel=256Q\n');
    const f = finding(runCheck(h.root), 'cmdline.crashkernel');
    assert.equal(f.status, 'fail');
    assert.match(f.title, /^crashkernel=256Q is not valid: crashkernel: .* at index \d+$/);
    h.set('/proc/cmdline', 'root=UUID=x rw crashkernel=8G-:512M\n');
    const g = finding(runCheck(h.root), 'cmdline.crashkernel');
    assert.equal(g.status, 'fail');
    assert.equal(g.title, 'crashkernel=8G-:512M reserves nothing with 3.8G of RAM');
  });
});

test('check: a reservation below the recommendation warns (the capture kernel would run out of memory)', () => {
  withHost('debian-grub', (h) => {
    const r = runCheck(h.root);
    const f = finding(r, 'reserve.recommended');
    assert.equal(f.status, 'warn');
    assert.equal(f.title, 'reservation 128M is smaller than the recommended 192M for 3.8G of RAM');
    assert.match(f.fix!, /crashkernel = 1G-4G:192M,4G-64G:256M,64G-:512M in \/etc\/kdumpkit\.conf/);
    assert.equal(r.worst, 'warn');
    assert.equal(exitCodeFor(r.worst), 0);
    assert.equal(exitCodeFor(r.worst, true), 1);
  }, { crashkernel: { param: '128M', reservedBytes: 128n << 20n } });
});

test('check: /proc/iomem read as non-root hides addresses, and says so', () => {
  withHost('debian-grub', (h) => {
    h.set('/proc/iomem', '00000000-00000000 : Reserved\n00000000-00000000 : System RAM\n  00000000-00000000 : Crash kernel\n');
    const f = finding(runCheck(h.root), 'reserve.iomem');
    assert.equal(f.status, 'ok');
    assert.equal(f.title, '"Crash kernel" in /proc/iomem (1 range; addresses hidden: read as non-root)');
  });
});

test('check: capture kernel not loaded fails with kdumpkit load as the fix', () => {
  withHost('arch-systemd-boot', (h) => {
    const f = finding(runCheck(h.root), 'kexec.loaded');
    assert.equal(f.status, 'fail');
    assert.equal(f.title, 'no capture kernel loaded (kexec_crash_loaded is 0)');
    assert.match(f.fix!, /^kdumpkit load/);
  }, { loaded: false });
});

test('check: kernel config without CRASH_DUMP (and with KALLSYMS_ALL, BTF, ORC off) fails and warns per option', () => {
  withHost('debian-grub', (h) => {
    const cfg = CONFIG_TEXT.replace(/^CONFIG_CRASH_DUMP=y$/m, '# CONFIG_CRASH_DUMP is not set')
      .replace(/^CONFIG_KALLSYMS_ALL=y$/m, '# CONFIG_KALLSYMS_ALL is not set')
      .replace(/^CONFIG_DEBUG_INFO_BTF=y$/m, '# CONFIG_DEBUG_INFO_BTF is not set')
      .replace(/^CONFIG_UNWINDER_ORC=y$/m, '# CONFIG_UNWINDER_ORC is not set');
    h.set(`/boot/config-${h.release}`, cfg);
    const r = runCheck(h.root);
    const f = finding(r, 'config.crash-dump');
    assert.equal(f.status, 'fail');
    assert.equal(f.title, 'CONFIG_CRASH_DUMP is not set');
    assert.match(f.fix!, /scripts\/config --enable CRASH_DUMP/);
    assert.deepEqual(f.evidence, [h.root.path(`/boot/config-${h.release}`)]);
    for (const id of ['config.kallsyms-all', 'config.debug-info-btf']) assert.equal(finding(r, id).status, 'warn', id);
    if (process.arch === 'x64') assert.equal(finding(r, 'config.unwinder-orc').status, 'warn');
    assert.deepEqual(fails(r), ['config.crash-dump: CONFIG_CRASH_DUMP is not set']);
  });
});

test('check: a missing kernel config warns and names every path tried; Arch has only /proc/config.gz', () => {
  withHost('debian-grub', (h) => {
    h.set(`/boot/config-${h.release}`, undefined);
    const f = finding(runCheck(h.root), 'config.file');
    assert.equal(f.status, 'warn');
    assert.equal(f.title, `no kernel config found for ${h.release}`);
    assert.deepEqual(f.evidence, ['/proc/config.gz', `/boot/config-${h.release}`, `/lib/modules/${h.release}/config`, `/usr/lib/modules/${h.release}/config`].map((p) => h.root.path(p)));
  });
  withHost('arch-uki', (h) => {
    // Another release: /proc/config.gz describes the running kernel only, so nothing is found.
    h.set('/usr/lib/modules/6.13.0-arch1-1/vmlinuz', 'MZ fake');
    const r = runCheck(h.root, { release: '6.13.0-arch1-1' });
    assert.equal(r.running, false);
    assert.equal(finding(r, 'config.file').status, 'warn');
    assert.equal(r.findings.some((x) => x.id === 'btf.sysfs'), false);
    assert.equal(finding(r, 'capture.kernel').status, 'ok');
  });
});

test('check: a corrupt kernel config is a failure naming file:line; a corrupt config.gz names the file', () => {
  withHost('fedora-bls', (h) => {
    h.set(`/boot/config-${h.release}`, 'CONFIG_A=y\nthis is not kconfig\n');
    const f = finding(runCheck(h.root), 'config.file');
    assert.equal(f.status, 'fail');
    assert.match(f.title, new RegExp(`${h.root.path(`/boot/config-${h.release}`)}:2: expected 'CONFIG_NAME=value'`));
  });
  withHost('arch-grub', (h) => {
    h.set('/proc/config.gz', new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]));
    const f = finding(runCheck(h.root), 'config.file');
    assert.equal(f.status, 'fail');
    assert.match(f.title, new RegExp(`${h.root.path('/proc/config.gz')}: not a valid gzip stream`));
  });
});

test('check: malformed /etc/kdumpkit.conf is a failure naming file:line; a missing one only warns', () => {
  withHost('debian-grub', (h) => {
    h.set('/etc/kdumpkit.conf', 'level = 31\ncompress = rar\n');
    const f = finding(runCheck(h.root), 'config.kdumpkit');
    assert.equal(f.status, 'fail');
    assert.equal(f.title, `${h.root.path('/etc/kdumpkit.conf')}:2: compress must be one of zstd, zlib, lzo, snappy, none, got 'rar'`);
    h.set('/etc/kdumpkit.conf', undefined);
    assert.equal(finding(runCheck(h.root), 'config.kdumpkit').status, 'warn');
  });
});

test('check: no kexec on PATH fails with the distribution install command', () => {
  const expect: Record<string, string> = { 'debian-grub': 'apt install kexec-tools', 'fedora-bls': 'dnf install kexec-tools', 'arch-grub': 'pacman -S kexec-tools' };
  for (const [layout, cmd] of Object.entries(expect)) {
    withHost(layout as 'debian-grub', (h) => {
      const f = finding(runCheck(h.rootWithPath('')), 'kexec.binary');
      assert.equal(f.status, 'fail');
      assert.equal(f.title, 'kexec not found on PATH');
      assert.equal(f.fix, cmd);
    });
  }
});

/** A minimal PE32+ header; `certSize` > 0 fills the Certificate Table entry. */
function peImage(certSize: number): Uint8Array {
  const b = Buffer.alloc(0x200);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  const opt = 0x80 + 24;
  b.writeUInt16LE(0x20b, opt);
  b.writeUInt32LE(16, opt + 108);
  b.writeUInt32LE(certSize ? 0x180 : 0, opt + 112 + 32);
  b.writeUInt32LE(certSize, opt + 112 + 36);
  return b;
}

test('check: lockdown needs KEXEC_FILE and a signed capture kernel', () => {
  withHost('fedora-bls', (h) => {
    const r = runCheck(h.root);
    const f = finding(r, 'kexec.lockdown');
    assert.equal(f.status, 'fail');
    assert.equal(f.title, `lockdown is integrity: the capture kernel must be signed, but ${h.root.path(`/boot/vmlinuz-${h.release}`)} has no signature`);
    assert.match(f.fix!, /sbsign/);
    h.set(`/boot/vmlinuz-${h.release}`, peImage(0x40));
    assert.equal(finding(runCheck(h.root), 'kexec.lockdown').status, 'ok');
    h.set(`/boot/config-${h.release}`, CONFIG_TEXT.replace(/^CONFIG_KEXEC_FILE=y$/m, '# CONFIG_KEXEC_FILE is not set'));
    const g = finding(runCheck(h.root), 'kexec.lockdown');
    assert.equal(g.status, 'fail');
    assert.equal(g.title, 'lockdown is integrity and the kernel has no KEXEC_FILE: no capture kernel can be loaded');
  }, { lockdown: 'integrity' });
  withHost('debian-grub', (h) => {
    h.set('/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c', new Uint8Array([6, 0, 0, 0, 1]));
    assert.match(finding(runCheck(h.root), 'kexec.lockdown').title, /^lockdown is confidentiality \(Secure Boot on\): the capture kernel must be signed/);
  }, { lockdown: 'confidentiality' });
});

test('check: missing capture kernel image or initramfs fails; configured paths are used', () => {
  withHost('debian-grub', (h) => {
    h.set(`/boot/initrd.img-${h.release}`, undefined);
    const r = runCheck(h.root);
    assert.equal(finding(r, 'capture.initrd').status, 'fail');
    assert.equal(finding(r, 'capture.initrd').title, `no initramfs found for ${h.release}`);
    h.set('/etc/kdumpkit.conf', 'kernel = /boot/vmlinuz-capture\ninitrd = /boot/initrd-capture\n');
    h.set('/boot/initrd-capture', 'x');
    const s = runCheck(h.root);
    assert.equal(finding(s, 'capture.kernel').title, `capture kernel ${h.root.path('/boot/vmlinuz-capture')} does not exist`);
    assert.equal(finding(s, 'capture.initrd').status, 'ok');
  });
});

test('check: no BTF in /sys warns; a real System.map is reported, Debian\'s placeholder is not', () => {
  withHost('debian-grub', (h) => {
    h.set('/sys/kernel/btf/vmlinux', undefined);
    assert.equal(finding(runCheck(h.root), 'btf.sysfs').status, 'warn');
    assert.match(finding(runCheck(h.root), 'symbols.debuginfo').title, /is Debian's placeholder/);
    h.set(`/usr/lib/debug/boot/vmlinux-${h.release}`, '\x7fELF');
    h.set(`/boot/System.map-${h.release}`, 'ffffffff81000000 T _text\n');
    assert.equal(finding(runCheck(h.root), 'symbols.debuginfo').title, `symbols: System.map ${h.root.path(`/boot/System.map-${h.release}`)}, debug vmlinux ${h.root.path(`/usr/lib/debug/boot/vmlinux-${h.release}`)} (kallsyms is enough for kdumpkit)`);
  });
});

test('check: an empty root has no release to check and fails cleanly', () => {
  withHost('debian-grub', (h) => {
    const r = runCheck(new HostRoot(h.root.path('/var/crash'), { PATH: '' }));
    assert.equal(r.release, undefined);
    assert.equal(finding(r, 'config.file').status, 'fail');
    assert.equal(finding(r, 'cmdline.crashkernel').title, 'no /proc/cmdline to read');
  });
});

test('check: CONFIG_KEXEC_SIG_FORCE requires a signed capture kernel even without lockdown', () => {
  withHost('debian-grub', (h) => {
    h.set(`/boot/config-${h.release}`, CONFIG_TEXT.replace(/^# CONFIG_KEXEC_SIG_FORCE is not set$/m, 'CONFIG_KEXEC_SIG_FORCE=y'));
    const f = finding(runCheck(h.root), 'kexec.lockdown');
    assert.equal(f.status, 'fail');
    assert.match(f.title, /^CONFIG_KEXEC_SIG_FORCE=y: the capture kernel must be signed, but .* has no signature$/);
  });
});

test('check --release: another installed kernel is checked by its own config and files', () => {
  withHost('fedora-bls', (h) => {
    const other = '6.12.9-200.fc41.x86_64';
    h.set(`/lib/modules/${other}/config`, CONFIG_TEXT.replace(/^CONFIG_PROC_VMCORE=y$/m, '# CONFIG_PROC_VMCORE is not set'));
    h.set(`/lib/modules/${other}/vmlinuz`, 'MZ fake');
    h.set(`/boot/initramfs-${other}.img`, 'fake');
    const r = runCheck(h.root, { release: other });
    assert.equal(r.release, other);
    assert.equal(r.running, false);
    assert.equal(finding(r, 'config.file').title, `kernel config of ${other}: ${h.root.path(`/lib/modules/${other}/config`)}`);
    assert.deepEqual(fails(r), ['config.proc-vmcore: CONFIG_PROC_VMCORE is not set']);
    assert.equal(finding(r, 'capture.kernel').title, `capture kernel of ${other}: ${h.root.path(`/lib/modules/${other}/vmlinuz`)}`);
  });
});

test('check: capture kernel + initramfs against the reservation: fits, crowds it (warn), does not fit (fail)', () => {
  withHost('debian-grub', (h) => {
    const rd = `/boot/initrd.img-${h.release}`;
    const img = `/boot/vmlinuz-${h.release}`;
    h.set(img, Buffer.alloc(1 << 20));
    h.set(rd, Buffer.alloc(1 << 20));
    assert.deepEqual([finding(runCheck(h.root), 'reserve.fits').status, finding(runCheck(h.root), 'reserve.fits').title], ['ok', 'the capture kernel and initramfs (2M) take 25% of the 8M reservation']);
    h.set(rd, Buffer.alloc(4 << 20));
    const w = finding(runCheck(h.root), 'reserve.fits');
    assert.equal(w.status, 'warn');
    assert.equal(w.title, 'the capture kernel and initramfs (5M) take 63% of the 8M reservation');
    h.set(rd, Buffer.alloc(7 << 20));
    const f = finding(runCheck(h.root), 'reserve.fits');
    assert.equal(f.status, 'fail');
    assert.equal(f.title, 'the capture kernel and initramfs (8M) do not fit in the 8M reservation');
    assert.deepEqual(f.evidence, [img, rd].map((p) => h.root.path(p)));
  }, { crashkernel: { param: '8M', reservedBytes: 8n << 20n } });
});
