import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { IN_CI, REPO } from '../helpers/dumps.js';
import { fakeMachine } from '../helpers/fake-roots.js';
import { fakeBin, snapshotTree } from '../helpers/fake-bin.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

/** Runs the CLI with only the fakes on PATH and no terminal on stdin. */
function run(path: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { PATH: path, HOME: '/nonexistent' }, stdio: ['pipe', 'pipe', 'pipe'] });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function oneLineError(r: ReturnType<typeof run>, code: number, what: RegExp): void {
  assert.equal(r.code, code, r.stderr + r.stdout);
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0]!, /^kdumpkit: error: /);
  assert.match(lines[0]!, what);
  assert.ok(lines.length <= 2 && (lines.length === 1 || lines[1]!.startsWith('hint: ')), r.stderr);
}

const TOOLS = ['grub-mkconfig', 'systemctl', 'mkinitcpio'];

test('setup --help teaches: what it writes, safety, examples', () => {
  const r = run('', 'setup', '--help');
  assert.equal(r.code, 0);
  for (const s of [/Usage:\n {2}kdumpkit setup /, /kdumpkit-save\.service/, /\.kdumpkit-bak/, /Examples:/, /--dry-run/, /--json/, /--bootloader VALUE/]) assert.match(r.stdout, s);
});

test('setup --dry-run prints the diff and writes nothing; --json has the plan', () => {
  const bin = fakeBin(TOOLS);
  const m = fakeMachine('arch-grub');
  try {
    const snap = snapshotTree(m.dir);
    const r = run(bin.dir, 'setup', '--root', m.dir, '--dry-run', '--crashkernel', '256M');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Bootloader: grub \(\/etc\/default\/grub\)$/m);
    assert.match(r.stdout, /^crashkernel=256M \(from --crashkernel\)$/m);
    assert.match(r.stdout, /^-GRUB_CMDLINE_LINUX=""\n\+GRUB_CMDLINE_LINUX="crashkernel=256M"$/m);
    assert.match(r.stdout, /^\+\+\+ b\/etc\/systemd\/system\/kdumpkit-load\.service$/m);
    assert.match(r.stdout, new RegExp(`^  grub-mkconfig -o ${m.dir}/boot/grub/grub\\.cfg`, 'm'));
    assert.match(r.stdout, /^Reboot needed: /m);
    const j = run(bin.dir, 'setup', '--root', m.dir, '--dry-run', '--json');
    assert.equal(j.code, 0, j.stderr);
    const plan = JSON.parse(j.stdout) as { dryRun: boolean; bootloader: string; changes: Array<{ path: string; action: string; diff: string }>; actions: Array<{ argv: string[] }>; applied: unknown };
    assert.equal(plan.dryRun, true);
    assert.equal(plan.applied, null);
    assert.equal(plan.bootloader, 'grub');
    assert.deepEqual(plan.changes.map((c) => c.path).slice(0, 3), ['/etc/kdumpkit.conf', '/etc/systemd/system/kdumpkit-load.service', '/etc/systemd/system/kdumpkit-save.service']);
    assert.ok(plan.changes.every((c) => c.diff.startsWith('--- ')));
    assert.deepEqual(snapshotTree(m.dir), snap);
    assert.deepEqual(bin.calls(), []);
  } finally {
    m.remove();
  }
});

test('setup without a terminal and without --yes refuses and writes nothing', () => {
  const bin = fakeBin(TOOLS);
  const m = fakeMachine('debian-grub');
  try {
    const snap = snapshotTree(m.dir);
    oneLineError(run(bin.dir, 'setup', '--root', m.dir), 2, /not on a terminal, so nothing was written/);
    assert.deepEqual(snapshotTree(m.dir), snap);
    assert.deepEqual(bin.calls(), []);
  } finally {
    m.remove();
  }
});

