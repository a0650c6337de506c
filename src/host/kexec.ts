/**
 * Loading and unloading the capture kernel with kexec-tools' `kexec -p`.
 *
 * The argv, exactly (kexec(8); kexec/kexec.c main and kexec/kexec.h KEXEC_ALL_OPTIONS):
 *
 *   load    kexec -p [-s|-c] KERNEL --initrd=INITRD --append=CMDLINE
 *   unload  kexec -p -u [-s|-c]
 *
 *   -p, --load-panic          load into the crashkernel reservation; the kernel boots it on panic
 *   -u, --unload              with -p: unload the panic kernel (-p must come first: it sets the
 *                             crash flags, -u then turns the load into an unload)
 *   -s, --kexec-file-syscall  only kexec_file_load(2): the kernel reads the files itself and can
 *                             check the image's signature
 *   -c, --kexec-syscall       only kexec_load(2): kexec-tools places the segments itself
 *   (neither)                 kexec-tools >= 2.0.27 tries kexec_file_load and falls back to
 *                             kexec_load ("kexec: make -a the default"); older ones use kexec_load
 *   --reuse-cmdline is not used: the capture command line is built by captureCmdline().
 *
 * Syscall policy (`--syscall auto`, the default):
 *   - kernel lockdown at integrity/confidentiality, or UEFI Secure Boot on: `-s`. kexec_load
 *     is refused then (kernel/kexec.c kexec_load_check: security_locked_down(LOCKDOWN_KEXEC);
 *     security/integrity/ima/ima_main.c refuses it under Secure Boot's arch policy), and the
 *     kexec-tools in Debian 12 (2.0.25) would not try kexec_file_load on its own. When the
 *     kernel config says CONFIG_KEXEC_FILE is not set, `load` refuses: nothing can load there.
 *   - otherwise no flag: kexec-tools chooses, which works on every version.
 *   `--syscall file` / `--syscall load` force -s / -c.
 *
 * Files: kernel and initrd from /etc/kdumpkit.conf, else the running release's (boot-images.ts,
 * Arch pkgbase names included). Fedora kdump-utils' kdump initramfs (initramfs-Rkdump.img) is
 * deliberately not used: it runs kdump-utils' own save flow from its dracut module and never
 * reaches kdumpkit-save.service, while the machine's ordinary initramfs mounts the real root,
 * where systemd.unit= starts our save unit. The command line is
 * captureCmdline(/proc/cmdline, config cmdline).
 *
 * Loading when a capture kernel is already loaded replaces it: the kernel frees the old crash
 * image before installing the new one (kernel/kexec.c do_kexec_load and kernel/kexec_file.c
 * kexec_file_load both `kimage_free(xchg(&kexec_crash_image, NULL))`), so `load` is always a
 * (re)load, no unload or --force needed. A failed reload therefore leaves nothing loaded, which
 * is why kexec_crash_loaded is read again afterwards and reported.
 *
 * kexec is found on PATH (HostRoot.which); with `--root DIR` the file paths handed to it are
 * the real paths under DIR, and a test's fake kexec simulates the kernel under DIR. A real
 * (ELF) kexec is refused with a fake root, because it would load into the running kernel.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { configValue, isBuiltin, readKernelConfig } from './kernel-config.js';
import { formatSize } from './crashkernel.js';
import { captureCmdline } from './capture-cmdline.js';
import { estimateCaptureMemory, type CaptureMemory } from './capture-memory.js';
import { approxSize } from './recommend.js';
import { kernelFiles } from './boot-images.js';
import { CONFIG_PATH, type KdumpkitConfig } from './config.js';
import { explainKexecFailure, type KexecExplanation } from './kexec-errors.js';
import type { Finding, FindingStatus } from './findings.js';
import type { HostRoot } from './root.js';
import type { KdumpState } from './state.js';

export type SyscallMode = 'auto' | 'file' | 'load';
export const SYSCALL_MODES: readonly SyscallMode[] = ['auto', 'file', 'load'];

/** x86's COMMAND_LINE_SIZE (arch/x86/include/asm/setup.h), including the terminating NUL. */
export const COMMAND_LINE_SIZE = 2048;

