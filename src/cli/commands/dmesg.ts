import { writeFileSync } from 'node:fs';
import { dmesgReport, readDumpLog } from '../../analyze/dmesg.js';
import { openDump } from '../../formats/open.js';
import { formatDmesgMakedumpfile } from '../../kernel/printk.js';
import { renderJson } from '../../report/json.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';

const options = {
  ...COMMON_OPTIONS,
  'caller-id': { type: 'boolean' },
  partial: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
} as const;

const dmesg: CommandSpec<typeof options> = {
  name: 'dmesg',
  summary: "print the crashed kernel's log (like makedumpfile --dump-dmesg)",
  usage: ['dmesg DUMP [--caller-id] [--partial] [-o FILE] [--json]'],
  help: `
Prints the log of the kernel that crashed, read from its printk ring buffer in the dump (the
lockless buffer of Linux 5.10+, or the printk_log records of 3.5–5.9), so you can read the
oops, the call trace and everything before it even when nothing reached the disk.

The text output is byte-for-byte what 'makedumpfile --dump-dmesg' (1.7.2) writes: one line
per record, '[seconds.micros] text', continuation lines indented, non-printable bytes
escaped as \\xNN. With --caller-id each line also carries makedumpfile 1.7.5+'s caller column
('[    1.234567] [      T1] text': T = task id, C = CPU in interrupt context).

Works on every dump format kdumpkit reads, including dumps filtered at dump level 31
(the log buffer is kernel data and is always kept).

Examples:
  kdumpkit dmesg /var/crash/2026-11-25-08:30:00/vmcore | tail -50
  kdumpkit dmesg vmcore --json | jq -r '.entries[] | select(.level <= 3) | .text'`,
  options,
  optionHelp: {
    json: 'records as JSON: seq, time, level, facility, caller, text',
    help: 'show this help',
    'caller-id': 'add the caller column of makedumpfile >= 1.7.5',
    partial: "only what was logged since the last 'dmesg -c' (makedumpfile --partial-dmesg)",
    output: 'write to FILE instead of standard output',
  },
  minPositionals: 1,
  maxPositionals: 1,
  async run(args, io) {
    const dump = await openDump(args.positionals[0]!);
    try {
      const log = readDumpLog(dump, { partial: args.values.partial === true });
      const out = args.values.json ? renderJson(dmesgReport(log)) : formatDmesgMakedumpfile(log, { callerId: args.values['caller-id'] === true });
      if (args.values.output) writeFileSync(args.values.output, out);
      else io.out(out);
      for (const w of log.warnings) io.err(`warning: ${w}\n`);
      return 0;
    } finally {
      dump.close();
    }
  },
};

export default dmesg;
