import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from '../helpers/dumps.js';
import { kexecMachine as machine, RESERVED, type FakeKexec } from '../helpers/fake-kexec.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with the fake kexec's directory as the whole PATH: the real kexec is never found. */
function cli(fk: FakeKexec, ...args: string[]): Run {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { PATH: fk.bin } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One `kdumpkit: error:` line, maybe a hint, no stack. */
function assertOneLineError(r: Run, code: number, what: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0]!, /^kdumpkit: error: /);
  assert.match(lines[0]!, what);
  assert.ok(lines.length <= 2 && (lines.length === 1 || lines[1]!.startsWith('hint: ')), r.stderr);
}

test('help teaches for load, unload, status, test-crash', () => {
  const { fk, done } = machine('debian-grub');
  try {
    for (const cmd of ['load', 'unload', 'status', 'test-crash']) {
      const h = cli(fk, cmd, '--help');
      assert.equal(h.code, 0);
      assert.match(h.stdout, new RegExp(`Usage:\\n  kdumpkit ${cmd}`));
      assert.match(h.stdout, /Examples:/);
      assert.match(h.stdout, /--json/);
      assert.match(h.stdout, /Exit code/);
    }
    assert.match(cli(fk, '--help').stdout, /test-crash\s+crash the machine NOW/);
    assertOneLineError(cli(fk, 'load', '--syscall', 'magic'), 2, /--syscall magic: not one of auto, file, load/);
  } finally {
    done();
  }
});

test('load --dry-run prints the exact argv and runs nothing; load runs it; status exit codes follow', () => {
  const { m, fk, done } = machine('arch-grub');
  try {
    const st0 = cli(fk, 'status', '--root', m.dir);
    assert.equal(st0.code, 1, 'not armed yet');
    assert.match(st0.stdout, /NOT armed: memory is reserved but no capture kernel is loaded/);
    assert.match(st0.stdout, /reserved:\s+256M \(268435456 bytes\)/);
    assert.match(st0.stdout, /iomem range:\s+0x90000000-0x9fffffff/);

    const dry = cli(fk, 'load', '--root', m.dir, '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`would run: kexec -p ${m.dir}/boot/vmlinuz-linux --initrd=${m.dir}/boot/initramfs-linux.img '--append=root=UUID=`));
    assert.deepEqual(fk.calls(), []);

    const js = JSON.parse(cli(fk, 'load', '--root', m.dir, '--json').stdout);
    assert.equal(js.ok, true);
    assert.equal(js.loadedAfter, true);
    assert.deepEqual(fk.calls(), [js.plan.argv.slice(1)]);
    assert.equal(js.plan.argv[2], `${m.dir}/boot/vmlinuz-linux`);

    const st = cli(fk, 'status', '--root', m.dir, '--json');
    assert.equal(st.code, 0);
    const sj = JSON.parse(st.stdout);
    assert.equal(sj.armed, true);
    assert.equal(sj.reservation.bytes, '0x10000000');

    const un = cli(fk, 'unload', '--root', m.dir);
    assert.equal(un.code, 0, un.stderr);
    assert.match(un.stdout, /capture kernel unloaded/);
    assert.deepEqual(fk.calls()[1], ['-p', '-u']);
    assert.equal(cli(fk, 'status', '--root', m.dir).code, 1);
  } finally {
    done();
  }
});

test('load under lockdown passes -s; a kexec failure is explained in one error line with the fix', () => {
  const { m, fk, done } = machine('fedora-bls', { ...RESERVED, lockdown: 'integrity' });
  try {
    fk.fail('kexec_file_load failed: Key was rejected by service\n');
    const r = cli(fk, 'load', '--root', m.dir);
    assertOneLineError(r, 1, /load: kexec failed \(exit 1\): the kernel checked the capture kernel image's signature and rejected it/);
    assert.match(r.stderr, /hint: Load a kernel signed by a trusted key/);
    assert.match(r.stdout, /\| kexec_file_load failed: Key was rejected by service/);
    assert.deepEqual(fk.calls()[0]!.slice(0, 2), ['-p', '-s']);
  } finally {
    done();
  }
});

test('no reservation: load refuses before running kexec, naming the file', () => {
  const { m, fk, done } = machine('debian-grub', {});
  try {
    const r = cli(fk, 'load', '--root', m.dir);
    assertOneLineError(r, 1, new RegExp(`load: not loaded: ${m.dir}/sys/kernel/kexec_crash_size is 0: no memory is reserved`));
    assert.match(r.stderr, /hint: Run 'kdumpkit setup'/);
    assert.deepEqual(fk.calls(), []);
    const st = cli(fk, 'status', '--root', m.dir);
    assert.equal(st.code, 1);
    assert.match(st.stdout, /NOT armed: no memory is reserved/);
  } finally {
    done();
  }
});

test('test-crash: explains and refuses without --yes; refuses when not loaded; writes c with --yes', () => {
  const { m, fk, done } = machine('debian-grub', { ...RESERVED, loaded: false });
  try {
    m.set('/proc/sysrq-trigger', '');
    const no = cli(fk, 'test-crash', '--root', m.dir);
    assertOneLineError(no, 1, /test-crash: refused: add --yes/);
    assert.match(no.stdout, /This crashes the machine NOW/);
    assert.equal(m.read('/proc/sysrq-trigger'), '');
    const notLoaded = cli(fk, 'test-crash', '--root', m.dir, '--yes');
    assertOneLineError(notLoaded, 1, /no capture kernel is loaded/);
    assert.match(notLoaded.stderr, /hint: Run 'kdumpkit load' first/);
    assert.equal(m.read('/proc/sysrq-trigger'), '');
    assert.equal(cli(fk, 'load', '--root', m.dir).code, 0);
    const yes = cli(fk, 'test-crash', '--root', m.dir, '--yes', '--json');
    assert.equal(yes.code, 0, yes.stderr);
    assert.equal(JSON.parse(yes.stdout).triggered, `${m.dir}/proc/sysrq-trigger`);
    assert.equal(m.read('/proc/sysrq-trigger'), 'c');
    assert.equal(fk.syncs(), 1);
  } finally {
    done();
  }
});

test('a malformed /etc/kdumpkit.conf is one error naming file and line; kexec is not run', () => {
  const { m, fk, done } = machine('debian-grub');
  try {
    m.set('/etc/kdumpkit.conf', 'level = 31\nkernal = /boot/vmlinuz\n');
    for (const cmd of ['load', 'status', 'test-crash']) {
      assertOneLineError(cli(fk, cmd, '--root', m.dir, ...(cmd === 'test-crash' ? ['--yes'] : [])), 1, new RegExp(`${m.dir}/etc/kdumpkit.conf:2: unknown key 'kernal'`));
    }
    assert.deepEqual(fk.calls(), []);
  } finally {
    done();
  }
});

test('status lists what load would refuse on (missing initrd)', () => {
  const { m, fk, done } = machine('debian-grub', { ...RESERVED, loaded: true });
  try {
    m.set(`/boot/initrd.img-${m.release}`, undefined);
    const st = cli(fk, 'status', '--root', m.dir);
    assert.equal(st.code, 0, 'still armed: the loaded kernel is in memory');
    assert.match(st.stdout, /argv:\s+\(cannot be built: see the checks\)/);
    assert.match(st.stdout, /problems:\n {2}\[FAIL\] no initrd found for kernel 6\.1\.0-56-amd64: tried .*\/boot\/initrd\.img-6\.1\.0-56-amd64/);
  } finally {
    done();
  }
});
