import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BootConfigError, crashkernelParams, editGrubDefault, editKernelCmdline, editLoaderEntry, withCrashkernel } from '../../src/host/bootloader.js';
import { editMkinitcpioConf } from '../../src/host/early-kdump.js';

const CK = crashkernelParams('256M');

test('crashkernelParams: one parameter per value, prefix added once', () => {
  assert.deepEqual(crashkernelParams('1G,high 128M,low'), ['crashkernel=1G,high', 'crashkernel=128M,low']);
  assert.deepEqual(crashkernelParams('crashkernel=256M'), ['crashkernel=256M']);
});

test('withCrashkernel keeps other parameters in order and is a fixed point', () => {
  const once = withCrashkernel(['ro', 'crashkernel=128M', 'quiet', 'crashkernel=64M,low'], CK);
  assert.deepEqual(once, ['ro', 'quiet', 'crashkernel=256M']);
  assert.deepEqual(withCrashkernel(once, CK), once);
  // Already exactly right somewhere in the middle: left where it is.
  assert.deepEqual(withCrashkernel(['ro', 'crashkernel=256M', 'quiet'], CK), ['ro', 'crashkernel=256M', 'quiet']);
});

test('editGrubDefault: quoting styles, export, trailing comments, _DEFAULT cleanup', () => {
  assert.equal(editGrubDefault('GRUB_CMDLINE_LINUX=""\n', CK), 'GRUB_CMDLINE_LINUX="crashkernel=256M"\n');
  assert.equal(editGrubDefault("GRUB_CMDLINE_LINUX='a b'\n", CK), "GRUB_CMDLINE_LINUX='a b crashkernel=256M'\n");
  assert.equal(editGrubDefault('GRUB_CMDLINE_LINUX=ro\n', CK), 'GRUB_CMDLINE_LINUX="ro crashkernel=256M"\n');
  assert.equal(editGrubDefault('GRUB_CMDLINE_LINUX=\n', CK), 'GRUB_CMDLINE_LINUX=crashkernel=256M\n');
  assert.equal(editGrubDefault('  export GRUB_CMDLINE_LINUX="x" # mine\n', CK), '  export GRUB_CMDLINE_LINUX="x crashkernel=256M" # mine\n');
  // The last assignment is the one sh uses; earlier ones stay as they are.
  assert.equal(editGrubDefault('GRUB_CMDLINE_LINUX="a"\nGRUB_CMDLINE_LINUX="b"\n', CK), 'GRUB_CMDLINE_LINUX="a"\nGRUB_CMDLINE_LINUX="b crashkernel=256M"\n');
  assert.equal(
    editGrubDefault('GRUB_CMDLINE_LINUX_DEFAULT="quiet crashkernel=auto splash"\nGRUB_CMDLINE_LINUX="crashkernel=256M"\n', CK),
    'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\nGRUB_CMDLINE_LINUX="crashkernel=256M"\n',
  );
  const once = editGrubDefault('GRUB_CMDLINE_LINUX="ro crashkernel=1G"\n', CK);
  assert.equal(editGrubDefault(once, CK), once);
});

test('editGrubDefault refuses what it cannot edit safely, naming file:line', () => {
  assert.throws(() => editGrubDefault('GRUB_TIMEOUT=5\n', CK, '/r/etc/default/grub'), (e: unknown) => e instanceof BootConfigError && e.message === '/r/etc/default/grub: no GRUB_CMDLINE_LINUX= line');
  assert.throws(() => editGrubDefault('A=1\nGRUB_CMDLINE_LINUX="$EXTRA quiet"\n', CK, 'f'), /Error: f:2: GRUB_CMDLINE_LINUX= uses shell expansion/);
  assert.throws(() => editGrubDefault("GRUB_CMDLINE_LINUX='ro\nquiet'\n", CK, 'f'), /Error: f:1: GRUB_CMDLINE_LINUX= has no closing '/);
  assert.throws(() => editGrubDefault('GRUB_CMDLINE_LINUX=$X\n', CK, 'f'), /Error: f:1: GRUB_CMDLINE_LINUX= uses shell syntax/);
});

test('editLoaderEntry: options lines edited, other keys untouched; no options is an error', () => {
  const e = 'title Arch\nlinux /vmlinuz-linux\noptions root=/dev/sda2 crashkernel=1G\noptions rw quiet\n';
  const out = editLoaderEntry(e, CK, 'x.conf');
  assert.equal(out, 'title Arch\nlinux /vmlinuz-linux\noptions root=/dev/sda2\noptions rw quiet crashkernel=256M\n');
  assert.equal(editLoaderEntry(out, CK, 'x.conf'), out);
  assert.equal(editLoaderEntry('options\troot=x\n', CK, 'x.conf'), 'options\troot=x crashkernel=256M\n');
  assert.throws(() => editLoaderEntry('title x\nlinux /v\n', CK, '/b/x.conf'), /Error: \/b\/x\.conf: no 'options' line/);
  assert.throws(() => editLoaderEntry('title x\noptions $kernelopts\n', CK, '/b/x.conf'), /Error: \/b\/x\.conf:2: options use a grubenv variable/);
});

test('editKernelCmdline joins lines like kernel-install and is idempotent', () => {
  assert.equal(editKernelCmdline('root=/dev/a rw\nquiet\n', CK), 'root=/dev/a rw quiet crashkernel=256M\n');
  assert.equal(editKernelCmdline('root=/dev/a crashkernel=256M\n', CK), 'root=/dev/a crashkernel=256M\n');
});

test('editMkinitcpioConf: kdumpkit after udev (or base), both array styles, errors name the line', () => {
  assert.equal(editMkinitcpioConf('HOOKS=(base udev autodetect)\n').text, 'HOOKS=(base udev kdumpkit autodetect)\n');
  assert.equal(editMkinitcpioConf('HOOKS="base autodetect" # old style\n').text, 'HOOKS="base kdumpkit autodetect" # old style\n');
  const done = 'HOOKS=(base kdumpkit udev)\n';
  assert.equal(editMkinitcpioConf(done).text, done);
  assert.equal(editMkinitcpioConf('HOOKS=(base systemd autodetect)\n').systemdHook, true);
  assert.throws(() => editMkinitcpioConf('MODULES=()\n', 'm.conf'), /Error: m\.conf: no HOOKS= line/);
  assert.throws(() => editMkinitcpioConf('MODULES=()\nHOOKS=(base\n', 'm.conf'), /Error: m\.conf:2: cannot parse HOOKS/);
});
