/**
 * A kernel's build configuration (.config), as `make` writes it (scripts/kconfig/confdata.c,
 * conf_write_symbol / conf_read_simple):
 *
 *   CONFIG_FOO=y              built in
 *   CONFIG_FOO=m              module
 *   CONFIG_FOO="text"         string (backslash escapes \" and \\)
 *   CONFIG_FOO=123 / =0x1f    int / hex
 *   # CONFIG_FOO is not set   bool/tristate off ("n")
 *   # anything else           comment
 *
 * Found where each distribution keeps it (boot-images.ts kernelFiles: /proc/config.gz for the
 * running kernel with CONFIG_IKCONFIG_PROC, /boot/config-R, /lib/modules/R/config); the /proc
 * copy is gzip-compressed (kernel/configs.c serves kernel_config_data, a gzip stream).
 *
 * A line that is none of these is an error naming the file and line: a truncated or hand-edited
 * file would otherwise make `check` report options as "not set" that are in fact on.
 */
import { gunzipSync } from 'node:zlib';
import { KdumpkitError } from '../util/errors.js';
import { kernelFiles } from './boot-images.js';
import type { HostRoot } from './root.js';

/** A bad line in a kernel config file: names the file and line. */
export class KernelConfigError extends KdumpkitError {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    what: string,
  ) {
    super('E_KERNEL_CONFIG', `${file}${line === undefined ? '' : `:${line}`}: ${what}`, 'The kernel config is written by the kernel build (make); reinstall the kernel package to restore it.');
  }
}

export interface KernelConfig {
  /** The file it was read from (the real path under the root). */
  readonly file: string;
  /** Option name without the CONFIG_ prefix → 'y' | 'm' | 'n' or the value (strings unquoted). */
  readonly values: ReadonlyMap<string, string>;
}

/** The value of an option (name without CONFIG_); undefined when the file does not mention it. */
export function configValue(c: KernelConfig, name: string): string | undefined {
  return c.values.get(name);
}

/** True when the option is built in or a module. */
export function isEnabled(c: KernelConfig, name: string): boolean {
  const v = c.values.get(name);
  return v === 'y' || v === 'm';
}

/** True when the option is built in (=y). */
export function isBuiltin(c: KernelConfig, name: string): boolean {
  return c.values.get(name) === 'y';
}

/** The first of `names` that is enabled, if any. */
export function firstEnabled(c: KernelConfig, names: readonly string[]): string | undefined {
  return names.find((n) => isEnabled(c, n));
}

function unquote(v: string, file: string, line: number): string {
  if (!v.startsWith('"')) return v;
  if (v.length < 2 || !v.endsWith('"')) throw new KernelConfigError(file, line, `unterminated string ${v}`);
  return v.slice(1, -1).replace(/\\(["\\])/g, '$1');
}

/** Parses .config text; `file` only names the file in errors. */
export function parseKernelConfig(text: string, file: string): KernelConfig {
  const values = new Map<string, string>();
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line === '') return;
    const off = /^# CONFIG_([A-Za-z0-9_]+) is not set$/.exec(line);
    if (off) {
      values.set(off[1]!, 'n');
      return;
    }
    if (line.startsWith('#')) return;
    const m = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (!m) throw new KernelConfigError(file, i + 1, `expected 'CONFIG_NAME=value' or '# CONFIG_NAME is not set', got '${line.slice(0, 60)}'`);
    values.set(m[1]!, unquote(m[2]!, file, i + 1));
  });
  return { file, values };
}

/** Text of a config file that may be gzip-compressed (magic 1f 8b), as /proc/config.gz is. */
export function decodeConfigBytes(bytes: Buffer, file: string): string {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes).toString('utf8');
    } catch (e) {
      throw new KernelConfigError(file, undefined, `not a valid gzip stream (${(e as Error).message})`);
    }
  }
  return bytes.toString('utf8');
}

/**
 * The build config of kernel `release` on this root, from the first file kernelFiles() finds;
 * undefined (with the paths tried) when there is none.
 */
export function readKernelConfig(root: HostRoot, release: string): { config: KernelConfig | undefined; tried: readonly string[] } {
  const files = kernelFiles(root, release);
  if (!files.config) return { config: undefined, tried: files.tried.config };
  const file = root.path(files.config);
  const bytes = root.readBytes(files.config);
  if (bytes === undefined) return { config: undefined, tried: files.tried.config };
  return { config: parseKernelConfig(decodeConfigBytes(bytes, file), file), tried: files.tried.config };
}
