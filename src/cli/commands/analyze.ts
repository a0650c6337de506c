import { AnalysisContext, analyzeReport, type AnalysisOptions } from '../../analyze/analyze.js';
import { renderAnalyzeText } from '../../report/analyze-text.js';
import { renderJson } from '../../report/json.js';
import { UsageError } from '../../util/errors.js';
import { COMMON_OPTIONS, type CommandSpec, type Io } from '../command.js';

/** Options of every analysis command (analyze, sys, ps, mod, log). */
export const KERNEL_OPTIONS = {
  ...COMMON_OPTIONS,
  vmlinux: { type: 'string' },
  'system-map': { type: 'string' },
  btf: { type: 'string' },
  'no-kallsyms': { type: 'boolean' },
} as const;

export const KERNEL_OPTION_HELP = {
  json: 'print the report as JSON (addresses and 64-bit values as "0x…" strings)',
  help: 'show this help',
  vmlinux: "symbols (and BTF) from this vmlinux of the crashed kernel's build",
  'system-map': "symbols from this System.map of the crashed kernel's build",
  btf: 'types from this BTF file (e.g. /sys/kernel/btf/vmlinux of the same build)',
  'no-kallsyms': "ignore the kallsyms tables VMCOREINFO points to (as on a kernel before 6.0)",
} as const;

export const KERNEL_HELP_NOTE = `
No debuginfo is needed: symbols come from the kallsyms tables in the dump (Linux >= 6.0 points
to them in VMCOREINFO), else /boot or /usr/lib/debug System.map or vmlinux files of the same
release, else a scan of the dump; types come from the BTF in the dump's memory.`;

interface KernelArgs {
  readonly vmlinux?: string;
  readonly 'system-map'?: string;
  readonly btf?: string;
  readonly 'no-kallsyms'?: boolean;
}

export function kernelOptions(v: KernelArgs): AnalysisOptions {
  return {
    ...(v.vmlinux !== undefined ? { vmlinux: v.vmlinux } : {}),
    ...(v['system-map'] !== undefined ? { systemMap: v['system-map'] } : {}),
    ...(v.btf !== undefined ? { btf: v.btf } : {}),
    ...(v['no-kallsyms'] ? { noKallsyms: true } : {}),
  };
}

/** Opens the dump and its kernel for an analysis command, runs `f`, closes the dump. */
export async function withContext(path: string, v: KernelArgs, f: (ctx: AnalysisContext) => Promise<number> | number): Promise<number> {
  const ctx = await AnalysisContext.open(path, kernelOptions(v));
  try {
    return await f(ctx);
  } finally {
    ctx.close();
  }
}

export function emit(io: Io, json: boolean | undefined, report: unknown, text: () => string): void {
  io.out(json ? renderJson(report) : text());
}

/**
 * An analysis command that takes one DUMP and the kernel options and prints one report of it,
 * as text or (--json) JSON: `spec` says what it is, `report` reads it, `render` prints it.
 */
export function reportCommand<R>(
  spec: Pick<CommandSpec, 'name' | 'summary' | 'usage' | 'help'>,
  report: (ctx: AnalysisContext) => R,
  render: (r: R) => string,
): CommandSpec<typeof KERNEL_OPTIONS> {
  return {
    ...spec,
    options: { ...KERNEL_OPTIONS },
    optionHelp: KERNEL_OPTION_HELP,
    minPositionals: 1,
    maxPositionals: 1,
    async run(args, io) {
      return withContext(args.positionals[0]!, args.values, (ctx) => {
        const r = report(ctx);
        emit(io, args.values.json, r, () => render(r));
        return 0;
      });
    },
  };
}

const options = { ...KERNEL_OPTIONS, 'log-lines': { type: 'string' } } as const;

const analyze: CommandSpec<typeof options> = {
  name: 'analyze',
  summary: 'why the kernel died: panic, crashing task, CPUs, tasks, modules, log, verdict',
  usage: ['analyze DUMP [--json] [--log-lines N] [--vmlinux FILE | --system-map FILE] [--btf FILE]'],
  help: `
Reads a crash dump the way 'crash' or 'drgn' would, without debuginfo, and prints one report:

  VERDICT     one sentence of cause (sysrq, NULL dereference at ADDR in FUNC [module], BUG(),
              soft lockup, hung task, panic from a workqueue or kernel thread, OOM, …) and a
              signature (kind + first meaningful frames + module) to group identical crashes
  SYSTEM      what 'kdumpkit sys' prints: kernel, dump type, CPUs, date, uptime, load, memory
  PANIC       the panic string, the report that caused it (oops line, RIP), panic_cpu, taint
  CRASHED TASK  the task on the panicking CPU and its saved registers (and backtrace)
  CPUS        what every CPU was running when the dump was taken
  TASKS       'kdumpkit ps'
  MODULES     'kdumpkit mod'
  LOG         the last lines of the kernel log ('kdumpkit log' for all of it)

The verdict is derived from the dump: the crash report the kernel logged, the registers it
saved, the crashing task's flags and frames. Parts that a partial dump (makedumpfile -d 31)
cannot provide are reported as unavailable, with the reason.
${KERNEL_HELP_NOTE}

Examples:
  kdumpkit analyze /var/crash/2026-11-25-08:30:00/vmcore
  kdumpkit analyze vmcore --json | jq -r .triage.sentence`,
  options,
  optionHelp: { ...KERNEL_OPTION_HELP, 'log-lines': 'how many log lines to include (default 40)' },
  minPositionals: 1,
  maxPositionals: 1,
  async run(args, io) {
    const n = args.values['log-lines'];
    if (n !== undefined && !/^\d+$/.test(n)) throw new UsageError(`analyze: --log-lines wants a number, not '${n}'`);
    return withContext(args.positionals[0]!, args.values, (ctx) => {
      const report = analyzeReport(ctx, { logLines: n === undefined ? 40 : Number(n) });
      emit(io, args.values.json, report, () => renderAnalyzeText(report));
      return 0;
    });
  },
};

export default analyze;
