import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

/** Repository root (tests run from dist/test/…). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SHARED = process.env.KDUMPKIT_SHARED ?? resolve(REPO, '..', 'shared');
/** Where scripts/prepare-test-dumps.sh leaves decompressed and derived dumps. */
export const CACHE = process.env.KDUMPKIT_TEST_CACHE ?? join(REPO, '.cache');
export const IN_CI = !!process.env.CI;

export interface SharedDump {
  readonly name: string;
  /** ../shared/vmcores/NAME */
  readonly dir: string;
  /** .cache/vmcores/NAME (decompressed ELF and makedumpfile-derived files) */
  readonly cacheDir: string;
  readonly release: string;
}

export function sharedDumps(): SharedDump[] {
  const root = join(SHARED, 'vmcores');
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'vmcore.elf.zst')))
    .map((d) => ({
      name: d.name,
      dir: join(root, d.name),
      cacheDir: join(CACHE, 'vmcores', d.name),
      release: readFileSync(join(root, d.name, 'kernel-release'), 'utf8').trim(),
    }));
}

/**
 * A real-dump input the test needs. Missing in CI is a failure (the fixtures step must have
 * made it); missing on a developer machine skips with the reason.
 */
export function need(t: TestContext, path: string, how = 'run `npm test` (its pretest step prepares the dumps)'): boolean {
  if (existsSync(path)) return true;
  if (IN_CI) assert.fail(`missing test input ${path}: ${how}`);
  t.skip(`missing ${path}: ${how}`);
  return false;
}

/** Lab dumps made by scripts/prepare-test-dumps.sh under .cache/lab/. */
export function labDir(name: string): string {
  return join(CACHE, 'lab', name);
}
