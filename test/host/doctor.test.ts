import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { dumpSpaceNeeded, mountOf, runDoctor, unitState } from '../../src/host/doctor.js';
import { type CheckReport } from '../../src/host/findings.js';
import { LAYOUTS } from '../helpers/fake-roots.js';
import { finding, withHost } from '../helpers/fake-kdump-host.js';

function fails(r: CheckReport): string[] {
  return r.findings.filter((f) => f.status !== 'ok').map((f) => `${f.status} ${f.id}: ${f.title}`);
}


for (const layout of LAYOUTS) {
  test(`doctor: a healthy ${layout} machine has no warning, no failure and nothing to diagnose`, () => {
    withHost(layout, (h) => {
      const r = runDoctor(h.root);
      assert.deepEqual(fails(r), []);
      assert.deepEqual(r.diagnosis, []);
      assert.equal(finding(r, 'units.load').title, 'kdumpkit-load.service is installed and enabled');
      assert.equal(finding(r, 'target.dir').title, `crash directory ${h.root.path('/var/crash')} exists and is writable (ext4 on /)`);
      assert.match(finding(r, 'capture.cmdline').title, / nr_cpus=1 reset_devices irqpoll systemd\.unit=kdumpkit-save\.service systemd\.mask=kdumpkit-load\.service panic=10$/);
      assert.doesNotMatch(finding(r, 'capture.cmdline').title, /crashkernel=|quiet/);
      assert.equal(h.tools.calls(), '', 'doctor never runs systemctl or kexec');
    });
  });
}

test('doctor: crashkernel missing walks to "not reserved" with setup as the remedy', () => {
  withHost('debian-grub', (h) => {
    const r = runDoctor(h.root);
    const d = r.diagnosis![0]!;
    assert.equal(d.problem, 'crash memory is not reserved');
    assert.deepEqual(d.causes, ['no crashkernel= on the kernel command line']);
    assert.equal(d.remedy[0], 'kdumpkit setup (adds crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M for this bootloader)');
    assert.equal(r.diagnosis![1]!.problem, 'no capture kernel is loaded');
  }, { crashkernel: undefined, loaded: false });
});

test('doctor: crashkernel set but reservation 0 lists the likely causes', () => {
  withHost('debian-grub', (h) => {
    h.set('/sys/kernel/kexec_crash_size', '0\n');
    const d = runDoctor(h.root).diagnosis![0]!;
    assert.equal(d.problem, 'crash memory is not reserved although crashkernel= is set (the reservation failed at boot)');
    assert.deepEqual(d.causes, [
      '3G is more than half of the 3.8G of RAM: too big to find as one free block',
      '@16M asks for a fixed address that is not free RAM on this machine: drop the @offset and let the kernel choose',
      ...(process.arch === 'x64' ? ['3G must fit below 4G as one block, which firmware and devices fragment: use crashkernel=3G,high'] : []),
      'the kernel logs the reason at boot: dmesg | grep -i crashkernel',
    ]);
  }, { crashkernel: { param: '3G@16M', reservedBytes: 0n }, loaded: false });
});

test('doctor: load unit not enabled, masked, or missing; save unit missing', () => {
  withHost('fedora-bls', (h) => {
    h.set('/etc/systemd/system/multi-user.target.wants/kdumpkit-load.service', undefined);
    let r = runDoctor(h.root);
    assert.equal(finding(r, 'units.load').title, 'kdumpkit-load.service is installed but not enabled');
    assert.equal(finding(r, 'units.load').fix, 'systemctl enable kdumpkit-load.service');
    assert.equal(r.diagnosis![0]!.problem, 'a capture kernel is loaded now, but will not be after the next boot');
    h.link('/etc/systemd/system/kdumpkit-load.service', '/dev/null');
    r = runDoctor(h.root);
    assert.equal(finding(r, 'units.load').title, 'kdumpkit-load.service is masked');
    assert.equal(unitState(h.root, 'kdumpkit-load.service').masked, true);
    h.set('/etc/systemd/system/kdumpkit-load.service', undefined);
    h.set('/etc/systemd/system/kdumpkit-save.service', undefined);
    r = runDoctor(h.root);
    assert.equal(finding(r, 'units.load').title, 'kdumpkit-load.service is not installed');
    assert.equal(finding(r, 'units.save').title, 'kdumpkit-save.service is not installed');
    assert.deepEqual(r.diagnosis!.map((d) => d.problem), ['a capture kernel is loaded now, but will not be after the next boot', 'the capture kernel would boot but save nothing']);
    // A unit shipped by a package under /usr/lib counts as installed.
    h.set('/usr/lib/systemd/system/kdumpkit-save.service', 'x');
    assert.equal(finding(runDoctor(h.root), 'units.save').status, 'ok');
  });
});

