import { runCheck } from '../../host/check.js';
import { exitCodeFor, type CheckReport } from '../../host/findings.js';
import { renderCheckText } from '../../report/check-text.js';
import { renderJson } from '../../report/json.js';
import { UsageError } from '../../util/errors.js';
import { COMMON_OPTIONS, type CommandSpec, type Io, type ParsedArgs } from '../command.js';
import { hostRootOf } from '../host-root.js';

/** Options shared by check and doctor. */
export const CHECK_OPTIONS = {
  ...COMMON_OPTIONS,
  root: { type: 'string' },
  release: { type: 'string' },
  strict: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
} as const;

export const CHECK_OPTION_HELP = {
  root: "check the machine whose files are under DIR instead of '/' (a mounted image, a test root)",
  release: 'check kernel release R (its config, image, initramfs) instead of the running one',
  strict: 'exit 1 on warnings too, not only on failures',
  verbose: 'also print why and where from for findings that are ok',
  json: 'print { command, root, release, findings: [{ id, status, title, why, fix, evidence }], counts, worst, exitCode } as JSON',
  help: 'show this help',
} as const;

export const EXIT_NOTE = `
Exit status: 0 when nothing failed (warnings allowed), 1 when at least one finding failed (a
crash now would not be captured) or on an error (a message names the file), 2 for usage errors.
With --strict, warnings also exit 1. So 'kdumpkit check && echo ready' means: a crash is caught.`;

export function printCheckReport(report: CheckReport, values: { json?: boolean; strict?: boolean; verbose?: boolean }, io: Io): number {
  const exitCode = exitCodeFor(report.worst, values.strict === true);
  io.out(values.json ? renderJson({ ...report, exitCode }) : renderCheckText(report, { color: io.stdoutIsTTY, verbose: values.verbose === true }));
  return exitCode;
}

const check: CommandSpec<typeof CHECK_OPTIONS> = {
  name: 'check',
  summary: 'will the next crash be captured? kernel config, crashkernel, kexec, lockdown, BTF',
  usage: ['check [--root DIR] [--release R] [--strict] [--verbose] [--json]'],
  help: `
Checks, without changing anything, every link between a crash and a saved, analyzable dump:
  kernel config   CONFIG_KEXEC_CORE, KEXEC_FILE, CRASH_DUMP, PROC_VMCORE, RELOCATABLE, DEBUG_INFO,
                  DEBUG_INFO_BTF, KALLSYMS(_ALL), PSTORE, from /proc/config.gz, /boot/config-R
                  or /lib/modules/R/config
  reservation     crashkernel= on /proc/cmdline and what it reserves for this RAM,
                  /sys/kernel/kexec_crash_size, "Crash kernel" in /proc/iomem, and the size
                  against 'kdumpkit recommend'
  loading         /sys/kernel/kexec_crash_loaded, kexec on PATH, lockdown and Secure Boot
                  (which force kexec_file_load, kexec -s, and a signed capture kernel)
  capture kernel  its image and initramfs exist; /etc/kdumpkit.conf parses
  analysis        BTF (/sys/kernel/btf/vmlinux), System.map / debug vmlinux (kdumpkit needs
                  neither when kallsyms and BTF are built in; crash needs the debug vmlinux)

Each line is one finding: 'ok', 'WARN' (a crash is still captured, but less reliably or with
less to analyze) or 'FAIL' (a crash now would not be captured). Warnings and failures say why
and the exact fix, and name the file they were read from. 'kdumpkit doctor' adds the systemd
units, the crash directory and a diagnosis of what breaks first.
${EXIT_NOTE}

Examples:
  kdumpkit check
  kdumpkit check --release 6.12.1-arch1-1     # before booting a newly installed kernel
  kdumpkit check --json | jq -r '.findings[] | select(.status != "ok") | .fix'
  kdumpkit check --root /mnt/image            # another machine's files, mounted`,
  options: CHECK_OPTIONS,
  optionHelp: CHECK_OPTION_HELP,
  maxPositionals: 0,
  async run(args: ParsedArgs<typeof CHECK_OPTIONS>, io: Io) {
    const root = hostRootOf(args.values.root, 'check');
    const release = args.values.release;
    if (release !== undefined && !/^[\w.+~-]+$/.test(release)) throw new UsageError(`check: bad --release '${release}'`, 'Give a kernel release as uname -r prints it, e.g. 6.1.0-56-amd64.');
    return printCheckReport(runCheck(root, release !== undefined ? { release } : {}), args.values, io);
  },
};

export default check;
