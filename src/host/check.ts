/**
 * `kdumpkit check`: will the next crash of this machine be captured, and can kdumpkit analyze
 * it without debuginfo? Each link of the chain is one finding (findings.ts):
 *
 *   kernel config   the options kdump needs in the running (or --release) kernel, read from
 *                   /proc/config.gz, /boot/config-R or /lib/modules/R/config (kernel-config.ts)
 *   reservation     crashkernel= on /proc/cmdline, what it reserves for this RAM
 *                   (crashkernel.ts), /sys/kernel/kexec_crash_size, "Crash kernel" in /proc/iomem,
 *                   and the size against `kdumpkit recommend` (recommend.ts)
 *   loading         /sys/kernel/kexec_crash_loaded, kexec on PATH, lockdown / Secure Boot
 *                   (kexec_file_load and a signed image required)
 *   capture kernel  its image and initramfs exist; /etc/kdumpkit.conf parses
 *   analysis        BTF (/sys/kernel/btf/vmlinux), kallsyms, System.map / debug vmlinux
 *
 * Everything is read through a HostRoot (readKdumpState for the live state); nothing is run.
 */
import { statSync } from 'node:fs';
import { KdumpkitError } from '../util/errors.js';
import { kernelFiles, osIds, runningRelease, type KernelFiles } from './boot-images.js';
import { readConfig, DEFAULT_CONFIG, type KdumpkitConfig } from './config.js';
import { formatSize, parseCrashkernel, reservedFor, type CrashkernelSpec, type Reservation } from './crashkernel.js';
import { makeReport, type CheckReport, type Finding } from './findings.js';
import { firstEnabled, isBuiltin, isEnabled, readKernelConfig, type KernelConfig } from './kernel-config.js';
import { peSignature } from './pe-signature.js';
import { approxSize, normalizeArch, recommend, type Arch } from './recommend.js';
import type { HostRoot } from './root.js';
import { readKdumpState, type KdumpState } from './state.js';

export interface CheckOptions {
  /** Kernel release to check instead of the running one. */
  readonly release?: string;
}

/** Everything the checks (and doctor's extra checks) read, read once. */
export interface CheckContext {
  readonly root: HostRoot;
  readonly state: KdumpState;
  readonly release: string | undefined;
  readonly running: boolean;
  readonly arch: Arch;
  readonly files: KernelFiles | undefined;
  readonly kconfig: KernelConfig | undefined;
  readonly kconfigTried: readonly string[];
  readonly kconfigError: KdumpkitError | undefined;
  /** The parsed /etc/kdumpkit.conf, or the defaults when it is missing or malformed. */
  readonly config: KdumpkitConfig;
  readonly configExists: boolean;
  readonly configPath: string;
  readonly configError: KdumpkitError | undefined;
  /** The crashkernel= values of the running command line, parsed (undefined: none or bad). */
  readonly crashkernel: CrashkernelSpec | undefined;
  readonly crashkernelError: KdumpkitError | undefined;
  /** What the running crashkernel= reserves for this RAM (undefined: nothing). */
  readonly expected: Reservation | undefined;
  /** The capture kernel image and initramfs kdumpkit load would use (configured or found). */
  readonly captureImage: string | undefined;
  readonly captureInitrd: string | undefined;
}

/**
 * The machine's architecture: the root's /proc/sys/kernel/arch (uname -m, Linux 5.x+) when it
 * has one, else the one this process runs on.
 */
export function hostArch(root: HostRoot): Arch {
  const text = root.read('/proc/sys/kernel/arch')?.trim();
  return (text ? normalizeArch(text) : undefined) ?? normalizeArch(process.arch) ?? 'x86_64';
}

