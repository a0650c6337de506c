/**
 * What kexec's error messages mean for kdump, and what to do about each.
 *
 * kexec-tools prints one of a small set of messages when `kexec -p` fails; the texts matched
 * here are the ones in its source (kexec/kexec.c unless noted), and the errno texts are
 * glibc's strerror() of what the kernel returned:
 *
 *   "Memory for crashkernel is not reserved"        main(), is_crashkernel_mem_reserved() false
 *   "No crash kernel segment found in /proc/iomem"  my_load(), ENOCRASHKERNEL from the loader
 *   "Could not find a free area of memory of 0x…"   locate_hole(): segments do not fit
 *   "kexec_load failed: <strerror>"                 my_load(), the kexec_load(2) call
 *   "kexec_file_load failed: <strerror>"            do_kexec_file_load(), kexec_file_load(2)
 *   "syscall kexec_file_load not available."        -s given and the kernel answered ENOSYS,
 *                                                   EINVAL, ENOEXEC or ENOTSUP (EFALLBACK)
 *   "Cannot determine the file type of …"           no loader recognised the image
 *   "Cannot load …"                                 a loader failed (follows the reason)
 *   "Cannot open `…': …", "Failed to open file …", "Could not open initrd file …"
 *   "Command line overflow"                         kexec/arch/i386/crashdump-x86.c
 *   "kexec unload failed", "kexec_file_load(unload) failed"
 *   "Nothing has been loaded!"                      -e / -f with no image loaded
 *
 * The kernel side of the errno values:
 *   EADDRNOTAVAIL  kernel/kexec_core.c sanity_check_segment_list (a crash segment outside the
 *                  reservation), kernel/kexec_file.c kexec_locate_mem_hole (no room in it)
 *   EPERM          kernel/kexec.c kexec_load_check: no CAP_SYS_BOOT, kexec_load_disabled, or
 *                  security_locked_down(LOCKDOWN_KEXEC) (security/lockdown/lockdown.c);
 *                  kernel/kexec_file.c kimage_validate_signature under lockdown
 *   EACCES         security/integrity/ima/ima_main.c ima_load_data: with Secure Boot and the
 *                  IMA arch policy kexec_load is refused ("try using kexec_file_load")
 *   EKEYREJECTED, ENOKEY, EBADMSG, ENOPKG, ENODATA
 *                  the image's signature was checked and failed (kimage_validate_signature
 *                  with sig_enforce: CONFIG_KEXEC_SIG_FORCE, or Secure Boot's arch policy)
 *   EINVAL, ENOEXEC  the kernel's image loader does not accept the file
 *   EBUSY          another kexec is running (kexec_trylock)
 */
import { approxSize } from './recommend.js';

export interface KexecExplanation {
  /** Stable id: no-reservation, too-big, not-permitted, ima-refused, signature, image-format,
   * file-syscall-refused, cannot-open, cmdline-too-long, busy, nothing-loaded, unknown. */
  readonly id: string;
  /** The stderr line it was recognised from ('' when none matched). */
  readonly line: string;
  readonly cause: string;
  readonly fix: string;
}

export interface KexecContext {
  /** The argv used kexec_file_load explicitly (-s). */
  readonly fileSyscall: boolean;
  readonly lockdown: 'none' | 'integrity' | 'confidentiality' | undefined;
  readonly secureBoot: boolean | undefined;
}

interface Rule {
  readonly id: string;
  readonly match: RegExp;
  cause(line: string, ctx: KexecContext): string;
  fix(ctx: KexecContext): string;
}

const SETUP_FIX = "Reserve memory with 'kdumpkit setup' (it adds crashkernel= to the boot command line), reboot, then run 'kdumpkit load'.";

