/**
 * Where the boot command line lives, and how to put crashkernel= on it, per bootloader:
 *
 *   grub            /etc/default/grub GRUB_CMDLINE_LINUX (the line grub-mkconfig appends to
 *                   every kernel, including recovery entries; GRUB_CMDLINE_LINUX_DEFAULT is
 *                   for normal entries only), then grub.cfg regenerated: `update-grub` on
 *                   Debian/Ubuntu, `grub2-mkconfig -o /boot/grub2/grub.cfg` on Fedora/RHEL,
 *                   `grub-mkconfig -o /boot/grub/grub.cfg` elsewhere. With BLS entries
 *                   (GRUB_ENABLE_BLSCFG=true, Fedora) grub.cfg does not hold the kernel options:
 *                   each /boot/loader/entries/*.conf `options` line does, so those are edited too
 *                   (what `grubby --update-kernel=ALL --args=crashkernel=...` does), and
 *                   /etc/kernel/cmdline when it exists (kernel-install copies it into the entries
 *                   of kernels installed later).
 *   systemd-boot    every loader entry's `options` lines (Boot Loader Specification, type #1
 *                   entries) in the ESP or XBOOTLDR partition: /boot, /efi or /boot/efi.
 *   kernel-cmdline  unified kernel images embed the command line: /etc/kernel/cmdline, then the
 *                   UKIs are rebuilt: `mkinitcpio -P` on Arch (its presets build the UKIs),
 *                   `kernel-install add RELEASE IMAGE` elsewhere (systemd's ukify plugin).
 *
 * Detection (`auto`) looks at files only: a UKI (EFI/Linux/*.efi on an ESP, or a mkinitcpio preset
 * with *_uki=) plus /etc/kernel/cmdline → kernel-cmdline; /etc/default/grub → grub; loader
 * entries → systemd-boot.
 *
 * Editing keeps everything else as it was: other parameters, their order, the quoting style of
 * GRUB_CMDLINE_LINUX. Every crashkernel= already there is removed and the wanted ones appended
 * (unless they are already exactly what is wanted), so applying twice changes nothing.
 */
import { KdumpkitError } from '../util/errors.js';
import { osIds, runningRelease, kernelFiles } from './boot-images.js';
import { paramName, splitCmdline } from './state.js';
import type { Action } from './file-plan.js';
import type { HostRoot } from './root.js';

export type Bootloader = 'grub' | 'systemd-boot' | 'kernel-cmdline';
export const BOOTLOADERS: readonly Bootloader[] = ['grub', 'systemd-boot', 'kernel-cmdline'];

export const GRUB_DEFAULT = '/etc/default/grub';
export const KERNEL_CMDLINE = '/etc/kernel/cmdline';
/** Where systemd-boot and GRUB-with-BLS find type #1 entries (ESP / XBOOTLDR mount points). */
export const ENTRY_DIRS: readonly string[] = ['/boot/loader/entries', '/efi/loader/entries', '/boot/efi/loader/entries'];
const ESPS: readonly string[] = ['/efi', '/boot', '/boot/efi'];

/** A boot configuration file that cannot be edited safely: names the file and line. */
export class BootConfigError extends KdumpkitError {
  constructor(file: string, line: number | undefined, what: string, hint?: string) {
    super('E_BOOT_CONFIG', `${file}${line === undefined ? '' : `:${line}`}: ${what}`, hint);
  }
}

/** One file edit the bootloader step wants (content computed, not written). */
export interface BootEdit {
  readonly path: string;
  readonly old: string;
  readonly new: string;
  readonly why: string;
}

export interface BootPlan {
  readonly bootloader: Bootloader;
  /** How it was chosen (detected from which files, or --bootloader). */
  readonly detectedBy: string;
  readonly edits: readonly BootEdit[];
  /** Run when any edit changes something. */
  readonly actions: readonly Action[];
  readonly warnings: readonly string[];
}

function hasUki(root: HostRoot): boolean {
  for (const esp of ESPS) if (root.list(`${esp}/EFI/Linux`).some((n) => n.endsWith('.efi'))) return true;
  return root.list('/etc/mkinitcpio.d').some((n) => n.endsWith('.preset') && /^\s*[A-Za-z0-9_]+_uki=/m.test(root.read(`/etc/mkinitcpio.d/${n}`) ?? ''));
}

/** Loader entry files (host paths), sorted per directory. */
export function loaderEntries(root: HostRoot): string[] {
  const out: string[] = [];
  for (const d of ENTRY_DIRS) for (const n of root.list(d)) if (n.endsWith('.conf')) out.push(`${d}/${n}`);
  return out;
}

