/**
 * Early kdump (kdumpkit.conf `early = yes`): load the capture kernel from the initramfs, so a
 * crash while the root file system is mounted or before systemd has started
 * kdumpkit-load.service still gets a dump. The same idea as Fedora kdump-utils' early kdump
 * (dracut module 99earlykdump), for mkinitcpio (Arch) and dracut (Fedora, and wherever dracut is
 * installed).
 *
 * The initramfs carries the capture kernel and a separate capture initramfs (built *without*
 * this hook: embedding the initramfs being built in itself would double it on every rebuild), plus
 * kexec. At boot the hook computes the capture command line from /proc/cmdline exactly as
 * capture-cmdline.ts does (same removal list, same added parameters), then runs
 * `kexec -s -p` (kexec_file_load, required under lockdown / Secure Boot), falling back to
 * `kexec -p` (kexec_load) on kernels without kexec_file_load. In the capture kernel itself
 * (/proc/vmcore exists) it does nothing.
 *
 * Files:
 *   /etc/initcpio/install/kdumpkit   mkinitcpio build hook (bash, sourced by mkinitcpio)
 *   /etc/initcpio/hooks/kdumpkit     mkinitcpio runtime hook (busybox ash, run_hook)
 *   /etc/mkinitcpio.conf             `kdumpkit` added to HOOKS after udev (or base)
 *   /usr/lib/dracut/modules.d/99kdumpkit/{module-setup.sh,kdumpkit-early.sh}  dracut module
 *   /etc/dracut.conf.d/99-kdumpkit.conf   add_dracutmodules+=" kdumpkit "
 * The runtime hook for mkinitcpio is busybox-only (the `systemd` mkinitcpio hook does not run
 * runtime hooks: early kdump then needs the `base`/`udev` initramfs; reported as a warning).
 */
import { BootConfigError } from './bootloader.js';
import { CAPTURE_PARAMS, REMOVED_PARAMS } from './capture-cmdline.js';
import type { KdumpkitConfig } from './config.js';
import type { Action } from './file-plan.js';
import type { HostRoot } from './root.js';

export const MKINITCPIO_CONF = '/etc/mkinitcpio.conf';
export const MKINITCPIO_INSTALL = '/etc/initcpio/install/kdumpkit';
export const MKINITCPIO_HOOK = '/etc/initcpio/hooks/kdumpkit';
export const DRACUT_MODULE_DIR = '/usr/lib/dracut/modules.d/99kdumpkit';
export const DRACUT_CONF = '/etc/dracut.conf.d/99-kdumpkit.conf';
/** Where the capture initramfs goes when kdumpkit.conf `initrd` is empty. */
export const CAPTURE_INITRD = '/boot/initramfs-kdumpkit.img';

/** Paths inside the initramfs. */
const IN_KERNEL = '/kdumpkit/vmlinuz';
const IN_INITRD = '/kdumpkit/initrd.img';

export interface EarlyFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
  readonly why: string;
}