test('doctor: a reservation below the recommendation is the "boots but saves nothing" cause', () => {
  withHost('arch-grub', (h) => {
    const r = runDoctor(h.root);
    const d = r.diagnosis!.find((x) => x.problem === 'the capture kernel would boot but save nothing');
    assert.ok(d);
    assert.match(d.causes[0]!, /^reservation 64M is smaller than the recommended 192M for 3\.8G of RAM: the capture kernel runs out of memory/);
    assert.match(d.remedy[0]!, /^raise the reservation: crashkernel = 1G-4G:192M/);
  }, { crashkernel: { param: '64M', reservedBytes: 64n << 20n } });
});

test('doctor: capture kernel and initramfs larger than the reservation is a load failure cause', () => {
  withHost('debian-grub', (h) => {
    h.set(`/boot/initrd.img-${h.release}`, Buffer.alloc(3 << 20));
    const d = runDoctor(h.root).diagnosis![0]!;
    assert.equal(d.problem, 'no capture kernel is loaded');
    assert.match(d.causes.join('\n'), /the capture kernel and initramfs \(3\.0M\) do not fit in the 2M reservation: kexec fails/);
  }, { crashkernel: { param: '2M', reservedBytes: 2n << 20n }, loaded: false });
});

test('doctor: crash directory missing, not a directory, on tmpfs, read-only, unwritable', () => {
  withHost('debian-grub', (h) => {
    h.set('/var/crash', undefined);
    let f = finding(runDoctor(h.root), 'target.dir');
    assert.equal(f.status, 'fail');
    assert.equal(f.title, `crash directory ${h.root.path('/var/crash')} does not exist`);
    assert.equal(f.fix, 'mkdir -m 0700 -p /var/crash');
    h.set('/var/crash', 'a file');
    assert.match(finding(runDoctor(h.root), 'target.dir').title, /is not a directory$/);
    h.set('/var/crash', undefined);
    h.set('/srv/dumps/.keep', '');
    h.set('/etc/kdumpkit.conf', 'dir = /srv/dumps\n');
    h.set('/proc/mounts', '/dev/vda1 / ext4 rw 0 0\ntmpfs /srv tmpfs rw,size=1g 0 0\n');
    f = finding(runDoctor(h.root), 'target.dir');
    assert.equal(f.title, 'crash directory /srv/dumps is on tmpfs (/srv)');
    h.set('/proc/mounts', '/dev/vda1 / ext4 rw 0 0\n/dev/vdb1 /srv/dumps xfs ro,relatime 0 0\n');
    f = finding(runDoctor(h.root), 'target.dir');
    assert.equal(f.title, `crash directory ${h.root.path('/srv/dumps')} is not writable (/srv/dumps is mounted read-only)`);
    if (process.getuid?.() !== 0) {
      h.set('/proc/mounts', '/dev/vda1 / ext4 rw 0 0\n');
      chmodSync(h.root.path('/srv/dumps'), 0o555);
      assert.match(finding(runDoctor(h.root), 'target.dir').title, /is not writable$/);
    }
  });
});

