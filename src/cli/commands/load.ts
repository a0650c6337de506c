import { load } from '../../host/load.js';
import { SYSCALL_MODES, type SyscallMode } from '../../host/kexec.js';
import { renderJson } from '../../report/json.js';
import { renderLoadText } from '../../report/kexec-text.js';
import { KdumpkitError, UsageError } from '../../util/errors.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';
import { hostRootOf } from '../host-root.js';

const options = {
  ...COMMON_OPTIONS,
  root: { type: 'string' },
  'dry-run': { type: 'boolean', short: 'n' },
  syscall: { type: 'string' },
} as const;

/** --syscall's value, checked (shared with unload and status). */
export function syscallMode(name: string, v: string | undefined): SyscallMode {
  if (v === undefined) return 'auto';
  if (!(SYSCALL_MODES as readonly string[]).includes(v)) throw new UsageError(`${name}: --syscall ${v}: not one of ${SYSCALL_MODES.join(', ')}`);
  return v as SyscallMode;
}

/** A kexec failure or refusal: one line naming what failed, the fix as the hint. */
export class KexecFailed extends KdumpkitError {
  constructor(message: string, hint?: string) {
    super('E_KEXEC', message, hint);
  }
}

const loadCommand: CommandSpec<typeof options> = {
  name: 'load',
  summary: 'load the capture kernel with kexec -p, so the next crash is saved',
  usage: ['load [--root DIR] [--dry-run] [--syscall auto|file|load] [--json]'],
  help: `
Loads the capture kernel into the memory reserved by crashkernel=, with kexec-tools:

  kexec -p [-s] KERNEL --initrd=INITRD --append="CMDLINE"

From then on a kernel panic boots that kernel, which saves the dump (kdumpkit-save.service)
and reboots. kdumpkit-load.service runs this at every boot; run it by hand after changing
/etc/kdumpkit.conf or installing a new kernel.

What it uses:
  KERNEL   kernel = in /etc/kdumpkit.conf, else the running kernel's image
           (/boot/vmlinuz-RELEASE, Arch's /boot/vmlinuz-linux, /lib/modules/RELEASE/vmlinuz)
  INITRD   initrd = in the config, else the running kernel's own initramfs (not Fedora's
           initramfs-RELEASEkdump.img: that one runs kdump-utils' save, not kdumpkit's)
  CMDLINE  the running command line without crashkernel=, quiet, hugepages..., plus
           nr_cpus=1 reset_devices irqpoll systemd.unit=kdumpkit-save.service
           systemd.mask=kdumpkit-load.service panic=10, plus cmdline = from the config
  -s       kexec_file_load, chosen when kernel lockdown or Secure Boot is on (kexec_load is
           refused there); otherwise kexec-tools picks the syscall. --syscall overrides.

Before running kexec it checks, and refuses with the reason when one fails: memory is
reserved (/sys/kernel/kexec_crash_size > 0), kernel and initrd exist, kernel + initrd fit in
the reservation (and warns when the capture kernel would probably not have room to run: about
kernel runtime + 2 x initrd + 128M), the command line is short enough, kexec is on PATH.
Loading when a capture kernel is already loaded replaces it (the kernel frees the old one).
Afterwards /sys/kernel/kexec_crash_loaded is read again; kexec's error messages (no
reservation, image too big, lockdown, signature rejected, bad image format) are explained.

Exit code: 0 loaded (or, with --dry-run, nothing refused), 1 refused or failed, 2 usage.
With --root DIR the files are read under DIR and the kexec found on PATH is still run (tests
use a fake kexec); with the real root this changes the running kernel's kdump state.

Examples:
  kdumpkit load --dry-run          # print the kexec command and the checks, run nothing
  sudo kdumpkit load
  sudo kdumpkit load --syscall file --json | jq .loadedAfter`,
  options,
  optionHelp: {
    root: "the machine's root directory (default /): every file and /proc, /sys path is read under it",
    'dry-run': 'check and print the kexec argv, but do not run kexec',
    syscall: 'auto (default: -s under lockdown/Secure Boot), file (-s: kexec_file_load), load (-c: kexec_load)',
    json: 'print the report as JSON: plan (argv, kernel, initrd, cmdline, checks), run, loadedAfter',
    help: 'show this help',
  },
  maxPositionals: 0,
  async run(args, io) {
    const syscall = syscallMode('load', args.values.syscall);
    const root = hostRootOf(args.values.root, 'load');
    const r = load(root, { dryRun: args.values['dry-run'] === true, syscall });
    io.out(args.values.json ? renderJson(r) : renderLoadText(r));
    if (r.ok) return 0;
    const failed = r.plan.checks.find((c) => c.status === 'fail');
    throw new KexecFailed(`load: ${r.summary}`, r.explanations[0]?.fix ?? failed?.fix);
  },
};

export default loadCommand;
