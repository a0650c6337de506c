import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCrashkernel, reservedFor } from '../../src/host/crashkernel.js';
import { approxSize, KDUMP_UTILS_DEFAULTS, normalizeArch, readRamBytes, recommend, UBUNTU_DEFAULT, type Arch } from '../../src/host/recommend.js';

const M = 1n << 20n;
const G = 1n << 30n;
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('recommend: the table by RAM size and architecture', () => {
  const table: [Arch, bigint, bigint | undefined][] = [
    ['x86_64', 512n * M, undefined],
    ['x86_64', 1n * G, 192n * M],
    ['x86_64', 4n * G - 1n, 256n * M], // rounded up to 4G by the kernel
    ['x86_64', 4n * G - 128n * M, 192n * M],
    ['x86_64', 16n * G, 256n * M],
    ['x86_64', 64n * G, 512n * M],
    ['x86_64', 1024n * G, 512n * M],
    ['s390x', 8n * G, 256n * M],
    ['riscv64', 2n * G, 192n * M],
    ['aarch64', 512n * M, undefined],
    ['aarch64', 2n * G, 256n * M],
    ['aarch64', 32n * G, 320n * M],
    ['aarch64', 128n * G, 576n * M],
    ['ppc64le', 1n * G, undefined],
    ['ppc64le', 3n * G, 384n * M],
    ['ppc64le', 8n * G, 512n * M],
    ['ppc64le', 32n * G, 1n * G],
    ['ppc64le', 96n * G, 2n * G],
    ['ppc64le', 256n * G, 4n * G],
  ];
  for (const [arch, ram, want] of table) {
    const r = recommend({ ramBytes: ram, arch });
    assert.equal(r.crashkernel, KDUMP_UTILS_DEFAULTS[arch]);
    assert.equal(r.reserves?.size, want, `${arch} ${ram}`);
    // What it says it reserves is what the parser says the kernel reserves.
    assert.deepEqual(r.reserves, reservedFor(parseCrashkernel(r.crashkernel), ram, { arch }));
  }
});

test('recommend: network targets get 64M more per entry', () => {
  const r = recommend({ ramBytes: 16n * G, arch: 'x86_64', dumpTarget: 'network' });
  assert.equal(r.crashkernel, '1G-4G:256M,4G-64G:320M,64G-:576M');
  assert.equal(r.reserves?.size, 320n * M);
  assert.ok(r.reasoning.some((l) => /network/.test(l)));
  assert.equal(recommend({ ramBytes: 16n * G, arch: 'ppc64le', dumpTarget: 'network' }).crashkernel, '2G-4G:448M,4G-16G:576M,16G-64G:1088M,64G-128G:2112M,128G-:4160M');
});

test('recommend: the reasons cite kdump-utils and compare with Ubuntu', () => {
  const r = recommend({ ramBytes: 16n * G, arch: 'x86_64' });
  const text = r.reasoning.join('\n');
  assert.match(text, /kdump-utils/);
  assert.ok(text.includes(UBUNTU_DEFAULT));
  assert.match(text, /Ubuntu's default .* would reserve 512M here/);
  assert.match(text, /With 16G of RAM this reserves 256M/);
  const small = recommend({ ramBytes: 768n * M, arch: 'x86_64' });
  assert.equal(small.reserves, undefined);
  assert.match(small.reasoning.join('\n'), /nothing is reserved: below 1G/);
  assert.match(recommend({ ramBytes: 16n * G, arch: 'aarch64' }).reasoning.join('\n'), /aarch64 reserves more/);
});

test('normalizeArch maps process.arch names', () => {
  assert.equal(normalizeArch('x64'), 'x86_64');
  assert.equal(normalizeArch('arm64'), 'aarch64');
  assert.equal(normalizeArch('ppc64'), 'ppc64le');
  assert.equal(normalizeArch('AMD64'), 'x86_64');
  assert.equal(normalizeArch('mips'), undefined);
  assert.equal(approxSize(16n * G), '16G');
  assert.equal(approxSize(16318284n * 1024n), '15.6G');
});

function fakeRoot(meminfo: string | undefined): string {
  const root = mkdtempSync(join(tmpdir(), 'kdumpkit-recommend-'));
  mkdirSync(join(root, 'proc'));
  if (meminfo !== undefined) writeFileSync(join(root, 'proc', 'meminfo'), meminfo);
  return root;
}

test('readRamBytes reads MemTotal from <root>/proc/meminfo', async () => {
  assert.equal(await readRamBytes(fakeRoot('MemTotal:       16318284 kB\nMemFree:         1000 kB\n')), 16318284n * 1024n);
  await assert.rejects(readRamBytes(fakeRoot('MemFree: 1 kB\n')), /no 'MemTotal: N kB' line/);
  await assert.rejects(readRamBytes(fakeRoot(undefined)), /cannot read .*meminfo: ENOENT/);
});

test('kdumpkit recommend: text, JSON, --root, errors', () => {
  const t = run('recommend', '--ram', '16G', '--arch', 'x86_64');
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M\n/);
  assert.match(t.stdout, /RAM 16G \(x86_64\): reserves 256M/);
  assert.match(t.stdout, /Why:\n {2}- /);

  const j = run('recommend', '--ram', '64G', '--arch', 'arm64', '--network', '--json');
  assert.equal(j.code, 0, j.stderr);
  const json = JSON.parse(j.stdout) as { crashkernel: string; arch: string; ramBytes: number; reserves: { size: string; sizeBytes: number } };
  assert.equal(json.crashkernel, '1G-4G:320M,4G-64G:384M,64G-:640M');
  assert.equal(json.arch, 'aarch64');
  assert.equal(json.ramBytes, 64 * 2 ** 30);
  assert.deepEqual(json.reserves, { size: '640M', sizeBytes: 640 * 2 ** 20 });

  const root = fakeRoot('MemTotal:        3930000 kB\n');
  const r = run('recommend', '--root', root, '--arch', 'x86_64', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { reserves: { size: string } }).reserves.size, '192M');

  const none = run('recommend', '--ram', '512M', '--arch', 'x86_64', '--json');
  assert.equal((JSON.parse(none.stdout) as { reserves: unknown }).reserves, null);

  const badRam = run('recommend', '--ram', '16Q');
  assert.equal(badRam.code, 2, badRam.stderr);
  assert.match(badRam.stderr, /bad --ram '16Q'/);
  const badArch = run('recommend', '--ram', '16G', '--arch', 'mips');
  assert.equal(badArch.code, 2);
  assert.match(badArch.stderr, /unknown architecture 'mips'/);

  const help = run('recommend', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /kdump-utils/);
  assert.match(help.stdout, /Ubuntu/);
  assert.match(help.stdout, /Examples:/);
  assert.match(run('--help').stdout, /recommend\s+which crashkernel=/);
});
