/**
 * Retention: keep the newest N crashes, delete the older ones, and never delete the newest
 * complete dump, whatever N is and even when newer entries (incomplete dumps, pstore logs,
 * unreadable leftovers) push it past N: after a series of failed saves, the one good dump is
 * what the user needs.
 *
 * An entry is deleted by renaming its directory to `.deleting-ID` first (one atomic rename,
 * after which `list` no longer shows it) and then removing that tree; a prune interrupted
 * halfway leaves a `.deleting-*` directory, which is no entry, and the next prune removes it.
 */
import { readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { KdumpkitError } from '../util/errors.js';
import { diskUsage, type CatalogEntry } from './entries.js';

export const DELETING_PREFIX = '.deleting-';

export interface PrunePlan {
  readonly keep: number;
  /** Entries kept, newest first. */
  readonly kept: readonly CatalogEntry[];
  /** Entries to delete, newest first. */
  readonly remove: readonly CatalogEntry[];
  /** The newest complete dump, kept even when it is beyond `keep`. */
  readonly protectedId: string | undefined;
  /** Whether the newest complete dump is kept only because it is protected. */
  readonly protectedBeyondKeep: boolean;
  /** Bytes the removal frees (their size on disk). */
  readonly freedBytes: number;
  /** `.deleting-*` leftovers of an interrupted prune (removed too). */
  readonly leftovers: readonly { readonly name: string; readonly sizeBytes: number }[];
}

/** What pruning `entries` (newest first, as readCatalog returns them) down to `keep` does. */
export function planPrune(dir: string, entries: readonly CatalogEntry[], keep: number): PrunePlan {
  const newestComplete = entries.find((e) => e.kind === 'vmcore' && e.status === 'complete');
  const kept: CatalogEntry[] = [];
  const remove: CatalogEntry[] = [];
  entries.forEach((e, i) => {
    if (i < keep || e === newestComplete) kept.push(e);
    else remove.push(e);
  });
  const leftovers = leftoverDirs(dir).map((name) => ({ name, sizeBytes: diskUsage(join(dir, name)) }));
  return {
    keep,
    kept,
    remove,
    protectedId: newestComplete?.id,
    protectedBeyondKeep: newestComplete !== undefined && entries.indexOf(newestComplete) >= keep,
    freedBytes: remove.reduce((s, e) => s + e.sizeBytes, 0) + leftovers.reduce((s, l) => s + l.sizeBytes, 0),
    leftovers,
  };
}

function leftoverDirs(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => n.startsWith(DELETING_PREFIX)).sort();
  } catch {
    return [];
  }
}

export class PruneError extends KdumpkitError {
  constructor(path: string, doing: string, e: unknown) {
    const err = e as NodeJS.ErrnoException;
    super('E_PRUNE', `${path}: cannot ${doing}: ${err.code ?? err.message}`, err.code === 'EACCES' || err.code === 'EPERM' ? 'Run as root (the crash directory is 0700, owned by root).' : undefined);
  }
}

/** Carries out a plan: leftovers first, then each entry (rename to .deleting-ID, remove). */
export function executePrune(dir: string, plan: PrunePlan): void {
  for (const l of plan.leftovers) removeTree(join(dir, l.name));
  for (const e of plan.remove) {
    const doomed = join(dir, DELETING_PREFIX + e.id);
    try {
      renameSync(e.path, doomed);
    } catch (err) {
      throw new PruneError(e.path, `rename to ${DELETING_PREFIX + e.id}`, err);
    }
    removeTree(doomed);
  }
}

function removeTree(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch (err) {
    throw new PruneError(path, 'remove', err);
  }
}
