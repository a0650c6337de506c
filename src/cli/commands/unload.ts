import { unload } from '../../host/load.js';
import { renderJson } from '../../report/json.js';
import { renderUnloadText } from '../../report/kexec-text.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';
import { KexecFailed, syscallMode } from './load.js';
import { hostRootOf } from '../host-root.js';

const options = {
  ...COMMON_OPTIONS,
  root: { type: 'string' },
  'dry-run': { type: 'boolean', short: 'n' },
  syscall: { type: 'string' },
} as const;

const unloadCommand: CommandSpec<typeof options> = {
  name: 'unload',
  summary: 'unload the capture kernel (kexec -p -u): crashes are no longer saved',
  usage: ['unload [--root DIR] [--dry-run] [--syscall auto|file|load] [--json]'],
  help: `
Unloads the capture kernel that 'kdumpkit load' loaded, with kexec-tools:

  kexec -p -u [-s]

-s (kexec_file_load) is added under kernel lockdown or Secure Boot, where kexec_load is
refused for unloading too. When /sys/kernel/kexec_crash_loaded already says 0 nothing is
run and the command succeeds (it is idempotent). Afterwards kexec_crash_loaded is read again.
The memory reservation stays until crashkernel= is removed from the boot command line.

Exit code: 0 unloaded or nothing loaded, 1 kexec failed, 2 usage.

Examples:
  sudo kdumpkit unload
  kdumpkit unload --dry-run`,
  options,
  optionHelp: {
    root: "the machine's root directory (default /)",
    'dry-run': 'print the kexec argv, but do not run kexec',
    syscall: 'auto (default), file (-s), load (-c)',
    json: 'print the report as JSON',
    help: 'show this help',
  },
  maxPositionals: 0,
  async run(args, io) {
    const syscall = syscallMode('unload', args.values.syscall);
    const r = unload(hostRootOf(args.values.root, 'unload'), { dryRun: args.values['dry-run'] === true, syscall });
    io.out(args.values.json ? renderJson(r) : renderUnloadText(r));
    if (r.ok) return 0;
    throw new KexecFailed(`unload: ${r.summary}`, r.explanations[0]?.fix);
  },
};

export default unloadCommand;
