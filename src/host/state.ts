/**
 * The live kdump state of the running kernel, as the files under /proc and /sys tell it.
 *
 * One reader for everything `check`, `status`, `load` and `doctor` need to know about the
 * running kernel, so each of them agrees with the others on what "reserved" and "loaded" mean:
 *   /proc/cmdline                  the crashkernel= the kernel was booted with
 *   /sys/kernel/kexec_crash_size   bytes actually reserved (kernel/ksysfs.c, kexec_crash_size_show)
 *   /proc/iomem "Crash kernel"     where (kernel/crash_core.c inserts the resource; addresses
 *                                  read as 0 for non-root readers since Linux 4.6)
 *   /sys/kernel/kexec_crash_loaded 1 once `kexec -p` has loaded a capture kernel
 *   /sys/kernel/security/lockdown  "none [integrity] confidentiality": the bracketed mode
 *   /sys/firmware/efi/efivars/SecureBoot-8be4df61-…  4 attribute bytes, then 1 = enabled
 *   /sys/kernel/btf/vmlinux        the running kernel's BTF (CONFIG_DEBUG_INFO_BTF)
 * Every path goes through a HostRoot; a file that is absent is `undefined`, never a guess.
 */
import type { HostRoot } from './root.js';
import { runningRelease } from './boot-images.js';

export type LockdownMode = 'none' | 'integrity' | 'confidentiality';

/** A "Crash kernel" range of /proc/iomem; `end` is inclusive, as iomem prints it. */
export interface IomemRange {
  readonly start: bigint;
  readonly end: bigint;
}

export interface KdumpState {
  readonly release: string | undefined;
  /** /proc/cmdline, trimmed */
  readonly cmdline: string | undefined;
  /** Values of every crashkernel= on the running command line, in order (the kernel reads them all: size, ,high, ,low). */
  readonly crashkernelParams: readonly string[];
  /** /sys/kernel/kexec_crash_size: bytes reserved for the capture kernel (0 = none). */
  readonly reservedBytes: bigint | undefined;
  /** "Crash kernel" ranges in /proc/iomem; `undefined` when the file is absent. */
  readonly crashRanges: readonly IomemRange[] | undefined;
  /** True when /proc/iomem hides addresses (all zero: read without CAP_SYS_ADMIN). */
  readonly iomemHidden: boolean;
  /** /sys/kernel/kexec_crash_loaded */
  readonly loaded: boolean | undefined;
  readonly lockdown: LockdownMode | undefined;
  /** UEFI Secure Boot; `undefined` on BIOS boots or when efivars are not mounted. */
  readonly secureBoot: boolean | undefined;
  /** Booted through UEFI (/sys/firmware/efi exists). */
  readonly efi: boolean;
  /** MemTotal of /proc/meminfo in bytes (RAM less the kernel's and the reservation's share). */
  readonly memTotalBytes: bigint | undefined;
  /** /sys/kernel/btf/vmlinux exists */
  readonly btf: boolean;
}

const SECURE_BOOT_VAR = '/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c';

/**
 * Splits a kernel command line into parameters the way the kernel does (lib/cmdline.c,
 * next_arg): whitespace separates, double quotes group (`a="b c"` is one parameter; the quotes
 * are kept, as /proc/cmdline shows them).
 */
export function splitCmdline(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && /\s/.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/** The parameter's name: the text before the first `=` (the whole token when there is none). */
export function paramName(param: string): string {
  const i = param.indexOf('=');
  return i < 0 ? param : param.slice(0, i);
}

/** The value of a `name=value` parameter with its surrounding quotes removed. */
export function paramValue(param: string): string | undefined {
  const i = param.indexOf('=');
  if (i < 0) return undefined;
  const v = param.slice(i + 1);
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** "Crash kernel" lines of /proc/iomem (they nest under "System RAM", so indentation varies). */
export function parseIomemCrashRanges(iomem: string): IomemRange[] {
  const out: IomemRange[] = [];
  for (const m of iomem.matchAll(/^\s*([0-9a-fA-F]+)-([0-9a-fA-F]+) : Crash kernel\s*$/gm)) {
    out.push({ start: BigInt('0x' + m[1]!), end: BigInt('0x' + m[2]!) });
  }
  return out;
}

/** The bracketed mode of /sys/kernel/security/lockdown ("none [integrity] confidentiality"). */
export function parseLockdown(text: string): LockdownMode | undefined {
  const m = /\[(none|integrity|confidentiality)\]/.exec(text);
  return m ? (m[1] as LockdownMode) : undefined;
}

/** MemTotal of a /proc/meminfo text in bytes (fs/proc/meminfo.c prints it in kB). */
export function parseMemTotal(meminfo: string): bigint | undefined {
  const m = /^MemTotal:\s+(\d+)\s*kB\s*$/m.exec(meminfo);
  return m ? BigInt(m[1]!) * 1024n : undefined;
}

function readBigint(root: HostRoot, abs: string): bigint | undefined {
  const t = root.read(abs)?.trim();
  return t && /^\d+$/.test(t) ? BigInt(t) : undefined;
}

export function readKdumpState(root: HostRoot): KdumpState {
  const cmdline = root.read('/proc/cmdline')?.trim();
  const params = cmdline ? splitCmdline(cmdline) : [];
  const iomem = root.read('/proc/iomem');
  const ranges = iomem === undefined ? undefined : parseIomemCrashRanges(iomem);
  const iomemHidden = iomem !== undefined && /^\s*0+-0+ : /m.test(iomem) && !/^\s*0*[1-9a-fA-F][0-9a-fA-F]*-/m.test(iomem);
  const loadedText = root.read('/sys/kernel/kexec_crash_loaded')?.trim();
  const lockdownText = root.read('/sys/kernel/security/lockdown');
  const sb = root.readBytes(SECURE_BOOT_VAR);
  return {
    release: runningRelease(root),
    cmdline,
    crashkernelParams: params.filter((p) => paramName(p) === 'crashkernel').map((p) => paramValue(p) ?? ''),
    reservedBytes: readBigint(root, '/sys/kernel/kexec_crash_size'),
    crashRanges: ranges,
    iomemHidden,
    loaded: loadedText === undefined ? undefined : loadedText === '1',
    lockdown: lockdownText === undefined ? undefined : parseLockdown(lockdownText),
    secureBoot: sb !== undefined && sb.length >= 5 ? sb[4] === 1 : undefined,
    efi: root.isDirectory('/sys/firmware/efi'),
    memTotalBytes: parseMemTotal(root.read('/proc/meminfo') ?? ''),
    btf: root.exists('/sys/kernel/btf/vmlinux'),
  };
}