export type CheckStatus = FindingStatus;

/** One thing `load` looked at before running kexec (the shape of check's findings). */
/** A check `load` makes before running kexec: check's Finding, with `why` optional. */
export type LoadCheck = Omit<Finding, 'why' | 'evidence'> & { readonly why?: string };

export interface SyscallChoice {
  readonly mode: SyscallMode;
  /** The kexec flag passed, if any. */
  readonly flag: '-s' | '-c' | undefined;
  readonly why: string;
}

/** A file the capture kernel uses: host path (as on the machine) and where it came from. */
export interface CaptureFile {
  readonly path: string | undefined;
  readonly from: string;
  /** Host paths tried, in order, when it was not configured. */
  readonly tried: readonly string[];
}

export interface LoadPlan {
  readonly release: string | undefined;
  readonly kernel: CaptureFile;
  readonly initrd: CaptureFile;
  readonly cmdline: string | undefined;
  readonly syscall: SyscallChoice;
  /** CONFIG_KEXEC_FILE of the running kernel: true/false, undefined when no config was found. */
  readonly kexecFileConfigured: boolean | undefined;
  readonly memory: CaptureMemory | undefined;
  /** kexec's absolute path on PATH, if found. */
  readonly kexecPath: string | undefined;
  /** ['kexec', ...args]; undefined when a file is missing. Paths are real paths under the root. */
  readonly argv: readonly string[] | undefined;
  readonly checks: readonly LoadCheck[];
  /** No check failed: kexec may run. */
  readonly ok: boolean;
}

