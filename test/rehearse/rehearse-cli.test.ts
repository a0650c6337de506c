import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/dumps.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');
const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

test('rehearse --help explains the stages, the reservation default and the packages', () => {
  const r = run(['rehearse', '--help']);
  assert.equal(r.status, 0);
  for (const s of ['first kernel booted', 'reservation made', 'capture kernel loaded', 'capture kernel booted', 'dump saved', 'dump analyzed', 'qemu-system-x86', 'busybox-static', 'kexec-tools', '--find-min-crashkernel', 'Examples:']) assert.ok(r.stdout.includes(s), s);
  assert.match(run(['--help']).stdout, /rehearse\s+prove the kdump setup works/);
});

test('usage errors exit 2 with one line; a missing qemu exits 1 naming the package', () => {
  for (const [args, what] of [
    [['rehearse', '--mode', 'nmi'], /--mode nmi: not one of sysrq, panic/],
    [['rehearse', '--memory', 'lots'], /--memory 'lots': not a whole number/],
    [['rehearse', '--crashkernel', '64M', '--find-min-crashkernel'], /exclude each other/],
    [['rehearse', 'extra'], /unexpected argument 'extra'/],
  ] as const) {
    const r = run([...args]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr.split('\n')[0]!, what);
  }
  const root = mkdtempSync(join(tmpdir(), 'rehearse-cli-'));
  try {
    const r = run(['rehearse', '--root', root], { PATH: root });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^kdumpkit: error: qemu-system-x86_64 is not on PATH\nhint: Install it: apt-get install qemu-system-x86\n$/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
