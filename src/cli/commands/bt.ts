import { btReport } from '../../analyze/bt.js';
import { openDump } from '../../formats/open.js';
import { Kernel } from '../../kernel/kernel.js';
import { renderBtText } from '../../report/bt-text.js';
import { renderJson } from '../../report/json.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';

const options = {
  ...COMMON_OPTIONS,
  all: { type: 'boolean', short: 'a' },
  'all-tasks': { type: 'boolean', short: 'A' },
  vmlinux: { type: 'string' },
  'system-map': { type: 'string' },
  btf: { type: 'string' },
  'no-kallsyms': { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
} as const;

const bt: CommandSpec<typeof options> = {
  name: 'bt',
  summary: 'backtraces of the crashed task, every CPU, or any task (ORC unwinder, no debuginfo)',
  usage: ['bt DUMP [PID|TASK]... [-a] [-A] [--json]'],
  help: `
Prints kernel backtraces the way the 'crash' utility's bt does, computed with the kernel's own
ORC unwind tables read from the dump: no debug vmlinux, no DWARF. Symbols come from the dump's
kallsyms (or --system-map / --vmlinux), module frames from each module's own symbol table, and
each frame reads exactly as the kernel prints it in an oops: 'func+0x12/0x80 [module]'.

Which tasks:
  (default)   the task running on the CPU that crashed (panic_cpu)
  -a          the task each CPU was running, from the registers the dump saved (PRSTATUS)
  -A          every task, including sleeping ones (like crash's 'foreach bt')
  PID|TASK    tasks by PID (0 gives each CPU's idle task) or task_struct address (hex)

Reading the output:
  PID: 1        TASK: ff493f84811e0000  CPU: 1    COMMAND: "init"  (crashed)
   #0 [ff6b924480013a58] __crash_kexec+0x11a/0x130 at ffffffffa7d741ba
   #1 [ff6b924480013b10] panic+0x13d/0x2f4 at ffffffffa8601ded
  The bracketed address is the stack slot the return address was read from; 'at' is the
  instruction address. A running task starts from its CPU's saved registers: on the CPU that
  crashed they are taken in __crash_kexec() (a panic) or are the oops registers themselves; on
  the other CPUs they are where the crash NMI stopped them. A sleeping task starts from the
  frame __switch_to_asm saved. '[exception RIP: …]' and a register block mark an interrupt or
  exception frame; '--- <IRQ stack> ---' a switch of stacks; the register block at the end
  is the user-mode state where the task entered the kernel (syscall or interrupt). A frame
  marked '?' was found by guessing (code without ORC data). If a trace stops early, a last
  line says why (unreadable page in a filtered dump, no unwind data, a corrupt stack).

Examples:
  kdumpkit bt /var/crash/2026-11-25-08:30:00/vmcore
  kdumpkit bt vmcore -a
  kdumpkit bt vmcore 155 --json | jq -r '.traces[0].frames[].text'
  kdumpkit bt vmcore -A --system-map /boot/System.map-$(uname -r)`,
  options,
  optionHelp: {
    json: 'print the report as JSON (addresses as "0x…" strings)',
    help: 'show this help',
    all: "the task running on each CPU (crash's bt -a)",
    'all-tasks': 'every task, running and sleeping',
    vmlinux: 'symbols from this vmlinux (same build as the crashed kernel)',
    'system-map': 'symbols from this System.map (for kernels without kallsyms in VMCOREINFO)',
    btf: 'types from this BTF file (e.g. /sys/kernel/btf/vmlinux of the same build)',
    'no-kallsyms': "ignore the dump's kallsyms (as for a kernel before 6.0)",
    verbose: 'also print what could not be read and what was assumed',
  },
  minPositionals: 1,
  async run(args, io) {
    const [path, ...targets] = args.positionals;
    const dump = await openDump(path!);
    try {
      const v = args.values;
      const kernel = Kernel.open(dump, {
        ...(v.vmlinux !== undefined ? { vmlinux: v.vmlinux } : {}),
        ...(v['system-map'] !== undefined ? { systemMap: v['system-map'] } : {}),
        ...(v.btf !== undefined ? { btf: v.btf } : {}),
        ...(v['no-kallsyms'] ? { noKallsyms: true } : {}),
      });
      const report = btReport(kernel, { all: v.all === true, allTasks: v['all-tasks'] === true, targets });
      io.out(v.json ? renderJson(report) : renderBtText(report));
      if (v.verbose && !v.json) for (const n of report.notes) io.err(`note: ${n}\n`);
      return 0;
    } finally {
      dump.close();
    }
  },
};

export default bt;
