import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, type TestContext } from 'node:test';
import { openDump, type Dump } from '../../src/formats/open.js';
import { FileSink, FlattenedSink, type DumpSink } from '../../src/formats/kdump/flattened-writer.js';
import { prepareSave, writeDump, type PreparedSave, type SaveFormat, type SaveSummary } from '../../src/collect/save.js';
import type { CodecName } from '../../src/formats/codecs/index.js';
import { IN_CI } from '../helpers/dumps.js';

/** Scratch directory for one test file, removed when the file's tests are done. */
export function scratch(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `kdumpkit-${prefix}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Whether an external program runs (`which`-like, without a shell). */
export function hasProgram(cmd: string, args: string[] = ['--version']): boolean {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30000 });
  return r.error === undefined;
}

/**
 * A tool the test needs: missing in CI is a failure, on a developer machine a skip naming the
 * Debian package to install.
 */
export function needTool(t: TestContext, ok: boolean, what: string): boolean {
  if (ok) return true;
  if (IN_CI) assert.fail(`missing ${what}`);
  t.skip(`missing ${what}`);
  return false;
}

export function run(cmd: string, args: string[], opts: { input?: Buffer; timeout?: number; cwd?: string } = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, timeout: opts.timeout ?? 600000, input: opts.input, cwd: opts.cwd });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Debian's debug vmlinux for `release`, if installed. */
export function debugVmlinux(release: string): string | undefined {
  const p = `/usr/lib/debug/boot/vmlinux-${release}`;
  return existsSync(p) ? p : undefined;
}

const preparedCache = new Map<string, Promise<{ dump: Dump; prep: PreparedSave }>>();

/** Filters a source once per (file, level, format) for the whole test file. */
export function preparedSave(src: string, level: number, format: SaveFormat): Promise<{ dump: Dump; prep: PreparedSave }> {
  const key = `${src}\0${level}\0${format}`;
  let p = preparedCache.get(key);
  if (!p) {
    p = openDump(src).then((dump) => ({ dump, prep: prepareSave(dump, level, format, undefined, '1.7.2') }));
    preparedCache.set(key, p);
  }
  return p;
}

/** Writes `src` at `level` to `out` through the library (the CLI is tested separately). */
export async function saveTo(src: string, out: string, level: number, opts: { format?: SaveFormat; codec?: CodecName; threads?: number; flat?: boolean }): Promise<SaveSummary> {
  const { prep } = await preparedSave(src, level, opts.format ?? 'kdump');
  const fd = openSync(out, 'wx', 0o600);
  const sink: DumpSink = opts.flat ? new FlattenedSink(out, fd, true) : new FileSink(out, fd, true);
  return writeDump(prep, sink, { codec: opts.codec, threads: opts.threads ?? 2 });
}

/** The page-count lines of a makedumpfile --message-level 31 log (Original pages .. Total pages). */
export function reportLines(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('Original pages  : '));
  const end = lines.findIndex((l) => l.startsWith('Total pages     : '));
  assert.ok(start >= 0 && end > start, 'report block present');
  return lines.slice(start, end + 1);
}
