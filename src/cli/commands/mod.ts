import { modReport } from '../../analyze/mod.js';
import { renderModText } from '../../report/mod-text.js';
import { KERNEL_HELP_NOTE, reportCommand } from './analyze.js';

const mod = reportCommand(
  {
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
  },
  modReport,
  renderModText,
);

export default mod;
