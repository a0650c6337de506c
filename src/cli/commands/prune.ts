import { readCatalog } from '../../catalog/entries.js';
import { chooseCrashDir } from '../../catalog/location.js';
import { executePrune, planPrune } from '../../catalog/prune.js';
import { renderPrunePlan } from '../../report/catalog-text.js';
import { renderJson } from '../../report/json.js';
import { UsageError } from '../../util/errors.js';
import type { CommandSpec } from '../command.js';
import { CATALOG_HELP_NOTE, CATALOG_OPTION_HELP, CATALOG_OPTIONS } from './list.js';
import { hostRootOf } from '../host-root.js';

const options = { ...CATALOG_OPTIONS, keep: { type: 'string', short: 'k' }, 'dry-run': { type: 'boolean', short: 'n' } } as const;

const prune: CommandSpec<typeof options> = {
  name: 'prune',
  summary: 'delete the oldest crashes beyond --keep N, never the newest complete dump',
  usage: ['prune [--keep N] [--dry-run] [--dir DIR] [--root DIR] [--json]'],
  help: `
Keeps the newest N crashes of the crash directory and deletes the older ones (dumps, pstore
logs, incomplete and unreadable leftovers alike), and says what it deleted and how much space
that freed. The newest complete dump is never deleted, even with --keep 0 or when newer
incomplete saves or pstore logs would push it out: it may be the only good dump there is.

--keep defaults to 'keep' in /etc/kdumpkit.conf (5 when unset); keep = 0 there means keep
everything, so a prune run from a timer does nothing, while --keep 0 given here deletes all
but the newest complete dump. --dry-run prints what would be deleted and deletes nothing.

Each crash directory is first renamed to .deleting-ID (one atomic step: list no longer shows it)
and then removed; a prune interrupted halfway leaves only a .deleting-* directory, which the
next prune removes.
${CATALOG_HELP_NOTE}

Examples:
  kdumpkit prune --keep 3 --dry-run
  kdumpkit prune                      # keep as many as /etc/kdumpkit.conf says
  kdumpkit prune --dir /srv/crashes --keep 10 --json | jq .freedBytes`,
  options,
  optionHelp: {
    ...CATALOG_OPTION_HELP,
    json: 'print { dir, dryRun, keep, deleted, kept, protected, freedBytes } as JSON',
    keep: 'how many crashes to keep (default: keep in /etc/kdumpkit.conf)',
    'dry-run': 'only say what would be deleted',
  },
  maxPositionals: 0,
  async run(args, io) {
    const v = args.values;
    if (v.keep !== undefined && !/^\d+$/.test(v.keep)) throw new UsageError(`prune: --keep wants a whole number, not '${v.keep}'`);
    const root = hostRootOf(v.root, 'prune');
    const { dir, config } = chooseCrashDir(root, v.dir);
    // keep = 0 in the configuration means "keep all" (src/host/config.ts).
    const keep = v.keep !== undefined ? Number(v.keep) : config.keep === 0 ? Infinity : config.keep;
    const catalog = await readCatalog(dir, { analyze: false });
    const plan = planPrune(dir, catalog.entries, keep);
    const dryRun = v['dry-run'] === true;
    if (!dryRun) executePrune(dir, plan);
    if (v.json) {
      io.out(renderJson({
        dir,
        dryRun,
        keep: Number.isFinite(keep) ? keep : 'all',
        deleted: plan.remove.map((e) => ({ id: e.id, kind: e.kind, status: e.status, sizeBytes: e.sizeBytes })),
        leftovers: plan.leftovers,
        kept: plan.kept.map((e) => e.id),
        protected: plan.protectedBeyondKeep ? plan.protectedId : undefined,
        freedBytes: plan.freedBytes,
      }));
    } else io.out(renderPrunePlan(dir, { ...plan, keep: Number.isFinite(keep) ? keep : plan.kept.length }, dryRun));
    return 0;
  },
};

export default prune;