test('setup --yes applies through the PATH fakes; the second run has nothing to change', () => {
  const bin = fakeBin(TOOLS);
  const m = fakeMachine('debian-grub');
  try {
    const r = run(bin.dir, 'setup', '--root', m.dir, '--yes');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wrote \/etc\/default\/grub$/m);
    assert.match(r.stdout, /^backup \/etc\/default\/grub\.kdumpkit-bak$/m);
    assert.match(r.stdout, /^skipped systemctl daemon-reload: /m);
    assert.deepEqual(bin.calls(), [
      ['grub-mkconfig', '-o', join(m.dir, 'boot/grub/grub.cfg')],
      ['systemctl', `--root=${m.dir}`, 'enable', 'kdumpkit-load.service', 'kdumpkit-pstore.service'],
    ]);
    // The units run this install's CLI by absolute path (no kdumpkit on PATH here).
    assert.ok(m.read('/etc/systemd/system/kdumpkit-load.service').includes(`ExecStart=${process.execPath} ${MAIN} load`));
    const snap = snapshotTree(m.dir);
    const again = run(bin.dir, 'setup', '--root', m.dir, '--yes');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^Nothing to change/m);
    assert.deepEqual(snapshotTree(m.dir), snap);
    assert.equal(bin.calls().length, 2);
    const json = JSON.parse(run(bin.dir, 'setup', '--root', m.dir, '--yes', '--json').stdout) as { changes: unknown[]; actions: unknown[] };
    assert.deepEqual([json.changes, json.actions], [[], []]);
  } finally {
    m.remove();
  }
});

test('setup errors: malformed config names file:line (exit 1); bad options are usage errors (exit 2)', () => {
  const m = fakeMachine('fedora-bls');
  try {
    m.set('/etc/kdumpkit.conf', 'level = 31\ncompress = gzip\n');
    const snap = snapshotTree(m.dir);
    oneLineError(run('', 'setup', '--root', m.dir, '--yes'), 1, new RegExp(`${m.dir}/etc/kdumpkit\\.conf:2: compress must be one of`));
    assert.deepEqual(snapshotTree(m.dir), snap);
    oneLineError(run('', 'setup', '--root', m.dir, '--bootloader', 'lilo'), 2, /unknown --bootloader 'lilo'/);
    oneLineError(run('', 'setup', '--root', m.dir, '--crashkernel', '256Q'), 2, /bad --crashkernel '256Q'/);
  } finally {
    m.remove();
  }
});

/** Runs the CLI on a pseudo-terminal (python3's pty module), answering the confirmation prompt. */
function runOnTty(path: string, answer: string, ...args: string[]): { code: number | null; out: string } {
  const py = `import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execve(sys.argv[1], sys.argv[1:-2], {'PATH': sys.argv[-2]})
out, sent = b'', False
while True:
    try:
        d = os.read(fd, 65536)
    except OSError:
        break
    if not d:
        break
    out += d
    if not sent and b'[y/N]' in out:
        os.write(fd, sys.argv[-1].encode() + b'\\n')
        sent = True
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.exit(os.waitstatus_to_exitcode(st))`;
  const r = spawnSync('python3', ['-c', py, process.execPath, MAIN, ...args, path, answer], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout };
}

test('on a terminal setup shows the diff and asks; no keeps everything, yes applies', (t) => {
  if (spawnSync('python3', ['-c', 'import pty'], { encoding: 'utf8' }).status !== 0) {
    if (IN_CI) assert.fail('python3 missing (CI installs it)');
    return t.skip('python3 not installed');
  }
  const bin = fakeBin(TOOLS);
  const m = fakeMachine('arch-systemd-boot');
  try {
    const snap = snapshotTree(m.dir);
    const no = runOnTty(bin.dir, 'n', 'setup', '--root', m.dir);
    assert.equal(no.code, 1, no.out);
    assert.match(no.out, /\+options root=UUID=\S+ rw crashkernel=/);
    assert.match(no.out, /Apply these changes\? \[y\/N\]/);
    assert.match(no.out, /Nothing was written\./);
    assert.deepEqual(snapshotTree(m.dir), snap);
    const yes = runOnTty(bin.dir, 'y', 'setup', '--root', m.dir);
    assert.equal(yes.code, 0, yes.out);
    assert.match(m.read('/boot/loader/entries/arch.conf'), /^options .* crashkernel=/m);
    assert.deepEqual(bin.calls(), [['systemctl', `--root=${m.dir}`, 'enable', 'kdumpkit-load.service', 'kdumpkit-pstore.service']]);
  } finally {
    m.remove();
  }
});