export interface KexecRun {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** CONFIG_KEXEC_FILE of a release: true (=y), false (not set), undefined (no readable config). */
export function kexecFileConfigured(root: HostRoot, release: string | undefined): boolean | undefined {
  if (!release) return undefined;
  let config;
  try {
    config = readKernelConfig(root, release).config;
  } catch {
    // A malformed config is `check`'s finding to report; here it only means "unknown".
    return undefined;
  }
  if (!config) return undefined;
  if (isBuiltin(config, 'KEXEC_FILE')) return true;
  return configValue(config, 'KEXEC_FILE') !== undefined || isBuiltin(config, 'KEXEC_CORE') ? false : undefined;
}

/** Why kexec_load would be refused on this machine, or undefined when it is allowed. */
function kexecLoadRefusal(state: Pick<KdumpState, 'lockdown' | 'secureBoot'>): string | undefined {
  if (state.lockdown === 'integrity' || state.lockdown === 'confidentiality') return `kernel lockdown is '${state.lockdown}' (/sys/kernel/security/lockdown): kexec_load is refused, only kexec_file_load (signature-checked) is allowed`;
  if (state.secureBoot === true) return 'UEFI Secure Boot is on: kexec_load is refused (lockdown or IMA), only kexec_file_load (signature-checked) is allowed';
  return undefined;
}

export function chooseSyscall(state: Pick<KdumpState, 'lockdown' | 'secureBoot'>, mode: SyscallMode): SyscallChoice {
  if (mode === 'file') return { mode, flag: '-s', why: '--syscall file: kexec_file_load only' };
  if (mode === 'load') return { mode, flag: '-c', why: '--syscall load: kexec_load only' };
  const refusal = kexecLoadRefusal(state);
  if (refusal) return { mode, flag: '-s', why: refusal };
  return { mode, flag: undefined, why: 'no lockdown or Secure Boot: kexec-tools chooses (kexec_file_load first since 2.0.27, else kexec_load)' };
}

/** The release a configured kernel path belongs to (vmlinuz-X → X, /lib/modules/R/vmlinuz → R). */
function releaseOfKernelPath(path: string): string | undefined {
  const mods = /^\/(?:usr\/)?lib\/modules\/([^/]+)\/vmlinuz$/.exec(path);
  if (mods) return mods[1];
  const m = /\/vmlinuz-([^/]+)$/.exec(path);
  return m?.[1];
}

/** The capture kernel and initrd: configured, or the running release's. */
export function captureFiles(root: HostRoot, config: KdumpkitConfig, release: string | undefined): { kernel: CaptureFile; initrd: CaptureFile } {
  let kernel: CaptureFile;
  let initrdRelease: string | undefined;
  if (config.kernel) {
    kernel = { path: root.exists(config.kernel) ? config.kernel : undefined, from: `${CONFIG_PATH} (kernel = ${config.kernel})`, tried: [config.kernel] };
    initrdRelease = releaseOfKernelPath(config.kernel);
  } else if (release) {
    const files = kernelFiles(root, release);
    kernel = { path: files.image, from: `the running kernel ${release}`, tried: files.tried.image };
    initrdRelease = release;
  } else {
    kernel = { path: undefined, from: 'the running kernel (release unknown: /proc/sys/kernel/osrelease is missing)', tried: [] };
  }
  let initrd: CaptureFile;
  if (config.initrd) {
    initrd = { path: root.exists(config.initrd) ? config.initrd : undefined, from: `${CONFIG_PATH} (initrd = ${config.initrd})`, tried: [config.initrd] };
  } else if (initrdRelease) {
    const tried = kernelFiles(root, initrdRelease).tried.initrd;
    const found = tried.find((p) => root.exists(p));
    initrd = { path: found, from: found ? `the initramfs of ${initrdRelease}` : `kernel ${initrdRelease}`, tried };
  } else {
    initrd = { path: undefined, from: `no initrd configured, and none can be derived from kernel = ${config.kernel}`, tried: [] };
  }
  return { kernel, initrd };
}

export interface PlanOptions {
  readonly syscall?: SyscallMode;
}

function reservationCheck(root: HostRoot, state: KdumpState): LoadCheck {
  const reserved = state.reservedBytes ?? 0n;
  if (reserved > 0n) {
    const param = state.crashkernelParams.length ? ` (crashkernel=${state.crashkernelParams.join(' crashkernel=')})` : '';
    return { id: 'reservation', status: 'ok', title: `${formatSize(reserved)} reserved for the capture kernel${param}` };
  }
  const file = root.path('/sys/kernel/kexec_crash_size');
  if (state.crashkernelParams.length) {
    return {
      id: 'reservation',
      status: 'fail',
      title: `${file} is ${state.reservedBytes ?? 'absent'}: crashkernel=${state.crashkernelParams.join(' crashkernel=')} is on the command line but nothing was reserved`,
      why: "the kernel could not find that much free memory at boot (dmesg says 'crashkernel reservation failed')",
      fix: "Use a smaller size or one without @offset ('kdumpkit recommend'), then reboot.",
    };
  }
  return {
    id: 'reservation',
    status: 'fail',
    title: `${file} is ${state.reservedBytes ?? 'absent'}: no memory is reserved for a capture kernel (no crashkernel= on /proc/cmdline)`,
    why: 'kexec -p loads the capture kernel into that reservation; without one there is nowhere to load it',
    fix: "Run 'kdumpkit setup' (adds crashkernel= to the boot command line), reboot, then 'kdumpkit load'.",
  };
}

function fileCheck(root: HostRoot, what: 'kernel' | 'initrd', f: CaptureFile): LoadCheck {
  if (f.path) return { id: what, status: 'ok', title: `${what} ${root.path(f.path)} (${f.from})` };
  const tried = f.tried.map((p) => root.path(p)).join(', ');
  return {
    id: what,
    status: 'fail',
    title: f.tried.length === 1 ? `${what} ${tried} does not exist (${f.from})` : `no ${what} found for ${f.from}${tried ? `: tried ${tried}` : ''}`,
    fix: `Set ${what} = in ${CONFIG_PATH} to an existing file.`,
  };
}

/** Everything `load` will do, computed without running anything. */
export function planLoad(root: HostRoot, state: KdumpState, config: KdumpkitConfig, opts: PlanOptions = {}): LoadPlan {
  const checks: LoadCheck[] = [reservationCheck(root, state)];
  const { kernel, initrd } = captureFiles(root, config, state.release);
  checks.push(fileCheck(root, 'kernel', kernel), fileCheck(root, 'initrd', initrd));

  const syscall = chooseSyscall(state, opts.syscall ?? 'auto');
  const kexecFile = kexecFileConfigured(root, state.release);
  const refusal = kexecLoadRefusal(state);
  if (syscall.flag === '-s' && kexecFile === false) {
    checks.push({
      id: 'syscall',
      status: 'fail',
      title: `kexec_file_load is needed but the kernel has none (CONFIG_KEXEC_FILE is not set in ${kernelFiles(root, state.release ?? '').config ?? 'its config'})`,
      why: refusal ?? syscall.why,
      fix: refusal ? 'Boot a kernel built with CONFIG_KEXEC_FILE=y (every major distribution kernel is).' : "Use '--syscall auto' or '--syscall load'.",
    });
  } else if (syscall.flag === '-c' && refusal) {
    checks.push({ id: 'syscall', status: 'fail', title: `--syscall load cannot work here: ${refusal}`, fix: "Use '--syscall auto' (kexec -s)." });
  } else {
    checks.push({ id: 'syscall', status: 'ok', title: `${syscall.flag ? `kexec ${syscall.flag}` : 'kexec chooses the syscall'}: ${syscall.why}` });
  }

  let cmdline: string | undefined;
  if (state.cmdline === undefined) {
    checks.push({ id: 'cmdline', status: 'fail', title: `${root.path('/proc/cmdline')} does not exist: the capture command line starts from the running one`, fix: 'Mount /proc (or give --root a root that has proc/cmdline).' });
  } else {
    cmdline = captureCmdline(state.cmdline, config.cmdline);
    const bytes = Buffer.byteLength(cmdline);
    checks.push(
      bytes < COMMAND_LINE_SIZE
        ? { id: 'cmdline', status: 'ok', title: `capture command line, ${bytes} bytes` }
        : { id: 'cmdline', status: 'fail', title: `the capture command line is ${bytes} bytes; the kernel takes at most ${COMMAND_LINE_SIZE - 1}`, fix: `Shorten cmdline = in ${CONFIG_PATH} or the running command line.` },
    );
  }

  let memory: CaptureMemory | undefined;
  if (kernel.path && initrd.path) {
    memory = estimateCaptureMemory(root.path(kernel.path), root.path(initrd.path));
    const reserved = state.reservedBytes ?? 0n;
    if (reserved > 0n) {
      if (memory.segmentBytes > reserved) {
        checks.push({
          id: 'size',
          status: 'fail',
          title: `kernel + initrd are ${approxSize(memory.segmentBytes)}, more than the ${approxSize(reserved)} reserved`,
          why: 'kexec copies both into the reservation; they cannot fit',
          fix: "Reserve more memory (a larger crashkernel=, 'kdumpkit recommend'), or use a smaller initramfs (initrd = in /etc/kdumpkit.conf).",
        });
      } else if (memory.estimatedBytes > reserved) {
        checks.push({
          id: 'size',
          status: 'warn',
          title: `the capture kernel probably needs about ${approxSize(roundUpMiB(memory.estimatedBytes))} to run, more than the ${approxSize(reserved)} reserved`,
          why: `estimate: ${memory.rule.join(' + ')}; a capture kernel short of memory dies before saving the dump`,
          fix: "Reserve more memory (a larger crashkernel=, 'kdumpkit recommend'), then reboot.",
        });
      } else {
        checks.push({ id: 'size', status: 'ok', title: `about ${approxSize(roundUpMiB(memory.estimatedBytes))} needed of ${approxSize(reserved)} reserved (${memory.rule.join(' + ')})` });
      }
    }
  }

  const kexecPath = root.which('kexec');
  checks.push(kexecCheck(root, kexecPath));

  if (state.loaded === true) checks.push({ id: 'loaded', status: 'ok', title: 'a capture kernel is loaded already: it is replaced (the kernel frees it when the new one loads)' });

  const argv =
    kernel.path && initrd.path && cmdline !== undefined
      ? ['kexec', '-p', ...(syscall.flag ? [syscall.flag] : []), root.path(kernel.path), `--initrd=${root.path(initrd.path)}`, `--append=${cmdline}`]
      : undefined;
  return {
    release: state.release,
    kernel,
    initrd,
    cmdline,
    syscall,
    kexecFileConfigured: kexecFile,
    memory,
    kexecPath,
    argv,
    checks,
    ok: argv !== undefined && checks.every((c) => c.status !== 'fail'),
  };
}

/**
 * A fake root must never change the running kernel: kexec acts on the kernel it runs on,
 * whatever root its files come from. So with `--root DIR` (not '/') the kexec on PATH must not
 * be a native executable (ELF: the real kexec-tools); tests put a script there that simulates
 * the kernel under DIR. With the real root any kexec is fine.
 */
export function liveKexecRefusal(root: HostRoot, kexecPath: string): string | undefined {
  if (!root.isFake) return undefined;
  let head: Buffer;
  try {
    head = readFileSync(kexecPath).subarray(0, 4);
  } catch {
    return undefined;
  }
  if (head.length === 4 && head.readUInt32BE(0) === 0x7f454c46) {
    return `${kexecPath} is a real kexec binary: with --root ${root.dir} it would still change the running kernel's capture kernel`;
  }
  return undefined;
}

function kexecCheck(root: HostRoot, kexecPath: string | undefined): LoadCheck {
  if (!kexecPath) return { id: 'kexec', status: 'fail', title: 'kexec is not on PATH', fix: 'Install kexec-tools (apt install kexec-tools / dnf install kexec-tools / pacman -S kexec-tools).' };
  const refusal = liveKexecRefusal(root, kexecPath);
  if (refusal) return { id: 'kexec', status: 'fail', title: refusal, fix: "Use --root / to act on this machine, or put a fake kexec first on PATH for a fake root." };
  return { id: 'kexec', status: 'ok', title: `kexec is ${kexecPath}` };
}

function roundUpMiB(bytes: bigint): bigint {
  const m = 1n << 20n;
  return ((bytes + m - 1n) / m) * m;
}

/** `kexec -p -u`, with the same syscall flag as a load would use (kexec_load is refused under lockdown for unloads too). */
export function unloadArgv(state: Pick<KdumpState, 'lockdown' | 'secureBoot'>, mode: SyscallMode = 'auto'): { argv: string[]; syscall: SyscallChoice } {
  const syscall = chooseSyscall(state, mode);
  return { argv: ['kexec', '-p', '-u', ...(syscall.flag ? [syscall.flag] : [])], syscall };
}

/** Runs kexec (the absolute path found on PATH) with argv[1..]; stderr and exit code captured. */
export function runKexec(kexecPath: string, argv: readonly string[]): KexecRun {
  const r = spawnSync(kexecPath, argv.slice(1), { encoding: 'utf8', timeout: 120_000, maxBuffer: 4 << 20 });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') {
    return { argv, exitCode: null, signal: null, stdout: '', stderr: `${kexecPath}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}\n` };
  }
  return { argv, exitCode: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The explanations of a failed run, with the machine's lockdown state for context. */
export function explainRun(run: KexecRun, state: Pick<KdumpState, 'lockdown' | 'secureBoot'>): KexecExplanation[] {
  return explainKexecFailure(run.stderr, { fileSyscall: run.argv.includes('-s') || run.argv.includes('--kexec-file-syscall'), lockdown: state.lockdown, secureBoot: state.secureBoot });
}
