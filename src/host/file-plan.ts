/**
 * Plan, then apply: the changes `kdumpkit setup` makes to a machine, as data first.
 *
 * A plan is a list of file changes (host path, the old content or absent, the new content or
 * absent for a removal, mode, why) and actions (external programs such as grub-mkconfig and
 * systemctl, with their argv and why). The plan is computed without touching anything, shown
 * (diff, --dry-run, --json), and only then applied, so "what would you do" and "what did you
 * do" are the same object.
 *
 * Applying is crash-safe per file and all-or-nothing as far as a file system allows:
 *   1. every new content is written to a temp file in the target's own directory and fsynced
 *      (same directory, so the rename below cannot cross file systems); a failure here removes
 *      the temp files and leaves the machine untouched;
 *   2. each replaced file is copied to a backup first (FILE.kdumpkit-bak; when that name is
 *      taken by an earlier run, FILE.kdumpkit-bak.1, .2, ... so no earlier backup is lost),
 *      then the temp file is renamed over it (rename(2) is atomic: readers see the old or the
 *      new file, never a mix) and the directory is fsynced;
 *   3. a failure in step 2 stops there: files already renamed are new, the others are old,
 *      and the error says which were done.
 * Actions run only after every file is in place, in plan order; the first failing action stops
 * the rest (regenerating grub.cfg from a half-written set of files is what we avoid).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, constants as fsConstants, copyFileSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { KdumpkitError } from '../util/errors.js';
import { syncPath } from '../util/sync-path.js';
import type { HostRoot } from './root.js';

export interface FileChange {
  /** Absolute host path (as on the machine, without the --root prefix). */
  readonly path: string;
  /** Current content; undefined: the file does not exist. */
  readonly old: string | undefined;
  /** Wanted content; undefined: remove the file. */
  readonly new: string | undefined;
  readonly mode: number;
  readonly why: string;
}

export interface Action {
  /** argv[0] is the program name, looked up on PATH via HostRoot.which when run. */
  readonly argv: readonly string[];
  readonly why: string;
  /** Set when the action is not run, with the reason (and what the user should do instead). */
  readonly skip?: string;
}

export const BACKUP_SUFFIX = '.kdumpkit-bak';

/** Something went wrong while applying; `done` lists what had already been changed. */
export class ApplyError extends KdumpkitError {
  constructor(
    message: string,
    readonly done: readonly string[],
    hint?: string,
  ) {
    super('E_APPLY', message, hint);
  }
}

export interface ApplyResult {
  /** Host paths written or removed, in order. */
  readonly written: readonly string[];
  /** Backup paths created (host paths). */
  readonly backups: readonly string[];
  readonly actions: ReadonlyArray<{ readonly argv: readonly string[]; readonly status: 'ok' | 'skipped'; readonly note?: string }>;
}

/** Test seam: called before each file is renamed into place (throw to simulate a failure). */
export interface ApplyHooks {
  beforeCommit?(hostPath: string, index: number): void;
  /** Runs an action; default spawns the program found on PATH. */
  run?(program: string, args: readonly string[]): { status: number | null; stderr: string; error?: Error };
}

function errno(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ?? err.message;
}

