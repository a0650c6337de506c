import { runDoctor } from '../../host/doctor.js';
import { UsageError } from '../../util/errors.js';
import type { CommandSpec, Io, ParsedArgs } from '../command.js';
import { CHECK_OPTIONS, CHECK_OPTION_HELP, EXIT_NOTE, printCheckReport } from './check.js';
import { hostRootOf } from '../host-root.js';

const doctor: CommandSpec<typeof CHECK_OPTIONS> = {
  name: 'doctor',
  summary: 'why kdump does not work here, and what to do: check plus units, disk, diagnosis',
  usage: ['doctor [--root DIR] [--release R] [--strict] [--verbose] [--json]'],
  help: `
Everything 'kdumpkit check' looks at, plus what usually breaks after a crash went wrong:
  units       kdumpkit-load.service installed, enabled (a .wants/ symlink under
              /etc/systemd/system) and not masked; kdumpkit-save.service installed; other kdump
              tools enabled at the same time (kdump-tools, kdump-utils' kdump.service,
              simple-kdump, kdumpst) — read from the unit files, systemctl is never run
  crash dir   the configured dir (default /var/crash) exists, is writable, is not on tmpfs or a
              read-only mount (/proc/mounts), has room for a dump of this RAM (a quarter of
              MemTotal at level 31, all of it at lower levels), and holds no vmcore.incomplete
              left by a failed save
  pstore      records left in /sys/fs/pstore: a crash log the firmware kept that nothing
              collected (often a crash kdump missed); 'kdumpkit pstore' collects them
  cmdline     nokaslr (not needed by kdumpkit), a configured crashkernel= not yet booted, and
              the capture kernel's command line kdumpkit load would use

Then the diagnosis walks the classic failure list in the order a crash meets it, and names the
first broken links with their likely causes and the remedy:
  1. crash memory not reserved (crashkernel= missing; or set but the reservation failed: too
     big, not below 4G, a fixed @offset, bad syntax, no CONFIG_CRASH_DUMP)
  2. capture kernel not loaded (no kexec, load unit not enabled, lockdown, image larger than
     the reservation)
  3. capture kernel boots but saves nothing (reservation below the recommendation, save unit
     missing, crash directory unusable)
  4. disk full, or earlier saves cut short
${EXIT_NOTE}

Examples:
  kdumpkit doctor
  kdumpkit doctor --verbose          # also show why each ok finding matters
  kdumpkit doctor --json | jq .diagnosis`,
  options: CHECK_OPTIONS,
  optionHelp: CHECK_OPTION_HELP,
  maxPositionals: 0,
  async run(args: ParsedArgs<typeof CHECK_OPTIONS>, io: Io) {
    const root = hostRootOf(args.values.root, 'doctor');
    const release = args.values.release;
    if (release !== undefined && !/^[\w.+~-]+$/.test(release)) throw new UsageError(`doctor: bad --release '${release}'`, 'Give a kernel release as uname -r prints it, e.g. 6.1.0-56-amd64.');
    return printCheckReport(runDoctor(root, release !== undefined ? { release } : {}), args.values, io);
  },
};

export default doctor;
