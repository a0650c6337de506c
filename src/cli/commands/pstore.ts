import { resolve } from 'node:path';
import { chooseCrashDir } from '../../catalog/location.js';
import { initZstd } from '../../formats/codecs/zstd.js';
import { collectPstore } from '../../host/pstore-collect.js';
import { PSTORE_DIR } from '../../host/pstore-records.js';
import { renderJson } from '../../report/json.js';
import { renderPstoreText } from '../../report/pstore-text.js';
import { KdumpkitError } from '../../util/errors.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';
import { hostRootOf } from '../host-root.js';

const options = {
  ...COMMON_OPTIONS,
  root: { type: 'string' },
  dir: { type: 'string' },
  'dry-run': { type: 'boolean', short: 'n' },
  'keep-records': { type: 'boolean' },
} as const;

const pstore: CommandSpec<typeof options> = {
  name: 'pstore',
  summary: 'move the crash logs the kernel left in /sys/fs/pstore into the crash directory',
  usage: ['pstore [--root DIR] [--dir CRASHDIR] [--dry-run] [--keep-records] [--json]'],
  help: `
When a kernel panics (or oopses) with a pstore backend active, it writes the end of its log
into storage that survives the reboot: RAM the firmware does not clear (ramoops), EFI
variables (efi_pstore), ACPI ERST, a block device. After the reboot the records appear as files
in ${PSTORE_DIR}: dmesg-<backend>-<id> (one chunk of the log each, '.enc.z' when still
compressed), console-<backend>-<id> (the previous boot's console), pmsg-*, ftrace-*. This works
even where kdump cannot (no crashkernel= memory, Secure Boot lockdown, a crash in early boot),
but the space is small and the kernel does not free it: efi_pstore fills the EFI variable store.

This command turns them into a crash of the catalog and then frees the space:
  - the dmesg records are grouped into dumps (the 'Panic#1 Part3' line that starts each record:
    same reason and count, same backend, same time), decompressed (raw deflate since Linux 6.5;
    zlib, zstd or LZO1X from older kernels), their headers removed and the parts joined oldest
    first (Part1 is the newest chunk of the log);
  - each crash goes to CRASHDIR/<YYYY-MM-DD-HH:MM:SS>-pstore/ (the time the kernel stored it,
    UTC; directory 0700, files 0600): dmesg.txt (the joined log, lines as in a vmcore entry's
    dmesg.txt), dmesg-<Reason>-<N>.txt for an earlier dump of the same crash (the Oops
    before the Panic it led to: dumps within 10 s are one crash), console-*.txt, raw/ (every record exactly as read, also those that could not be
    decompressed) and pstore.json (backend, files, ids, parts, reason, times, compression, sizes,
    sha256 of each record);
  - only when the entry is complete on disk (written as *.incomplete, fsynced, renamed) are its
    records removed from ${PSTORE_DIR}, which erases them in the backend. If anything fails
    (disk full, read-only) nothing of that crash is removed and the exit code is 1.
Running it again with the same records (say, removing them failed) saves nothing twice: records
already in an entry (same name and sha256) are only removed. console/pmsg records without any
crash record stay where they are: ramoops keeps the console of every boot, and a clean reboot
is not a crash.

CRASHDIR is --dir as given, else 'dir' of /etc/kdumpkit.conf, else /var/crash; with --root
(a fake root or a mounted system image) the pstore directory and the configured or default
CRASHDIR are taken under DIR, as for list, show, prune and bundle.
At boot the kdumpkit pstore unit runs 'kdumpkit pstore --dir CRASHDIR'.

Output: per crash where it went (or would go), each dump's reason#count, backend, time, parts
and log size, the line that says what went wrong, and per record whether it was cleared.

Examples:
  kdumpkit pstore --dry-run                 # what is there, and what would be saved
  kdumpkit pstore                           # collect into /var/crash and clear
  kdumpkit pstore --dir /srv/crash --keep-records --json | jq '.entries[].dumps[].headline'`,
  options,
  optionHelp: {
    root: "read DIR/sys/fs/pstore and write under DIR instead of '/'",
    dir: "crash directory (default: 'dir' of /etc/kdumpkit.conf, else /var/crash)",
    'dry-run': 'show what would be saved and cleared; write and remove nothing',
    'keep-records': `save the crashes but leave the records in ${PSTORE_DIR}`,
    json: 'print the report (entries, dumps, records, what was cleared) as JSON',
    help: 'show this help',
  },
  maxPositionals: 0,
  async run(args, io) {
    const v = args.values;
    const root = hostRootOf(v.root, 'pstore');
    const crashDir = resolve(chooseCrashDir(root, v.dir).dir);
    // Records from Linux 4.19-6.4 may be zstd frames; the WebAssembly decoder loads once.
    await initZstd();
    const report = collectPstore({ root, crashDir, dryRun: v['dry-run'] === true, keepRecords: v['keep-records'] === true });
    io.out(v.json ? renderJson(report) : renderPstoreText(report));
    if (report.errors.length) {
      const n = report.errors.length;
      throw new KdumpkitError('E_PSTORE', `${report.errors[0]}${n > 1 ? ` (and ${n - 1} more problem${n > 2 ? 's' : ''})` : ''}`, 'Records that were not saved stay in /sys/fs/pstore; fix the cause and run kdumpkit pstore again.');
    }
    return 0;
  },
};

export default pstore;
