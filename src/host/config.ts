/**
 * /etc/kdumpkit.conf: the one file that says how this machine captures crashes.
 *
 * `kdumpkit setup` writes it, `load` reads the capture kernel and command line from it, the save
 * unit in the capture kernel reads the dump level, codec and directory, `prune` and the catalog
 * read `dir` and `keep`, and `rehearse` rehearses exactly these settings.
 *
 * Syntax: `key = value` lines; `#` starts a comment line; blank lines are ignored; the value is
 * the rest of the line, trimmed (so a command line needs no quoting). Unknown keys and bad values
 * are errors naming the file and line, because a silently ignored typo here is a missing dump
 * after the next crash.
 */
import { KdumpkitError } from '../util/errors.js';
import { parseCrashkernel } from './crashkernel.js';
import type { HostRoot } from './root.js';

export const CONFIG_PATH = '/etc/kdumpkit.conf';

export const CODECS = ['zstd', 'zlib', 'lzo', 'snappy', 'none'] as const;
export type ConfigCodec = (typeof CODECS)[number];

export interface KdumpkitConfig {
  /** Capture kernel image; '' = the running kernel's image (found by boot-images.ts). */
  readonly kernel: string;
  /** Capture initramfs; '' = the one that belongs to `kernel`. */
  readonly initrd: string;
  /** Appended to the capture kernel's command line (after kdumpkit's own options). */
  readonly cmdline: string;
  /** The crashkernel= value setup puts on the boot command line; '' = `kdumpkit recommend`'s. */
  readonly crashkernel: string;
  /** makedumpfile dump level 0..31 (31 = drop zero, cache, user and free pages). */
  readonly level: number;
  readonly compress: ConfigCodec;
  /** Where dumps are saved: DIR/<YYYY-MM-DD-HH:MM:SS>/. */
  readonly dir: string;
  /** How many crashes `prune` keeps; 0 = keep all. */
  readonly keep: number;
  /** Load the capture kernel from the initramfs (catches crashes before systemd starts). */
  readonly early: boolean;
  /** Reboot once the dump is saved (off: stay in the capture kernel's emergency shell). */
  readonly reboot: boolean;
  /** Collect /sys/fs/pstore records into the catalog at boot. */
  readonly pstore: boolean;
}

export const DEFAULT_CONFIG: KdumpkitConfig = {
  kernel: '',
  initrd: '',
  cmdline: '',
  crashkernel: '',
  level: 31,
  // zstd: fastest and smallest of the codecs our reader, makedumpfile >= 1.7.0, crash and
  // libkdumpfile all read; `zlib` for older readers (Debian 12's makedumpfile 1.7.2 and crash
  // 8.0.2 are built without zstd).
  compress: 'zstd',
  dir: '/var/crash',
  keep: 5,
  early: false,
  reboot: true,
  pstore: true,
};

/** What each key means, for the file's comments and `--help`. */
export const CONFIG_KEYS: Readonly<Record<keyof KdumpkitConfig, string>> = {
  kernel: 'capture kernel image (empty: the running kernel)',
  initrd: "capture initramfs (empty: the capture kernel's own initramfs)",
  cmdline: "extra capture kernel options, appended to kdumpkit's (nr_cpus=1 reset_devices irqpoll ...)",
  crashkernel: 'memory reserved for the capture kernel, as crashkernel= (empty: kdumpkit recommend)',
  level: 'dump level 0-31: 1 zero pages, 2 cache, 4 private cache, 8 user, 16 free pages (31: all)',
  compress: `codec for saved dumps: ${CODECS.join(', ')}`,
  dir: 'directory where crashes are saved',
  keep: 'how many crashes to keep (0: all)',
  early: 'yes: also load the capture kernel from the initramfs, before systemd starts',
  reboot: 'yes: reboot after the dump is saved',
  pstore: 'yes: collect /sys/fs/pstore records into the crash directory at boot',
};

