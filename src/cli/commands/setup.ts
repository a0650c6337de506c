import { createInterface } from 'node:readline/promises';
import { BOOTLOADERS, type Bootloader } from '../../host/bootloader.js';
import { CONFIG_KEYS } from '../../host/config.js';
import { parseCrashkernel } from '../../host/crashkernel.js';
import { applyPlan, BACKUP_SUFFIX } from '../../host/file-plan.js';
import { planSetup } from '../../host/setup.js';
import { renderJson } from '../../report/json.js';
import { renderSetupPlan, renderSetupResult, setupPlanJson } from '../../report/setup-text.js';
import { UsageError } from '../../util/errors.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';
import { hostRootOf } from '../host-root.js';

const options = {
  ...COMMON_OPTIONS,
  root: { type: 'string' },
  'dry-run': { type: 'boolean', short: 'n' },
  yes: { type: 'boolean', short: 'y' },
  bootloader: { type: 'string' },
  crashkernel: { type: 'string' },
  early: { type: 'boolean' },
} as const;

/** Asks on the terminal; only called when stdin and stdout are TTYs. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

const setupCommand: CommandSpec<typeof options> = {
  name: 'setup',
  summary: 'set this machine up for kdump: config, systemd units, crashkernel=, early-kdump hooks',
  usage: ['setup [--root DIR] [--dry-run] [--yes] [--bootloader auto|grub|systemd-boot|kernel-cmdline] [--crashkernel SIZE] [--early] [--json]'],
  help: `
Sets the machine up so that a kernel crash is saved: computes every change first, shows it as a
unified diff, asks (on a terminal; --yes for scripts), then writes. Running it again changes
nothing ("Nothing to change") unless a file was edited or an option changed.

What it writes:
  /etc/kdumpkit.conf        existing values kept; keys:
                            ${Object.keys(CONFIG_KEYS).join(', ')}
  /etc/systemd/system/kdumpkit-load.service    runs 'kdumpkit load' at boot (kexec -p),
                            'kdumpkit unload' when stopped
  /etc/systemd/system/kdumpkit-save.service    runs in the capture kernel (systemd.unit= on its
                            command line): 'kdumpkit save' into the crash directory, 'kdumpkit
                            prune' (keep > 0), then reboots (reboot = yes); UMask=0077
  /etc/systemd/system/kdumpkit-pstore.service  (pstore = yes) 'kdumpkit pstore' at boot
  crashkernel= on the boot command line, for the bootloader:
    grub            /etc/default/grub GRUB_CMDLINE_LINUX, then update-grub / grub-mkconfig /
                    grub2-mkconfig; with BLS (Fedora) also every /boot/loader/entries/*.conf
    systemd-boot    the 'options' line of every loader entry (/boot, /efi, /boot/efi)
    kernel-cmdline  /etc/kernel/cmdline for unified kernel images, then mkinitcpio -P
                    (Arch) or kernel-install add
  early = yes (--early): mkinitcpio hook /etc/initcpio/{install,hooks}/kdumpkit plus HOOKS in
    /etc/mkinitcpio.conf, and a dracut module in /usr/lib/dracut/modules.d/99kdumpkit when
    dracut is installed; they load the capture kernel from the initramfs. The capture initramfs
    is /boot/initramfs-kdumpkit.img (built without the hook) unless 'initrd' is set.
The crashkernel= value is --crashkernel, else 'crashkernel' in /etc/kdumpkit.conf, else what
'kdumpkit recommend' says for this RAM. --crashkernel and --early are saved in the config.

The units run kdumpkit by absolute path: the 'kdumpkit' on PATH, else this node binary with
this install's dist/src/cli/main.js (shown as "Units run:").

Safety: every file is written to a temp file in its directory, fsynced, and renamed over the
old one, which is first copied to FILE${BACKUP_SUFFIX} (FILE${BACKUP_SUFFIX}.1, .2, ... when
taken). Bad input files (e.g. /etc/default/grub without GRUB_CMDLINE_LINUX) stop it before
anything is written. If writing fails halfway, each file is either old or new and the error
lists what was changed. A program that is not installed is skipped with a note saying what to
run. With --root DIR (a test tree or a mounted system) files are written under DIR only:
'grub-mkconfig -o DIR/boot/grub/grub.cfg' (grub-mkconfig itself reads the running system's
kernels and /etc/default/grub: for a mounted system, run it in a chroot), 'systemctl
--root=DIR enable' makes the symlinks, and daemon-reload and initramfs/UKI rebuilds are
skipped with a note.

Output: the bootloader and how it was found, the crashkernel= value and its source, each file
(create/modify/remove/keep) with its diff, the commands to run, and whether a reboot is needed
(the running kernel's reservation differs from the new one).

Examples:
  kdumpkit setup --dry-run                 show what would change
  sudo kdumpkit setup                      show the diff, ask, write
  sudo kdumpkit setup --yes --early        scripted, with early kdump
  kdumpkit setup --root /mnt --bootloader systemd-boot --crashkernel 256M --yes
  kdumpkit setup --dry-run --json | jq '.changes[].path'`,
  options,
  optionHelp: {
    root: "the machine's root directory (default '/'); files are read and written under DIR",
    'dry-run': 'print the plan (diff, commands) and write nothing',
    yes: 'apply without asking (needed when not on a terminal)',
    bootloader: `where crashkernel= goes: auto (default), ${BOOTLOADERS.join(', ')}`,
    crashkernel: 'the crashkernel= value (256M, 1G-4G:192M,4G-:256M, ...); saved in the config',
    early: 'also load the capture kernel from the initramfs (sets early = yes)',
    json: 'print the plan (and what was applied) as JSON',
    help: 'show this help',
  },
  maxPositionals: 0,
  async run(args, io) {
    const v = args.values;
    const bl = v.bootloader ?? 'auto';
    if (bl !== 'auto' && !(BOOTLOADERS as readonly string[]).includes(bl)) throw new UsageError(`setup: unknown --bootloader '${bl}'`, `Use auto, ${BOOTLOADERS.join(', ')}.`);
    if (v.crashkernel !== undefined) {
      try {
        parseCrashkernel(v.crashkernel);
      } catch (e) {
        throw new UsageError(`setup: bad --crashkernel '${v.crashkernel}': ${(e as Error).message.split('\n')[0]}`, 'Give a value like 256M or 1G-4G:192M,4G-64G:256M,64G-:512M (see kdumpkit recommend).');
      }
    }
    const root = hostRootOf(v.root, 'setup');
    const plan = planSetup(root, { bootloader: bl as Bootloader | 'auto', ...(v.crashkernel !== undefined ? { crashkernel: v.crashkernel } : {}), ...(v.early ? { early: true } : {}) });
    const nothing = plan.changes.length === 0 && plan.actions.length === 0;
    if (v['dry-run'] || nothing) {
      io.out(v.json ? renderJson(setupPlanJson(plan, undefined, v['dry-run'] === true)) : renderSetupPlan(plan));
      return 0;
    }
    if (!v.yes) {
      if (!(process.stdin.isTTY && io.stdoutIsTTY)) {
        throw new UsageError('setup: not on a terminal, so nothing was written', "Check the plan with 'kdumpkit setup --dry-run', then run 'kdumpkit setup --yes'.");
      }
      io.out(renderSetupPlan(plan));
      if (!(await confirm('Apply these changes? [y/N] '))) {
        io.out('Nothing was written.\n');
        return 1;
      }
    } else if (!v.json) {
      io.out(renderSetupPlan(plan));
    }
    const result = applyPlan(root, plan.changes, plan.actions);
    io.out(v.json ? renderJson(setupPlanJson(plan, result)) : renderSetupResult(plan, result));
    return 0;
  },
};

export default setupCommand;
