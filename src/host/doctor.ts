/**
 * `kdumpkit doctor`: everything `check` looks at, plus what only shows after a crash went
 * wrong, and a walk down the classic failure list (the debugging checklist of the kexec-tools
 * maintainers' "Using Kdump for examining Linux Kernel crashes" and the ArchWiki Kdump page):
 *
 *   1. crash memory not reserved        crashkernel= missing, or present but kexec_crash_size 0
 *   2. capture kernel not loaded        kexec missing, load unit not installed / enabled / masked,
 *                                       lockdown, image + initramfs larger than the reservation
 *   3. capture kernel boots but saves   reservation below the recommendation (capture kernel OOM),
 *      nothing                          save unit missing, target dir missing / read-only / tmpfs
 *   4. disk full                        free space below a level-31 dump of this RAM; dumps left
 *                                       as vmcore.incomplete by an earlier failed save
 *   and uncollected pstore records (a crash kdump missed); conflicts: kdump-tools, kdump-utils or simple-kdump services loading their own capture
 *   kernel; nokaslr left over from old crash(8) advice.
 *
 * systemd state is read from the unit files and the enablement symlinks under
 * /etc/systemd/system (what `systemctl enable` creates), never by running systemctl.
 */
import { accessSync, constants, lstatSync, readlinkSync } from 'node:fs';
import { freeSpace, INCOMPLETE_SUFFIX } from '../collect/target.js';
import { KdumpkitError } from '../util/errors.js';
import { LOAD_UNIT, SAVE_UNIT, captureCmdline } from './capture-cmdline.js';
import { checkFindings, readCheckContext, type CheckContext, type CheckOptions } from './check.js';
import { formatSize } from './crashkernel.js';
import { isBuiltin } from './kernel-config.js';
import { makeReport, type CheckReport, type DiagnosisStep, type Finding } from './findings.js';
import { approxSize, recommend } from './recommend.js';
import type { HostRoot } from './root.js';
import { splitCmdline, paramName } from './state.js';

const UNIT_DIRS = ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];
const WANTS_DIRS = ['multi-user.target.wants', 'default.target.wants', 'sysinit.target.wants', 'basic.target.wants'];

/** Services of other kdump tools that load their own capture kernel (and would fight ours). */
export const CONFLICTING_UNITS: Readonly<Record<string, string>> = {
  'kdump-tools.service': "Debian/Ubuntu kdump-tools (apt remove kdump-tools, or systemctl disable kdump-tools.service)",
  'kdump.service': 'Fedora/RHEL kdump-utils (systemctl disable kdump.service)',
  'simple-kdump-setup.service': 'Arch simple-kdump (systemctl disable simple-kdump-setup.service)',
  'kdumpst-init.service': 'Arch kdumpst (systemctl disable kdumpst-init.service)',
};

/** lstat through the root: a symlink is judged as a link (its target is a host path, not ours). */
function lexists(root: HostRoot, abs: string): boolean {
  try {
    lstatSync(root.path(abs));
    return true;
  } catch {
    return false;
  }
}

export interface UnitState {
  readonly name: string;
  /** The unit file, if installed (first of /etc, /usr/lib, /lib). */
  readonly file: string | undefined;
  /** Enablement symlinks found (e.g. /etc/systemd/system/multi-user.target.wants/X). */
  readonly enabledBy: readonly string[];
  /** /etc/systemd/system/X is a symlink to /dev/null (systemctl mask). */
  readonly masked: boolean;
}

export function unitState(root: HostRoot, name: string): UnitState {
  let masked: boolean;
  try {
    masked = readlinkSync(root.path(`/etc/systemd/system/${name}`)) === '/dev/null';
  } catch {
    masked = false;
  }
  const file = masked ? undefined : UNIT_DIRS.map((d) => `${d}/${name}`).find((p) => root.exists(p));
  const enabledBy = WANTS_DIRS.map((w) => `/etc/systemd/system/${w}/${name}`).filter((p) => lexists(root, p));
  return { name, file, enabledBy, masked };
}

/** Mount entry holding `abs` (longest mount point prefix) from the root's /proc/mounts. */
export function mountOf(root: HostRoot, abs: string): { point: string; fstype: string; options: readonly string[] } | undefined {
  const text = root.read('/proc/mounts') ?? root.read('/proc/self/mounts');
  if (text === undefined) return undefined;
  let best: { point: string; fstype: string; options: readonly string[] } | undefined;
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 4) continue;
    // /proc/mounts escapes space, tab, newline and backslash as octal (fs/proc_namespace.c).
    const point = f[1]!.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    const inside = point === '/' || abs === point || abs.startsWith(point.endsWith('/') ? point : point + '/');
    if (inside && (!best || point.length >= best.point.length)) best = { point, fstype: f[2]!, options: f[3]!.split(',') };
  }
  return best;
}