export function readCheckContext(root: HostRoot, opts: CheckOptions = {}): CheckContext {
  const state = readKdumpState(root);
  const release = opts.release ?? state.release;
  const running = release !== undefined && release === runningRelease(root);
  const files = release === undefined ? undefined : kernelFiles(root, release);
  let kconfig: KernelConfig | undefined;
  let kconfigTried: readonly string[] = files?.tried.config ?? [];
  let kconfigError: KdumpkitError | undefined;
  if (release !== undefined) {
    try {
      const r = readKernelConfig(root, release);
      kconfig = r.config;
      kconfigTried = r.tried;
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      kconfigError = e;
    }
  }
  let config = DEFAULT_CONFIG;
  let configExists: boolean;
  let configError: KdumpkitError | undefined;
  const configPath = root.path('/etc/kdumpkit.conf');
  try {
    const r = readConfig(root);
    config = r.config;
    configExists = r.exists;
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    configError = e;
    configExists = true;
  }
  let crashkernel: CrashkernelSpec | undefined;
  let crashkernelError: KdumpkitError | undefined;
  if (state.crashkernelParams.length > 0) {
    try {
      crashkernel = parseCrashkernel(state.crashkernelParams.map((p) => `crashkernel=${p}`).join(' '));
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      crashkernelError = e;
    }
  }
  const arch = hostArch(root);
  const expected = crashkernel && state.memTotalBytes !== undefined ? reservedFor(crashkernel, state.memTotalBytes, { arch }) : undefined;
  return {
    root,
    state,
    release,
    running,
    arch,
    files,
    kconfig,
    kconfigTried,
    kconfigError,
    config,
    configExists,
    configPath,
    configError,
    crashkernel,
    crashkernelError,
    expected,
    captureImage: config.kernel || files?.image,
    captureInitrd: config.initrd || files?.initrd,
  };
}

/** The install command for kexec-tools on this distribution (the package has that name on all). */
export function installKexecCommand(root: HostRoot): string {
  const ids = osIds(root);
  if (ids.some((i) => i === 'debian' || i === 'ubuntu')) return 'apt install kexec-tools';
  if (ids.some((i) => i === 'fedora' || i === 'rhel' || i === 'centos')) return 'dnf install kexec-tools';
  if (ids.includes('arch')) return 'pacman -S kexec-tools';
  if (ids.some((i) => i.includes('suse'))) return 'zypper install kexec-tools';
  return 'install the kexec-tools package';
}

const REBUILD = (opt: string): string => `Boot a kernel built with CONFIG_${opt}=y (the stock Debian, Fedora and Arch kernels have it), or rebuild: scripts/config --enable ${opt} && make olddefconfig`;

interface OptionCheck {
  readonly id: string;
  /** Accepted option names (any one enabled is enough), without CONFIG_. */
  readonly names: readonly string[];
  /** Whether a module (=m) is enough. */
  readonly moduleOk?: boolean;
  readonly missing: 'fail' | 'warn';
  readonly why: string;
  /** Only checked on these architectures. */
  readonly arches?: readonly Arch[];
}

/**
 * The options kdump and kdumpkit's analysis depend on, and why (Documentation/admin-guide/
 * kdump/kdump.rst "System kernel config options" / "Dump-capture kernel config options": the
 * same kernel serves as both, so it needs both sets).
 */
const KDUMP_CONFIG_OPTIONS: readonly OptionCheck[] = [
  {
    id: 'config.kexec-core',
    names: ['KEXEC_CORE', 'KEXEC'],
    missing: 'fail',
    why: 'kexec is how a capture kernel gets loaded into the reserved memory (kexec -p) and started when the kernel panics; without it kdump is impossible.',
  },
  {
    id: 'config.kexec-file',
    names: ['KEXEC_FILE'],
    missing: 'warn',
    why: 'kexec_file_load (kexec -s) lets the kernel itself verify and load the capture kernel; it is the only way to load one under lockdown or Secure Boot, where plain kexec_load is refused.',
  },
  {
    id: 'config.crash-dump',
    names: ['CRASH_DUMP'],
    missing: 'fail',
    why: 'CRASH_DUMP makes the kernel honour crashkernel= (since Linux 6.9 it selects CRASH_RESERVE) and lets it run as a capture kernel (elfcorehdr=, /proc/vmcore); without it nothing is reserved and nothing can be saved.',
  },
  {
    id: 'config.proc-vmcore',
    names: ['PROC_VMCORE'],
    missing: 'fail',
    why: "/proc/vmcore is the crashed kernel's memory as seen from the capture kernel; kdumpkit save reads the dump from it.",
  },
  {
    id: 'config.relocatable',
    names: ['RELOCATABLE'],
    missing: 'fail',
    why: 'A relocatable kernel can run from wherever the reservation landed, so the running kernel can be its own capture kernel (kdump.rst: otherwise it must be built for the reservation address with PHYSICAL_START).',
  },
  {
    id: 'config.debug-info',
    names: ['DEBUG_INFO', 'DEBUG_INFO_DWARF4', 'DEBUG_INFO_DWARF5', 'DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT'],
    missing: 'warn',
    why: 'DWARF debug info is what BTF is generated from, and what crash and drgn need (as a separate debug vmlinux); kdumpkit itself needs only the BTF derived from it.',
  },
  {
    id: 'config.debug-info-btf',
    names: ['DEBUG_INFO_BTF'],
    missing: 'warn',
    why: 'BTF in the kernel image carries every struct layout into the dump; without it kdumpkit falls back to the few OFFSET/SIZE entries of VMCOREINFO (struct and per-task detail are then limited).',
  },
  {
    id: 'config.kallsyms',
    names: ['KALLSYMS'],
    missing: 'warn',
    why: "kallsyms tables in the kernel image are where kdumpkit finds symbols without debuginfo; without them it needs a System.map or vmlinux matching the crashed kernel exactly.",
  },
  {
    id: 'config.kallsyms-all',
    names: ['KALLSYMS_ALL'],
    missing: 'warn',
    why: 'Without KALLSYMS_ALL kallsyms holds only functions: data symbols (runqueues, module list, log buffer neighbours) that kdumpkit reads come only from VMCOREINFO or a System.map.',
  },
  {
    id: 'config.unwinder-orc',
    names: ['UNWINDER_ORC'],
    missing: 'warn',
    arches: ['x86_64'],
    why: "kdumpkit bt unwinds stacks with the kernel's own ORC tables (arch/x86/kernel/unwind_orc.c), which are in the dump only with UNWINDER_ORC; with frame pointers or the guess unwinder backtraces are unreliable.",
  },
  {
    id: 'config.pstore',
    names: ['PSTORE'],
    moduleOk: true,
    missing: 'warn',
    why: "pstore keeps the panic log in firmware (EFI variables, ramoops) when kdump itself fails; kdumpkit pstore collects those records into the crash directory.",
  },
];

