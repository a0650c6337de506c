/**
 * The systemd units `kdumpkit setup` writes to /etc/systemd/system.
 *
 *   kdumpkit-load.service    first kernel: `kdumpkit load` at boot (kexec -p), `kdumpkit unload`
 *                            on stop; Type=oneshot + RemainAfterExit so "active" means "loaded"
 *   kdumpkit-save.service    capture kernel: started instead of default.target by the
 *                            systemd.unit= that capture-cmdline.ts puts on the capture kernel's
 *                            command line; saves /proc/vmcore into the crash directory, prunes
 *                            old crashes, then reboots (SuccessAction=/FailureAction=, systemd.unit(5))
 *   kdumpkit-pstore.service  first kernel, when pstore = yes: moves /sys/fs/pstore records into
 *                            the crash catalog at boot
 *
 * ExecStart needs an absolute program path (systemd.service(5), "Command lines"): it is the
 * `kdumpkit` found on PATH when installed there, else this install's node binary followed by
 * its dist/src/cli/main.js (see kdumpkitCommand()).
 */
import { lstatSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { LOAD_UNIT, SAVE_UNIT } from './capture-cmdline.js';
import type { KdumpkitConfig } from './config.js';
import type { HostRoot } from './root.js';

export const UNIT_DIR = '/etc/systemd/system';
export const PSTORE_UNIT = 'kdumpkit-pstore.service';

/**
 * The command that runs kdumpkit, as absolute paths: `which kdumpkit` (the npm bin link of a
 * global install), else `process.execPath` + the main.js next to this module in dist/.
 */
export function kdumpkitCommand(root: HostRoot): string[] {
  const onPath = root.which('kdumpkit');
  if (onPath) return [onPath];
  // This file is dist/src/host/units.js; the CLI entry is dist/src/cli/main.js.
  return [process.execPath, join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js')];
}

/** Quotes a word for a unit's command line when it has spaces or quotes (systemd.syntax(7)). */
function word(w: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w)) return w;
  return `"${w.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** systemd expands %-specifiers and $VAR in command lines; a literal % must be doubled, $ too. */
function cmd(argv: readonly string[]): string {
  return argv.map(word).join(' ').replace(/%/g, '%%').replace(/\$/g, '$$$$');
}

/**
 * A path for RequiresMountsFor= (a space-separated list, words unquoted as in systemd.syntax(7);
 * only %-specifiers are expanded there).
 */
function pathArg(p: string): string {
  return word(p).replace(/%/g, '%%');
}

const HEADER = '# Written by `kdumpkit setup`; edit /etc/kdumpkit.conf and run `kdumpkit setup` again instead of editing this file.\n';

export function loadUnit(kdumpkit: readonly string[]): string {
  return (
    HEADER +
    `# Loads the capture kernel (kexec -p) into the crashkernel= reservation at boot, so a crash\n` +
    `# boots it and ${SAVE_UNIT} saves the dump. \`systemctl status ${LOAD_UNIT}\` says whether that worked.\n` +
    `[Unit]\n` +
    `Description=kdumpkit: load the crash capture kernel\n` +
    `After=local-fs.target\n` +
    `\n` +
    `[Service]\n` +
    `Type=oneshot\n` +
    `RemainAfterExit=yes\n` +
    `ExecStart=${cmd([...kdumpkit, 'load'])}\n` +
    `ExecStop=${cmd([...kdumpkit, 'unload'])}\n` +
    `\n` +
    `[Install]\n` +
    `WantedBy=multi-user.target\n`
  );
}

export function saveUnit(kdumpkit: readonly string[], c: KdumpkitConfig): string {
  // --threads 0: compress on the main thread; the capture kernel runs with nr_cpus=1 in a
  // reservation of a few hundred MB, where a worker thread's extra V8 heap is memory not spare.
  const exec = [`ExecStart=${cmd([...kdumpkit, 'save', '--level', String(c.level), '--compress', c.compress, '--threads', '0', '/proc/vmcore', c.dir])}`];
  if (c.keep > 0) exec.push(`ExecStart=${cmd([...kdumpkit, 'prune', '--dir', c.dir, '--keep', String(c.keep)])}`);
  const reboot = c.reboot ? `SuccessAction=reboot\nFailureAction=reboot\n` : '';
  return (
    HEADER +
    `# Runs in the capture kernel only: its command line says systemd.unit=${SAVE_UNIT}, and\n` +
    `# /proc/vmcore exists only there. Saves the dump and its log to ${c.dir}/<time>/${c.reboot ? ', then reboots' : ''}.\n` +
    `[Unit]\n` +
    `Description=kdumpkit: save the crash dump (capture kernel)\n` +
    `ConditionPathExists=/proc/vmcore\n` +
    `Requires=local-fs.target\n` +
    `After=local-fs.target\n` +
    `RequiresMountsFor=${pathArg(c.dir)}\n` +
    reboot +
    `\n` +
    `[Service]\n` +
    `Type=oneshot\n` +
    // Dumps hold all of the crashed kernel's memory (keys, passwords): owner-only files.
    `UMask=0077\n` +
    `StandardOutput=journal+console\n` +
    `StandardError=journal+console\n` +
    exec.join('\n') +
    `\n`
  );
}

export function pstoreUnit(kdumpkit: readonly string[], c: KdumpkitConfig): string {
  return (
    HEADER +
    `# Moves the records the last crashed kernel left in /sys/fs/pstore (EFI variables, ramoops)\n` +
    `# into ${c.dir}/<time>-pstore/ at boot, which also frees the backend's space for the next crash.\n` +
    `[Unit]\n` +
    `Description=kdumpkit: collect pstore crash records\n` +
    // Before systemd-pstore.service, which would otherwise archive (and empty) /sys/fs/pstore
    // first; that one is part of sysinit.target, so this one must be too (default dependencies
    // would order it after sysinit.target: a cycle). Same dependencies as systemd-pstore.service.
    `DefaultDependencies=no\n` +
    `After=local-fs.target\n` +
    `Before=systemd-pstore.service sysinit.target shutdown.target\n` +
    `Conflicts=shutdown.target\n` +
    `RequiresMountsFor=${pathArg(c.dir)}\n` +
    `ConditionDirectoryNotEmpty=/sys/fs/pstore\n` +
    `\n` +
    `[Service]\n` +
    `Type=oneshot\n` +
    `UMask=0077\n` +
    `ExecStart=${cmd([...kdumpkit, 'pstore', '--dir', c.dir])}\n` +
    `\n` +
    `[Install]\n` +
    `WantedBy=sysinit.target\n`
  );
}

/** The target each enabled unit is wanted by ([Install] WantedBy=). */
export function wantedBy(unit: string): string {
  return unit === PSTORE_UNIT ? 'sysinit.target' : 'multi-user.target';
}

/** Whether `unit` is enabled in `root` (the symlink `systemctl enable` makes for its WantedBy=). */
export function unitEnabled(root: HostRoot, unit: string): boolean {
  // lstat: the link's target is absolute on the machine (/etc/systemd/system/UNIT), which under
  // a --root prefix does not resolve; the link itself is what `enable` makes.
  try {
    lstatSync(root.path(`${UNIT_DIR}/${wantedBy(unit)}.wants/${unit}`));
    return true;
  } catch {
    return false;
  }
}