/**
 * Free space a dump of this RAM needs before compression. Level 31 keeps only kernel pages
 * (page tables, slab, stacks, vmalloc): a few percent of RAM on most machines, but up to a quarter
 * under slab-heavy loads, so we ask for a quarter; any lower level can keep up to all of RAM.
 */
export function dumpSpaceNeeded(memTotal: bigint, level: number): bigint {
  return level === 31 ? memTotal / 4n : memTotal;
}

function unitFindings(c: CheckContext): Finding[] {
  const { root } = c;
  const out: Finding[] = [];
  const load = unitState(root, LOAD_UNIT);
  const save = unitState(root, SAVE_UNIT);
  const unitPath = (u: string): string => root.path(`/etc/systemd/system/${u}`);
  if (load.masked) {
    out.push({ id: 'units.load', status: 'fail', title: `${LOAD_UNIT} is masked`, why: 'A masked unit never starts, so no capture kernel is loaded at boot.', fix: `systemctl unmask ${LOAD_UNIT}`, evidence: [unitPath(LOAD_UNIT)] });
  } else if (!load.file) {
    out.push({ id: 'units.load', status: 'fail', title: `${LOAD_UNIT} is not installed`, why: 'It loads the capture kernel at every boot; without it kexec_crash_loaded is 0 after the next reboot.', fix: 'kdumpkit setup', evidence: UNIT_DIRS.map((d) => root.path(`${d}/${LOAD_UNIT}`)) });
  } else if (load.enabledBy.length === 0) {
    out.push({ id: 'units.load', status: 'fail', title: `${LOAD_UNIT} is installed but not enabled`, why: 'systemd only starts it at boot when a .wants/ symlink points at it, so after the next reboot no capture kernel is loaded.', fix: `systemctl enable ${LOAD_UNIT}`, evidence: [root.path(load.file), ...WANTS_DIRS.slice(0, 1).map((w) => root.path(`/etc/systemd/system/${w}`))] });
  } else {
    out.push({ id: 'units.load', status: 'ok', title: `${LOAD_UNIT} is installed and enabled`, why: 'It loads the capture kernel at every boot.', evidence: [root.path(load.file), ...load.enabledBy.map((p) => root.path(p))] });
  }
  if (!save.file) {
    out.push({
      id: 'units.save',
      status: 'fail',
      title: `${SAVE_UNIT} is ${save.masked ? 'masked' : 'not installed'}`,
      why: `The capture kernel boots with systemd.unit=${SAVE_UNIT}; without the unit it boots into nothing and saves nothing.`,
      fix: save.masked ? `systemctl unmask ${SAVE_UNIT}` : 'kdumpkit setup',
      evidence: UNIT_DIRS.map((d) => root.path(`${d}/${SAVE_UNIT}`)),
    });
  } else {
    out.push({ id: 'units.save', status: 'ok', title: `${SAVE_UNIT} is installed`, why: 'The capture kernel boots straight into it (systemd.unit=) to save the dump.', evidence: [root.path(save.file)] });
  }
  for (const [unit, owner] of Object.entries(CONFLICTING_UNITS)) {
    const s = unitState(root, unit);
    if (s.enabledBy.length > 0) {
      out.push({
        id: 'units.conflict',
        status: 'warn',
        title: `${unit} is enabled too (${owner.split(' (')[0]})`,
        why: 'Two tools load their own capture kernel at boot and the last one wins; the dump then lands where the other tool puts it, or the reservation is too small for both setups.',
        fix: owner.slice(owner.indexOf('(') + 1, -1),
        evidence: s.enabledBy.map((p) => root.path(p)),
      });
    }
  }
  return out;
}