function kernelConfigFindings(c: CheckContext): Finding[] {
  const rel = c.release ?? '?';
  if (c.release === undefined) {
    return [{ id: 'config.file', status: 'fail', title: 'cannot tell the running kernel release (no /proc/sys/kernel/osrelease)', why: 'The kernel config, image and initramfs are found by release.', fix: 'Give the release with --release R.', evidence: [c.root.path('/proc/sys/kernel/osrelease')] }];
  }
  if (c.kconfigError) {
    return [{ id: 'config.file', status: 'fail', title: `kernel config of ${rel} is unreadable: ${c.kconfigError.message}`, why: 'The kdump options of the kernel cannot be verified.', fix: c.kconfigError.hint ?? 'Reinstall the kernel package.' }];
  }
  if (!c.kconfig) {
    return [
      {
        id: 'config.file',
        status: 'warn',
        title: `no kernel config found for ${rel}`,
        why: 'The kdump options of this kernel cannot be verified (Arch keeps the config only in /proc/config.gz, for the running kernel; other distributions ship /boot/config-R with the kernel).',
        fix: c.running ? 'Boot a kernel built with CONFIG_IKCONFIG_PROC=y, or put its .config at /boot/config-' + rel : `Check the running kernel instead (no --release), or put ${rel}'s .config at /boot/config-${rel}`,
        evidence: c.kconfigTried.map((p) => c.root.path(p)),
      },
    ];
  }
  const kc = c.kconfig;
  const out: Finding[] = [{ id: 'config.file', status: 'ok', title: `kernel config of ${rel}: ${kc.file}`, why: 'The kdump options below are read from it.', evidence: [kc.file] }];
  for (const o of KDUMP_CONFIG_OPTIONS) {
    if (o.arches && !o.arches.includes(c.arch)) continue;
    const on = o.moduleOk ? firstEnabled(kc, o.names) : o.names.find((n) => isBuiltin(kc, n));
    let status: Finding['status'] = on ? 'ok' : o.missing;
    // A capture kernel named in kdumpkit.conf need not be this one, so relocation is its business.
    if (!on && o.id === 'config.relocatable' && c.config.kernel) status = 'warn';
    const state = on ? `CONFIG_${on}=${kc.values.get(on)}` : `CONFIG_${o.names[0]} is ${kc.values.get(o.names[0]!) === 'm' ? 'a module (must be built in)' : 'not set'}`;
    out.push({ id: o.id, status, title: state, why: o.why, ...(on ? {} : { fix: REBUILD(o.names[0]!) }), evidence: [kc.file] });
  }
  return out;
}

