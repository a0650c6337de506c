import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { configValue, decodeConfigBytes, firstEnabled, isBuiltin, isEnabled, KernelConfigError, parseKernelConfig, readKernelConfig } from '../../src/host/kernel-config.js';
import { peSignature } from '../../src/host/pe-signature.js';
import { CONFIG_GZ, fakeMachine, LAYOUTS } from '../helpers/fake-roots.js';

test('parseKernelConfig reads y, m, strings with escapes, numbers and "is not set"', () => {
  const c = parseKernelConfig('#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_S="a \\"q\\" \\\\ b"\nCONFIG_N=128\nCONFIG_H=0x1000000\n\n', 'x');
  assert.equal(configValue(c, 'A'), 'y');
  assert.equal(configValue(c, 'B'), 'm');
  assert.equal(configValue(c, 'C'), 'n');
  assert.equal(configValue(c, 'S'), 'a "q" \\ b');
  assert.equal(configValue(c, 'N'), '128');
  assert.equal(configValue(c, 'H'), '0x1000000');
  assert.equal(configValue(c, 'MISSING'), undefined);
  assert.equal(isBuiltin(c, 'A'), true);
  assert.equal(isBuiltin(c, 'B'), false);
  assert.equal(isEnabled(c, 'B'), true);
  assert.equal(isEnabled(c, 'C'), false);
  assert.equal(firstEnabled(c, ['C', 'B', 'A']), 'B');
});

test('parseKernelConfig rejects lines that are not kconfig, naming file:line', () => {
  assert.throws(() => parseKernelConfig('CONFIG_A=y\nCONFIG_B\n', '/boot/config-x'), (e: unknown) => e instanceof KernelConfigError && e.message === "/boot/config-x:2: expected 'CONFIG_NAME=value' or '# CONFIG_NAME is not set', got 'CONFIG_B'");
  assert.throws(() => parseKernelConfig('CONFIG_S="open\n', 'f'), /^KernelConfigError: f:1: unterminated string "open$/);
});

test('decodeConfigBytes gunzips /proc/config.gz and reports a broken stream by file', () => {
  assert.equal(decodeConfigBytes(gzipSync('CONFIG_A=y\n'), 'f'), 'CONFIG_A=y\n');
  assert.equal(decodeConfigBytes(Buffer.from('CONFIG_A=y\n'), 'f'), 'CONFIG_A=y\n');
  assert.throws(() => decodeConfigBytes(Buffer.from([0x1f, 0x8b, 0, 0]), '/proc/config.gz'), /^KernelConfigError: \/proc\/config\.gz: not a valid gzip stream/);
});

test("readKernelConfig finds each layout's config (Debian /boot, Fedora /boot, Arch /proc/config.gz)", () => {
  for (const layout of LAYOUTS) {
    const m = fakeMachine(layout);
    try {
      const { config } = readKernelConfig(m.root, m.release);
      assert.ok(config, layout);
      assert.equal(config.file, m.root.path(layout.startsWith('arch') ? '/proc/config.gz' : `/boot/config-${m.release}`));
      assert.equal(configValue(config, 'KEXEC_CORE'), 'y');
      assert.equal(configValue(config, 'CONFIG_LOCALVERSION'), undefined);
      assert.equal(configValue(config, 'KEXEC_SIG_FORCE'), 'n');
      assert.equal(configValue(config, 'PSTORE_RAM'), 'm');
      // Fedora also has /lib/modules/R/config; without /boot's the next candidate is used.
      if (layout === 'fedora-bls') {
        m.set(`/boot/config-${m.release}`, undefined);
        assert.equal(readKernelConfig(m.root, m.release).config?.file, m.root.path(`/lib/modules/${m.release}/config`));
      }
      const other = readKernelConfig(m.root, '9.9.9');
      assert.equal(other.config, undefined);
      assert.ok(!other.tried.includes('/proc/config.gz'), 'config.gz is only for the running kernel');
    } finally {
      m.remove();
    }
  }
  assert.ok(CONFIG_GZ.length > 0);
});

test('peSignature: Certificate Table entry of a PE32+ image, unsigned images, non-PE files', () => {
  const pe = (cert: number, magic = 0x20b): Buffer => {
    const b = Buffer.alloc(0x200);
    b.write('MZ', 0, 'latin1');
    b.writeUInt32LE(0x80, 0x3c);
    b.write('PE\0\0', 0x80, 'latin1');
    const opt = 0x80 + 24;
    b.writeUInt16LE(magic, opt);
    const [count, dirs] = magic === 0x20b ? [108, 112] : [92, 96];
    b.writeUInt32LE(16, opt + count);
    b.writeUInt32LE(cert, opt + dirs + 36);
    return b;
  };
  assert.equal(peSignature(pe(0x5a8)), 'signed');
  assert.equal(peSignature(pe(0)), 'unsigned');
  assert.equal(peSignature(pe(0x10, 0x10b)), 'signed');
  assert.equal(peSignature(Buffer.from('MZ fake bzImage')), 'not-pe');
  assert.equal(peSignature(Buffer.alloc(0x100)), 'not-pe');
});