function targetFindings(c: CheckContext): Finding[] {
  const { root } = c;
  const dir = c.config.dir;
  const real = root.path(dir);
  const out: Finding[] = [];
  if (!root.exists(dir)) {
    return [{ id: 'target.dir', status: 'fail', title: `crash directory ${real} does not exist`, why: 'The save unit writes each dump into a dated subdirectory of it; without it there is nowhere to save.', fix: `mkdir -m 0700 -p ${dir}`, evidence: [real] }];
  }
  if (!root.isDirectory(dir)) {
    return [{ id: 'target.dir', status: 'fail', title: `crash directory ${real} is not a directory`, why: 'The save unit writes each dump into a dated subdirectory of it.', fix: `Remove it and mkdir -m 0700 ${dir}, or set dir = in ${c.configPath}`, evidence: [real] }];
  }
  const mount = mountOf(root, dir);
  const mountsFile = root.path('/proc/mounts');
  let writable = true;
  try {
    accessSync(real, constants.W_OK);
  } catch {
    writable = false;
  }
  if (mount && (mount.fstype === 'tmpfs' || mount.fstype === 'ramfs')) {
    out.push({ id: 'target.dir', status: 'fail', title: `crash directory ${dir} is on ${mount.fstype} (${mount.point})`, why: 'A dump saved to memory is gone after the reboot that follows the save.', fix: `Set dir = to a directory on disk in ${c.configPath} (default /var/crash)`, evidence: [mountsFile] });
  } else if (!writable && !mount?.options.includes('ro') && process.getuid?.() !== 0) {
    // The save unit runs as root; an ordinary user being refused says nothing about root.
    out.push({ id: 'target.dir', status: 'warn', title: `crash directory ${real} is not writable by this user (uid ${process.getuid?.()}); the save runs as root`, why: 'Whether root can write there cannot be told from here.', fix: 'Run kdumpkit doctor as root (sudo kdumpkit doctor)', evidence: [real] });
  } else if (mount?.options.includes('ro') || !writable) {
    out.push({ id: 'target.dir', status: 'fail', title: `crash directory ${real} is not writable${mount?.options.includes('ro') ? ` (${mount.point} is mounted read-only)` : ''}`, why: 'The save unit cannot create the dump there.', fix: mount?.options.includes('ro') ? `Mount ${mount.point} read-write (fstab), or set dir = elsewhere in ${c.configPath}` : `chmod 0700 ${dir} && chown root:root ${dir}`, evidence: [real, ...(mount ? [mountsFile] : [])] });
  } else {
    out.push({ id: 'target.dir', status: 'ok', title: `crash directory ${real} exists and is writable${mount ? ` (${mount.fstype} on ${mount.point})` : ''}`, why: 'The save unit writes each dump into a dated subdirectory of it.', evidence: [real] });
  }
  const ram = c.state.memTotalBytes;
  const free = freeSpace(real);
  if (ram !== undefined && free !== undefined) {
    const need = dumpSpaceNeeded(ram, c.config.level);
    const freeB = BigInt(Math.floor(free));
    out.push(
      freeB < need
        ? { id: 'target.space', status: 'fail', title: `only ${approxSize(freeB)} free for dumps in ${dir}; a level-${c.config.level} dump of ${approxSize(ram)} of RAM may need ${approxSize(need)}`, why: 'A save that runs out of space leaves vmcore.incomplete, missing the pages written last.', fix: `Free space there (kdumpkit prune --dir ${dir} --keep 1), or set dir = to a larger file system in ${c.configPath}`, evidence: [real] }
        : { id: 'target.space', status: 'ok', title: `${approxSize(freeB)} free in ${dir} (a level-${c.config.level} dump of this RAM needs at most about ${approxSize(need)})`, why: 'Enough room for the next dump before compression.', evidence: [real] },
    );
  }
  let incomplete: string[];
  try {
    incomplete = root
      .list(dir)
      .filter((d) => root.isDirectory(`${dir}/${d}`))
      .flatMap((d) => root.list(`${dir}/${d}`).filter((f) => f.endsWith(INCOMPLETE_SUFFIX)).map((f) => `${dir}/${d}/${f}`));
  } catch (e) {
    // Dump directories are 0700 (root only): as another user they cannot be listed.
    if (!(e instanceof KdumpkitError)) throw e;
    out.push({ id: 'target.incomplete', status: 'warn', title: `cannot look for incomplete dumps: ${e.message}`, why: 'Dump directories are 0700, readable by root only.', fix: 'Run kdumpkit doctor as root', evidence: [real] });
    incomplete = [];
  }
  if (incomplete.length > 0) {
    out.push({
      id: 'target.incomplete',
      status: 'warn',
      title: `${incomplete.length} incomplete dump file${incomplete.length > 1 ? 's' : ''} in ${dir}`,
      why: 'An earlier save did not finish: the disk filled up, or the capture kernel ran out of memory or was reset. The partial dump can still be analyzed.',
      fix: `kdumpkit info ${root.path(incomplete[0]!)} (what survived); then remove it or kdumpkit prune --dir ${dir} --keep ${c.config.keep}`,
      evidence: incomplete.map((p) => root.path(p)),
    });
  }
  return out;
}

