import { structReport } from '../../analyze/struct.js';
import { parseAddressQuery } from '../../analyze/sym.js';
import { renderStructText } from '../../report/struct-text.js';
import { UsageError } from '../../util/errors.js';
import type { CommandSpec } from '../command.js';
import { emit, KERNEL_HELP_NOTE, KERNEL_OPTION_HELP, KERNEL_OPTIONS, withContext } from './analyze.js';

const options = { ...KERNEL_OPTIONS } as const;

const struct: CommandSpec<typeof options> = {
  name: 'struct',
  summary: "a struct's layout, or its members' values at an address (like crash's struct -o)",
  usage: ['struct DUMP TYPE [ADDRESS|SYMBOL] [--json] [--btf FILE]'],
  help: `
Prints the layout of a kernel struct or union as the crashed kernel was built: every member
with its byte offset ([offset:bit] for bitfields), C type and name, anonymous members opened
up, and the total size. The types come from the BTF inside the dump (or --btf/--vmlinux);
without BTF only the few OFFSET()/SIZE() entries of VMCOREINFO are known.

With an ADDRESS (or a SYMBOL naming a global variable), each member's value is read from the
dump: integers and enums as numbers, pointers in hex, char arrays as strings, nested structs
and arrays by address. Members on pages the dump does not hold say so.
${KERNEL_HELP_NOTE}

Examples:
  kdumpkit struct vmcore task_struct
  kdumpkit struct vmcore uts_namespace init_uts_ns
  kdumpkit struct vmcore 'struct page' 0xffd4000000040000 --json`,
  options,
  optionHelp: KERNEL_OPTION_HELP,
  minPositionals: 2,
  maxPositionals: 3,
  async run(args, io) {
    const [path, type, where] = args.positionals as [string, string, string | undefined];
    return withContext(path, args.values, (ctx) => {
      let address: bigint | undefined;
      if (where !== undefined) {
        address = parseAddressQuery(where) ?? ctx.kernel.symbols.address(where);
        if (address === undefined) throw new UsageError(`struct: '${where}' is neither an address nor a symbol of ${ctx.kernel.symbols.source}`);
      }
      const r = structReport(ctx.kernel, type, address);
      emit(io, args.values.json, r, () => renderStructText(r));
      return 0;
    });
  },
};

export default struct;
