/**
 * The machine kdumpkit manages, seen through a root directory.
 *
 * Every file-system and /proc path of the host commands goes through a HostRoot, so
 * `--root DIR` points them at a fake root (tests, or a mounted system image) and nothing under
 * the real / is read or written. Executables are different on purpose: `kexec`, `grub-mkconfig`,
 * `systemctl` are looked up on PATH (not under the root), so tests put recording fakes first on
 * PATH and a mounted image's binaries are never run by accident.
 */
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, posix } from 'node:path';
import { KdumpkitError } from '../util/errors.js';

/** A host file exists but cannot be read (permission, I/O error): names the file. */
export class HostFileError extends KdumpkitError {
  constructor(
    readonly path: string,
    why: string,
    hint?: string,
  ) {
    super('E_HOST_FILE', `${path}: ${why}`, hint);
  }
}

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export class HostRoot {
  /** `dir` is the root ('/' for the live machine); `env` supplies PATH for `which`. */
  constructor(
    readonly dir: string = '/',
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
  ) {}

  /** True when this is not the live machine's root (then nothing may act on the live kernel). */
  get isFake(): boolean {
    return posix.normalize(this.dir) !== '/';
  }

  /** The real path of an absolute host path under this root. */
  path(abs: string): string {
    if (!abs.startsWith('/')) throw new Error(`HostRoot.path needs an absolute path, got '${abs}'`);
    return this.dir === '/' ? abs : join(this.dir, abs);
  }

  /** File contents as text, or undefined when the file does not exist. */
  read(abs: string): string | undefined {
    const b = this.readBytes(abs);
    return b === undefined ? undefined : b.toString('utf8');
  }

  readBytes(abs: string): Buffer | undefined {
    const p = this.path(abs);
    try {
      return readFileSync(p);
    } catch (e) {
      if (isMissing(e)) return undefined;
      if ((e as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
      throw new HostFileError(p, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, (e as NodeJS.ErrnoException).code === 'EACCES' ? 'Run as root.' : undefined);
    }
  }

  exists(abs: string): boolean {
    try {
      statSync(this.path(abs));
      return true;
    } catch {
      return false;
    }
  }

  isDirectory(abs: string): boolean {
    try {
      return statSync(this.path(abs)).isDirectory();
    } catch {
      return false;
    }
  }

  /** Entry names of a directory, sorted; [] when it does not exist. */
  list(abs: string): string[] {
    try {
      return readdirSync(this.path(abs)).sort();
    } catch (e) {
      if (isMissing(e)) return [];
      throw new HostFileError(this.path(abs), `cannot list: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  /** The first executable named `cmd` on PATH (an absolute or ./ path is checked as is). */
  which(cmd: string): string | undefined {
    const candidates = cmd.includes('/') ? [cmd] : (this.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).filter((d) => isAbsolute(d)).map((d) => join(d, cmd));
    for (const c of candidates) {
      try {
        accessSync(c, constants.X_OK);
        if (statSync(c).isFile()) return c;
      } catch {
        // not here
      }
    }
    return undefined;
  }
}
