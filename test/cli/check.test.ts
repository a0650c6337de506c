import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/dumps.js';
import { kdumpHost, type KdumpHost } from '../helpers/fake-kdump-host.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

function run(h: KdumpHost | undefined, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  // PATH holds only the recording fakes, so nothing real could ever be found and run.
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, PATH: h?.tools.dir ?? '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function withHost(fn: (h: KdumpHost) => void, o: Parameters<typeof kdumpHost>[1] = {}): void {
  const h = kdumpHost('debian-grub', o);
  try {
    fn(h);
  } finally {
    h.remove();
  }
}

test('check and doctor --help teach: what is checked, statuses, exit codes, examples', () => {
  for (const cmd of ['check', 'doctor']) {
    const r = run(undefined, cmd, '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^Usage:\\n  kdumpkit ${cmd} \\[--root DIR\\] \\[--release R\\]`));
    assert.match(r.stdout, /Exit status: 0 when nothing failed \(warnings allowed\), 1 when at least one finding failed/);
    assert.match(r.stdout, /Examples:/);
    assert.match(r.stdout, /--json/);
  }
  assert.match(run(undefined, '--help').stdout, /\n {2}check +will the next crash be captured\?/);
});

test('check on a healthy fake root: aligned plain text without colour, exit 0, fakes never called', () => {
  withHost((h) => {
    const r = run(h, 'check', '--root', h.dir);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], `kdumpkit check: kernel ${h.release}, root ${h.dir}`);
    assert.ok(lines.includes('ok    CONFIG_CRASH_DUMP=y'));
    assert.ok(lines.includes('ok    a capture kernel is loaded (kexec_crash_loaded is 1)'));
    assert.ok(!r.stdout.includes('\x1b['), 'no colour when not a TTY');
    assert.match(lines.at(-2)!, /^\d+ ok, 0 warnings, 0 failures: a crash would be captured and analyzed\.$/);
    assert.equal(h.tools.calls(), '');
  });
});

test('check --json: findings with id/status/title/why/fix/evidence, counts, worst and the exit code', () => {
  withHost((h) => {
    const r = run(h, 'check', '--root', h.dir, '--json');
    assert.equal(r.code, 1);
    const j = JSON.parse(r.stdout) as { command: string; release: string; worst: string; exitCode: number; counts: { fail: number }; findings: { id: string; status: string; title: string; fix?: string; evidence?: string[] }[] };
    assert.equal(j.command, 'check');
    assert.equal(j.release, h.release);
    assert.equal(j.worst, 'fail');
    assert.equal(j.exitCode, 1);
    const loaded = j.findings.find((f) => f.id === 'kexec.loaded')!;
    assert.equal(loaded.status, 'fail');
    assert.match(loaded.fix!, /^kdumpkit load/);
    assert.deepEqual(loaded.evidence, [join(h.dir, '/sys/kernel/kexec_crash_loaded')]);
    assert.equal(j.counts.fail, j.findings.filter((f) => f.status === 'fail').length);
  }, { loaded: false });
});

test('check: warnings exit 0, or 1 with --strict; failures print why, fix and the file', () => {
  withHost((h) => {
    assert.equal(run(h, 'check', '--root', h.dir).code, 0);
    const strict = run(h, 'check', '--root', h.dir, '--strict');
    assert.equal(strict.code, 1);
    assert.match(strict.stdout, /\nWARN {2}reservation 128M is smaller than the recommended 192M for 3\.8G of RAM\n {6}why: .*\n {6}fix: Set crashkernel = 1G-4G:192M,4G-64G:256M,64G-:512M in \/etc\/kdumpkit\.conf and run kdumpkit setup, then reboot\n {6}from: /);
  }, { crashkernel: { param: '128M', reservedBytes: 128n << 20n } });
});

test('check: malformed kdumpkit.conf is a FAIL line naming file:line, exit 1', () => {
  withHost((h) => {
    h.set('/etc/kdumpkit.conf', '# mine\nlevel = 40\n');
    const r = run(h, 'check', '--root', h.dir);
    assert.equal(r.code, 1);
    assert.ok(r.stdout.includes(`FAIL  ${h.dir}/etc/kdumpkit.conf:2: level must be 0..31, got '40'\n`), r.stdout);
  });
});

test('doctor --json has the diagnosis; text shows it numbered', () => {
  withHost((h) => {
    const j = JSON.parse(run(h, 'doctor', '--root', h.dir, '--json').stdout) as { command: string; diagnosis: { problem: string; causes: string[]; remedy: string[] }[] };
    assert.equal(j.command, 'doctor');
    assert.deepEqual(j.diagnosis.map((d) => d.problem), ['crash memory is not reserved', 'no capture kernel is loaded']);
    const t = run(h, 'doctor', '--root', h.dir);
    assert.equal(t.code, 1);
    assert.match(t.stdout, /\nDiagnosis \(.*\):\n {2}1\. crash memory is not reserved\n {7}cause: no crashkernel= on the kernel command line\n {7}remedy: kdumpkit setup/);
    assert.equal(h.tools.calls(), '');
  }, { crashkernel: undefined, loaded: false });
});

test('usage errors: --root that is not a directory, a bad --release, unknown options exit 2', () => {
  const a = run(undefined, 'check', '--root', '/nonexistent/root');
  assert.equal(a.code, 2);
  assert.equal(a.stderr.split('\n')[0], 'kdumpkit: error: check: --root /nonexistent/root is not a directory');
  const b = run(undefined, 'doctor', '--root', '/tmp', '--release', '../../etc');
  assert.equal(b.code, 2);
  assert.match(b.stderr, /^kdumpkit: error: doctor: bad --release '\.\.\/\.\.\/etc'\n/);
  assert.equal(run(undefined, 'check', '--frob').code, 2);
  assert.equal(run(undefined, 'check', 'extra').code, 2);
});

test('doctor as an ordinary user: an unreadable 0700 crash directory warns (run as root) instead of failing', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to start a child as another user');
  withHost((h) => {
    chmodSync(h.dir, 0o755);
    h.set('/var/crash/2026-11-30-10:00:00/vmcore', 'x');
    chmodSync(join(h.dir, 'var/crash'), 0o700);
    const r = spawnSync(process.execPath, [MAIN, 'doctor', '--root', h.dir, '--json'], { encoding: 'utf8', uid: 65534, gid: 65534, env: { PATH: h.tools.dir } });
    assert.equal(r.stderr, '');
    const j = JSON.parse(r.stdout) as { findings: { id: string; status: string; title: string }[] };
    const dir = j.findings.find((f) => f.id === 'target.dir')!;
    assert.equal(dir.status, 'warn');
    assert.equal(dir.title, `crash directory ${join(h.dir, '/var/crash')} is not writable by this user (uid 65534); the save runs as root`);
    const inc = j.findings.find((f) => f.id === 'target.incomplete')!;
    assert.equal(inc.status, 'warn');
    assert.match(inc.title, /^cannot look for incomplete dumps: .*var\/crash: cannot list: EACCES$/);
  });
});
