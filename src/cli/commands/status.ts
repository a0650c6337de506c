import { status } from '../../host/load.js';
import { renderJson } from '../../report/json.js';
import { renderStatusText } from '../../report/kexec-text.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';
import { syscallMode } from './load.js';
import { hostRootOf } from '../host-root.js';

const options = {
  ...COMMON_OPTIONS,
  root: { type: 'string' },
  syscall: { type: 'string' },
} as const;

const statusCommand: CommandSpec<typeof options> = {
  name: 'status',
  summary: 'is the machine armed? reservation, loaded capture kernel, what load would run',
  usage: ['status [--root DIR] [--json]'],
  help: `
Says whether a crash now would be captured ("armed"): memory reserved for the capture kernel
and a capture kernel loaded into it. It shows

  crashkernel=   the value(s) on the running command line (/proc/cmdline)
  reserved       bytes actually reserved (/sys/kernel/kexec_crash_size; 0 = none)
  iomem range    where ("Crash kernel" in /proc/iomem; hidden unless run as root)
  loaded         /sys/kernel/kexec_crash_loaded (1 after a successful kexec -p)
  lockdown, secure boot   which force kexec_file_load (kexec -s)
  what 'kdumpkit load' would use: kernel, initrd, capture command line and the exact kexec
  argv, plus any problem it would refuse on

Nothing is changed and kexec is not run (the kernel does not say which argv loaded the
current capture kernel; the argv shown is what load would run now).

Exit code: 0 armed, 1 not armed (no reservation or nothing loaded), so scripts can test it:
  kdumpkit status >/dev/null || sudo kdumpkit load

Examples:
  kdumpkit status
  kdumpkit status --json | jq '{armed, loaded, bytes: .reservation.bytes}'`,
  options,
  optionHelp: {
    root: "the machine's root directory (default /)",
    syscall: "the --syscall load would be given (auto, file, load), for the argv shown",
    json: 'print the report as JSON (sizes and addresses as "0x…" strings)',
    help: 'show this help',
  },
  maxPositionals: 0,
  async run(args, io) {
    const r = status(hostRootOf(args.values.root, 'status'), { syscall: syscallMode('status', args.values.syscall) });
    io.out(args.values.json ? renderJson(r) : renderStatusText(r));
    return r.armed ? 0 : 1;
  },
};

export default statusCommand;