test('doctor: too little free space for a level-31 dump of this RAM fails (disk full)', () => {
  // 1 PiB of RAM: a quarter of it is more than any test machine's /tmp.
  withHost('fedora-bls', (h) => {
    const r = runDoctor(h.root);
    const f = finding(r, 'target.space');
    assert.equal(f.status, 'fail');
    assert.match(f.title, /^only .* free for dumps in \/var\/crash; a level-31 dump of 1P of RAM may need 256T$/);
    assert.equal(r.diagnosis!.at(-1)!.problem, 'dumps do not fit, or an earlier save was cut short');
  }, { memTotalKiB: 2 ** 40, crashkernel: { param: '1G-4G:192M,4G-64G:256M,64G-:512M', reservedBytes: 512n << 20n } });
  assert.equal(dumpSpaceNeeded(16n << 30n, 31), 4n << 30n);
  assert.equal(dumpSpaceNeeded(16n << 30n, 1), 16n << 30n);
});

test('doctor: incomplete dumps, conflicting kdump services, nokaslr and a pending crashkernel change warn', () => {
  withHost('debian-grub', (h) => {
    h.set('/var/crash/2026-11-30-10:00:00/vmcore.incomplete', 'x');
    h.set('/var/crash/2026-11-30-10:00:00/dmesg.txt', 'x');
    h.set('/var/crash/2026-11-29-09:00:00/vmcore', 'x');
    h.set('/lib/systemd/system/kdump-tools.service', 'x');
    h.link('/etc/systemd/system/multi-user.target.wants/kdump-tools.service', '/lib/systemd/system/kdump-tools.service');
    h.set('/proc/cmdline', `BOOT_IMAGE=/boot/vmlinuz-${h.release} root=UUID=x ro quiet nokaslr crashkernel=256M\n`);
    h.set('/etc/kdumpkit.conf', 'crashkernel = 384M\n');
    const r = runDoctor(h.root);
    const inc = finding(r, 'target.incomplete');
    assert.equal(inc.status, 'warn');
    assert.equal(inc.title, '1 incomplete dump file in /var/crash');
    assert.deepEqual(inc.evidence, [h.root.path('/var/crash/2026-11-30-10:00:00/vmcore.incomplete')]);
    const conflict = finding(r, 'units.conflict');
    assert.equal(conflict.title, 'kdump-tools.service is enabled too (Debian/Ubuntu kdump-tools)');
    assert.equal(conflict.fix, 'apt remove kdump-tools, or systemctl disable kdump-tools.service');
    assert.equal(finding(r, 'cmdline.nokaslr').status, 'warn');
    assert.equal(finding(r, 'cmdline.pending').title, `running with crashkernel=256M but ${h.root.path('/etc/kdumpkit.conf')} says 384M`);
    assert.equal(r.worst, 'warn');
  });
});

test('mountOf picks the longest mount point holding the path and decodes octal escapes', () => {
  withHost('debian-grub', (h) => {
    h.set('/proc/mounts', '/dev/vda1 / ext4 rw 0 0\n/dev/vdb /var xfs rw 0 0\n/dev/vdc /var/crash\\040dir ext4 ro 0 0\n');
    assert.equal(mountOf(h.root, '/var/crash')?.point, '/var');
    assert.equal(mountOf(h.root, '/var/crash dir/x')?.point, '/var/crash dir');
    assert.equal(mountOf(h.root, '/variable')?.point, '/');
  });
});

test('doctor: uncollected pstore records warn with the kdumpkit pstore command', () => {
  withHost('arch-systemd-boot', (h) => {
    h.set('/sys/fs/pstore/dmesg-efi-173301234501001', 'Panic#1 Part1\n<0>Kernel panic - not syncing: sysrq triggered crash\n');
    h.set('/sys/fs/pstore/dmesg-efi-173301234502001.enc.z', new Uint8Array([0x78, 0x9c]));
    const f = finding(runDoctor(h.root), 'pstore.records');
    assert.equal(f.status, 'warn');
    assert.equal(f.title, '2 uncollected pstore records in /sys/fs/pstore');
    assert.equal(f.fix, 'kdumpkit pstore --dir /var/crash (collects them into the crash directory, then clears them)');
    assert.equal(f.evidence?.length, 2);
    h.set('/sys/fs/pstore/dmesg-efi-173301234501001', undefined);
    h.set('/sys/fs/pstore/dmesg-efi-173301234502001.enc.z', undefined);
    assert.equal(runDoctor(h.root).findings.some((x) => x.id === 'pstore.records'), false);
  });
});
