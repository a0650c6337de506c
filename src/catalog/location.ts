/**
 * Which crash directory the catalog commands look at: --dir as given, else `dir` of
 * /etc/kdumpkit.conf read through the HostRoot (so `--root` points at a fake or mounted
 * system, and the configured path is taken under that root), else /var/crash under the root.
 */
import { readConfig, type KdumpkitConfig } from '../host/config.js';
import type { HostRoot } from '../host/root.js';

export interface CrashDirChoice {
  readonly dir: string;
  /** How it was chosen, for --help-like messages. */
  readonly source: '--dir' | 'config' | 'default';
  readonly config: KdumpkitConfig;
}

export function chooseCrashDir(root: HostRoot, dir: string | undefined): CrashDirChoice {
  const c = readConfig(root);
  if (dir !== undefined) return { dir, source: '--dir', config: c.config };
  return { dir: root.path(c.config.dir), source: c.exists ? 'config' : 'default', config: c.config };
}
