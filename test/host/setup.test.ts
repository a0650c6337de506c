import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeMachine, LAYOUTS, type Layout } from '../helpers/fake-roots.js';
import { fakeBin, snapshotTree } from '../helpers/fake-bin.js';
import { IN_CI, REPO } from '../helpers/dumps.js';
import { planSetup, type SetupOptions } from '../../src/host/setup.js';
import { applyPlan, ApplyError } from '../../src/host/file-plan.js';
import { ConfigError } from '../../src/host/config.js';
import { BootConfigError } from '../../src/host/bootloader.js';
import { KdumpkitError } from '../../src/util/errors.js';
import { captureCmdline } from '../../src/host/capture-cmdline.js';

/** The units run this install's CLI (exists, so systemd-analyze verify accepts ExecStart). */
const KDUMPKIT = [process.execPath, join(REPO, 'dist', 'src', 'cli', 'main.js')];
const TOOLS = ['grub-mkconfig', 'grub2-mkconfig', 'update-grub', 'systemctl', 'mkinitcpio', 'dracut', 'kernel-install'];
const RECOMMENDED = '1G-4G:192M,4G-64G:256M,64G-:512M';

function opts(extra: Partial<SetupOptions> = {}): SetupOptions {
  return { bootloader: 'auto', kdumpkit: KDUMPKIT, arch: 'x86_64', ...extra };
}

/** Where each layout's crashkernel= must end up. */
const BOOT_FILES: Record<Layout, string[]> = {
  'debian-grub': ['/etc/default/grub'],
  'fedora-bls': ['/etc/default/grub', '/boot/loader/entries/0123456789abcdef0123456789abcdef-6.11.4-301.fc41.x86_64.conf', '/etc/kernel/cmdline'],
  'arch-grub': ['/etc/default/grub'],
  'arch-systemd-boot': ['/boot/loader/entries/arch.conf', '/boot/loader/entries/arch-fallback.conf'],
  'arch-uki': ['/etc/kernel/cmdline'],
};

const BOOTLOADER: Record<Layout, string> = { 'debian-grub': 'grub', 'fedora-bls': 'grub', 'arch-grub': 'grub', 'arch-systemd-boot': 'systemd-boot', 'arch-uki': 'kernel-cmdline' };