export function detectBootloader(root: HostRoot): { bootloader: Bootloader; detectedBy: string } {
  if (root.exists(KERNEL_CMDLINE) && hasUki(root)) return { bootloader: 'kernel-cmdline', detectedBy: `${KERNEL_CMDLINE} and a unified kernel image` };
  if (root.exists(GRUB_DEFAULT)) return { bootloader: 'grub', detectedBy: GRUB_DEFAULT };
  const entries = loaderEntries(root);
  if (entries.length) return { bootloader: 'systemd-boot', detectedBy: `loader entries (${entries[0]}${entries.length > 1 ? ', ...' : ''})` };
  throw new BootConfigError(root.path('/boot'), undefined, `no bootloader configuration found (tried ${GRUB_DEFAULT}, ${ENTRY_DIRS.join(', ')}, ${KERNEL_CMDLINE} with a UKI)`, 'Pass --bootloader grub|systemd-boot|kernel-cmdline, or add crashkernel= to the kernel command line yourself.');
}

/** `crashkernel=...` parameters for a value like `256M` or `1G,high 128M,low`. */
export function crashkernelParams(value: string): string[] {
  return splitCmdline(value).map((p) => (p.startsWith('crashkernel=') ? p : `crashkernel=${p}`));
}

/**
 * A command line with its crashkernel= parameters replaced by `wanted` (appended at the end), or
 * unchanged when it already carries exactly `wanted`. Other parameters keep their order and text.
 */
export function withCrashkernel(params: readonly string[], wanted: readonly string[]): string[] {
  const current = params.filter((p) => paramName(p) === 'crashkernel');
  if (current.length === wanted.length && current.every((p, i) => p === wanted[i])) return [...params];
  return [...params.filter((p) => paramName(p) !== 'crashkernel'), ...wanted];
}

function withoutCrashkernel(params: readonly string[]): string[] {
  return params.filter((p) => paramName(p) !== 'crashkernel');
}

interface ShellAssign {
  readonly lineIndex: number;
  readonly quote: '"' | "'" | '';
  readonly value: string;
  /** Text after the closing quote (a trailing comment). */
  readonly rest: string;
}

