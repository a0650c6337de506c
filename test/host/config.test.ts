import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEFAULT_CONFIG, formatConfig, parseConfig, readConfig } from '../../src/host/config.js';
import { HostRoot } from '../../src/host/root.js';
import { kernelFiles, osIds, runningRelease } from '../../src/host/boot-images.js';

function fakeRoot(files: Record<string, string>): HostRoot {
  const dir = mkdtempSync(join(tmpdir(), 'kdk-root-'));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  return new HostRoot(dir, { PATH: '' });
}

test('config: canonical text parses back to the same values, and formatting is idempotent', () => {
  const c = { ...DEFAULT_CONFIG, cmdline: 'console=ttyS0,115200 quiet', crashkernel: '1G-4G:192M,4G-64G:256M', level: 17, compress: 'zlib' as const, early: true, keep: 0 };
  const text = formatConfig(c);
  assert.deepEqual(parseConfig(text), c);
  assert.equal(formatConfig(parseConfig(text)), text);
  assert.match(text, /^cmdline = console=ttyS0,115200 quiet$/m);
  assert.match(text, /^early = yes$/m);
});

test('config: an empty file is the defaults; comments and blank lines are ignored', () => {
  assert.deepEqual(parseConfig(''), DEFAULT_CONFIG);
  assert.deepEqual(parseConfig('# hi\n\n   # indented\nlevel=1\n').level, 1);
});

test('config: bad lines name the file and line', () => {
  const cases: [string, RegExp][] = [
    ['levle = 31', /f\.conf:1: unknown key 'levle'/],
    ['\nlevel = 32', /f\.conf:2: level must be 0\.\.31, got '32'/],
    ['compress = bzip2', /compress must be one of zstd, zlib, lzo, snappy, none/],
    ['early = maybe', /early must be yes or no/],
    ['dir = var/crash', /dir must be an absolute path/],
    ['crashkernel = 256Q', /f\.conf:1: bad crashkernel value/],
    ['level = 1\nlevel = 2', /f\.conf:2: 'level' is already set on line 1/],
    ['just words', /expected 'key = value'/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => parseConfig(text, 'f.conf'),
      (e: unknown) => e instanceof ConfigError && re.test(e.message),
      text,
    );
  }
});

test('config: readConfig reads through the root, defaults when absent', () => {
  const none = fakeRoot({});
  assert.equal(readConfig(none).exists, false);
  assert.deepEqual(readConfig(none).config, DEFAULT_CONFIG);
  const some = fakeRoot({ '/etc/kdumpkit.conf': 'dir = /srv/crash\n' });
  const r = readConfig(some);
  assert.equal(r.exists, true);
  assert.equal(r.config.dir, '/srv/crash');
  assert.equal(r.path, join(some.dir, 'etc/kdumpkit.conf'));
});

test('root: paths, reads and listings stay under the root; which() uses PATH only', () => {
  const r = fakeRoot({ '/etc/a': 'x', '/etc/b': 'y' });
  assert.equal(r.isFake, true);
  assert.equal(new HostRoot('/').isFake, false);
  assert.equal(r.read('/etc/a'), 'x');
  assert.equal(r.read('/etc/missing'), undefined);
  assert.equal(r.read('/etc/a/below-a-file'), undefined);
  assert.deepEqual(r.list('/etc'), ['a', 'b']);
  assert.deepEqual(r.list('/nope'), []);
  assert.equal(r.which('sh'), undefined, 'empty PATH finds nothing');
  assert.equal(new HostRoot('/', { PATH: '/bin:/usr/bin' }).which('sh') !== undefined, true);
  assert.throws(() => r.path('relative'));
});

test('boot images: Debian, Fedora and Arch layouts', () => {
  const debian = fakeRoot({
    '/proc/sys/kernel/osrelease': '6.1.0-56-amd64\n',
    '/etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n',
    '/boot/vmlinuz-6.1.0-56-amd64': '',
    '/boot/initrd.img-6.1.0-56-amd64': '',
    '/boot/config-6.1.0-56-amd64': '',
  });
  assert.equal(runningRelease(debian), '6.1.0-56-amd64');
  assert.deepEqual(osIds(debian), ['debian']);
  const d = kernelFiles(debian, '6.1.0-56-amd64');
  assert.equal(d.image, '/boot/vmlinuz-6.1.0-56-amd64');
  assert.equal(d.initrd, '/boot/initrd.img-6.1.0-56-amd64');
  assert.equal(d.config, '/boot/config-6.1.0-56-amd64');
  assert.equal(d.systemMap, undefined);

  const fedora = fakeRoot({
    '/proc/sys/kernel/osrelease': '6.11.4-301.fc41.x86_64',
    '/etc/os-release': 'ID=fedora\nID_LIKE="rhel centos"\n',
    '/lib/modules/6.11.4-301.fc41.x86_64/vmlinuz': '',
    '/lib/modules/6.11.4-301.fc41.x86_64/config': '',
    '/boot/initramfs-6.11.4-301.fc41.x86_64.img': '',
  });
  assert.deepEqual(osIds(fedora), ['fedora', 'rhel', 'centos']);
  const f = kernelFiles(fedora, '6.11.4-301.fc41.x86_64');
  assert.equal(f.image, '/lib/modules/6.11.4-301.fc41.x86_64/vmlinuz');
  assert.equal(f.initrd, '/boot/initramfs-6.11.4-301.fc41.x86_64.img');
  assert.equal(f.config, '/lib/modules/6.11.4-301.fc41.x86_64/config');

  const arch = fakeRoot({
    '/proc/sys/kernel/osrelease': '6.12.1-arch1-1',
    '/proc/config.gz': '',
    '/usr/lib/modules/6.12.1-arch1-1/pkgbase': 'linux\n',
    '/boot/vmlinuz-linux': '',
    '/boot/initramfs-linux.img': '',
  });
  const a = kernelFiles(arch, '6.12.1-arch1-1');
  assert.equal(a.image, '/boot/vmlinuz-linux');
  assert.equal(a.initrd, '/boot/initramfs-linux.img');
  assert.equal(a.config, '/proc/config.gz');
  assert.equal(kernelFiles(arch, '6.6.1-lts').config, undefined, '/proc/config.gz describes only the running kernel');
});

test('fake roots: every layout finds its kernel files through the root', async () => {
  const { fakeMachine, LAYOUTS } = await import('../helpers/fake-roots.js');
  for (const layout of LAYOUTS) {
    const m = fakeMachine(layout, { crashkernel: { param: '256M', reservedBytes: 256n << 20n } });
    try {
      assert.equal(runningRelease(m.root), m.release, layout);
      const f = kernelFiles(m.root, m.release);
      assert.ok(f.image, `${layout}: image`);
      assert.ok(f.initrd, `${layout}: initrd`);
      assert.ok(f.config, `${layout}: config`);
      assert.match(m.read('/proc/cmdline'), /crashkernel=256M/);
      assert.match(m.read('/proc/iomem'), /: Crash kernel$/m);
    } finally {
      m.remove();
    }
  }
});