/** Size of a host file, following symlinks (/boot/vmlinuz may link to the versioned image). */
function fileSize(root: HostRoot, abs: string | undefined): bigint | undefined {
  if (!abs) return undefined;
  try {
    return BigInt(statSync(root.path(abs)).size);
  } catch {
    return undefined;
  }
}

function bytes(b: bigint): string {
  return approxSize(b);
}

function describeReservation(r: Reservation): string {
  const parts = [formatSize(r.size)];
  if (r.offset) parts.push(`at ${formatSize(r.offset)}`);
  if (r.high) parts.push(`above 4G plus ${formatSize(r.low ?? 0n)} low${r.lowIsDefault ? ' (default)' : ''}`);
  if (r.cma) parts.push(`plus ${formatSize(r.cma)} CMA`);
  return parts.join(' ');
}

function reservationFindings(c: CheckContext): Finding[] {
  const { state, root } = c;
  const out: Finding[] = [];
  const cmdlineFile = root.path('/proc/cmdline');
  const ram = state.memTotalBytes;
  const ramText = ram === undefined ? 'unknown RAM' : `${bytes(ram)} of RAM`;
  const rec = ram === undefined ? undefined : recommend({ ramBytes: ram, arch: c.arch });
  const setupFix = `kdumpkit setup (puts crashkernel=${rec?.crashkernel ?? '<kdumpkit recommend>'} on the boot command line), then reboot`;
  if (state.cmdline === undefined) {
    out.push({ id: 'cmdline.crashkernel', status: 'fail', title: 'no /proc/cmdline to read', why: 'The crashkernel= of the running kernel cannot be checked.', evidence: [cmdlineFile] });
  } else if (state.crashkernelParams.length === 0) {
    out.push({
      id: 'cmdline.crashkernel',
      status: 'fail',
      title: 'no crashkernel= on the kernel command line',
      why: 'Without crashkernel= the kernel reserves no memory at boot for the capture kernel, so there is nowhere to load one and a crash reboots (or hangs) without a dump.',
      fix: setupFix,
      evidence: [cmdlineFile],
    });
  } else if (c.crashkernelError) {
    out.push({
      id: 'cmdline.crashkernel',
      status: 'fail',
      title: `crashkernel=${state.crashkernelParams.join(' crashkernel=')} is not valid: ${c.crashkernelError.message.split('\n')[0]}`,
      why: 'The kernel ignores a crashkernel= it cannot parse and reserves nothing (kernel/crash_reserve.c parse_crashkernel).',
      fix: setupFix,
      evidence: [cmdlineFile],
    });
  } else if (!c.expected) {
    out.push({
      id: 'cmdline.crashkernel',
      status: 'fail',
      title: `crashkernel=${state.crashkernelParams.join(' crashkernel=')} reserves nothing with ${ramText}`,
      why: 'No range of the value matches this RAM size, or the size is not below the RAM size, so the kernel reserves nothing.',
      fix: setupFix,
      evidence: [cmdlineFile, root.path('/proc/meminfo')],
    });
  } else {
    out.push({ id: 'cmdline.crashkernel', status: 'ok', title: `crashkernel=${state.crashkernelParams.join(' crashkernel=')} reserves ${describeReservation(c.expected)} with ${ramText}`, why: 'The kernel sets this memory aside at boot for the capture kernel.', evidence: [cmdlineFile] });
  }

  const sizeFile = root.path('/sys/kernel/kexec_crash_size');
  if (state.reservedBytes === undefined) {
    out.push({ id: 'reserve.size', status: 'fail', title: 'no /sys/kernel/kexec_crash_size: the kernel has no kexec/crash dump support', why: 'kernel/ksysfs.c creates this file only with CONFIG_KEXEC_CORE (CONFIG_CRASH_RESERVE since 6.9).', fix: REBUILD('CRASH_DUMP'), evidence: [sizeFile] });
  } else if (state.reservedBytes === 0n) {
    out.push({
      id: 'reserve.size',
      status: 'fail',
      title: state.crashkernelParams.length > 0 ? 'crashkernel= is set but nothing was reserved (kexec_crash_size is 0)' : 'no memory reserved for the capture kernel (kexec_crash_size is 0)',
      why: state.crashkernelParams.length > 0 ? 'The reservation failed at boot: too big for the RAM or for contiguous low memory, bad syntax, or an @offset that is not free (kernel/crash_reserve.c). kdumpkit doctor walks the causes.' : 'Nothing was asked for: see crashkernel= above.',
      fix: state.crashkernelParams.length > 0 ? "dmesg | grep -i crashkernel (the kernel logs why), then fix the value: kdumpkit doctor" : setupFix,
      evidence: [sizeFile],
    });
  } else {
    out.push({ id: 'reserve.size', status: 'ok', title: `${formatSize(state.reservedBytes)} reserved for the capture kernel`, why: 'kexec -p loads the capture kernel and its initramfs into this memory.', evidence: [sizeFile] });
    if (rec?.reserves && state.reservedBytes < rec.reserves.size) {
      out.push({
        id: 'reserve.recommended',
        status: 'warn',
        title: `reservation ${formatSize(state.reservedBytes)} is smaller than the recommended ${formatSize(rec.reserves.size)} for ${ramText}`,
        why: 'A capture kernel short of memory boots but runs out of memory (OOM or a hang) while mounting the disk or saving: the most common reason a crash leaves no dump.',
        fix: `Set crashkernel = ${rec.crashkernel} in /etc/kdumpkit.conf and run kdumpkit setup, then reboot`,
        evidence: [sizeFile, root.path('/proc/meminfo')],
      });
    } else if (rec) {
      out.push({ id: 'reserve.recommended', status: 'ok', title: `reservation is at least the recommended ${rec.reserves ? formatSize(rec.reserves.size) : 'size'} for ${ramText}`, why: 'kdumpkit recommend: kdump-utils\' tested defaults for this architecture and RAM.' });
    }
  }

  // The image and initramfs are copied into the reservation by kexec -p; what is left is all the
  // capture kernel has to run in (its page tables, udev, the file system driver, kdumpkit save).
  const img = fileSize(root, c.captureImage);
  const rd = fileSize(root, c.captureInitrd);
  if (state.reservedBytes && img !== undefined && rd !== undefined) {
    const load = img + rd;
    const fits = `the capture kernel and initramfs (${approxSize(load)}) ${load >= state.reservedBytes ? 'do not fit in' : 'take ' + Math.round((Number(load) * 100) / Number(state.reservedBytes)) + '% of'} the ${formatSize(state.reservedBytes)} reservation`;
    out.push(
      load >= state.reservedBytes
        ? { id: 'reserve.fits', status: 'fail', title: fits, why: 'kexec -p cannot place them in the reserved memory, so no capture kernel can be loaded.', fix: `Reserve more (crashkernel = ${rec?.crashkernel ?? '…'} in /etc/kdumpkit.conf, kdumpkit setup, reboot) or use a smaller initramfs (initrd = in /etc/kdumpkit.conf)`, evidence: [c.captureImage!, c.captureInitrd!].map((p) => root.path(p)) }
        : load * 2n > state.reservedBytes
          ? { id: 'reserve.fits', status: 'warn', title: fits, why: 'Less than half the reservation is left for the capture kernel to run in; it may run out of memory before the dump is saved.', fix: `Reserve more (crashkernel = ${rec?.crashkernel ?? '…'} in /etc/kdumpkit.conf, kdumpkit setup, reboot) or use a smaller initramfs`, evidence: [c.captureImage!, c.captureInitrd!].map((p) => root.path(p)) }
          : { id: 'reserve.fits', status: 'ok', title: fits, why: 'The rest of the reservation is what the capture kernel runs in.' },
    );
  }

  const iomemFile = root.path('/proc/iomem');
  const ranges = state.crashRanges;
  if (ranges === undefined) {
    if (state.reservedBytes) out.push({ id: 'reserve.iomem', status: 'warn', title: 'no /proc/iomem to confirm the reservation', why: 'kexec reads the "Crash kernel" range from /proc/iomem to place the capture kernel.', evidence: [iomemFile] });
  } else if (ranges.length > 0) {
    const total = ranges.reduce((s, r) => s + (r.end - r.start + 1n), 0n);
    out.push({
      id: 'reserve.iomem',
      status: 'ok',
      title: state.iomemHidden
        ? `"Crash kernel" in /proc/iomem (${ranges.length} range${ranges.length > 1 ? 's' : ''}; addresses hidden: read as non-root)`
        : `"Crash kernel" in /proc/iomem: ${ranges.map((r) => `${r.start.toString(16)}-${r.end.toString(16)}`).join(', ')} (${formatSize(total)})`,
      why: state.iomemHidden ? 'Since Linux 4.6 /proc/iomem shows addresses only to CAP_SYS_ADMIN; kexec runs as root and sees them.' : 'kexec places the capture kernel in this physical range.',
      evidence: [iomemFile],
    });
  } else if (state.reservedBytes) {
    out.push({ id: 'reserve.iomem', status: 'warn', title: 'kexec_crash_size says memory is reserved but /proc/iomem has no "Crash kernel" range', why: 'kexec looks the range up in /proc/iomem; without it kexec -p fails with "Could not find a free area of memory".', fix: 'Run kdumpkit check as root; if it persists, report the kernel bug.', evidence: [iomemFile, sizeFile] });
  }
  return out;
}

