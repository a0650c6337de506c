/**
 * `kdumpkit test-crash`: crash the machine on purpose, to prove a dump gets saved.
 *
 * Writing 'c' to /proc/sysrq-trigger makes the kernel panic at once (drivers/tty/sysrq.c,
 * sysrq_handle_crash → panic("sysrq triggered crash")); with a capture kernel loaded the panic
 * boots it (kernel/crash_core.c __crash_kexec), it saves the dump into the crash directory and
 * reboots.
 *
 * Before that, each of these must hold, or nothing is written:
 *   - the caller said --yes (nothing is crashed by accident);
 *   - memory is reserved and a capture kernel is loaded (kexec_crash_loaded = 1): without one
 *     the machine just hangs or reboots after the panic and no dump is saved;
 *   - the crash directory exists and is writable;
 *   - the sysrq-trigger that would be written is the one the root stands for: the live
 *     kernel's /proc/sysrq-trigger only with root '/' (a fake root that leads to the real
 *     procfs, by a symlink or `--root /proc/..`, is refused).
 * Then dirty data is flushed (`sync` from PATH, which calls sync(2); without it, an fsync of
 * the crash directory) so files written just before are not lost with the crash.
 *
 * /proc/sys/kernel/sysrq is read for the report but never changed: it gates the keyboard only,
 * "Invocation of any operation via /proc/sysrq-trigger is always allowed (by a user with admin
 * privileges)" (Documentation/admin-guide/sysrq.rst).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, fsyncSync, openSync, realpathSync, statfsSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { KdumpkitError } from '../util/errors.js';
import { readConfig } from './config.js';
import type { CheckStatus, LoadCheck } from './kexec.js';
import { HostFileError, type HostRoot } from './root.js';
import { readKdumpState } from './state.js';

export const SYSRQ_TRIGGER = '/proc/sysrq-trigger';
/** PROC_SUPER_MAGIC (include/uapi/linux/magic.h): the statfs type of a procfs mount. */
const PROC_SUPER_MAGIC = 0x9fa0;

export interface TestCrashReport {
  readonly command: 'test-crash';
  readonly root: string;
  readonly fakeRoot: boolean;
  /** What happens, step by step (shown before anything is done). */
  readonly explanation: readonly string[];
  readonly crashDir: string;
  readonly checks: readonly LoadCheck[];
  /** /proc/sys/kernel/sysrq, for information. */
  readonly sysrq: string | undefined;
  /** How data was flushed: 'sync' (path), 'fsync' or undefined when not reached. */
  readonly synced?: string;
  /** The file 'c' was written to (on a fake root, a plain file: nothing crashed). */
  readonly triggered?: string;
  readonly ok: boolean;
  readonly summary: string;
}

/** Refuses to crash the machine: not confirmed, not armed, or an unsafe target. */
export class TestCrashRefused extends KdumpkitError {
  constructor(message: string, hint?: string) {
    super('E_TEST_CRASH_REFUSED', message, hint);
  }
}