for (const layout of LAYOUTS) {
  test(`setup on ${layout}: writes config, units, crashkernel=; runs the fakes; a second run changes nothing`, () => {
    const bin = fakeBin(TOOLS);
    const m = fakeMachine(layout, { path: bin.dir });
    try {
      const early = layout.startsWith('arch');
      const before: Record<string, string> = {};
      for (const f of BOOT_FILES[layout]) before[f] = m.read(f);
      const plan = planSetup(m.root, opts({ early }));
      assert.equal(plan.bootloader, BOOTLOADER[layout]);
      assert.equal(plan.crashkernel.value, RECOMMENDED);
      assert.equal(plan.crashkernel.source, 'recommend');
      assert.equal(plan.reboot.needed, true);
      const result = applyPlan(m.root, plan.changes, plan.actions);

      // Files: config with early kept, units, crashkernel= where this bootloader reads it.
      assert.match(m.read('/etc/kdumpkit.conf'), new RegExp(`^early = ${early ? 'yes' : 'no'}$`, 'm'));
      assert.match(m.read('/etc/systemd/system/kdumpkit-load.service'), /^ExecStart=.* load$/m);
      assert.match(m.read('/etc/systemd/system/kdumpkit-save.service'), /^ExecStart=.* save --level 31 --compress zstd --threads 0 \/proc\/vmcore \/var\/crash$/m);
      assert.match(m.read('/etc/systemd/system/kdumpkit-pstore.service'), /^ExecStart=.* pstore --dir \/var\/crash$/m);
      for (const f of BOOT_FILES[layout]) {
        const text = m.read(f);
        assert.equal(text.split(`crashkernel=${RECOMMENDED}`).length, 2, `${f} has crashkernel= once:\n${text}`);
        // Every other line is as it was.
        const otherOld = before[f]!.split('\n').filter((l) => !/GRUB_CMDLINE_LINUX=|^options |^root=/.test(l));
        const otherNew = text.split('\n').filter((l) => !/GRUB_CMDLINE_LINUX=|^options |^root=/.test(l));
        assert.deepEqual(otherNew, otherOld, f);
        // The replaced file's backup is the old content.
        assert.equal(m.read(`${f}.kdumpkit-bak`), before[f], `${f} backup`);
      }
      assert.deepEqual([...result.backups].sort(), BOOT_FILES[layout].concat(early ? ['/etc/mkinitcpio.conf'] : []).map((f) => `${f}.kdumpkit-bak`).sort());
      if (early) {
        assert.match(m.read('/etc/mkinitcpio.conf'), /^HOOKS=\(base udev kdumpkit autodetect /m);
        assert.ok(existsSync(join(m.dir, 'etc/initcpio/install/kdumpkit')));
        assert.match(m.read('/etc/initcpio/install/kdumpkit'), /add_file '\/boot\/vmlinuz-linux' \/kdumpkit\/vmlinuz/);
      }

      // Actions: exactly these argv, with the fake root in mind.
      const calls = bin.calls();
      const expected: string[][] = [];
      if (layout === 'fedora-bls') expected.push(['grub2-mkconfig', '-o', join(m.dir, 'boot/grub2/grub.cfg')]);
      else if (layout !== 'arch-systemd-boot' && layout !== 'arch-uki') expected.push(['grub-mkconfig', '-o', join(m.dir, 'boot/grub/grub.cfg')]);
      expected.push(['systemctl', `--root=${m.dir}`, 'enable', 'kdumpkit-load.service', 'kdumpkit-pstore.service']);
      assert.deepEqual(calls, expected);
      const skipped = result.actions.filter((a) => a.status === 'skipped').map((a) => a.argv.join(' '));
      assert.ok(skipped.includes('systemctl daemon-reload'));
      if (early) assert.ok(skipped.includes('mkinitcpio -P'), skipped.join('; '));
      // UKI and early hook both need it: once, after the capture initramfs is built.
      assert.ok(skipped.filter((s) => s === 'mkinitcpio -P').length <= 1);
      if (early) assert.ok(skipped.indexOf('mkinitcpio -P') > skipped.findIndex((s) => s.includes('-S kdumpkit')));
      assert.ok(lstatSync(join(m.dir, 'etc/systemd/system/multi-user.target.wants/kdumpkit-load.service')).isSymbolicLink());
      assert.ok(lstatSync(join(m.dir, 'etc/systemd/system/sysinit.target.wants/kdumpkit-pstore.service')).isSymbolicLink());

      // Second run: nothing to change, nothing written, nothing run.
      const snap = snapshotTree(m.dir);
      const again = planSetup(m.root, opts());
      assert.deepEqual(again.changes, []);
      assert.deepEqual(again.actions, []);
      const r2 = applyPlan(m.root, again.changes, again.actions);
      assert.deepEqual(r2.written, []);
      assert.deepEqual(r2.backups, []);
      assert.deepEqual(snapshotTree(m.dir), snap);
      assert.deepEqual(bin.calls(), expected);
    } finally {
      m.remove();
    }
  });
}

test('planning writes nothing (full tree snapshot before and after)', () => {
  for (const layout of LAYOUTS) {
    const m = fakeMachine(layout);
    try {
      const snap = snapshotTree(m.dir);
      const plan = planSetup(m.root, opts({ early: true }));
      assert.ok(plan.changes.length > 0);
      assert.deepEqual(snapshotTree(m.dir), snap, layout);
    } finally {
      m.remove();
    }
  }
});

test('existing values are kept; --crashkernel replaces the old reservation and is saved; backups never overwrite backups', () => {
  const bin = fakeBin(TOOLS);
  const m = fakeMachine('debian-grub', { path: bin.dir, crashkernel: { param: '128M', reservedBytes: 128n << 20n } });
  try {
    m.set('/etc/kdumpkit.conf', 'level = 17\ncompress = zlib\ndir = /srv/crash\nkeep = 0\nreboot = no\npstore = no\ncmdline = console=ttyS0\n');
    m.set('/etc/default/grub', "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT='quiet crashkernel=64M'\nGRUB_CMDLINE_LINUX='ro crashkernel=128M splash'\n");
    const p1 = planSetup(m.root, opts({ crashkernel: '256M' }));
    assert.deepEqual(p1.crashkernel, { value: '256M', source: 'option', running: ['128M'] });
    assert.equal(p1.reboot.needed, true);
    assert.match(p1.reboot.why, /crashkernel=128M/);
    applyPlan(m.root, p1.changes, p1.actions);
    // Quoting kept; the old value replaced; the one in _DEFAULT (which would win) removed.
    assert.equal(m.read('/etc/default/grub'), "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT='quiet'\nGRUB_CMDLINE_LINUX='ro splash crashkernel=256M'\n");
    const conf = m.read('/etc/kdumpkit.conf');
    for (const line of ['level = 17', 'compress = zlib', 'dir = /srv/crash', 'keep = 0', 'reboot = no', 'pstore = no', 'cmdline = console=ttyS0', 'crashkernel = 256M']) assert.match(conf, new RegExp(`^${line}$`, 'm'));
    const save = m.read('/etc/systemd/system/kdumpkit-save.service');
    assert.match(save, /save --level 17 --compress zlib --threads 0 \/proc\/vmcore \/srv\/crash$/m);
    assert.doesNotMatch(save, /prune|SuccessAction|FailureAction/);
    assert.match(save, /^RequiresMountsFor=\/srv\/crash$/m);
    assert.ok(!existsSync(join(m.dir, 'etc/systemd/system/kdumpkit-pstore.service')));
    assert.deepEqual(bin.calls().at(-1), ['systemctl', `--root=${m.dir}`, 'enable', 'kdumpkit-load.service']);

    // A config the user wrote that already says it all is not reformatted.
    const mine = '# my settings\nlevel = 1\n';
    m.set('/etc/kdumpkit.conf', mine + conf.split('\n').filter((l) => !l.startsWith('level') && !l.startsWith('#')).join('\n'));
    const mineText = m.read('/etc/kdumpkit.conf');
    const pMine = planSetup(m.root, opts());
    assert.ok(pMine.unchanged.includes('/etc/kdumpkit.conf'));
    assert.equal(pMine.config.level, 1);
    applyPlan(m.root, pMine.changes, pMine.actions);
    assert.equal(m.read('/etc/kdumpkit.conf'), mineText);
    assert.match(m.read('/etc/systemd/system/kdumpkit-save.service'), /save --level 1 /);
    // Back to the canonical file (level 17) for the rest of the test.
    m.set('/etc/kdumpkit.conf', conf);
    const back = planSetup(m.root, opts());
    applyPlan(m.root, back.changes, back.actions);
    // The config now says 256M, so a plain second run keeps it.
    assert.deepEqual(planSetup(m.root, opts()).changes, []);
    // A private file stays private, and so does its backup.
    chmodSync(join(m.dir, 'etc/default/grub'), 0o600);
    // A new value: the first backup stays, the next one gets .1.
    const firstBak = m.read('/etc/default/grub.kdumpkit-bak');
    const p2 = planSetup(m.root, opts({ crashkernel: '512M' }));
    const r2 = applyPlan(m.root, p2.changes, p2.actions);
    assert.ok(r2.backups.includes('/etc/default/grub.kdumpkit-bak.1'));
    assert.equal(m.read('/etc/default/grub.kdumpkit-bak'), firstBak);
    assert.match(m.read('/etc/default/grub.kdumpkit-bak.1'), /crashkernel=256M/);
    assert.match(m.read('/etc/default/grub'), /crashkernel=512M'$/m);
    assert.equal(statSync(join(m.dir, 'etc/default/grub')).mode & 0o777, 0o600);
    assert.equal(statSync(join(m.dir, 'etc/default/grub.kdumpkit-bak.1')).mode & 0o777, 0o600);
  } finally {
    m.remove();
  }
});

test('no reboot needed when the running kernel already has the reservation', () => {
  const m = fakeMachine('arch-systemd-boot', { crashkernel: { param: RECOMMENDED, reservedBytes: 192n << 20n } });
  try {
    const plan = planSetup(m.root, opts());
    assert.equal(plan.reboot.needed, false);
    // The entries already carry it: the bootloader files are unchanged.
    assert.ok(plan.unchanged.includes('/boot/loader/entries/arch.conf'));
    assert.ok(!plan.changes.some((c) => c.path.startsWith('/boot/')));
    m.set('/sys/kernel/kexec_crash_size', '0\n');
    const failed = planSetup(m.root, opts());
    assert.equal(failed.reboot.needed, true);
    assert.match(failed.reboot.why, /nothing was reserved/);
  } finally {
    m.remove();
  }
});

test('a failure halfway leaves every file old or new, never partial, and says what was done', () => {
  const m = fakeMachine('fedora-bls');
  try {
    const plan = planSetup(m.root, opts());
    const paths = plan.changes.map((c) => c.path);
    assert.ok(paths.length >= 5);
    const olds = new Map(plan.changes.map((c) => [c.path, c.old]));
    let err: unknown;
    try {
      applyPlan(m.root, plan.changes, plan.actions, {
        beforeCommit: (_p, i) => {
          if (i === 4) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
        },
      });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ApplyError, String(err));
    assert.deepEqual(err.done, paths.slice(0, 4));
    assert.match(err.message, new RegExp(`${paths[4]!.replace(/[.]/g, '\\.')}: cannot (replace|remove): EIO`));
    assert.match(err.message, /changed: .*; unchanged: /);
    for (const [i, c] of plan.changes.entries()) {
      const now = existsSync(join(m.dir, c.path)) ? m.read(c.path) : undefined;
      assert.equal(now, i < 4 ? c.new : olds.get(c.path), c.path);
    }
    // No temp file is left behind anywhere.
    const leftovers = Object.keys(snapshotTree(m.dir)).filter((p) => p.includes('kdumpkit-tmp'));
    assert.deepEqual(leftovers, []);
    // Running again finishes the job.
    const rest = planSetup(m.root, opts());
    assert.deepEqual(rest.changes.map((c) => c.path), paths.slice(4));
  } finally {
    m.remove();
  }
});

test('a file that cannot be written stops setup before any file changes', () => {
  const m = fakeMachine('debian-grub');
  try {
    // /etc/systemd/system cannot be created: /etc/systemd is a file (works even as root).
    m.set('/etc/systemd', 'not a directory\n');
    const plan = planSetup(m.root, opts());
    const snap = snapshotTree(m.dir);
    assert.throws(() => applyPlan(m.root, plan.changes, plan.actions), (e: unknown) => e instanceof ApplyError && /cannot write: (ENOTDIR|EEXIST); nothing was changed/.test(e.message) && e.done.length === 0);
    assert.deepEqual(snapshotTree(m.dir), snap);
  } finally {
    m.remove();
  }
});

test('a failing action is reported with what was already written', () => {
  const bin = fakeBin(TOOLS, ['grub-mkconfig']);
  const m = fakeMachine('arch-grub', { path: bin.dir });
  try {
    const plan = planSetup(m.root, opts());
    assert.throws(() => applyPlan(m.root, plan.changes, plan.actions), (e: unknown) => e instanceof ApplyError && /grub-mkconfig -o .*' failed \(exit status 1: fake failure\); files were written/.test(e.message));
    // The files are in place; systemctl did not run after the failure.
    assert.match(m.read('/etc/default/grub'), /crashkernel=/);
    assert.deepEqual(bin.calls().map((c) => c[0]), ['grub-mkconfig']);
  } finally {
    m.remove();
  }
});

test('malformed inputs: a clear error naming the file (and line), and nothing written', () => {
  const cases: Array<{ layout: Layout; file: string; content: string; err: RegExp; type: new (...args: never[]) => KdumpkitError }> = [
    { layout: 'debian-grub', file: '/etc/default/grub', content: 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n', err: /etc\/default\/grub: no GRUB_CMDLINE_LINUX= line/, type: BootConfigError },
    { layout: 'debian-grub', file: '/etc/default/grub', content: 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="quiet\n', err: /etc\/default\/grub:2: GRUB_CMDLINE_LINUX= has no closing "/, type: BootConfigError },
    { layout: 'arch-grub', file: '/etc/kdumpkit.conf', content: 'level = 31\nlevle = 3\n', err: /etc\/kdumpkit\.conf:2: unknown key 'levle'/, type: ConfigError },
    { layout: 'arch-systemd-boot', file: '/boot/loader/entries/arch.conf', content: 'title Arch\nlinux /vmlinuz-linux\n', err: /boot\/loader\/entries\/arch\.conf: no 'options' line/, type: BootConfigError },
    { layout: 'arch-uki', file: '/etc/mkinitcpio.conf', content: 'MODULES=()\nHOOKS=(base udev\n', err: /etc\/mkinitcpio\.conf:2: cannot parse HOOKS/, type: BootConfigError },
  ];
  for (const c of cases) {
    const m = fakeMachine(c.layout);
    try {
      m.set(c.file, c.content);
      const snap = snapshotTree(m.dir);
      assert.throws(() => planSetup(m.root, opts({ early: true })), (e: unknown) => e instanceof c.type && c.err.test(e.message) && e.message.startsWith(m.dir), c.file);
      assert.deepEqual(snapshotTree(m.dir), snap);
    } finally {
      m.remove();
    }
  }
  // No bootloader at all.
  const m = fakeMachine('debian-grub');
  try {
    m.set('/etc/default/grub', undefined);
    assert.throws(() => planSetup(m.root, opts()), /no bootloader configuration found/);
  } finally {
    m.remove();
  }
});

test('--bootloader overrides detection; ESP entries under /efi are found', () => {
  const m = fakeMachine('arch-uki');
  try {
    m.set('/efi/loader/entries/arch.conf', 'title Arch\nlinux /vmlinuz-linux\noptions root=/dev/sda2 rw crashkernel=64M\n');
    const plan = planSetup(m.root, opts({ bootloader: 'systemd-boot' }));
    assert.equal(plan.bootloader, 'systemd-boot');
    const entry = plan.changes.find((c) => c.path === '/efi/loader/entries/arch.conf');
    assert.equal(entry?.new, `title Arch\nlinux /vmlinuz-linux\noptions root=/dev/sda2 rw crashkernel=${RECOMMENDED}\n`);
    // systemd-boot with /etc/kernel/cmdline keeps both in step; no regeneration needed.
    assert.ok(plan.changes.some((c) => c.path === '/etc/kernel/cmdline'));
    assert.ok(!plan.actions.some((a) => a.argv[0] === 'mkinitcpio'));
  } finally {
    m.remove();
  }
});

test('early kdump with dracut: module files, dracut.conf.d, rebuild actions (skipped on a fake root)', () => {
  const bin = fakeBin(TOOLS);
  const m = fakeMachine('fedora-bls', { path: bin.dir });
  try {
    m.set('/usr/lib/dracut/modules.d/.keep', '');
    const plan = planSetup(m.root, opts({ early: true }));
    const paths = plan.changes.map((c) => c.path);
    for (const p of ['/usr/lib/dracut/modules.d/99kdumpkit/module-setup.sh', '/usr/lib/dracut/modules.d/99kdumpkit/kdumpkit-early.sh', '/etc/dracut.conf.d/99-kdumpkit.conf']) assert.ok(paths.includes(p), p);
    assert.equal(plan.changes.find((c) => c.path.endsWith('module-setup.sh'))?.mode, 0o755);
    const dracut = plan.actions.filter((a) => a.argv[0] === 'dracut');
    assert.deepEqual(
      dracut.map((a) => a.argv),
      [
        ['dracut', '--force', '--omit', 'kdumpkit', '/boot/initramfs-kdumpkit.img', '6.11.4-301.fc41.x86_64'],
        ['dracut', '--force', '--regenerate-all'],
      ],
    );
    assert.ok(dracut.every((a) => a.skip && /not the running system/.test(a.skip)));
    applyPlan(m.root, plan.changes, plan.actions);
    assert.equal(statSync(join(m.dir, 'usr/lib/dracut/modules.d/99kdumpkit/module-setup.sh')).mode & 0o777, 0o755);
    assert.ok(!bin.calls().some((c) => c[0] === 'dracut'));
  } finally {
    m.remove();
  }
});

function needTool(t: { skip(msg: string): void }, name: string): boolean {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (r.status === 0) return true;
  if (IN_CI) assert.fail(`${name} is not installed (CI installs it: .ci/run)`);
  t.skip(`${name} not installed`);
  return false;
}

test('generated units pass systemd-analyze verify', (t) => {
  if (!needTool(t, 'systemd-analyze')) return;
  const variants: Array<Partial<SetupOptions> & { conf?: string }> = [{}, { conf: 'keep = 0\nreboot = no\ndir = /srv/crash dumps%\n' }];
  for (const v of variants) {
    const m = fakeMachine('debian-grub');
    try {
      if (v.conf) m.set('/etc/kdumpkit.conf', v.conf);
      const plan = planSetup(m.root, opts());
      const dir = mkdtempSync(join(tmpdir(), 'kdk-units-'));
      const units = plan.changes.filter((c) => c.path.endsWith('.service'));
      assert.ok(units.length >= 2);
      for (const u of units) writeFileSync(join(dir, u.path.split('/').at(-1)!), u.new!);
      const files = readdirSync(dir).map((n) => join(dir, n));
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], { encoding: 'utf8' });
      assert.equal(r.status, 0, `systemd-analyze verify failed:\n${r.stdout}${r.stderr}`);
      // verify also reports problems it does not fail on; there must be none for our units.
      assert.doesNotMatch(r.stderr, /kdumpkit-[a-z]+\.service:/, r.stderr);
    } finally {
      m.remove();
    }
  }
});

test('early-kdump hook scripts pass shellcheck', (t) => {
  if (!needTool(t, 'shellcheck')) return;
  const m = fakeMachine('arch-grub');
  try {
    m.set('/usr/lib/dracut/modules.d/.keep', '');
    m.set('/etc/kdumpkit.conf', "cmdline = console=ttyS0,115200 it's \"quoted\" $HOME *\n");
    const plan = planSetup(m.root, opts({ early: true }));
    const scripts = plan.changes.filter((c) => /initcpio\/(install|hooks)\/|dracut\/modules\.d\/.*\.sh$/.test(c.path));
    assert.equal(scripts.length, 4, scripts.map((s) => s.path).join(', '));
    const dir = mkdtempSync(join(tmpdir(), 'kdk-sh-'));
    for (const [i, s] of scripts.entries()) {
      const f = join(dir, `${i}-${s.path.split('/').at(-1)!}`);
      writeFileSync(f, s.new!);
      // mkinitcpio's build hooks are bash sourced by mkinitcpio; the runtime hooks busybox ash.
      const shell = s.path.includes('/install/') || s.path.endsWith('module-setup.sh') ? 'bash' : 'sh';
      const r = spawnSync('shellcheck', ['--shell', shell, f], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${s.path}:\n${r.stdout}${r.stderr}`);
    }
    // The hook computes the capture command line exactly as capture-cmdline.ts does.
    const running = 'BOOT_IMAGE=/vmlinuz-linux root=UUID=x rw quiet crashkernel=256M hugepages=16 console=tty0 nr_cpus=4 glob=* -- single quiet';
    const proc = join(dir, 'cmdline');
    writeFileSync(proc, running + '\n');
    const hook = scripts.find((s) => s.path === '/etc/initcpio/hooks/kdumpkit')!.new!.replaceAll('/proc/cmdline', proc);
    const r = spawnSync('sh', ['-c', `${hook}\nkdumpkit_cmdline\nprintf '%s' "$append"`], { encoding: 'utf8', cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, captureCmdline(running, "console=ttyS0,115200 it's \"quoted\" $HOME *"));
  } finally {
    m.remove();
  }
});

test('an action whose program is not installed is skipped with a note at plan time, not failed after writing', () => {
  const m = fakeMachine('debian-grub');
  try {
    const plan = planSetup(m.root, opts());
    const grub = plan.actions.find((a) => a.argv[0] === 'grub-mkconfig');
    assert.match(grub?.skip ?? '', /^grub-mkconfig is not on PATH: run 'grub-mkconfig -o .*\/boot\/grub\/grub\.cfg' yourself/);
    assert.ok(plan.warnings.some((w) => w.startsWith('grub-mkconfig is not on PATH')));
    const r = applyPlan(m.root, plan.changes, plan.actions);
    assert.ok(r.actions.every((a) => a.status === 'skipped'));
    assert.match(m.read('/etc/default/grub'), /crashkernel=/);
  } finally {
    m.remove();
  }
});

test('UKI outside Arch rebuilds with kernel-install (skipped with a note on a fake root)', () => {
  const m = fakeMachine('fedora-bls');
  try {
    m.set('/boot/efi/EFI/Linux/fedora.efi', 'MZ fake UKI');
    m.set('/etc/default/grub', undefined);
    const plan = planSetup(m.root, opts());
    assert.equal(plan.bootloader, 'kernel-cmdline');
    const ki = plan.actions.find((a) => a.argv[0] === 'kernel-install');
    assert.deepEqual(ki?.argv, ['kernel-install', 'add', '6.11.4-301.fc41.x86_64', '/boot/vmlinuz-6.11.4-301.fc41.x86_64']);
    assert.match(ki?.skip ?? '', /not the running system: run 'kernel-install add /);
  } finally {
    m.remove();
  }
});

test('pstore = no removes an earlier pstore unit (with a backup) and disables it', () => {
  const bin = fakeBin(TOOLS);
  const m = fakeMachine('arch-grub', { path: bin.dir });
  try {
    const first = planSetup(m.root, opts());
    applyPlan(m.root, first.changes, first.actions);
    const unit = m.read('/etc/systemd/system/kdumpkit-pstore.service');
    m.set('/etc/kdumpkit.conf', m.read('/etc/kdumpkit.conf').replace('pstore = yes', 'pstore = no'));
    const plan = planSetup(m.root, opts());
    const rm = plan.changes.find((c) => c.path === '/etc/systemd/system/kdumpkit-pstore.service');
    assert.equal(rm?.new, undefined);
    assert.deepEqual(plan.actions.at(-1)?.argv, ['systemctl', `--root=${m.dir}`, 'disable', 'kdumpkit-pstore.service']);
    applyPlan(m.root, plan.changes, plan.actions);
    assert.ok(!existsSync(join(m.dir, 'etc/systemd/system/kdumpkit-pstore.service')));
    assert.equal(m.read('/etc/systemd/system/kdumpkit-pstore.service.kdumpkit-bak'), unit);
    assert.match(m.read('/etc/systemd/system/kdumpkit-save.service'), /--compress zstd/);
  } finally {
    m.remove();
  }
});