/**
 * Records left in /sys/fs/pstore (fs/pstore/inode.c: one file per record, e.g.
 * dmesg-efi-<id>, dmesg-ramoops-0, console-ramoops-0): the firmware kept a panic log that
 * nothing collected, usually from a crash kdump did not catch. Firmware space is small (EFI
 * variables), so records left there also crowd out the next crash's log.
 */
function pstoreFindings(c: CheckContext): Finding[] {
  const { root } = c;
  let records: string[];
  try {
    records = root.list('/sys/fs/pstore').filter((n) => !n.startsWith('.'));
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    return [];
  }
  if (records.length === 0) return [];
  return [
    {
      id: 'pstore.records',
      status: 'warn',
      title: `${records.length} uncollected pstore record${records.length > 1 ? 's' : ''} in /sys/fs/pstore`,
      why: "The firmware kept a kernel log of an earlier crash or oops (often one kdump did not catch); until collected it also takes the little space the next crash's log needs.",
      fix: `kdumpkit pstore --dir ${c.config.dir} (collects them into the crash directory, then clears them)`,
      evidence: records.map((n) => root.path(`/sys/fs/pstore/${n}`)),
    },
  ];
}

function cmdlineFindings(c: CheckContext): Finding[] {
  const { state, root } = c;
  const out: Finding[] = [];
  if (state.cmdline === undefined) return out;
  const params = splitCmdline(state.cmdline);
  if (params.some((p) => paramName(p) === 'nokaslr')) {
    out.push({ id: 'cmdline.nokaslr', status: 'warn', title: 'nokaslr is on the kernel command line', why: 'Old crash(8) advice; kdumpkit reads the KASLR offset from VMCOREINFO in the dump, so disabling KASLR only costs security.', fix: 'Remove nokaslr from the boot command line (GRUB_CMDLINE_LINUX in /etc/default/grub, loader entries or /etc/kernel/cmdline)', evidence: [root.path('/proc/cmdline')] });
  }
  if (c.config.crashkernel && state.crashkernelParams.length > 0 && state.crashkernelParams.join(' ') !== c.config.crashkernel) {
    out.push({ id: 'cmdline.pending', status: 'warn', title: `running with crashkernel=${state.crashkernelParams.join(' ')} but ${c.configPath} says ${c.config.crashkernel}`, why: 'The configured value takes effect only after setup has written it to the bootloader and the machine has rebooted.', fix: 'kdumpkit setup, then reboot', evidence: [root.path('/proc/cmdline'), c.configPath] });
  }
  out.push({ id: 'capture.cmdline', status: 'ok', title: `capture kernel command line: ${captureCmdline(state.cmdline, c.config.cmdline)}`, why: 'What kdumpkit load passes to kexec -p --append (the running command line without crashkernel= and quiet, plus nr_cpus=1 reset_devices irqpoll and the save unit).', evidence: [captureCmdline(state.cmdline, c.config.cmdline)] });
  return out;
}

/** Why a crashkernel= that is present reserved nothing, most likely cause first. */
export function reservationFailureCauses(c: CheckContext): string[] {
  const causes: string[] = [];
  const ram = c.state.memTotalBytes;
  if (c.crashkernelError) causes.push(`bad syntax: ${c.crashkernelError.message.split('\n')[0]}`);
  if (c.kconfig && !isBuiltin(c.kconfig, 'CRASH_DUMP')) causes.push('the kernel has no CONFIG_CRASH_DUMP, so crashkernel= is ignored');
  if (c.crashkernel && ram !== undefined) {
    if (!c.expected) causes.push(`no range of the value matches ${approxSize(ram)} of RAM, or the size is not below the RAM size`);
    else {
      if (c.expected.size * 2n > ram) causes.push(`${formatSize(c.expected.size)} is more than half of the ${approxSize(ram)} of RAM: too big to find as one free block`);
      if (c.expected.offset) causes.push(`@${formatSize(c.expected.offset)} asks for a fixed address that is not free RAM on this machine: drop the @offset and let the kernel choose`);
      if (!c.expected.high && c.expected.size > 512n << 20n && c.arch === 'x86_64') causes.push(`${formatSize(c.expected.size)} must fit below 4G as one block, which firmware and devices fragment: use crashkernel=${formatSize(c.expected.size)},high`);
    }
  }
  causes.push('the kernel logs the reason at boot: dmesg | grep -i crashkernel');
  return causes;
}