const RULES: readonly Rule[] = [
  {
    id: 'no-reservation',
    match: /Memory for crashkernel is not reserved|No crash kernel segment found in \/proc\/iomem/,
    cause: () => 'no memory is reserved for a capture kernel: the running kernel was booted without crashkernel=, or the reservation failed at boot',
    fix: () => SETUP_FIX,
  },
  {
    id: 'too-big',
    match: /Could not find a free area of memory|Cannot assign requested address/,
    cause: (line) => {
      const m = /of (0x[0-9a-f]+) bytes/.exec(line);
      return `the capture kernel and initramfs do not fit in the crashkernel reservation${m ? ` (kexec needed a free area of ${approxSize(BigInt(m[1]!))}, ${m[1]} bytes)` : ''}, or no reservation exists`;
    },
    fix: () => "Reserve more memory (a larger crashkernel=, see 'kdumpkit recommend'; reboot after 'kdumpkit setup'), or load a smaller initramfs (initrd = in /etc/kdumpkit.conf).",
  },
  {
    id: 'ima-refused',
    match: /kexec_load failed: Permission denied/,
    cause: () => 'the kernel refused kexec_load: with Secure Boot, IMA appraisal only accepts kernels loaded by kexec_file_load',
    fix: () => "Load with kexec_file_load: 'kdumpkit load --syscall file' (kexec -s).",
  },
  {
    id: 'not-permitted',
    match: /(kexec_load|kexec_file_load) failed: Operation not permitted|kexec unload failed: Operation not permitted|kexec_file_load\(unload\) failed: Operation not permitted/,
    cause: (line, ctx) => {
      const locked = ctx.lockdown === 'integrity' || ctx.lockdown === 'confidentiality';
      if (/kexec_file_load/.test(line)) {
        return locked
          ? `kexec_file_load was refused: under lockdown (${ctx.lockdown}) the kernel only loads images whose signature it can verify, and this one's failed`
          : 'kexec_file_load was refused: not running as root (CAP_SYS_BOOT), or /proc/sys/kernel/kexec_load_disabled is 1';
      }
      return locked
        ? `kexec_load is refused under kernel lockdown (${ctx.lockdown}): only kexec_file_load, which checks the image's signature, is allowed`
        : 'kexec_load was refused: not running as root (CAP_SYS_BOOT), /proc/sys/kernel/kexec_load_disabled is 1, or the kernel is locked down';
    },
    fix: (ctx) => {
      const locked = ctx.lockdown === 'integrity' || ctx.lockdown === 'confidentiality' || ctx.secureBoot === true;
      if (locked && ctx.fileSyscall) return 'Load a kernel signed by a key the running kernel trusts (the distribution kernel, or one signed with your enrolled MOK).';
      if (locked) return "Use kexec_file_load: 'kdumpkit load --syscall file' (kexec -s).";
      return "Run as root (sudo kdumpkit load). kexec_load_disabled cannot be turned off again until reboot.";
    },
  },
  {
    id: 'signature',
    match: /Key was rejected by service|Required key not available|Bad message|Package not installed|No data available/,
    cause: () => 'the kernel checked the capture kernel image\'s signature and rejected it (unsigned, or signed by a key it does not trust); Secure Boot or CONFIG_KEXEC_SIG_FORCE requires a valid signature',
    fix: () => 'Load a kernel signed by a trusted key: the distribution\'s own kernel (kernel = empty in /etc/kdumpkit.conf), or sign it with an enrolled MOK key (sbsign, mokutil --import).',
  },
  {
    id: 'file-syscall-refused',
    match: /syscall kexec_file_load not available/,
    cause: () => 'kexec_file_load could not be used: this kernel lacks it (CONFIG_KEXEC_FILE not set: ENOSYS), or it did not accept the image (EINVAL/ENOEXEC: not a bzImage/PE image it can load)',
    fix: () => "Check the kernel config ('kdumpkit check'); if kexec_file_load exists, make kernel = in /etc/kdumpkit.conf a bootable kernel image (vmlinuz), not vmlinux or a compressed vmlinux.gz.",
  },
  {
    id: 'image-format',
    match: /Cannot determine the file type|Invalid argument|Exec format error|Not a bzImage|Wrong file type|Unsupported kernel type/,
    cause: () => 'the kernel image is not in a format kexec or the kernel can load (wrong file, another architecture, or a raw vmlinux where a bzImage/Image is needed)',
    fix: () => 'Point kernel = in /etc/kdumpkit.conf at a bootable kernel image (/boot/vmlinuz-RELEASE), or leave it empty to use the running kernel\'s.',
  },
  {
    id: 'cannot-open',
    match: /Cannot open `|Failed to open file|Could not open initrd file|Cannot read /,
    cause: (line) => `kexec could not read a file: ${line.trim()}`,
    fix: () => 'Check that the kernel and initrd paths exist and are readable by root.',
  },
  {
    id: 'cmdline-too-long',
    match: /Command line overflow/,
    cause: () => 'the capture kernel command line is longer than the kernel accepts (COMMAND_LINE_SIZE, 2048 bytes on x86)',
    fix: () => 'Shorten cmdline = in /etc/kdumpkit.conf or the running command line.',
  },
  {
    id: 'busy',
    match: /Device or resource busy/,
    cause: () => 'another kexec load or unload was running at the same moment',
    fix: () => "Run 'kdumpkit load' again.",
  },
  {
    id: 'nothing-loaded',
    match: /Nothing has been loaded!/,
    cause: () => 'kexec was asked to boot a loaded kernel (kexec -e / -f) but none is loaded',
    fix: () => "Load the capture kernel first: 'kdumpkit load'.",
  },
];

/** Every explanation that matches kexec's stderr, in rule order (one per id); 'unknown' when none does. */
export function explainKexecFailure(stderr: string, ctx: KexecContext): KexecExplanation[] {
  const lines = stderr.split('\n');
  const out: KexecExplanation[] = [];
  for (const rule of RULES) {
    const line = lines.find((l) => rule.match.test(l));
    if (line !== undefined) out.push({ id: rule.id, line: line.trim(), cause: rule.cause(line, ctx), fix: rule.fix(ctx) });
  }
  if (out.length === 0) {
    const first = lines.find((l) => l.trim() !== '')?.trim() ?? '';
    out.push({ id: 'unknown', line: first, cause: first ? `kexec failed: ${first}` : 'kexec failed without a message', fix: "Run 'kdumpkit doctor'; 'kexec -d' prints kexec's debugging output." });
  }
  return out;
}