/** A bad line in the configuration file: names the file and line. */
export class ConfigError extends KdumpkitError {
  constructor(
    readonly file: string,
    readonly line: number,
    what: string,
  ) {
    super('E_CONFIG', `${file}:${line}: ${what}`, `Fix the line or run 'kdumpkit setup' to rewrite ${file}. Keys: ${Object.keys(CONFIG_KEYS).join(', ')}.`);
  }
}

function parseBool(v: string): boolean | undefined {
  if (/^(yes|true|on|1)$/i.test(v)) return true;
  if (/^(no|false|off|0)$/i.test(v)) return false;
  return undefined;
}

/** Parses the file text; `file` is only used in error messages. */
export function parseConfig(text: string, file = CONFIG_PATH): KdumpkitConfig {
  const out: Record<string, unknown> = { ...DEFAULT_CONFIG };
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq < 0) throw new ConfigError(file, lineNo, `expected 'key = value', got '${line}'`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (!Object.hasOwn(CONFIG_KEYS, key)) throw new ConfigError(file, lineNo, `unknown key '${key}'`);
    const prev = seen.get(key);
    if (prev !== undefined) throw new ConfigError(file, lineNo, `'${key}' is already set on line ${prev}`);
    seen.set(key, lineNo);
    switch (key as keyof KdumpkitConfig) {
      case 'level': {
        const n = /^\d+$/.test(value) ? Number(value) : NaN;
        if (!(n >= 0 && n <= 31)) throw new ConfigError(file, lineNo, `level must be 0..31, got '${value}'`);
        out.level = n;
        break;
      }
      case 'keep': {
        if (!/^\d+$/.test(value)) throw new ConfigError(file, lineNo, `keep must be a whole number, got '${value}'`);
        out.keep = Number(value);
        break;
      }
      case 'compress':
        if (!(CODECS as readonly string[]).includes(value)) throw new ConfigError(file, lineNo, `compress must be one of ${CODECS.join(', ')}, got '${value}'`);
        out.compress = value;
        break;
      case 'early':
      case 'reboot':
      case 'pstore': {
        const b = parseBool(value);
        if (b === undefined) throw new ConfigError(file, lineNo, `${key} must be yes or no, got '${value}'`);
        out[key] = b;
        break;
      }
      case 'crashkernel':
        if (value !== '') {
          try {
            parseCrashkernel(value);
          } catch (e) {
            throw new ConfigError(file, lineNo, `bad crashkernel value: ${(e as Error).message.split('\n')[0]}`);
          }
        }
        out.crashkernel = value;
        break;
      case 'kernel':
      case 'initrd':
      case 'dir':
        if (value !== '' && !value.startsWith('/')) throw new ConfigError(file, lineNo, `${key} must be an absolute path, got '${value}'`);
        out[key] = value;
        break;
      case 'cmdline':
        out.cmdline = value;
        break;
    }
  });
  return out as unknown as KdumpkitConfig;
}

/** The canonical file text: every key, documented, in a fixed order (so rewriting is idempotent). */
export function formatConfig(c: KdumpkitConfig): string {
  const lines = ['# kdumpkit configuration. Written by `kdumpkit setup`; edit freely, then run `kdumpkit setup` again.', '# Syntax: key = value (the rest of the line). `kdumpkit check` validates this file.', ''];
  for (const key of Object.keys(CONFIG_KEYS) as (keyof KdumpkitConfig)[]) {
    const v = c[key];
    const text = typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v);
    lines.push(`# ${CONFIG_KEYS[key]}`, `${key} = ${text}`.trimEnd(), '');
  }
  return lines.join('\n');
}

/** The configuration of a host: its file parsed, or the defaults when there is none. */
export function readConfig(root: HostRoot): { config: KdumpkitConfig; exists: boolean; path: string } {
  const text = root.read(CONFIG_PATH);
  if (text === undefined) return { config: DEFAULT_CONFIG, exists: false, path: root.path(CONFIG_PATH) };
  return { config: parseConfig(text, root.path(CONFIG_PATH)), exists: true, path: root.path(CONFIG_PATH) };
}