/** True when `path` is (or leads to) a procfs file: the running kernel's, not a fake root's. */
export function isLiveProcFile(path: string): boolean {
  try {
    if (realpathSync(path) === SYSRQ_TRIGGER) return true;
  } catch {
    // absent: fall through to the directory check
  }
  try {
    return statfsSync(dirname(path)).type === PROC_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/**
 * The last guard before the write, as a pure decision so it is tested without any file:
 * the live trigger only with root '/' and --yes; a fake root only when its trigger is not procfs.
 */
export function sysrqWriteDecision(t: { readonly fakeRoot: boolean; readonly yes: boolean; readonly targetIsLiveProc: boolean }): { allowed: boolean; why: string } {
  if (!t.yes) return { allowed: false, why: 'not confirmed with --yes' };
  if (t.fakeRoot && t.targetIsLiveProc) return { allowed: false, why: "--root is not '/', but its proc/sysrq-trigger is the running kernel's (procfs): refusing to crash this machine" };
  if (!t.fakeRoot && !t.targetIsLiveProc) return { allowed: false, why: `${SYSRQ_TRIGGER} is not on procfs: is /proc mounted?` };
  return { allowed: true, why: t.fakeRoot ? 'fake root: the write lands in a plain file' : 'live root, confirmed with --yes' };
}

function explanation(root: HostRoot, crashDir: string): string[] {
  const where = root.isFake ? ` (fake root ${root.dir}: only the file ${root.path(SYSRQ_TRIGGER)} is written)` : '';
  return [
    `This crashes the machine NOW${where}:`,
    '  1. dirty file data is flushed to disk (sync);',
    `  2. 'c' is written to ${SYSRQ_TRIGGER}: the kernel panics immediately, every program dies, unsaved work is lost;`,
    '  3. the loaded capture kernel boots in the reserved memory and saves the dump and its log into',
    `     ${crashDir}/<YYYY-MM-DD-HH:MM:SS>/ (vmcore, dmesg.txt);`,
    '  4. the machine reboots; afterwards look at the dump with kdumpkit analyze.',
  ];
}

function check(id: string, status: CheckStatus, title: string, fix?: string): LoadCheck {
  return fix ? { id, status, title, fix } : { id, status, title };
}

/** Runs the checks and, with `yes`, syncs and writes 'c' to the root's sysrq-trigger. */
export function testCrash(root: HostRoot, opts: { yes: boolean }): TestCrashReport {
  const state = readKdumpState(root);
  const { config } = readConfig(root);
  const crashDir = config.dir;
  const checks: LoadCheck[] = [];
  const reserved = state.reservedBytes ?? 0n;
  checks.push(reserved > 0n ? check('reservation', 'ok', `${reserved} bytes reserved for the capture kernel`) : check('reservation', 'fail', `${root.path('/sys/kernel/kexec_crash_size')} is ${state.reservedBytes ?? 'absent'}: no memory reserved for a capture kernel`, "Run 'kdumpkit setup', reboot, then 'kdumpkit load'."));
  checks.push(state.loaded === true ? check('loaded', 'ok', 'a capture kernel is loaded (kexec_crash_loaded = 1)') : check('loaded', 'fail', `${root.path('/sys/kernel/kexec_crash_loaded')} is ${state.loaded === undefined ? 'absent' : '0'}: no capture kernel is loaded, so the crash would save nothing`, "Run 'kdumpkit load' first."));
  const dirReal = root.path(crashDir);
  let writable: boolean;
  try {
    accessSync(dirReal, constants.W_OK);
    writable = root.isDirectory(crashDir);
  } catch {
    writable = false;
  }
  checks.push(writable ? check('crash-dir', 'ok', `crash directory ${dirReal} is writable`) : check('crash-dir', 'fail', `crash directory ${dirReal} ${root.exists(crashDir) ? 'is not a writable directory' : 'does not exist'}`, `Create it (mkdir -p ${crashDir}) or set dir = in /etc/kdumpkit.conf.`));
  const trigger = root.path(SYSRQ_TRIGGER);
  checks.push(root.exists(SYSRQ_TRIGGER) ? check('sysrq-trigger', 'ok', `${trigger} exists`) : check('sysrq-trigger', 'fail', `${trigger} does not exist (CONFIG_MAGIC_SYSRQ not set, or /proc not mounted)`));
  const base = { command: 'test-crash' as const, root: root.dir, fakeRoot: root.isFake, explanation: explanation(root, crashDir), crashDir, checks, sysrq: root.read('/proc/sys/kernel/sysrq')?.trim() };

  if (!opts.yes) return { ...base, ok: false, summary: 'refused: add --yes to crash the machine (nothing was done)' };
  const failed = checks.filter((c) => c.status === 'fail');
  if (failed.length) return { ...base, ok: false, summary: `refused: ${failed.map((c) => c.title).join('; ')}` };

  const decision = sysrqWriteDecision({ fakeRoot: root.isFake, yes: opts.yes, targetIsLiveProc: isLiveProcFile(trigger) });
  if (!decision.allowed) return { ...base, ok: false, summary: `refused: ${decision.why}` };

  const synced = flush(root, dirReal);
  // The guard is decided again right before the write: nothing between may have changed it.
  if (!sysrqWriteDecision({ fakeRoot: root.isFake, yes: opts.yes, targetIsLiveProc: isLiveProcFile(trigger) }).allowed) {
    return { ...base, synced, ok: false, summary: 'refused: the sysrq-trigger target changed while syncing' };
  }
  try {
    writeFileSync(trigger, 'c', { flag: 'r+' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new HostFileError(trigger, `cannot write: ${code}`, code === 'EACCES' || code === 'EPERM' ? 'Run as root.' : undefined);
  }
  // Reached only with a fake root: the live kernel does not return from the write.
  return { ...base, synced, triggered: trigger, ok: true, summary: root.isFake ? `wrote 'c' to ${trigger} (fake root: nothing crashed)` : `wrote 'c' to ${trigger}` };
}

/** sync(1) from PATH (sync(2) waits for writeback on Linux); else fsync of the crash directory. */
function flush(root: HostRoot, dir: string): string {
  const sync = root.which('sync');
  if (sync) {
    const r = spawnSync(sync, [], { timeout: 60_000 });
    if (r.status === 0) return sync;
  }
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return 'fsync';
}
