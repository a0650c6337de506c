import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpioWriter, writeCpio } from '../../src/rehearse/cpio.js';
import { IN_CI } from '../helpers/dumps.js';

function haveCpio(t: { skip: (m: string) => void }): boolean {
  if (spawnSync('cpio', ['--version']).status === 0) return true;
  if (IN_CI) assert.fail('GNU cpio is missing (CI installs it)');
  t.skip('GNU cpio is not installed');
  return false;
}

const ARCHIVE = () =>
  writeCpio([
    { kind: 'file', path: '/bin/busybox', data: Buffer.from('#!fake busybox\n'), mode: 0o755 },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'dir', path: 'proc' },
    { kind: 'file', path: 'lib/modules/rehearse/virtio.ko', data: Buffer.alloc(4097, 0xab) },
    { kind: 'file', path: 'init', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
  ]);

test('newc header layout: magic, 13 hex fields, name padded to 4, trailer last', () => {
  const a = writeCpio([{ kind: 'file', path: 'abc', data: Buffer.from('12345') }]);
  assert.equal(a.subarray(0, 6).toString(), '070701');
  const field = (i: number): number => parseInt(a.subarray(6 + 8 * i, 14 + 8 * i).toString(), 16);
  assert.equal(field(1), 0o100644); // mode: regular file 0644
  assert.equal(field(6), 5); // filesize
  assert.equal(field(11), 4); // namesize "abc\0"
  // 110 + 4 = 114 -> padded to 116; data 5 -> padded to 8
  assert.equal(a.subarray(110, 114).toString(), 'abc\0');
  assert.equal(a.subarray(116, 121).toString(), '12345');
  assert.equal(a.length % 4, 0);
  assert.match(a.subarray(124).toString('latin1'), /^070701.{104}TRAILER!!!\0/);
});

test('parents are added once, before their children; duplicates are refused', () => {
  const w = new CpioWriter();
  w.add({ kind: 'file', path: 'a/b/c', data: Buffer.from('x') });
  assert.ok(w.has('a') && w.has('a/b') && w.has('/a/b/c'));
  assert.throws(() => w.add({ kind: 'dir', path: 'a/b' }), /added twice/);
  assert.throws(() => w.add({ kind: 'file', path: '../etc/passwd', data: Buffer.alloc(0) }), /bad cpio path/);
  const text = w.finish().toString('latin1');
  assert.ok(text.indexOf('a\0') < text.indexOf('a/b\0') && text.indexOf('a/b\0') < text.indexOf('a/b/c\0'));
});

test('GNU cpio lists our archive with the right types, sizes and link targets', (t) => {
  if (!haveCpio(t)) return;
  const r = spawnSync('cpio', ['-itv', '--quiet'], { input: ARCHIVE(), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const byName = new Map(lines.map((l) => [/ 1970 (.*)$/.exec(l)![1]!, l]));
  assert.deepEqual([...byName.keys()], ['bin', 'bin/busybox', 'bin/sh -> busybox', 'dev', 'dev/console', 'proc', 'lib', 'lib/modules', 'lib/modules/rehearse', 'lib/modules/rehearse/virtio.ko', 'init']);
  assert.match(byName.get('bin/busybox')!, /^-rwxr-xr-x\s+1 root\s+root\s+15 /);
  assert.match(byName.get('dev/console')!, /^crw-------\s+1 root\s+root\s+5,\s+1 /);
  assert.match(byName.get('bin')!, /^drwxr-xr-x/);
  assert.match(byName.get('lib/modules/rehearse/virtio.ko')!, /\s4097\s/);
});

test('GNU cpio extracts our archive byte for byte', (t) => {
  if (!haveCpio(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'cpio-test-'));
  try {
    const r = spawnSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames', '--nonmatching', 'dev/console'], { input: ARCHIVE(), cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(dir, 'init'), 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal(statSync(join(dir, 'init')).mode & 0o777, 0o755);
    assert.deepEqual(readFileSync(join(dir, 'lib/modules/rehearse/virtio.ko')), Buffer.alloc(4097, 0xab));
    assert.equal(readlinkSync(join(dir, 'bin/sh')), 'busybox');
    assert.ok(statSync(join(dir, 'proc')).isDirectory());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