export interface EarlyPlan {
  readonly files: readonly EarlyFile[];
  /** mkinitcpio.conf / dracut edits are files too; these rebuild images. */
  readonly actions: readonly Action[];
  readonly warnings: readonly string[];
  /** What was found: which generators get a hook. */
  readonly generators: readonly ('mkinitcpio' | 'dracut')[];
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * POSIX sh that sets $append to the capture command line (capture-cmdline.ts's rules): drops the
 * parameters in REMOVED_PARAMS, then adds CAPTURE_PARAMS and the config's `cmdline`, keeping
 * init's arguments (after a bare `--`) last. (A `--` inside the config's `cmdline` is passed on
 * as written.)
 */
function cmdlineShell(extra: string): string {
  const removed = [...REMOVED_PARAMS].sort().join('|');
  return [
    'kdumpkit_cmdline() {',
    '    append=""',
    '    init=""',
    '    read -r running < /proc/cmdline',
    '    # Split on blanks without expanding globs a parameter may contain.',
    '    set -f',
    '    for p in $running; do',
    '        # After a bare -- the words are init\'s (init/main.c): they stay last.',
    '        if [ -n "$init" ] || [ "$p" = "--" ]; then init="$init $p"; continue; fi',
    '        case "${p%%=*}" in',
    `            ${removed}) ;;`,
    '            *) append="$append $p" ;;',
    '        esac',
    '    done',
    '    set +f',
    // The config's extra options are one literal single-quoted word, $ and all.
    ...(extra ? ['    # shellcheck disable=SC2016'] : []),
    `    append="\${append# } ${CAPTURE_PARAMS.join(' ')}${extra ? ' ' : ''}"${extra ? `${shq(extra)}` : ''}"$init"`,
    '}',
  ].join('\n');
}

function loadShell(): string {
  return [
    'kdumpkit_early_load() {',
    '    # In the capture kernel itself there is nothing to load.',
    '    [ -e /proc/vmcore ] && return 0',
    `    [ -r ${IN_KERNEL} ] || return 0`,
    '    kdumpkit_cmdline',
    `    if kexec -s -p ${IN_KERNEL} --initrd=${IN_INITRD} --append="$append"; then`,
    '        echo "kdumpkit: early kdump: capture kernel loaded (kexec_file_load)"',
    `    elif kexec -p ${IN_KERNEL} --initrd=${IN_INITRD} --append="$append"; then`,
    '        echo "kdumpkit: early kdump: capture kernel loaded (kexec_load)"',
    '    else',
    '        echo "kdumpkit: early kdump: kexec -p failed; no dump before kdumpkit-load.service runs" >&2',
    '    fi',
    '}',
  ].join('\n');
}

const HEADER = '# Written by `kdumpkit setup` (early = yes in /etc/kdumpkit.conf); run `kdumpkit setup` again instead of editing.';

export function mkinitcpioInstall(kernel: string, initrd: string): string {
  return `#!/bin/bash
${HEADER}
# mkinitcpio build hook: puts kexec, the capture kernel and the capture initramfs into the image.

build() {
    add_binary kexec
    add_file ${shq(kernel)} ${IN_KERNEL}
    add_file ${shq(initrd)} ${IN_INITRD}
    add_runscript
}

help() {
    cat <<'HELPEOF'
Loads the kdumpkit capture kernel with kexec -p early in boot, so crashes before
kdumpkit-load.service runs are captured too. Needs a crashkernel= reservation.
HELPEOF
}
`;
}

export function mkinitcpioHook(extra: string): string {
  return `#!/usr/bin/ash
# shellcheck shell=sh
${HEADER}
# mkinitcpio runtime hook: load the capture kernel before the root file system is mounted.

${cmdlineShell(extra)}

${loadShell()}

run_hook() {
    kdumpkit_early_load
}
`;
}

export function dracutModuleSetup(kernel: string, initrd: string): string {
  return `#!/bin/bash
${HEADER}
# dracut module: puts kexec, the capture kernel and the capture initramfs into the image and runs
# kdumpkit-early.sh at the cmdline hook point, the first one (as kdump-utils' 99earlykdump does).

# Only when asked for (add_dracutmodules in /etc/dracut.conf.d/99-kdumpkit.conf).
check() {
    return 255
}

depends() {
    return 0
}

install() {
    inst_multiple kexec
    inst_simple ${shq(kernel)} ${IN_KERNEL}
    inst_simple ${shq(initrd)} ${IN_INITRD}
    # shellcheck disable=SC2154 # moddir is set by dracut
    inst_hook cmdline 00 "$moddir/kdumpkit-early.sh"
}
`;
}

export function dracutEarlyScript(extra: string): string {
  return `#!/bin/sh
${HEADER}
# Runs inside the dracut initramfs (cmdline hook): load the capture kernel.

${cmdlineShell(extra)}

${loadShell()}

kdumpkit_early_load
`;
}

export function dracutConf(): string {
  return `${HEADER}\nadd_dracutmodules+=" kdumpkit "\n`;
}

/** mkinitcpio.conf with `kdumpkit` in HOOKS (after udev, else base); unchanged if already there. */
export function editMkinitcpioConf(text: string, file = MKINITCPIO_CONF): { text: string; systemdHook: boolean } {
  const lines = text.split('\n');
  let idx = -1;
  lines.forEach((l, i) => {
    if (/^\s*HOOKS=/.test(l)) idx = i;
  });
  if (idx < 0) throw new BootConfigError(file, undefined, 'no HOOKS= line', 'mkinitcpio needs HOOKS=(base udev ...); restore it from /usr/share/mkinitcpio/mkinitcpio.conf.');
  const m = /^(\s*HOOKS=)(\(([^()]*)\)|"([^"]*)")(\s*(#.*)?)$/.exec(lines[idx]!);
  if (!m) throw new BootConfigError(file, idx + 1, `cannot parse HOOKS: expected HOOKS=(hook ...), got '${lines[idx]!.trim()}'`, 'Write HOOKS as one array on one line: HOOKS=(base udev ...).');
  const hooks = (m[3] ?? m[4]!).split(/\s+/).filter(Boolean);
  const systemdHook = hooks.includes('systemd');
  if (hooks.includes('kdumpkit')) return { text, systemdHook };
  const after = hooks.includes('udev') ? hooks.indexOf('udev') : hooks.indexOf('base');
  hooks.splice(after + 1, 0, 'kdumpkit');
  const body = m[3] !== undefined ? `(${hooks.join(' ')})` : `"${hooks.join(' ')}"`;
  lines[idx] = `${m[1]}${body}${m[5] ?? ''}`;
  return { text: lines.join('\n'), systemdHook };
}

