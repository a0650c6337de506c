import { modReport } from '../../analyze/mod.js';
import { renderModText } from '../../report/mod-text.js';
import type { CommandSpec } from '../command.js';
import { emit, KERNEL_HELP_NOTE, KERNEL_OPTION_HELP, KERNEL_OPTIONS, withContext } from './analyze.js';

const options = { ...KERNEL_OPTIONS } as const;

const mod: CommandSpec<typeof options> = {
  name: 'mod',
  summary: "loaded modules and the kernel's taint, like crash's mod",
  usage: ['mod DUMP [--json] [--vmlinux FILE | --system-map FILE] [--btf FILE]'],
  help: `
Lists the modules the crashed kernel had loaded (its 'modules' list, most recent first, as
lsmod): the struct module address, name, core text base, size (all of the module's memory, as
lsmod counts it), state (live, coming = still in its init function, going = being unloaded),
taint letters (O out-of-tree, E unsigned, P proprietary, …) and reference count; then the
kernel's taint as the kernel prints it ("Tainted: G           OE     "), with each flag named.
The letters come from the kernel's own taint_flags table in the dump.
${KERNEL_HELP_NOTE}

Examples:
  kdumpkit mod vmcore
  kdumpkit mod vmcore --json | jq -r '.modules[].name'`,
  options,
  optionHelp: KERNEL_OPTION_HELP,
  minPositionals: 1,
  maxPositionals: 1,
  async run(args, io) {
    return withContext(args.positionals[0]!, args.values, (ctx) => {
      const r = modReport(ctx);
      emit(io, args.values.json, r, () => renderModText(r));
      return 0;
    });
  },
};

export default mod;
