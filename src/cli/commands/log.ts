import { logReport } from '../../analyze/analyze.js';
import { renderLogText } from '../../report/analyze-text.js';
import type { CommandSpec } from '../command.js';
import { emit, KERNEL_HELP_NOTE, KERNEL_OPTION_HELP, KERNEL_OPTIONS, withContext } from './analyze.js';

const options = { ...KERNEL_OPTIONS, T: { type: 'boolean', short: 'T' } } as const;

const log: CommandSpec<typeof options> = {
  name: 'log',
  summary: "the crashed kernel's log, with wall-clock times (-T), like crash's log",
  usage: ['log DUMP [-T] [--json] [--vmlinux FILE | --system-map FILE] [--btf FILE]'],
  help: `
Prints the crashed kernel's log (its printk ring buffer), one line per record line,
'[seconds.micros] text' as dmesg does.

With -T each line gets the date and time it was logged instead: boot time + its timestamp,
where boot time = the crash time (VMCOREINFO CRASHTIME) - the uptime at the crash
(jiffies_64). Log timestamps come from the scheduler clock, which does not count time spent
suspended, so lines from before a suspend show too early — as with dmesg -T.

'kdumpkit dmesg' prints the same log byte-for-byte like makedumpfile --dump-dmesg.
${KERNEL_HELP_NOTE}

Examples:
  kdumpkit log vmcore -T | tail -50
  kdumpkit log vmcore --json | jq -r '.lines[] | select(.level <= 3) | .text'`,
  options,
  optionHelp: { ...KERNEL_OPTION_HELP, T: 'print wall-clock times (UTC) instead of seconds since boot' },
  minPositionals: 1,
  maxPositionals: 1,
  async run(args, io) {
    return withContext(args.positionals[0]!, args.values, (ctx) => {
      const r = logReport(ctx, { wallClock: args.values.T === true });
      emit(io, args.values.json, r, () => renderLogText(r));
      for (const w of r.warnings) io.err(`warning: ${w}\n`);
      return 0;
    });
  },
};

export default log;