function loadingFindings(c: CheckContext): Finding[] {
  const { state, root } = c;
  const out: Finding[] = [];
  const loadedFile = root.path('/sys/kernel/kexec_crash_loaded');
  if (state.loaded === true) {
    out.push({ id: 'kexec.loaded', status: 'ok', title: 'a capture kernel is loaded (kexec_crash_loaded is 1)', why: 'A panic now starts the capture kernel.', evidence: [loadedFile] });
  } else {
    out.push({
      id: 'kexec.loaded',
      status: 'fail',
      title: state.loaded === false ? 'no capture kernel loaded (kexec_crash_loaded is 0)' : 'no /sys/kernel/kexec_crash_loaded: the kernel has no kexec support',
      why: 'A crash now reboots (or hangs) without a dump: nothing is waiting in the reserved memory.',
      fix: state.loaded === false ? 'kdumpkit load (now); systemctl enable kdumpkit-load.service (at every boot; kdumpkit setup installs it)' : REBUILD('KEXEC_CORE'),
      evidence: [loadedFile],
    });
  }
  const kexec = root.which('kexec');
  out.push(
    kexec
      ? { id: 'kexec.binary', status: 'ok', title: `kexec found: ${kexec}`, why: 'kdumpkit load runs kexec -p to load the capture kernel.', evidence: [kexec] }
      : { id: 'kexec.binary', status: 'fail', title: 'kexec not found on PATH', why: 'kdumpkit load runs kexec -p (kexec-tools) to load the capture kernel; without it nothing gets loaded at boot.', fix: installKexecCommand(root) },
  );

  // Lockdown (security/lockdown/lockdown.c, LOCKDOWN_KEXEC at "integrity" and above) makes
  // kexec_load fail with EPERM (kernel/kexec.c kexec_load_check); kexec_file_load still works and
  // checks the image signature (kernel/kexec_file.c kimage_validate_signature) when the kernel has
  // KEXEC_SIG; KEXEC_SIG_FORCE requires a signature even without lockdown.
  const locked = state.lockdown !== undefined && state.lockdown !== 'none';
  const kc = c.kconfig;
  const evidence = [root.path('/sys/kernel/security/lockdown')];
  const sigForced = kc !== undefined && isBuiltin(kc, 'KEXEC_SIG_FORCE');
  const sigRequired = sigForced || (locked && (kc === undefined || isEnabled(kc, 'KEXEC_SIG')));
  const mode = locked ? `lockdown is ${state.lockdown}${state.secureBoot ? ' (Secure Boot on)' : ''}` : sigForced ? 'CONFIG_KEXEC_SIG_FORCE=y' : '';
  if (!locked && !sigForced) {
    out.push({
      id: 'kexec.lockdown',
      status: 'ok',
      title: state.lockdown === undefined ? `no lockdown LSM${state.secureBoot ? ' (Secure Boot on)' : ''}: kexec_load is allowed` : `lockdown is none${state.secureBoot ? ' (Secure Boot on)' : ''}: kexec_load is allowed`,
      why: 'Without lockdown (and without CONFIG_KEXEC_SIG_FORCE) the capture kernel needs no signature and plain kexec_load works.',
      evidence,
    });
  } else if (locked && kc !== undefined && !isBuiltin(kc, 'KEXEC_FILE')) {
    out.push({ id: 'kexec.lockdown', status: 'fail', title: `${mode} and the kernel has no KEXEC_FILE: no capture kernel can be loaded`, why: 'Under lockdown kexec_load is refused (kernel/kexec.c, LOCKDOWN_KEXEC) and kexec_file_load, the only other way, is not built in.', fix: `${REBUILD('KEXEC_FILE')}, or turn lockdown off (disable Secure Boot / lockdown= on the command line)`, evidence });
  } else {
    const image = c.captureImage;
    let bytesOfImage: Buffer | undefined;
    try {
      bytesOfImage = image ? root.readBytes(image) : undefined;
    } catch (e) {
      // Debian's /boot/vmlinuz-R is 0600: as non-root the signature cannot be looked at.
      if (!(e instanceof KdumpkitError)) throw e;
      bytesOfImage = undefined;
    }
    const sig = bytesOfImage ? peSignature(bytesOfImage) : undefined;
    const imgFile = image ? root.path(image) : 'the capture kernel image';
    if (sigRequired && sig !== 'signed') {
      out.push({
        id: 'kexec.lockdown',
        status: sig === undefined ? 'warn' : 'fail',
        title: sig === undefined ? `${mode}: the capture kernel must be signed, and its image could not be read to check (missing, or run as root)` : `${mode}: the capture kernel must be signed, but ${imgFile} has no signature`,
        why: 'kexec_file_load (kexec -s, the only way under lockdown) verifies the image\'s Authenticode signature against the kernel\'s keys and refuses an unsigned one (kernel/kexec_file.c kimage_validate_signature).',
        fix: "Use the distribution's signed kernel as capture kernel (kernel = /boot/vmlinuz-R in /etc/kdumpkit.conf), or sign yours with sbsign and enroll the key with mokutil --import",
        evidence: [...evidence, imgFile],
      });
    } else {
      out.push({ id: 'kexec.lockdown', status: 'ok', title: `${mode}: kexec_file_load (kexec -s) with a signed image`, why: 'kdumpkit load passes -s, so the kernel verifies the signed capture kernel itself.', evidence: [...evidence, imgFile] });
    }
  }
  return out;
}

