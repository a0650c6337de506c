/**
 * End to end: `kdumpkit save` inside a real capture kernel (QEMU, TCG), reading the real
 * /proc/vmcore through mmap (fs/proc/vmcore.c mmap_vmcore), with the host's node over
 * virtio-9p (scripts/capture-kernel-save.sh). Its output must equal, byte for byte, a save of
 * the same dump made on the host with read(2) only (--no-mmap). Missing qemu, busybox, kexec or
 * a kernel with 9p modules: a skip locally, a failure in CI (which installs them).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IN_CI, REPO } from '../helpers/dumps.js';

function pickKernel(t: TestContext): string | undefined {
  const missing: string[] = [];
  if (spawnSync('sh', ['-c', 'command -v qemu-system-x86_64']).status !== 0) missing.push('qemu-system-x86_64 (qemu-system-x86)');
  if (!existsSync('/bin/busybox')) missing.push('/bin/busybox (busybox-static)');
  if (!existsSync('/usr/sbin/kexec')) missing.push('kexec (kexec-tools)');
  const releases = existsSync('/boot')
    ? readdirSync('/boot')
        .filter((n) => n.startsWith('vmlinuz-'))
        .map((n) => n.slice(8))
        .filter((r) => spawnSync('modinfo', ['-k', r, '-n', '9pnet_virtio']).status === 0)
        .sort()
    : [];
  const release = releases.at(-1);
  if (!release) missing.push('a kernel with its modules (linux-image-amd64)');
  if (missing.length === 0) return release;
  if (IN_CI) assert.fail(`missing ${missing.join(', ')}`);
  t.skip(`missing ${missing.join(', ')}`);
  return undefined;
}

test('save in a real capture kernel: /proc/vmcore read through mmap gives the bytes a pread save of the same dump gives', { timeout: 1_800_000 }, (t) => {
  const release = pickKernel(t);
  if (!release) return;
  const out = mkdtempSync(join(tmpdir(), 'kdumpkit-capture-'));
  try {
    const r = spawnSync(join(REPO, 'scripts', 'capture-kernel-save.sh'), [out, '2048', '31', 'zlib', release], { encoding: 'utf8', timeout: 1_700_000 });
    const said = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.status, 0, said.slice(-3000));
    assert.match(r.stdout, /^CAP: capture kernel up, vmcore size \d+$/m);
    assert.match(r.stdout, /^CAP: save rc=0$/m);
    // The helper is built by npm ci in CI; the capture kernel must then have used the maps.
    if (IN_CI || existsSync(join(REPO, 'build', 'kdumpkit_mmap.node'))) assert.match(r.stdout, /"read": "mmap"/);
    assert.match(r.stdout, /^OK: the save made in the capture kernel from \/proc\/vmcore equals the host's save of the same dump \(\d+ bytes, level 31, zlib\)$/m);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
