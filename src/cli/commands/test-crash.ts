import { testCrash, TestCrashRefused } from '../../host/test-crash.js';
import { renderJson } from '../../report/json.js';
import { renderTestCrashText } from '../../report/kexec-text.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';
import { hostRootOf } from '../host-root.js';

const options = {
  ...COMMON_OPTIONS,
  root: { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
} as const;

const testCrashCommand: CommandSpec<typeof options> = {
  name: 'test-crash',
  summary: 'crash the machine NOW (sysrq-c) to prove a dump is saved; needs --yes',
  usage: ['test-crash --yes [--root DIR] [--json]'],
  help: `
Crashes the machine on purpose, to prove that kdump works end to end: writes 'c' to
/proc/sysrq-trigger, the kernel panics, the loaded capture kernel boots and saves the dump
into the crash directory (dir = in /etc/kdumpkit.conf, default /var/crash), then the machine
reboots. Every running program dies and unsaved work is lost.

Without --yes it only explains what would happen and exits 1. With --yes it first checks, and
refuses with the reason when one fails: memory is reserved, a capture kernel is loaded
(/sys/kernel/kexec_crash_loaded = 1; without one the crash saves nothing), the crash
directory is writable, /proc/sysrq-trigger exists. Then it flushes file data (sync) and
writes the trigger. /proc/sys/kernel/sysrq is not changed: it only restricts the keyboard,
writing the trigger as root is always allowed (Documentation/admin-guide/sysrq.rst).

With --root DIR (not /) the 'c' is written to DIR/proc/sysrq-trigger, a plain file, and
nothing crashes; a DIR whose proc/sysrq-trigger leads to the real /proc is refused.

Exit code: with a real crash there is none; 0 when a fake root's trigger was written,
1 refused, 2 usage.

Examples:
  kdumpkit test-crash              # explains, changes nothing
  kdumpkit status && sudo kdumpkit test-crash --yes
  kdumpkit analyze /var/crash/*/vmcore   # after the reboot`,
  options,
  optionHelp: {
    root: "the machine's root directory (default /); not / = a fake root, nothing crashes",
    yes: 'really crash the machine',
    json: 'print the report as JSON',
    help: 'show this help',
  },
  maxPositionals: 0,
  async run(args, io) {
    const r = testCrash(hostRootOf(args.values.root, 'test-crash'), { yes: args.values.yes === true });
    io.out(args.values.json ? renderJson(r) : renderTestCrashText(r));
    if (r.ok) return 0;
    const failed = r.checks.find((c) => c.status === 'fail');
    throw new TestCrashRefused(`test-crash: ${r.summary}`, args.values.yes ? failed?.fix : 'Run it again with --yes to crash the machine.');
  },
};

export default testCrashCommand;