function captureFindings(c: CheckContext): Finding[] {
  const { root } = c;
  const out: Finding[] = [];
  const rel = c.release ?? '?';
  const img = c.captureImage;
  const initrd = c.captureInitrd;
  const source = (configured: string, what: string): string => (configured ? `${what} from /etc/kdumpkit.conf` : `${what} of ${rel}`);
  if (img && root.exists(img)) {
    out.push({ id: 'capture.kernel', status: 'ok', title: `${source(c.config.kernel, 'capture kernel')}: ${root.path(img)}`, why: 'kexec -p loads this image.', evidence: [root.path(img)] });
  } else {
    out.push({
      id: 'capture.kernel',
      status: 'fail',
      title: img ? `capture kernel ${root.path(img)} does not exist` : `no kernel image found for ${rel}`,
      why: 'kdumpkit load has no kernel to load into the reservation.',
      fix: img && c.config.kernel ? `Fix kernel = in ${c.configPath}` : `Install the kernel package of ${rel}, or set kernel = /path/to/vmlinuz in ${c.configPath}`,
      evidence: (img ? [img] : (c.files?.tried.image ?? [])).map((p) => root.path(p)),
    });
  }
  if (initrd && root.exists(initrd)) {
    out.push({ id: 'capture.initrd', status: 'ok', title: `${source(c.config.initrd, 'capture initramfs')}: ${root.path(initrd)}`, why: 'The capture kernel mounts the root file system with it and starts kdumpkit-save.service.', evidence: [root.path(initrd)] });
  } else {
    out.push({
      id: 'capture.initrd',
      status: 'fail',
      title: initrd ? `capture initramfs ${root.path(initrd)} does not exist` : `no initramfs found for ${rel}`,
      why: 'Without an initramfs the capture kernel cannot mount the root file system, so the save unit never runs.',
      fix: initrd && c.config.initrd ? `Fix initrd = in ${c.configPath}` : `Rebuild it (update-initramfs -c -k ${rel} / dracut --kver ${rel} / mkinitcpio -P), or set initrd = in ${c.configPath}`,
      evidence: (initrd ? [initrd] : (c.files?.tried.initrd ?? [])).map((p) => root.path(p)),
    });
  }
  if (c.configError) {
    out.push({ id: 'config.kdumpkit', status: 'fail', title: c.configError.message, why: 'kdumpkit load and the save unit refuse a malformed configuration, so no capture kernel is loaded and nothing is saved.', fix: c.configError.hint ?? `Fix ${c.configPath}`, evidence: [c.configPath] });
  } else if (!c.configExists) {
    out.push({ id: 'config.kdumpkit', status: 'warn', title: `no ${c.configPath}: kdumpkit is not set up (defaults apply)`, why: 'kdumpkit setup writes the configuration, the systemd units and the crashkernel= change together.', fix: 'kdumpkit setup', evidence: [c.configPath] });
  } else {
    const k = c.config;
    out.push({ id: 'config.kdumpkit', status: 'ok', title: `${c.configPath} parses: level ${k.level}, ${k.compress}, dir ${k.dir}, keep ${k.keep}`, why: 'load and save read their settings from it.', evidence: [c.configPath] });
  }
  return out;
}

