import { closeSync, fchmodSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, statfsSync, statSync, unlinkSync, writeSync, constants as fsc } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { KdumpkitError } from '../util/errors.js';
import { syncPath } from '../util/sync-path.js';

/**
 * Where `kdumpkit save` puts its files, and the rules that keep a dump safe:
 *
 * - DEST an existing directory: the dump goes to DEST/<YYYY-MM-DD-HH:MM:SS>/ (directory 0700)
 *   as `vmcore` and `dmesg.txt` (files 0600), named after the crash time;
 * - DEST anything else: the dump goes to that file;
 * - DEST "-": a flattened stream on standard output.
 *
 * Every file is written as NAME.incomplete and renamed when complete (after fsync), so a
 * file without the suffix is always a whole dump. Existing files are never overwritten: files
 * are created with O_EXCL and the rename is a hard link + unlink, which fails instead of
 * replacing a file that appeared meanwhile.
 */

/** A file or directory that is in the way (the dump was saved before, or a stale attempt). */
export class TargetExistsError extends KdumpkitError {
  constructor(path: string, what: string, hint: string) {
    super('E_EXISTS', `${path}: ${what}`, hint);
  }
}

/** The target cannot be created or written (permissions, read-only file system, ...). */
export class TargetError extends KdumpkitError {
  constructor(path: string, e: NodeJS.ErrnoException, doing: string) {
    const why =
      e.code === 'EACCES' || e.code === 'EPERM'
        ? 'permission denied'
        : e.code === 'EROFS'
          ? 'read-only file system'
          : e.code === 'ENOENT'
            ? 'no such directory'
            : e.code === 'ENOTDIR'
              ? 'a path component is not a directory'
              : e.code === 'ENOSPC'
                ? 'no space left on device'
                : e.message;
    super('E_TARGET', `${path}: cannot ${doing}: ${why}${e.code ? ` (${e.code})` : ''}`, e.code === 'EACCES' || e.code === 'EPERM' ? 'Run as root (the capture kernel does), or choose a DEST you can write.' : undefined);
  }
}

export interface OutputPlan {
  readonly mode: 'dir' | 'file' | 'stdout';
  /** DEST/<stamp> in directory mode. */
  readonly dir: string | undefined;
  /** Final path of the dump (undefined for stdout). */
  readonly vmcore: string | undefined;
  /** Final path of dmesg.txt in directory mode. */
  readonly dmesg: string | undefined;
  /** Directory whose file system receives the dump (for the free-space check). */
  readonly fsDir: string | undefined;
}

export const INCOMPLETE_SUFFIX = '.incomplete';

/**
 * YYYY-MM-DD-HH:MM:SS in UTC: the catalog (src/catalog/entries.ts) and pstore entries read
 * and write the names as UTC, and a capture kernel has no time zone of its own anyway.
 */
export function dumpDirName(when: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${when.getUTCFullYear()}-${p(when.getUTCMonth() + 1)}-${p(when.getUTCDate())}-${p(when.getUTCHours())}:${p(when.getUTCMinutes())}:${p(when.getUTCSeconds())}`;
}

export function planOutput(dest: string, when: Date): OutputPlan {
  if (dest === '-') return { mode: 'stdout', dir: undefined, vmcore: undefined, dmesg: undefined, fsDir: undefined };
  let st;
  try {
    st = statSync(dest);
  } catch {
    st = undefined;
  }
  if (st?.isDirectory()) {
    const dir = join(dest, dumpDirName(when));
    return { mode: 'dir', dir, vmcore: join(dir, 'vmcore'), dmesg: join(dir, 'dmesg.txt'), fsDir: dest };
  }
  if (st) throw new TargetExistsError(dest, 'already exists', 'kdumpkit never overwrites a file: remove it or choose another DEST (a directory gets a new dated subdirectory per dump).');
  return { mode: 'file', dir: undefined, vmcore: resolve(dest), dmesg: undefined, fsDir: dirname(resolve(dest)) };
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses early (before any page is read) when the dump file or its .incomplete is already
 * there.
 */
export function checkNotSaved(finalPath: string): void {
  if (exists(finalPath)) {
    throw new TargetExistsError(finalPath, 'already exists', 'kdumpkit never overwrites a file (a dump saved before stays as it is); move it away first or choose another name.');
  }
  if (exists(finalPath + INCOMPLETE_SUFFIX)) {
    throw new TargetExistsError(finalPath + INCOMPLETE_SUFFIX, 'an earlier, incomplete attempt is in the way', 'Inspect it (kdumpkit info), then remove or rename it and run again.');
  }
}

/** Creates the dump directory with mode 0700 (kept as it is if it exists). */
export function makeDumpDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EEXIST' && statSync(dir).isDirectory()) return;
    throw new TargetError(dir, err, 'create the dump directory');
  }
}

/** Opens FINAL.incomplete for writing with O_EXCL and mode 0600; returns fd and its path. */
export function createIncomplete(finalPath: string): { fd: number; path: string } {
  checkNotSaved(finalPath);
  const path = finalPath + INCOMPLETE_SUFFIX;
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, 0o600);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EEXIST') throw new TargetExistsError(path, 'appeared while saving', 'Another kdumpkit may be saving the same dump.');
    throw new TargetError(path, err, 'create');
  }
  try {
    fchmodSync(fd, 0o600);
  } catch {
    // The mode given to open() applies anyway (minus the umask, which cannot add bits).
  }
  return { fd, path };
}

/** fsyncs and closes `fd`, then renames path → finalPath without ever replacing a file. */
export function commitFile(fd: number, path: string, finalPath: string): void {
  try {
    fsyncSync(fd);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // EINVAL: the file system does not support fsync (e.g. some pseudo file systems).
    if (err.code !== 'EINVAL') throw new TargetError(path, err, 'flush to disk');
  }
  closeSync(fd);
  try {
    linkSync(path, finalPath);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EEXIST') throw new TargetExistsError(finalPath, `appeared while saving; the complete dump stays in ${basename(path)}`, 'Rename it yourself once you have checked which one to keep.');
    throw new TargetError(finalPath, err, `rename ${basename(path)} to`);
  }
  unlinkSync(path);
  syncPath(dirname(finalPath));
}

/** Writes a small text file (dmesg.txt) with the same .incomplete + rename discipline. */
export function writeTextFile(finalPath: string, text: string | Uint8Array): void {
  const { fd, path } = createIncomplete(finalPath);
  const data = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  try {
    let done = 0;
    while (done < data.length) done += writeSync(fd, data, done, data.length - done);
  } catch (e) {
    closeSync(fd);
    throw new TargetError(path, e as NodeJS.ErrnoException, 'write');
  }
  commitFile(fd, path, finalPath);
}

/** Bytes available to an unprivileged writer on the file system holding `dir` (statfs). */
export function freeSpace(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    // root may also use the blocks reserved for it, and the capture kernel runs as root.
    return (process.getuid?.() === 0 ? s.bfree : s.bavail) * s.bsize;
  } catch {
    return undefined;
  }
}
