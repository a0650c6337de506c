import { dumpInfo } from '../../analyze/dump-info.js';
import { openDump } from '../../formats/open.js';
import { renderInfoText } from '../../report/info-text.js';
import { renderJson } from '../../report/json.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';

const options = { ...COMMON_OPTIONS } as const;

const info: CommandSpec<typeof options> = {
  name: 'info',
  summary: 'describe a dump file: format, pages, kernel, CPUs, layout',
  usage: ['info DUMP [--json]'],
  help: `
Describes a crash dump without analyzing it: the container format and codec, the makedumpfile
dump level, how many pages of RAM are present, excluded or zero, the crashed kernel's release
and host name (read from init_uts_ns in the dump's memory), the crash time (VMCOREINFO
CRASHTIME), one line per CPU with the pid that was running there (0 = idle) and its registers,
and the file layout (ELF program headers like 'objdump -p', or the kdump header, bitmaps,
descriptors and data areas).

Examples:
  kdumpkit info /var/crash/2026-11-25-08:30:00/vmcore
  kdumpkit info /proc/vmcore --json | jq .pages`,
  options,
  optionHelp: { json: 'print the report as JSON (addresses as "0x…" strings)', help: 'show this help' },
  minPositionals: 1,
  maxPositionals: 1,
  async run(args, io) {
    const dump = await openDump(args.positionals[0]!);
    try {
      const report = dumpInfo(dump);
      io.out(args.values.json ? renderJson(report) : renderInfoText(report));
      return 0;
    } finally {
      dump.close();
    }
  },
};

export default info;