const PLACEHOLDER_MAP = /The real System\.map is in/;

/** Real debug vmlinux locations (Debian -dbg packages, Fedora kernel-debuginfo). */
export function debugVmlinuxCandidates(release: string): string[] {
  return [`/usr/lib/debug/boot/vmlinux-${release}`, `/usr/lib/debug/lib/modules/${release}/vmlinux`, `/usr/lib/debug/usr/lib/modules/${release}/vmlinux`];
}

function analysisFindings(c: CheckContext): Finding[] {
  const { root } = c;
  const out: Finding[] = [];
  if (c.running) {
    const f = root.path('/sys/kernel/btf/vmlinux');
    out.push(
      c.state.btf
        ? { id: 'btf.sysfs', status: 'ok', title: 'the running kernel has BTF (/sys/kernel/btf/vmlinux)', why: 'Its dumps carry every type layout, so kdumpkit needs no debuginfo.', evidence: [f] }
        : { id: 'btf.sysfs', status: 'warn', title: 'no /sys/kernel/btf/vmlinux: the running kernel has no BTF', why: 'kdumpkit then has only VMCOREINFO\'s few struct offsets; ps, bt and struct give less detail.', fix: REBUILD('DEBUG_INFO_BTF'), evidence: [f] },
    );
  }
  if (c.release === undefined) return out;
  const rel = c.release;
  const maps = (c.files?.tried.systemMap ?? []).filter((p) => root.exists(p));
  const realMap = maps.find((p) => !PLACEHOLDER_MAP.test(root.read(p)?.slice(0, 4096) ?? ''));
  const placeholder = maps.find((p) => p !== realMap);
  const vmlinux = debugVmlinuxCandidates(rel).find((p) => root.exists(p));
  const kallsymsAll = c.kconfig !== undefined && isBuiltin(c.kconfig, 'KALLSYMS_ALL');
  const kallsyms = c.kconfig === undefined || isBuiltin(c.kconfig, 'KALLSYMS');
  const have = [realMap && `System.map ${root.path(realMap)}`, vmlinux && `debug vmlinux ${root.path(vmlinux)}`].filter(Boolean) as string[];
  const note = placeholder && !realMap ? ` (${root.path(placeholder)} is Debian's placeholder, not a symbol table)` : '';
  const evidence = [...maps, ...(vmlinux ? [vmlinux] : [])].map((p) => root.path(p));
  if (!kallsyms && have.length === 0) {
    out.push({ id: 'symbols.debuginfo', status: 'warn', title: `no kallsyms and no System.map or debug vmlinux for ${rel}${note}`, why: 'kdumpkit finds symbols in the dump\'s kallsyms; without them it needs a symbol file of exactly this build.', fix: `Keep ${rel}'s System.map (from the build tree) at /boot/System.map-${rel}`, evidence });
  } else {
    out.push({
      id: 'symbols.debuginfo',
      status: 'ok',
      title: have.length ? `symbols: ${have.join(', ')}${kallsymsAll ? ' (kallsyms is enough for kdumpkit)' : ''}` : `no System.map or debug vmlinux for ${rel}${note}; not needed: kdumpkit reads kallsyms${kallsymsAll ? ' (all symbols)' : ''} from the dump`,
      why: 'kdumpkit needs no debuginfo; crash and drgn need the debug vmlinux (Debian: linux-image-R-dbg, Fedora: kernel-debuginfo).',
      evidence,
    });
  }
  return out;
}

/** Every finding of `kdumpkit check`, in chain order. */
export function checkFindings(c: CheckContext): Finding[] {
  return [...kernelConfigFindings(c), ...reservationFindings(c), ...loadingFindings(c), ...captureFindings(c), ...analysisFindings(c)];
}

/** `kdumpkit check`: the findings report. */
export function runCheck(root: HostRoot, opts: CheckOptions = {}): CheckReport {
  const c = readCheckContext(root, opts);
  return makeReport('check', root.dir, c.release, c.running, checkFindings(c));
}
