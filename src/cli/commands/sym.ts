import { symReport } from '../../analyze/sym.js';
import { renderSymText } from '../../report/sym-text.js';
import type { CommandSpec } from '../command.js';
import { emit, KERNEL_HELP_NOTE, KERNEL_OPTION_HELP, KERNEL_OPTIONS, withContext } from './analyze.js';

const options = { ...KERNEL_OPTIONS } as const;

const sym: CommandSpec<typeof options> = {
  name: 'sym',
  summary: "kernel and module symbols: name to address, address to name+off/size (like crash's sym)",
  usage: ['sym DUMP NAME|ADDRESS... [--json] [--vmlinux FILE | --system-map FILE]'],
  help: `
Looks symbols up in the crashed kernel: a NAME gives its address and type letter (every
definition, since static functions can share a name); an ADDRESS (0x-prefixed, or bare hex
of 9+ digits) gives the symbol it lies in as 'name+0xoff/0xsize [module]', the notation of
the kernel's own oops reports. Kernel symbols come from the kallsyms tables in the dump (or
the files given); module symbols from each loaded module's own kallsyms in the dump.
${KERNEL_HELP_NOTE}

Examples:
  kdumpkit sym vmcore init_task panic
  kdumpkit sym vmcore 0xffffffffc041f0d7        # -> crashme_recurse+0x47/0x80 [crashme]`,
  options,
  optionHelp: KERNEL_OPTION_HELP,
  minPositionals: 2,
  async run(args, io) {
    return withContext(args.positionals[0]!, args.values, (ctx) => {
      const r = symReport(ctx.kernel, args.positionals.slice(1));
      emit(io, args.values.json, r, () => renderSymText(r));
      for (const w of r.warnings) io.err(`warning: ${w}\n`);
      return r.unresolved.length ? 1 : 0;
    });
  },
};

export default sym;
