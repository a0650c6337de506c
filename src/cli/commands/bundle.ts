import { closeSync, unlinkSync, writeSync } from 'node:fs';
import { bundleBaseName, planBundle } from '../../catalog/bundle.js';
import { resolveEntry } from '../../catalog/entries.js';
import { chooseCrashDir } from '../../catalog/location.js';
import { commitFile, createIncomplete, TargetError } from '../../collect/target.js';
import { renderJson } from '../../report/json.js';
import { humanBytes } from '../../report/table.js';
import { UsageError } from '../../util/errors.js';
import { writeTarGz } from '../../util/tar.js';
import type { CommandSpec } from '../command.js';
import { CATALOG_HELP_NOTE, CATALOG_OPTION_HELP, CATALOG_OPTIONS } from './list.js';
import { hostRootOf } from '../host-root.js';

const options = {
  ...CATALOG_OPTIONS,
  output: { type: 'string', short: 'o' },
  'with-vmcore': { type: 'boolean' },
  'no-pages': { type: 'boolean' },
} as const;

const bundle: CommandSpec<typeof options> = {
  name: 'bundle',
  summary: 'one tar.gz of a crash to attach to a bug report (log, reports, system facts)',
  usage: ['bundle ID|latest|PATH [-o FILE|-] [--with-vmcore] [--no-pages] [--dir DIR] [--root DIR] [--json]'],
  help: `
Packs what a kernel developer asks for about a crash into one archive (tar.gz; 'tar -xzf'
unpacks it), under one directory kdumpkit-ID/:

  README.txt          what is in it, and what could not be included and why
  summary.txt         id, kind, status, host, kernel, verdict and signature
  dmesg.txt           the crashed kernel's log
  report.json         the analysis (as 'kdumpkit analyze --json'; the one saved with the dump,
                      or made now)
  report.html         the report as one self-contained page ('kdumpkit report --html')
  pstore.json         for a pstore crash: the records its log was joined from
  crashed-kernel/     uname.txt, cmdline.txt, modules.txt of the kernel that crashed, read from
                      the dump and its log
  host/               os-release, uname.txt, cmdline.txt of this machine now (read under
                      --root), which may run another kernel than the one that crashed
  vmcore              only with --with-vmcore: the dump holds the crashed machine's memory
                      (passwords, keys, user data), so it is left out by default

The archive goes to FILE (-o), default ./kdumpkit-ID.tar.gz with the colons of the time left
out (GNU tar reads 'a:b' as a remote archive); '-o -' writes it to standard output. It is
written as FILE.incomplete and renamed when complete; an existing file is never overwritten.
The HTML report classifies the dump's pages for its memory chart (a few seconds per GiB);
--no-pages skips that.
${CATALOG_HELP_NOTE}

Examples:
  kdumpkit bundle latest
  kdumpkit bundle 2026-11-25-08:04:37 -o /tmp/crash.tar.gz
  kdumpkit bundle 2026-11-25-08:04:37 --with-vmcore -o - | ssh support 'cat > crash.tar.gz'`,
  options,
  optionHelp: {
    ...CATALOG_OPTION_HELP,
    json: 'print { file, bytes, contents, missing } as JSON (to stderr with -o -)',
    output: 'the archive file (default ./kdumpkit-ID.tar.gz), or - for standard output',
    'with-vmcore': 'include the vmcore (large; holds the memory of the crashed machine)',
    'no-pages': "skip the page classification of the HTML report's memory chart",
  },
  minPositionals: 1,
  maxPositionals: 1,
  async run(args, io) {
    const v = args.values;
    const out = v.output;
    if (out === '') throw new UsageError('bundle: -o wants a file name, or - for standard output');
    if (out === '-' && io.stdoutIsTTY) throw new UsageError('bundle: refusing to write a binary archive to a terminal', 'Redirect standard output, or give -o FILE.');
    const root = hostRootOf(v.root, 'bundle');
    const { dir } = chooseCrashDir(root, v.dir);
    const entry = await resolveEntry(dir, args.positionals[0]!);
    const target = out ?? `${bundleBaseName(entry.id)}.tar.gz`;
    const file = target === '-' ? undefined : createIncomplete(target);
    let bytes = 0;
    try {
      const plan = await planBundle(entry, root, { withVmcore: v['with-vmcore'] === true, pages: v['no-pages'] !== true });
      await writeTarGz(plan.members, (chunk) => {
        bytes += chunk.length;
        if (!file) return toStdout(chunk);
        let done = 0;
        try {
          while (done < chunk.length) done += writeSync(file.fd, chunk, done, chunk.length - done);
        } catch (e) {
          throw new TargetError(file.path, e as NodeJS.ErrnoException, 'write');
        }
      });
      if (file) commitFile(file.fd, file.path, target);
      const report = (text: string): void => (file ? io.out(text) : io.err(text));
      if (v.json) report(renderJson({ file: target, bytes, entry: entry.id, contents: plan.contents, missing: plan.missing }));
      else {
        const lines = [`Bundle of ${entry.id} written to ${target} (${humanBytes(bytes)}):`, ...plan.contents.map((c) => `  ${c.name}`)];
        if (plan.missing.length) lines.push('not included:', ...plan.missing.map((m) => `  ${m.name}: ${m.why}`));
        report(lines.join('\n') + '\n');
      }
      return 0;
    } catch (e) {
      if (file) {
        try {
          closeSync(file.fd);
        } catch {
          // already closed by commitFile
        }
        try {
          unlinkSync(file.path);
        } catch {
          // nothing left to clean up
        }
      }
      throw e;
    }
  },
};

/** Standard output with back-pressure: a vmcore piped to ssh is not buffered in memory. */
function toStdout(chunk: Buffer): Promise<void> | undefined {
  if (process.stdout.write(chunk)) return undefined;
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}

export default bundle;