function diagnose(c: CheckContext, findings: readonly Finding[]): DiagnosisStep[] {
  const by = (id: string): Finding | undefined => findings.find((f) => f.id === id);
  const failed = (id: string): boolean => by(id)?.status === 'fail';
  const steps: DiagnosisStep[] = [];
  const { state } = c;
  const rec = state.memTotalBytes === undefined ? undefined : recommend({ ramBytes: state.memTotalBytes, arch: c.arch });
  const ck = rec ? `crashkernel=${rec.crashkernel}` : 'crashkernel=<kdumpkit recommend>';

  // 1. Crash memory not reserved.
  if (state.crashkernelParams.length === 0) {
    steps.push({ problem: 'crash memory is not reserved', causes: ['no crashkernel= on the kernel command line'], remedy: [`kdumpkit setup (adds ${ck} for this bootloader)`, 'reboot', 'kdumpkit check'] });
  } else if (!state.reservedBytes) {
    steps.push({ problem: 'crash memory is not reserved although crashkernel= is set (the reservation failed at boot)', causes: reservationFailureCauses(c), remedy: [`set crashkernel = ${rec?.crashkernel ?? '…'} in /etc/kdumpkit.conf`, 'kdumpkit setup', 'reboot', 'kdumpkit check'] });
  }
  // 2. Capture kernel not loaded.
  if (state.loaded !== true || failed('units.load') || failed('kexec.binary') || failed('kexec.lockdown')) {
    const causes: string[] = [];
    if (!state.reservedBytes) causes.push('nothing is reserved (see above): kexec -p fails with "Could not find a free area of memory" / EADDRNOTAVAIL');
    for (const id of ['kexec.binary', 'units.load', 'kexec.lockdown', 'config.kdumpkit', 'capture.kernel', 'capture.initrd']) {
      const f = by(id);
      if (f?.status === 'fail') causes.push(f.title);
    }
    const fits = by('reserve.fits');
    if (fits?.status === 'fail') causes.push(`${fits.title}: kexec fails with EADDRNOTAVAIL / "Cannot load"`);
    if (causes.length === 0 && state.loaded !== true) causes.push('kdumpkit-load.service did not run or kexec failed at boot: journalctl -b -u kdumpkit-load.service shows why');
    steps.push({ problem: state.loaded === true ? 'a capture kernel is loaded now, but will not be after the next boot' : 'no capture kernel is loaded', causes, remedy: [...(by('units.load')?.title.endsWith('not installed') || failed('config.kdumpkit') ? ['kdumpkit setup'] : []), 'kdumpkit load (prints kexec\'s error if it fails)', `systemctl enable ${LOAD_UNIT}`, 'kdumpkit status'] });
  }
  // 3. The capture kernel boots but saves nothing.
  const saveCauses: string[] = [];
  const small = by('reserve.recommended');
  if (small?.status === 'warn') saveCauses.push(`${small.title}: the capture kernel runs out of memory (OOM, hang) before the dump is written`);
  for (const id of ['units.save', 'target.dir']) {
    const f = by(id);
    if (f?.status === 'fail') saveCauses.push(f.title);
  }
  if (saveCauses.length > 0) {
    steps.push({ problem: 'the capture kernel would boot but save nothing', causes: saveCauses, remedy: [small?.status === 'warn' ? `raise the reservation: crashkernel = ${rec?.crashkernel ?? '…'} in /etc/kdumpkit.conf, kdumpkit setup, reboot` : 'kdumpkit setup', 'kdumpkit rehearse (boots the capture path in a VM)'] });
  }
  // 4. Disk full.
  const space = by('target.space');
  const inc = by('target.incomplete');
  if (space?.status === 'fail' || inc) {
    steps.push({ problem: 'dumps do not fit, or an earlier save was cut short', causes: [space?.status === 'fail' ? space.title : undefined, inc?.title].filter((x): x is string => x !== undefined), remedy: [`kdumpkit prune --dir ${c.config.dir} --keep ${Math.max(1, c.config.keep)}`, `or set dir = to a larger file system in /etc/kdumpkit.conf`] });
  }
  return steps;
}

/** `kdumpkit doctor`: check's findings, doctor's extra ones, and the failure walk. */
export function runDoctor(root: HostRoot, opts: CheckOptions = {}): CheckReport {
  const c = readCheckContext(root, opts);
  const findings = [...checkFindings(c), ...unitFindings(c), ...targetFindings(c), ...pstoreFindings(c), ...cmdlineFindings(c)];
  return makeReport('doctor', root.dir, c.release, c.running, findings, diagnose(c, findings));
}