/** Finds `NAME=value` in a shell-variable file such as /etc/default/grub (last assignment wins, as in sh). */
function findAssign(lines: readonly string[], name: string, file: string): ShellAssign | undefined {
  let found: ShellAssign | undefined;
  const re = new RegExp(`^\\s*(?:export\\s+)?${name}=(.*)$`);
  lines.forEach((line, i) => {
    const m = re.exec(line);
    if (!m) return;
    const v = m[1]!;
    const q = v[0] === '"' || v[0] === "'" ? v[0] : '';
    if (q) {
      const end = v.indexOf(q, 1);
      if (end < 0) throw new BootConfigError(file, i + 1, `${name}= has no closing ${q} (a value spanning lines is not supported)`, `Put ${name}'s value on one line.`);
      const inner = v.slice(1, end);
      if (q === '"' && /[`$\\]/.test(inner)) throw new BootConfigError(file, i + 1, `${name}= uses shell expansion (${inner}); kdumpkit only edits literal values`, `Write ${name}'s value literally, or pass --bootloader and edit the command line yourself.`);
      found = { lineIndex: i, quote: q, value: inner, rest: v.slice(end + 1) };
    } else {
      const sp = /^(\S*)(.*)$/.exec(v)!;
      if (/[`$\\"']/.test(sp[1]!)) throw new BootConfigError(file, i + 1, `${name}= uses shell syntax kdumpkit cannot edit safely: ${sp[1]}`, `Quote ${name}'s value: ${name}="..."`);
      found = { lineIndex: i, quote: '', value: sp[1]!, rest: sp[2]! };
    }
  });
  return found;
}

function assignLine(name: string, a: ShellAssign, params: readonly string[], original: string): string {
  const value = params.join(' ');
  const quote = a.quote || (/\s/.test(value) ? '"' : '');
  if (quote === "'" && value.includes("'")) throw new BootConfigError(GRUB_DEFAULT, a.lineIndex + 1, `cannot put a ' inside ${name}='...'`);
  const prefix = /^(\s*(?:export\s+)?)/.exec(original)![1]!;
  return `${prefix}${name}=${quote}${value}${quote}${a.rest}`;
}

/** The new /etc/default/grub text with `wanted` crashkernel= in GRUB_CMDLINE_LINUX (and none in _DEFAULT). */
export function editGrubDefault(text: string, wanted: readonly string[], file = GRUB_DEFAULT): string {
  const lines = text.split('\n');
  const linux = findAssign(lines, 'GRUB_CMDLINE_LINUX', file);
  if (!linux) throw new BootConfigError(file, undefined, 'no GRUB_CMDLINE_LINUX= line', 'Add GRUB_CMDLINE_LINUX="" to the file (grub-mkconfig puts it on every kernel line), then run kdumpkit setup again.');
  const def = findAssign(lines, 'GRUB_CMDLINE_LINUX_DEFAULT', file);
  lines[linux.lineIndex] = assignLine('GRUB_CMDLINE_LINUX', linux, withCrashkernel(splitCmdline(linux.value), wanted), lines[linux.lineIndex]!);
  // A crashkernel= in _DEFAULT comes later on the kernel line and would win over ours.
  if (def && splitCmdline(def.value).some((p) => paramName(p) === 'crashkernel')) {
    lines[def.lineIndex] = assignLine('GRUB_CMDLINE_LINUX_DEFAULT', def, withoutCrashkernel(splitCmdline(def.value)), lines[def.lineIndex]!);
  }
  return lines.join('\n');
}

/**
 * A loader entry with `wanted` crashkernel= on its options: removed from every `options` line and
 * appended to the last one (systemd-boot joins several options lines with spaces).
 */
export function editLoaderEntry(text: string, wanted: readonly string[], file: string): string {
  const lines = text.split('\n');
  const idx = lines.map((l, i) => (/^\s*options(\s|$)/.test(l) ? i : -1)).filter((i) => i >= 0);
  if (idx.length === 0) throw new BootConfigError(file, undefined, "no 'options' line (the kernel command line of this entry)", `Add an 'options root=...' line to ${file}, or remove the entry if it is unused.`);
  const opts = idx.map((i) => /^\s*options\s*(.*)$/.exec(lines[i]!)![1]!.trim());
  const all = opts.flatMap((o) => splitCmdline(o));
  if (all.some((p) => p.startsWith('$'))) throw new BootConfigError(file, idx[0]! + 1, 'options use a grubenv variable ($kernelopts); kdumpkit edits literal options only', 'Run grub2-editenv / grubby to expand the options first.');
  const next = withCrashkernel(all, wanted);
  if (next.length === all.length && next.every((p, i) => p === all[i])) return text;
  const keepLast = idx.length - 1;
  idx.forEach((li, k) => {
    const params = k === keepLast ? withCrashkernel(splitCmdline(opts[k]!).filter((p) => paramName(p) !== 'crashkernel'), wanted) : withoutCrashkernel(splitCmdline(opts[k]!));
    const indent = /^(\s*options\s*)/.exec(lines[li]!)![1]!;
    lines[li] = `${indent.endsWith(' ') || indent.endsWith('\t') ? indent : indent + ' '}${params.join(' ')}`.trimEnd();
  });
  return lines.join('\n');
}

/** /etc/kernel/cmdline: one line of parameters (more lines are joined, as kernel-install does). */
export function editKernelCmdline(text: string, wanted: readonly string[]): string {
  const params = splitCmdline(text.replace(/\n/g, ' '));
  const next = withCrashkernel(params, wanted);
  if (next.length === params.length && next.every((p, i) => p === params[i])) return text;
  return next.join(' ') + '\n';
}

function isFedoraLike(root: HostRoot): boolean {
  return osIds(root).some((id) => ['fedora', 'rhel', 'centos'].includes(id));
}

function isDebianLike(root: HostRoot): boolean {
  return osIds(root).some((id) => ['debian', 'ubuntu'].includes(id));
}

function isArch(root: HostRoot): boolean {
  return osIds(root).includes('arch');
}

/**
 * The grub.cfg regeneration. With a fake root the output goes under the root
 * (`grub-mkconfig -o ROOT/boot/grub/grub.cfg`; update-grub takes no -o, so grub-mkconfig is used
 * for it too), so nothing of the machine running kdumpkit is rewritten. grub-mkconfig has no
 * root option: it still reads the running system's /etc/default/grub and kernels, so for a
 * mounted system image the right grub.cfg comes from running it in a chroot (said in --help).
 */
function grubAction(root: HostRoot): Action {
  const fedora = isFedoraLike(root) || root.exists('/boot/grub2/grub.cfg');
  const cfg = fedora ? '/boot/grub2/grub.cfg' : '/boot/grub/grub.cfg';
  const why = `regenerate ${cfg} so the new GRUB_CMDLINE_LINUX reaches the kernel lines`;
  if (!root.isFake && isDebianLike(root) && root.which('update-grub')) return { argv: ['update-grub'], why };
  return { argv: [fedora ? 'grub2-mkconfig' : 'grub-mkconfig', '-o', root.path(cfg)], why };
}

/**
 * The UKI rebuild. It reads the live machine's /etc (presets, kernel images), so with a fake root
 * it is skipped with a note: run it inside the system (chroot) instead.
 */
function ukiAction(root: HostRoot): Action {
  const why = `rebuild the unified kernel images so they embed the new ${KERNEL_CMDLINE}`;
  const argv = isArch(root) || root.exists('/etc/mkinitcpio.conf') ? ['mkinitcpio', '-P'] : kernelInstallArgv(root);
  return root.isFake ? { argv, why, skip: `--root ${root.dir} is not the running system: run '${argv.join(' ')}' inside it (e.g. in a chroot)` } : { argv, why };
}

function kernelInstallArgv(root: HostRoot): string[] {
  const release = runningRelease(root) ?? 'RELEASE';
  const image = kernelFiles(root, release).image ?? `/usr/lib/modules/${release}/vmlinuz`;
  return ['kernel-install', 'add', release, image];
}

/** The edits and actions that put `value` (crashkernel= values) on the boot command line. */
export function planBoot(root: HostRoot, choice: Bootloader | 'auto', value: string): BootPlan {
  const { bootloader, detectedBy } = choice === 'auto' ? detectBootloader(root) : { bootloader: choice, detectedBy: '--bootloader' };
  const wanted = crashkernelParams(value);
  const edits: BootEdit[] = [];
  const warnings: string[] = [];
  const actions: Action[] = [];
  const read = (p: string, hint: string): string => {
    const t = root.read(p);
    if (t === undefined) throw new BootConfigError(root.path(p), undefined, 'does not exist', hint);
    return t;
  };
  const editEntries = (why: string): void => {
    const entries = loaderEntries(root);
    for (const e of entries) {
      const old = read(e, '');
      edits.push({ path: e, old, new: editLoaderEntry(old, wanted, root.path(e)), why });
    }
    if (entries.length === 0 && bootloader === 'systemd-boot') throw new BootConfigError(root.path(ENTRY_DIRS[0]!), undefined, 'no loader entries (*.conf)', `Boot entries of type #1 live in ${ENTRY_DIRS.join(', ')}; with unified kernel images use --bootloader kernel-cmdline.`);
  };
  if (bootloader === 'grub') {
    const old = read(GRUB_DEFAULT, 'Install GRUB, or choose another --bootloader.');
    edits.push({ path: GRUB_DEFAULT, old, new: editGrubDefault(old, wanted, root.path(GRUB_DEFAULT)), why: 'crashkernel= on the command line grub-mkconfig writes for every kernel' });
    if (/^\s*GRUB_ENABLE_BLSCFG=["']?true/m.test(old)) {
      editEntries('GRUB reads this BLS entry\'s options, not grub.cfg (as grubby --update-kernel=ALL does)');
      const kc = root.read(KERNEL_CMDLINE);
      if (kc !== undefined) edits.push({ path: KERNEL_CMDLINE, old: kc, new: editKernelCmdline(kc, wanted), why: 'kernel-install copies it into the entries of kernels installed later' });
    }
    actions.push(grubAction(root));
    if (root.list('/etc/default/grub.d').some((n) => n.endsWith('.cfg') && /crashkernel=/.test(root.read(`/etc/default/grub.d/${n}`) ?? ''))) {
      warnings.push('/etc/default/grub.d/ also sets crashkernel= (kdump-tools?); it is read after /etc/default/grub and may override this value');
    }
  } else if (bootloader === 'systemd-boot') {
    editEntries('systemd-boot passes this entry\'s options to the kernel');
    const kc = root.read(KERNEL_CMDLINE);
    if (kc !== undefined) edits.push({ path: KERNEL_CMDLINE, old: kc, new: editKernelCmdline(kc, wanted), why: 'kernel-install copies it into the entries of kernels installed later' });
  } else {
    const old = read(KERNEL_CMDLINE, 'Create it with the kernel command line your unified kernel images should embed.');
    edits.push({ path: KERNEL_CMDLINE, old, new: editKernelCmdline(old, wanted), why: 'the command line embedded in the unified kernel images' });
    actions.push(ukiAction(root));
  }
  return { bootloader, detectedBy, edits, actions, warnings };
}