function writeTemp(real: string, content: string, mode: number): string {
  const tmp = join(dirname(real), `.${basename(real)}.kdumpkit-tmp-${process.pid}`);
  const fd = openSync(tmp, 'w', mode);
  try {
    const data = Buffer.from(content, 'utf8');
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // open()'s mode is masked by the umask; the plan's mode is what we promise.
  chmodSync(tmp, mode);
  return tmp;
}

/** Gives `path` the owner of `like` when that exists (best effort: only root may chown). */
function keepOwner(like: string, path: string): void {
  try {
    const st = statSync(like);
    chownSync(path, st.uid, st.gid);
  } catch {
    // `like` is new, or we are not root: the file keeps our own owner.
  }
}

function freeBackupName(root: HostRoot, hostPath: string): string {
  let name = hostPath + BACKUP_SUFFIX;
  for (let n = 1; root.exists(name); n++) name = `${hostPath}${BACKUP_SUFFIX}.${n}`;
  return name;
}

/** Writes the plan's files (see the file comment), then runs its actions. */
export function applyPlan(root: HostRoot, changes: readonly FileChange[], actions: readonly Action[], hooks: ApplyHooks = {}): ApplyResult {
  // Step 1: temp files.
  const temps: Array<string | undefined> = [];
  try {
    for (const c of changes) {
      if (c.new === undefined) {
        temps.push(undefined);
        continue;
      }
      const real = root.path(c.path);
      try {
        mkdirSync(dirname(real), { recursive: true, mode: 0o755 });
        const tmp = writeTemp(real, c.new, c.mode);
        temps.push(tmp);
        keepOwner(real, tmp);
      } catch (e) {
        throw new ApplyError(`${real}: cannot write: ${errno(e)}; nothing was changed`, [], (e as NodeJS.ErrnoException).code === 'EACCES' ? 'Run as root.' : undefined);
      }
    }
  } catch (e) {
    for (const t of temps) if (t) rmSync(t, { force: true });
    throw e;
  }
  // Step 2: backups and renames.
  const written: string[] = [];
  const backups: string[] = [];
  for (const [i, c] of changes.entries()) {
    const real = root.path(c.path);
    try {
      hooks.beforeCommit?.(c.path, i);
      if (c.old !== undefined) {
        const bak = freeBackupName(root, c.path);
        copyFileSync(real, root.path(bak), fsConstants.COPYFILE_EXCL);
        // The backup is as private as the original (copyFile creates it with the umask's mode).
        chmodSync(root.path(bak), statSync(real).mode & 0o7777);
        keepOwner(real, root.path(bak));
        syncPath(root.path(bak));
        backups.push(bak);
      }
      const tmp = temps[i];
      if (tmp) renameSync(tmp, real);
      else unlinkSync(real);
      temps[i] = undefined;
      syncPath(dirname(real));
      written.push(c.path);
    } catch (e) {
      for (const t of temps) if (t) rmSync(t, { force: true });
      const left = changes.slice(i).map((x) => x.path);
      throw new ApplyError(
        `${real}: cannot ${c.new === undefined ? 'remove' : 'replace'}: ${e instanceof KdumpkitError ? e.message : errno(e)}; ` +
          `changed: ${written.length ? written.join(', ') : 'nothing'}; unchanged: ${left.join(', ')}`,
        written,
        backups.length ? `Backups of the replaced files: ${backups.join(', ')}. Fix the cause and run 'kdumpkit setup' again (it only does what is left).` : "Fix the cause and run 'kdumpkit setup' again.",
      );
    }
  }
  // Step 3: actions.
  const results: Array<{ argv: readonly string[]; status: 'ok' | 'skipped'; note?: string }> = [];
  for (const a of actions) {
    if (a.skip) {
      results.push({ argv: a.argv, status: 'skipped', note: a.skip });
      continue;
    }
    const [name, ...args] = a.argv;
    const program = root.which(name!);
    if (!program) throw new ApplyError(`${name}: not found on PATH; files were written (${written.join(', ') || 'none'}) but '${a.argv.join(' ')}' did not run`, written, `Install ${name} or run the command yourself: ${a.argv.join(' ')}`);
    const r = hooks.run ? hooks.run(program, args) : spawnSync(program, args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.error || r.status !== 0) {
      const why = r.error ? r.error.message : `exit status ${r.status}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').at(-1)}` : ''}`;
      throw new ApplyError(`${program}: '${a.argv.join(' ')}' failed (${why}); files were written (${written.join(', ') || 'none'})`, written, `Fix the cause, then run '${a.argv.join(' ')}' yourself or 'kdumpkit setup' again.`);
    }
    results.push({ argv: a.argv, status: 'ok' });
  }
  return { written, backups, actions: results };
}

/** Mode of an existing host file (kept when replacing it), else `fallback`. */
export function existingMode(root: HostRoot, hostPath: string, fallback: number): number {
  try {
    return statSync(root.path(hostPath)).mode & 0o7777;
  } catch {
    return fallback;
  }
}
