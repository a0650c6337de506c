import { closeSync, fsyncSync, openSync } from 'node:fs';

/**
 * fsyncs a file or a directory by path, best effort: a directory is synced so that the
 * creations and renames in it survive a crash; where the file system cannot fsync it (some
 * pseudo and network file systems refuse), nothing is reported, since the data itself was
 * already synced through its own descriptor.
 */
export function syncPath(path: string): void {
  try {
    const fd = openSync(path, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Best effort (see above).
  }
}
