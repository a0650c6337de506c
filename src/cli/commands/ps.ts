import { psReport } from '../../analyze/ps.js';
import { renderPsText } from '../../report/ps-text.js';
import type { CommandSpec } from '../command.js';
import { emit, KERNEL_HELP_NOTE, KERNEL_OPTION_HELP, KERNEL_OPTIONS, withContext } from './analyze.js';

const options = { ...KERNEL_OPTIONS } as const;

const ps: CommandSpec<typeof options> = {
  name: 'ps',
  summary: "every task of the crashed kernel, like crash's ps",
  usage: ['ps DUMP [PID|TASK|COMM ...] [--json] [--vmlinux FILE | --system-map FILE] [--btf FILE]'],
  help: `
Lists every task of the crashed kernel: all threads of every process (init_task.tasks and each
thread group's list), and each CPU's idle task (swapper/N, pid 0) — not only what the PID hash
holds.

Columns: '>' marks the task a CPU was running ('*' the one that crashed), PID, PPID (the
parent process, as ps shows it), CPU (where it last ran), TASK (task_struct address), ST (the
state letter of ps: R running, S sleeping, D uninterruptible, T stopped, t traced, X dead,
Z zombie, P parked, I idle), %MEM, VSZ and RSS in KiB (RSS = file + anon + shmem pages, as
the kernel's get_mm_rss()), COMM ([bracketed] for kernel threads).

Give PIDs, task addresses or command names to list only those.
${KERNEL_HELP_NOTE}

Examples:
  kdumpkit ps vmcore
  kdumpkit ps vmcore 1 insmod
  kdumpkit ps vmcore --json | jq '.rows[] | select(.state == "D")'`,
  options,
  optionHelp: KERNEL_OPTION_HELP,
  minPositionals: 1,
  async run(args, io) {
    const [path, ...filters] = args.positionals;
    return withContext(path!, args.values, (ctx) => {
      const r = psReport(ctx, { filters });
      emit(io, args.values.json, r, () => renderPsText(r));
      return 0;
    });
  },
};

export default ps;
