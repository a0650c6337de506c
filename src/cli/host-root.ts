import { statSync } from 'node:fs';
import { HostRoot } from '../host/root.js';
import { UsageError } from '../util/errors.js';

/**
 * The HostRoot of a host command's `--root DIR` (default '/'). A DIR that is not a directory is a
 * usage error before anything is read or written: a mistyped root must not become an empty fake
 * machine that `setup` or `pstore` then writes into.
 */
export function hostRootOf(dir: string | undefined, command: string): HostRoot {
  const d = dir ?? '/';
  let isDir: boolean;
  try {
    isDir = statSync(d).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new UsageError(`${command}: --root ${d} is not a directory`, "Give the directory that holds the machine's /proc, /sys, /boot and /etc.");
  return new HostRoot(d);
}