/**
 * The early-kdump files for the generators this root has: mkinitcpio when /etc/mkinitcpio.conf
 * exists, dracut when /usr/lib/dracut exists (or, on the live root, `dracut` is on PATH). `kernel`/`initrd` are the
 * capture kernel and capture initramfs (host paths).
 */
export function planEarly(root: HostRoot, c: KdumpkitConfig, kernel: string | undefined, release: string | undefined): EarlyPlan {
  const files: EarlyFile[] = [];
  const actions: Action[] = [];
  const warnings: string[] = [];
  const generators: ('mkinitcpio' | 'dracut')[] = [];
  if (!kernel) {
    warnings.push("early kdump: no capture kernel image found (set 'kernel' in /etc/kdumpkit.conf); no initramfs hook written");
    return { files, actions, warnings, generators };
  }
  const initrd = c.initrd || CAPTURE_INITRD;
  const fakeSkip = (argv: string[]): string | undefined => (root.isFake ? `--root ${root.dir} is not the running system: run '${argv.join(' ')}' inside it (e.g. in a chroot)` : undefined);
  const push = (argv: string[], why: string): void => {
    const skip = fakeSkip(argv);
    actions.push(skip ? { argv, why, skip } : { argv, why });
  };
  const conf = root.read(MKINITCPIO_CONF);
  if (conf !== undefined) {
    generators.push('mkinitcpio');
    const edited = editMkinitcpioConf(conf, root.path(MKINITCPIO_CONF));
    if (edited.systemdHook) warnings.push(`${MKINITCPIO_CONF}: HOOKS has 'systemd', which does not run runtime hooks; early kdump needs the busybox initramfs (base udev ...)`);
    files.push({ path: MKINITCPIO_INSTALL, content: mkinitcpioInstall(kernel, initrd), mode: 0o644, why: 'mkinitcpio build hook: adds kexec and the capture kernel to the initramfs' });
    files.push({ path: MKINITCPIO_HOOK, content: mkinitcpioHook(c.cmdline), mode: 0o644, why: 'mkinitcpio runtime hook: kexec -p in the initramfs' });
    files.push({ path: MKINITCPIO_CONF, content: edited.text, mode: 0o644, why: "run the kdumpkit hook (HOOKS)" });
    // -S kdumpkit: the capture initramfs must not contain itself.
    if (!c.initrd) push(['mkinitcpio', '-k', kernel, '-g', CAPTURE_INITRD, '-S', 'kdumpkit'], 'build the capture initramfs (without the kdumpkit hook)');
    push(['mkinitcpio', '-P'], 'rebuild the initramfs images with the kdumpkit hook');
  }
  // A fake root's dracut is its /usr/lib/dracut; the dracut on PATH belongs to this machine.
  if (root.isDirectory('/usr/lib/dracut') || (!root.isFake && root.which('dracut'))) {
    generators.push('dracut');
    files.push({ path: `${DRACUT_MODULE_DIR}/module-setup.sh`, content: dracutModuleSetup(kernel, initrd), mode: 0o755, why: 'dracut module: adds kexec and the capture kernel to the initramfs' });
    files.push({ path: `${DRACUT_MODULE_DIR}/kdumpkit-early.sh`, content: dracutEarlyScript(c.cmdline), mode: 0o755, why: 'dracut hook: kexec -p in the initramfs' });
    files.push({ path: DRACUT_CONF, content: dracutConf(), mode: 0o644, why: 'include the kdumpkit dracut module' });
    if (!c.initrd) push(['dracut', '--force', '--omit', 'kdumpkit', CAPTURE_INITRD, release ?? 'RELEASE'], 'build the capture initramfs (without the kdumpkit module)');
    push(['dracut', '--force', '--regenerate-all'], 'rebuild the initramfs images with the kdumpkit module');
  }
  if (generators.length === 0) warnings.push('early kdump: neither mkinitcpio (/etc/mkinitcpio.conf) nor dracut found; no initramfs hook written');
  return { files, actions, warnings, generators };
}
