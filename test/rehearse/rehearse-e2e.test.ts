/**
 * End to end: a real rehearsal of an installed Debian kernel in QEMU (TCG), through the CLI.
 * The host is only read: a fake root whose /boot, /lib, /lib64, /bin and /usr link to the real
 * ones (kernel, modules, busybox, kexec and its libraries) and whose own /etc/kdumpkit.conf
 * says how to save, so the test never uses root '/'. Missing qemu or kernel: a skip locally,
 * a failure in CI (which installs them).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostRoot } from '../../src/host/root.js';
import { IN_CI, REPO } from '../helpers/dumps.js';

const PREFERRED = '6.1.0-56-amd64';

function pickKernel(t: TestContext): string | undefined {
  const host = new HostRoot('/');
  const missing: string[] = [];
  if (!host.which('qemu-system-x86_64')) missing.push('qemu-system-x86_64 (apt-get install qemu-system-x86)');
  if (!existsSync('/bin/busybox') && !existsSync('/usr/bin/busybox')) missing.push('busybox (busybox-static)');
  if (!existsSync('/usr/sbin/kexec') && !existsSync('/sbin/kexec')) missing.push('kexec (kexec-tools)');
  const installed = existsSync('/boot') ? readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-')).map((n) => n.slice(8)).filter((r) => existsSync(`/lib/modules/${r}/modules.dep`)) : [];
  const release = installed.includes(PREFERRED) ? PREFERRED : installed.sort().at(0);
  if (!release) missing.push(`a kernel (apt-get install linux-image-${PREFERRED})`);
  if (missing.length === 0) return release;
  const why = `missing ${missing.join(', ')}`;
  if (IN_CI) assert.fail(why);
  t.skip(why);
  return undefined;
}

function fakeRoot(conf: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rehearse-e2e-'));
  for (const d of ['boot', 'lib', 'lib64', 'bin', 'usr']) if (existsSync(`/${d}`)) symlinkSync(`/${d}`, join(dir, d));
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'etc/kdumpkit.conf'), conf);
  return dir;
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO, 'dist/src/cli/main.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// 768M of RAM keeps the copy of /proc/vmcore short (its size is the RAM outside the
// reservation); 192M is what recommend.ts gives a 1-4G machine.
test('a rehearsal of a Debian kernel passes every stage and the analysis names the sysrq crash', { timeout: 1_200_000 }, async (t) => {
  const release = pickKernel(t);
  if (!release) return;
  const root = fakeRoot('level = 31\ncompress = zstd\ncrashkernel = 192M\n');
  const keep = join(root, 'crash');
  try {
    const r = await cli(['rehearse', '--root', root, '--kernel', release, '--memory', '768', '--keep', keep, '--json']);
    for (const l of r.stderr.trim().split('\n')) t.diagnostic(l);
    const rep = JSON.parse(r.stdout) as { passed: boolean; crashkernel: string; crashkernelSource: string; captureCmdline: string; stages: { id: string; status: string; seconds: number; detail: string }[]; analysis: { kind: string; sentence: string }; kept: { dumpDir: string } };
    const failed = rep.stages.find((s) => s.status !== 'ok');
    assert.equal(failed, undefined, `stage '${failed?.id}' failed: ${failed?.detail}`);
    assert.equal(r.code, 0);
    assert.equal(rep.passed, true);
    assert.deepEqual(rep.stages.map((s) => s.id), ['first-boot', 'reservation', 'capture-load', 'crash', 'capture-boot', 'dump-saved', 'dump-collected', 'dump-analyzed']);
    assert.equal(rep.crashkernel, '192M');
    assert.equal(rep.crashkernelSource, 'config');
    assert.match(rep.captureCmdline, /nr_cpus=1 reset_devices irqpoll/);
    assert.doesNotMatch(rep.captureCmdline, /systemd\./);
    const times = rep.stages.map((s) => s.seconds);
    assert.deepEqual([...times].sort((a, b) => a - b).slice(-3), times.slice(-3), 'host stages come after the VM stages');
    assert.equal(rep.analysis.kind, 'sysrq');
    // The saved dump is in the catalog layout, files 0600 in a 0700 directory.
    assert.match(rep.kept.dumpDir, /\/\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d$/);
    assert.equal(statSync(rep.kept.dumpDir).mode & 0o777, 0o700);
    for (const f of ['vmcore', 'dmesg.txt']) assert.equal(statSync(join(rep.kept.dumpDir, f)).mode & 0o777, 0o600, f);
    assert.ok(existsSync(join(keep, 'console.log')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('with crashkernel=64M the rehearsal fails: the capture kernel does not come up, the reservation is blamed', { timeout: 900_000 }, async (t) => {
  const release = pickKernel(t);
  if (!release) return;
  const root = fakeRoot('');
  try {
    const t0 = performance.now();
    const r = await cli(['rehearse', '--root', root, '--kernel', release, '--memory', '768', '--crashkernel', '64M']);
    for (const l of r.stderr.trim().split('\n')) t.diagnostic(l);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^FAILED: rehearsal failed: the capture kernel did not come up/m);
    assert.match(r.stdout, /^hint: The capture kernel did not come up; the crashkernel reservation \(64M\) is the likely cause/m);
    assert.match(r.stdout, /reservation made\s+ok/);
    assert.match(r.stdout, /capture kernel (loaded|booted)\s+FAIL/);
    assert.match(r.stdout, /dump analyzed\s+-/);
    // Found from the console, not by waiting for the 600 s timeout.
    assert.ok(performance.now() - t0 < 400_000, 'detected long before the timeout');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
