/**
 * Runs one rehearsal VM under qemu-system-x86_64 and watches its serial console.
 *
 * The flags follow ../shared/lab/make-vmcore.sh: q35, `-cpu max` under TCG (software
 * emulation; nested KVM hangs on the machines this was written on, so KVM is opt-in), the
 * kernel and initramfs given directly (-kernel/-initrd, no bootloader), one raw virtio disk
 * for the dump, and -no-reboot so a kernel that reboots (panic=N, or a failed capture kernel)
 * ends QEMU instead of booting again. The serial console is QEMU's stdout; every chunk is
 * written to the console log and fed to a ConsoleWatcher with its arrival time.
 *
 * The VM is stopped (SIGKILL; it holds nothing worth flushing) when the watcher has the
 * verdict and QEMU has not exited on its own within a grace period, when the crash happened
 * but no capture kernel started printing within `stallSeconds` (a capture kernel that hangs
 * in purgatory or while decompressing prints nothing at all), or at the overall timeout.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { ConsoleWatcher, type ConsoleFacts } from './console.js';

export interface VmOptions {
  readonly qemu: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly append: string;
  readonly memoryMb: number;
  readonly disk: string;
  readonly accel: 'tcg' | 'kvm';
  readonly timeoutSeconds: number;
  /**
   * No console output this long after the crash, before the capture kernel: give up. Default:
   * five times what the first kernel took from QEMU's start to its first console line, and at
   * least 180 s. The capture kernel is silent while purgatory checks the SHA-256 of the loaded
   * segments and while the kernel decompresses itself, which under TCG on a busy host took
   * 25-70 s here (the first kernel's own silent start took 15-40 s in the same runs).
   */
  readonly stallSeconds?: number;
  /** The console log file (both kernels). */
  readonly consoleLog: string;
  /** Called for every console line (progress output). */
  readonly onLine?: (line: string, ms: number) => void;
  /** Aborting stops the VM at once (the user interrupted the rehearsal). */
  readonly signal?: AbortSignal;
}

export interface VmResult {
  readonly facts: ConsoleFacts;
  readonly elapsedMs: number;
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  /** The crash happened and then the console fell silent (no capture kernel). */
  readonly stalled: boolean;
  /** The silence (seconds) after which `stalled` is decided. */
  readonly stallSeconds: number;
  /** QEMU's own error output (e.g. a bad option), when it exited with an error. */
  readonly qemuError: string | undefined;
}

/** QEMU's arguments (exported for tests). */
export function qemuArgs(o: VmOptions): string[] {
  return [
    '-machine', `q35,accel=${o.accel}`,
    // KVM: the host CPU without arch-capabilities (what the lab uses; some hosts reject it).
    '-cpu', o.accel === 'kvm' ? 'host,-arch-capabilities' : 'max',
    '-smp', '1',
    '-m', String(o.memoryMb),
    '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
    '-no-reboot',
    '-kernel', o.kernel,
    '-initrd', o.initrd,
    '-append', o.append,
    '-drive', `file=${o.disk},format=raw,if=virtio`,
  ];
}

const GRACE_MS = 20_000;

export function runVm(o: VmOptions): Promise<VmResult> {
  const watcher = new ConsoleWatcher();
  const log = openSync(o.consoleLog, 'w', 0o600);
  const t0 = performance.now();
  const now = (): number => Math.round(performance.now() - t0);
  const child = spawn(o.qemu, qemuArgs(o), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let timedOut = false;
  let stalled = false;
  let lastOutput = 0;
  let finishedAt: number | undefined;
  let firstOutput: number | undefined;
  let partial = '';
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  o.signal?.addEventListener('abort', kill, { once: true });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const ms = now();
    lastOutput = ms;
    firstOutput ??= ms;
    writeSync(log, chunk);
    watcher.feed(chunk, ms);
    if (o.onLine) {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        o.onLine(partial.slice(0, nl).replace(/\r/g, ''), ms);
        partial = partial.slice(nl + 1);
      }
    }
    if (watcher.finished && finishedAt === undefined) finishedAt = ms;
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    stderr += c;
  });
  const stallMs = (): number => (o.stallSeconds !== undefined ? o.stallSeconds * 1000 : Math.max(180_000, 5 * (firstOutput ?? 0)));
  const tick = setInterval(() => {
    const ms = now();
    const f = watcher.facts;
    if (ms > o.timeoutSeconds * 1000) {
      timedOut = true;
      kill();
    } else if (finishedAt !== undefined && ms - finishedAt > GRACE_MS) {
      kill();
    } else if (f.crash && f.banners.length < 2 && ms - Math.max(lastOutput, f.crash.ms) > stallMs()) {
      stalled = true;
      kill();
    }
  }, 250);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      clearInterval(tick);
      closeSync(log);
      reject(e);
    });
    child.on('close', (code) => {
      clearInterval(tick);
      o.signal?.removeEventListener('abort', kill);
      const ms = now();
      watcher.end(ms);
      closeSync(log);
      const qemuError = code !== 0 && code !== null && watcher.facts.lines === 0 ? stderr.trim().split('\n')[0] : undefined;
      resolve({ facts: watcher.facts, elapsedMs: ms, exitCode: code, timedOut, stalled, stallSeconds: Math.round(stallMs() / 1000), qemuError });
    });
  });
}
