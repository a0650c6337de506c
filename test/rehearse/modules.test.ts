import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { HostRoot } from '../../src/host/root.js';
import { moduleBytes, moduleName, parseModulesDep, resolveModules } from '../../src/rehearse/modules.js';
import { IN_CI } from '../helpers/dumps.js';

const REL = '6.1.0-test-amd64';

/** A /lib/modules/REL tree shaped like Debian 6.1's virtio modules (deps as depmod wrote them). */
function fakeModules(files: Record<string, string | Uint8Array>, env: Record<string, string> = { PATH: '' }): { root: HostRoot; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'modules-test-'));
  for (const [p, c] of Object.entries(files)) {
    const full = join(dir, 'lib/modules', REL, p);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, c);
  }
  return { root: new HostRoot(dir, env), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const DEP_61 = [
  'kernel/drivers/virtio/virtio_pci_modern_dev.ko:',
  'kernel/drivers/virtio/virtio_pci_legacy_dev.ko:',
  'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
  'kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
  'kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko',
  'kernel/drivers/virtio/virtio_ring.ko:',
  'kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko',
  '',
].join('\n');

test('module names: basename without .ko and compression suffix, - as _', () => {
  assert.equal(moduleName('kernel/drivers/block/virtio_blk.ko.xz'), 'virtio_blk');
  assert.equal(moduleName('kernel/drivers/hid/hid-generic.ko.zst'), 'hid_generic');
  assert.equal(parseModulesDep(DEP_61).get('virtio_pci')?.deps.length, 4);
});

test('resolves virtio_pci and virtio_blk with every dependency first, each once', () => {
  const m = fakeModules({ 'modules.dep': DEP_61, 'modules.builtin': '' });
  try {
    const r = resolveModules(m.root, REL, ['virtio_pci', 'virtio-blk']);
    const names = r.load.map((x) => x.name);
    assert.deepEqual(names, ['virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_ring', 'virtio', 'virtio_pci', 'virtio_blk']);
    for (const [i, n] of names.entries()) {
      for (const d of parseModulesDep(DEP_61).get(n)!.deps) assert.ok(names.indexOf(moduleName(d)) < i, `${moduleName(d)} before ${n}`);
    }
    assert.deepEqual(r.builtin, []);
  } finally {
    m.remove();
  }
});

test('built-in modules are skipped (6.12: virtio_pci is =y), missing ones name modules.dep', () => {
  const m = fakeModules({
    'modules.dep': 'kernel/drivers/block/virtio_blk.ko.xz:\n',
    'modules.builtin': 'kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\n',
  });
  try {
    const r = resolveModules(m.root, REL, ['virtio_pci', 'virtio_blk']);
    assert.deepEqual(r.builtin, ['virtio_pci']);
    assert.deepEqual(r.load.map((x) => [x.name, x.compression]), [['virtio_blk', 'xz']]);
    assert.throws(() => resolveModules(m.root, REL, ['nvme']), /modules\.dep: no module 'nvme'/);
    assert.throws(() => resolveModules(m.root, '9.9.9', ['virtio_blk']), (e: Error & { hint?: string }) => /9\.9\.9\/modules\.dep: not found/.test(e.message) && /linux-image-9\.9\.9/.test(e.hint ?? ''));
  } finally {
    m.remove();
  }
});

test('modules are decompressed: .ko.gz with zlib, .ko.xz with xz from PATH', (t) => {
  const elf = Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(300, 7)]);
  const xz = spawnSync('xz', ['-c'], { input: elf });
  const haveXz = xz.status === 0;
  if (!haveXz && IN_CI) assert.fail('xz is missing (CI installs xz-utils)');
  const files: Record<string, string | Uint8Array> = { 'modules.dep': 'kernel/a.ko.gz:\nkernel/b.ko.xz:\nkernel/c.ko:\n', 'kernel/a.ko.gz': gzipSync(elf), 'kernel/c.ko': elf };
  if (haveXz) files['kernel/b.ko.xz'] = xz.stdout;
  const m = fakeModules(files, { PATH: process.env.PATH ?? '' });
  const noTools = fakeModules(files, { PATH: '' });
  try {
    const r = resolveModules(m.root, REL, ['a', 'b', 'c']);
    assert.deepEqual(moduleBytes(m.root, REL, r.load[0]!), elf);
    assert.deepEqual(moduleBytes(m.root, REL, r.load[2]!), elf);
    if (!haveXz) {
      t.diagnostic('xz not installed: .ko.xz decompression not checked');
      return;
    }
    assert.deepEqual(moduleBytes(m.root, REL, r.load[1]!), elf);
    assert.throws(() => moduleBytes(noTools.root, REL, r.load[1]!), (e: Error & { hint?: string }) => /needs 'xz'/.test(e.message) && /xz-utils/.test(e.hint ?? ''));
  } finally {
    m.remove();
    noTools.remove();
  }
});
