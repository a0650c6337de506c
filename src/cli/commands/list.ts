import { readCatalog } from '../../catalog/entries.js';
import { groupBySignature } from '../../catalog/groups.js';
import { chooseCrashDir } from '../../catalog/location.js';
import { renderCatalogList, renderGroups } from '../../report/catalog-text.js';
import { renderJson } from '../../report/json.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';
import { hostRootOf } from '../host-root.js';

/** Options of every catalog command (list, show, prune, bundle). */
export const CATALOG_OPTIONS = {
  ...COMMON_OPTIONS,
  dir: { type: 'string' },
  root: { type: 'string' },
} as const;

export const CATALOG_OPTION_HELP = {
  help: 'show this help',
  dir: 'the crash directory (default: dir in /etc/kdumpkit.conf, else /var/crash)',
  root: "read /etc/kdumpkit.conf (and the crash directory it names) under DIR instead of '/'",
} as const;

export const CATALOG_HELP_NOTE = `
The crash directory is --dir when given (a path as is), else 'dir' of /etc/kdumpkit.conf, else
/var/crash; with --root DIR both are taken under DIR (a mounted system image, a test root).
Each crash is a subdirectory named after the crash time in UTC: YYYY-MM-DD-HH:MM:SS holds a
dump (vmcore, dmesg.txt, report.json), YYYY-MM-DD-HH:MM:SS-pstore a log collected from
/sys/fs/pstore by 'kdumpkit pstore' (dmesg.txt, pstore.json; no vmcore).`;

const options = { ...CATALOG_OPTIONS, group: { type: 'boolean', short: 'g' }, 'by-signature': { type: 'boolean' } } as const;

const list: CommandSpec<typeof options> = {
  name: 'list',
  summary: 'the crashes saved on this machine, newest first (like coredumpctl list)',
  usage: ['list [--dir DIR] [--root DIR] [--json]', 'list --group|--by-signature [--dir DIR] [--json]'],
  help: `
Lists the crash directory, one line per crash, newest first:

  ID         the crash time (UTC), also the directory name; give it to show, bundle
  HOST       the crashed machine's host name (utsname nodename in the dump)
  KERNEL     the crashed kernel's release
  KIND       vmcore (a dump) or pstore (only a log, from /sys/fs/pstore)
  PANIC      what killed the kernel: null-deref, page-fault, bug, oops, soft-lockup,
             hung-task, oom, warning, sysrq (a deliberate crash), panic, unknown, ...
  SIGNATURE  kind and the first meaningful functions and module, the same for the same bug
  LEVEL      the dump level the vmcore was saved with (31: kernel data only)
  SIZE       space the crash takes on disk
  STATUS     complete; incomplete (the save was cut short: vmcore.incomplete, a dump flagged
             incomplete, or only the log was saved); unreadable (corrupt: the reason is
             printed below the table)

The facts come from report.json, which 'kdumpkit save' writes beside each dump, so listing is
quick; a dump without one is opened and analyzed (a second or two each; nothing is written).
Pstore logs get their panic kind and signature from the log text with the same rules, so a
pstore record and a dump of the same crash show the same signature when the log's call trace
matches the dump's backtrace.

--group (or --by-signature) lists the signatures instead: how many crashes share each, first
and last seen, how many are dumps and how many pstore logs.
${CATALOG_HELP_NOTE}

Colors (status) only on a terminal. --json prints { dir, entries } or { dir, groups }.

Examples:
  kdumpkit list
  kdumpkit list --dir /srv/crashes/web1 --group
  kdumpkit list --json | jq -r '.entries[] | select(.status == "complete") | .id'`,
  options,
  optionHelp: {
    ...CATALOG_OPTION_HELP,
    json: 'print { dir, entries } (or { dir, groups }) as JSON',
    group: 'one line per signature: count, first and last seen',
    'by-signature': 'the same as --group',
  },
  maxPositionals: 0,
  async run(args, io) {
    const v = args.values;
    const root = hostRootOf(v.root, 'list');
    const { dir } = chooseCrashDir(root, v.dir);
    const catalog = await readCatalog(dir);
    if (v.group || v['by-signature']) {
      const groups = groupBySignature(catalog.entries);
      io.out(v.json ? renderJson({ dir, groups }) : renderGroups(dir, groups));
    } else {
      io.out(v.json ? renderJson(catalog) : renderCatalogList(dir, catalog.entries, { color: io.stdoutIsTTY }));
    }
    return 0;
  },
};

export default list;
