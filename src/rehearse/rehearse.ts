/**
 * `kdumpkit rehearse`: a whole kdump round trip in a throwaway VM, without crashing the host.
 *
 * The host's kernel (or --kernel RELEASE) boots under QEMU with a crashkernel= reservation,
 * its /init loads the same kernel as capture kernel with `kexec -p` and the capture command
 * line this machine would use (captureCmdline() of src/host/capture-cmdline.ts over the
 * first kernel's command line and /etc/kdumpkit.conf's `cmdline`), then crashes it. The
 * capture kernel copies /proc/vmcore onto a virtual disk; the host takes it out, saves it with
 * our collector (`kdumpkit save` at the configured level and codec, into the crash-catalog
 * layout) and analyzes the saved dump. Each stage gets a verdict and the time it was reached.
 *
 * Nothing here touches the live kernel: the VM is a separate machine, every host file is read
 * through a HostRoot, and qemu comes from PATH.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readSync, closeSync, readdirSync, renameSync, rmSync, statSync, truncateSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureCmdline } from '../host/capture-cmdline.js';
import { readConfig } from '../host/config.js';
import { formatSize, parseCrashkernel, reservedFor } from '../host/crashkernel.js';
import { kernelFiles, runningRelease } from '../host/boot-images.js';
import { recommend } from '../host/recommend.js';
import { paramName, splitCmdline } from '../host/state.js';
import type { HostRoot } from '../host/root.js';
import { AnalysisContext, analyzeReport } from '../analyze/analyze.js';
import { formatBytes } from '../collect/summary.js';
import { KdumpkitError, UsageError } from '../util/errors.js';
import { buildInitramfs, DISK_MODULES, MARKER, MissingToolError, type CrashMode } from './initramfs.js';
import type { ConsoleFacts } from './console.js';
import { runVm, type VmResult } from './qemu.js';

export type StageId = 'first-boot' | 'reservation' | 'capture-load' | 'crash' | 'capture-boot' | 'dump-saved' | 'dump-collected' | 'dump-analyzed';

export const STAGE_TITLES: Readonly<Record<StageId, string>> = {
  'first-boot': 'first kernel booted',
  reservation: 'reservation made',
  'capture-load': 'capture kernel loaded',
  crash: 'crash triggered',
  'capture-boot': 'capture kernel booted',
  'dump-saved': 'dump saved',
  'dump-collected': 'dump collected',
  'dump-analyzed': 'dump analyzed',
};
export const STAGES = Object.keys(STAGE_TITLES) as StageId[];

export interface Stage {
  readonly id: StageId;
  readonly title: string;
  readonly status: 'ok' | 'fail' | 'not-reached';
  /** Seconds since the VM started when the stage was reached (host stages: when they ended). */
  readonly seconds: number | undefined;
  readonly detail: string;
}

export interface RehearsalReport {
  readonly passed: boolean;
  /** One sentence: passed, or which stage failed and why. */
  readonly verdict: string;
  /** What to do about a failure. */
  readonly hint: string | undefined;
  /** The capture kernel did not come up and the reservation is the likely cause. */
  readonly reservationSuspect: boolean;
  readonly release: string;
  readonly kernelImage: string;
  readonly mode: CrashMode;
  readonly accel: 'tcg' | 'kvm';
  readonly memoryMb: number;
  /** The crashkernel= value the VM booted with, and where it came from. */
  readonly crashkernel: string;
  readonly crashkernelSource: 'option' | 'config' | 'recommend';
  readonly firstCmdline: string;
  readonly captureCmdline: string;
  readonly stages: readonly Stage[];
  /** The saved dump (catalog directory) and the console log, when kept. */
  readonly kept: { readonly dir: string; readonly consoleLog: string; readonly dumpDir: string | undefined } | undefined;
  readonly analysis: { readonly kind: string; readonly sentence: string; readonly panicString: string | undefined } | undefined;
  readonly totalSeconds: number;
}

export interface RehearseOptions {
  readonly root: HostRoot;
  readonly release?: string;
  readonly crashkernel?: string;
  readonly mode?: CrashMode;
  readonly memoryMb?: number;
  readonly timeoutSeconds?: number;
  readonly stallSeconds?: number;
  readonly kvm?: boolean;
  /** Keep the console log and the saved dump in this directory (crash-catalog layout). */
  readonly keep?: string;
  readonly progress?: (line: string) => void;
}

export const DEFAULT_MEMORY_MB = 1024;
export const DEFAULT_TIMEOUT_S = 600;

/** The kernel to rehearse: the option, else the running one if its image is installed, else the newest installed. */
export function chooseRelease(root: HostRoot, release: string | undefined): string {
  if (release !== undefined) return release;
  const running = runningRelease(root);
  if (running !== undefined && kernelFiles(root, running).image) return running;
  const installed = root
    .list('/boot')
    .filter((n) => n.startsWith('vmlinuz-'))
    .map((n) => n.slice('vmlinuz-'.length))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const newest = installed.at(-1);
  if (newest === undefined) throw new MissingToolError(`no kernel image in ${root.path('/boot')} (vmlinuz-*)${running ? ` and none for the running kernel ${running}` : ''}`, `Install one: apt-get install linux-image-${running ?? 'amd64'}`);
  return newest;
}

/**
 * The crashkernel= of the VM: --crashkernel, else kdumpkit.conf's `crashkernel` (the value
 * setup puts on the host's command line; a range list is kept, so the VM's RAM picks its entry
 * as the host's RAM does), else what `kdumpkit recommend` reserves for the VM's RAM.
 */
export function chooseCrashkernel(option: string | undefined, config: string, memoryMb: number): { value: string; source: RehearsalReport['crashkernelSource'] } {
  if (option !== undefined) {
    try {
      parseCrashkernel(option);
    } catch (e) {
      throw new UsageError(`rehearse: bad --crashkernel '${option}': ${(e as Error).message.split('\n')[0]}`, 'Give a size like 192M, or a range list like 1G-4G:192M,4G-:256M.');
    }
    return { value: option, source: 'option' };
  }
  if (config !== '') return { value: config, source: 'config' };
  const rec = recommend({ ramBytes: BigInt(memoryMb) << 20n, arch: 'x86_64' });
  if (!rec.reserves) throw new UsageError(`rehearse: kdumpkit recommend reserves nothing for ${memoryMb}M of RAM`, 'Give the VM more memory (--memory 1024) or a size with --crashkernel.');
  return { value: formatSize(rec.reserves.size), source: 'recommend' };
}

/**
 * The VM's first kernel command line: the serial console (our only view of the VM), the
 * reservation, every message on the console (loglevel=7: the reservation line is KERN_INFO),
 * and panic=1 so that a first kernel that panics without a loaded capture kernel reboots,
 * which ends QEMU (-no-reboot) instead of hanging until the timeout.
 */
export function firstCmdline(crashkernel: string): string {
  return `console=ttyS0 crashkernel=${crashkernel} loglevel=7 panic=1`;
}

/**
 * The VM's capture command line: captureCmdline() as `kdumpkit load` builds it, less the
 * systemd.unit=/systemd.mask= parameters, which address systemd units that the rehearsal's
 * busybox initramfs does not have (its /init does the save unit's job).
 */
export function vmCaptureCmdline(first: string, configExtra: string): string {
  return splitCmdline(captureCmdline(first, configExtra))
    .filter((p) => !['systemd.unit', 'systemd.mask'].includes(paramName(p)))
    .join(' ');
}

const secs = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : Math.round(ms / 100) / 10);

export interface HostSteps {
  /** The collector ran: the catalog directory of the saved dump and its size, or why not. */
  readonly collected?: { ok: true; dir: string; vmcore: string; bytes: number; seconds: number } | { ok: false; error: string; seconds: number };
  readonly analyzed?: { ok: true; kind: string; sentence: string; panicString: string | undefined; seconds: number } | { ok: false; error: string; seconds: number };
}

/**
 * Verdicts per stage from what the console showed, how the VM ended, and what the host did
 * with the dump. Pure, so recorded consoles test it.
 */
export function judge(
  f: ConsoleFacts,
  vm: Pick<VmResult, 'timedOut' | 'stalled' | 'stallSeconds' | 'qemuError' | 'elapsedMs'>,
  host: HostSteps,
  ctx: { mode: CrashMode; crashkernel: string; timeoutSeconds: number },
): { stages: Stage[]; passed: boolean; verdict: string; hint: string | undefined; reservationSuspect: boolean } {
  const stages: Stage[] = [];
  let failed: Stage | undefined;
  // Stages run in order: after the first failure the rest are "not reached".
  const push = (id: StageId, ok: boolean | undefined, ms: number | undefined, detail: string): void => {
    if (failed) {
      stages.push({ id, title: STAGE_TITLES[id], status: 'not-reached', seconds: undefined, detail: '' });
      return;
    }
    const s: Stage = { id, title: STAGE_TITLES[id], status: ok ? 'ok' : 'fail', seconds: ok ? secs(ms) : undefined, detail };
    stages.push(s);
    if (!ok) failed = s;
  };
  const ended = vm.timedOut ? `no progress within the ${ctx.timeoutSeconds} s timeout` : 'the VM stopped';

  // first kernel booted
  if (f.firstUp) push('first-boot', true, f.firstUp.ms, `/init ran ${secs(f.firstUp.ms)} s after QEMU started`);
  else push('first-boot', false, undefined, vm.qemuError ? `QEMU failed: ${vm.qemuError}` : f.banners.length === 0 ? `no kernel output on the console (${ended})` : `the kernel started but /init never ran (${ended})`);

  // reservation made
  const reserved = f.reservation?.value.bytes ?? (f.kexecLoad && f.kexecLoad.value.size > 0n ? f.kexecLoad.value.size : undefined);
  if (reserved !== undefined) push('reservation', true, f.reservation?.ms ?? f.kexecLoad?.ms, `${formatSize(reserved)} reserved${f.reservation ? ` ("${f.reservation.value.text}")` : ' (kexec_crash_size)'}`);
  else push('reservation', false, undefined, f.reservationFailure ? `the kernel did not reserve crashkernel=${ctx.crashkernel}: "${f.reservationFailure.value}"` : `no crashkernel reservation in the kernel log for crashkernel=${ctx.crashkernel}${f.kexecLoad ? ' and kexec_crash_size is 0' : ''}`);

  // capture kernel loaded
  const kl = f.kexecLoad;
  if (kl && kl.value.rc === 0 && kl.value.loaded) push('capture-load', true, kl.ms, 'kexec -p exit 0, kexec_crash_loaded=1');
  else push('capture-load', false, undefined, kl ? `kexec -p failed (exit ${kl.value.rc}, kexec_crash_loaded=${kl.value.loaded ? 1 : 0})${f.kexecErrors.length ? `: ${f.kexecErrors.join('; ')}` : ''}` : `kexec -p did not finish (${ended})`);

  // crash triggered
  if (f.crash && (f.firstPanic || f.banners.length >= 2)) push('crash', true, f.firstPanic?.ms ?? f.crash.ms, f.firstPanic ? `"${f.firstPanic.value}"` : `mode ${f.crash.value}`);
  else push('crash', false, undefined, f.stillAlive ? `the first kernel survived the ${ctx.mode} crash` : f.crash ? `no panic after the ${f.crash.value} crash (${ended})` : `the crash was not triggered (${ended})`);

  // capture kernel booted
  if (f.captureUp) push('capture-boot', true, f.captureUp.ms, `/proc/vmcore is ${formatBytes(Number(f.captureUp.value.vmcoreBytes))}`);
  else {
    const why = f.captureFailure
      ? `the capture kernel died: "${f.captureFailure.value}"`
      : vm.stalled
        ? `no capture kernel output for ${vm.stallSeconds} s after the crash`
        : f.banners.length >= 2
          ? `the capture kernel started but its /init never ran (${ended})`
          : `the capture kernel did not start (${ended})`;
    push('capture-boot', false, undefined, why);
  }

  // dump saved (inside the VM)
  if (f.dumpSaved) push('dump-saved', true, f.dumpSaved.ms, `${formatBytes(Number(f.dumpSaved.value.bytes))} copied from /proc/vmcore to the virtual disk`);
  else push('dump-saved', false, undefined, f.dumpFailed ? `copying /proc/vmcore failed: ${f.dumpFailed.value}` : f.insmodFailures.length ? `the disk driver did not load (${f.insmodFailures.join(', ')})` : f.captureFailure ? `the capture kernel died: "${f.captureFailure.value}"` : `no dump written (${ended})`);

  // dump collected (kdumpkit save on the host)
  const c = host.collected;
  if (c?.ok) push('dump-collected', true, vm.elapsedMs + c.seconds * 1000, `kdumpkit save wrote ${c.vmcore} (${formatBytes(c.bytes)})`);
  else push('dump-collected', c ? false : undefined, undefined, c ? `kdumpkit save failed: ${c.error}` : '');

  // dump analyzed
  const a = host.analyzed;
  const collectedSeconds = c?.ok ? c.seconds : 0;
  if (a?.ok) {
    const expected = ctx.mode === 'sysrq' ? a.kind === 'sysrq' : a.kind === 'panic' && /Attempted to kill init/.test(a.panicString ?? a.sentence);
    push('dump-analyzed', expected, vm.elapsedMs + (collectedSeconds + a.seconds) * 1000, expected ? `verdict: ${a.sentence}` : `the analysis does not name the ${ctx.mode} crash: ${a.kind}: ${a.sentence}`);
  } else push('dump-analyzed', a ? false : undefined, undefined, a ? `analysis failed: ${a.error}` : '');

  const passed = stages.every((s) => s.status === 'ok');
  const fail = failed;
  // The capture kernel not coming up after a successful reservation is, in practice, nearly
  // always the reservation being too small: kexec finds no room for the kernel and initramfs,
  // or the capture kernel runs out of memory while booting.
  const reservationSuspect = !passed && reserved !== undefined && (fail?.id === 'capture-load' || fail?.id === 'capture-boot' || (fail?.id === 'dump-saved' && !!f.captureFailure));
  let hint: string | undefined;
  if (reservationSuspect) {
    hint = `The capture kernel did not come up; the crashkernel reservation (${ctx.crashkernel}) is the likely cause: rehearse again with a larger --crashkernel, or find the smallest that works with --find-min-crashkernel.`;
  } else if (fail?.id === 'reservation') {
    hint = 'The kernel did not reserve memory: check the crashkernel= value (kdumpkit recommend) and that the VM has enough RAM (--memory).';
  } else if (vm.timedOut) {
    hint = 'The VM made no progress in time: the machine may be busy; try a longer --timeout, or --kvm where /dev/kvm works.';
  }
  const verdict = passed
    ? `rehearsal passed: crashkernel=${ctx.crashkernel} yields a dump that saves and analyzes (${a?.ok ? a.sentence : ''})`
    : reservationSuspect
      ? `rehearsal failed: the capture kernel did not come up (${fail?.title}: ${fail?.detail})`
      : `rehearsal failed at '${fail?.title ?? '?'}': ${fail?.detail ?? ''}`;
  return { stages, passed, verdict, hint, reservationSuspect };
}

/** The directory of this package's CLI (we run `kdumpkit save` as its own process). */
function cliMain(): string {
  return fileURLToPath(new URL('../cli/main.js', import.meta.url));
}

function runCollector(src: string, dir: string, level: number, compress: string): Promise<{ ok: true; out: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliMain(), 'save', '--json', '--level', String(level), '--compress', compress, src, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('error', (e) => resolve({ ok: false, error: e.message }));
    child.on('close', (code) => {
      if (code === 0) resolve({ ok: true, out });
      else resolve({ ok: false, error: err.split('\n').find((l) => l.startsWith('kdumpkit: error:'))?.replace('kdumpkit: error: ', '') ?? `exit ${code}` });
    });
  });
}

function isElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(4);
    readSync(fd, b, 0, 4, 0);
    return b.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

/** One rehearsal. Throws only for problems found before the VM starts (missing tools, usage). */
export async function rehearse(o: RehearseOptions): Promise<RehearsalReport> {
  const t0 = performance.now();
  const root = o.root;
  const progress = o.progress ?? (() => undefined);
  const mode = o.mode ?? 'sysrq';
  const memoryMb = o.memoryMb ?? DEFAULT_MEMORY_MB;
  const timeoutSeconds = o.timeoutSeconds ?? DEFAULT_TIMEOUT_S;
  const qemu = root.which('qemu-system-x86_64');
  if (!qemu) throw new MissingToolError('qemu-system-x86_64 is not on PATH', 'Install it: apt-get install qemu-system-x86');
  const release = chooseRelease(root, o.release);
  const files = kernelFiles(root, release);
  if (!files.image) throw new MissingToolError(`no kernel image for ${release} (tried ${files.tried.image.map((p) => root.path(p)).join(', ')})`, `Install it: apt-get install linux-image-${release}`);
  const { config } = readConfig(root);
  const ck = chooseCrashkernel(o.crashkernel, config.crashkernel, memoryMb);
  const reserves = reservedFor(parseCrashkernel(ck.value), BigInt(memoryMb) << 20n, { arch: 'x86_64' });
  if (!reserves) progress(`warning: crashkernel=${ck.value} reserves nothing for ${memoryMb}M of RAM`);
  const first = firstCmdline(ck.value);
  const capture = vmCaptureCmdline(first, config.cmdline);
  const accel = o.kvm ? 'kvm' : 'tcg';
  if (o.kvm && !kvmUsable(root)) throw new KdumpkitError('E_KVM', `${root.path('/dev/kvm')}: not usable (missing, or no read/write access)`, 'Run without --kvm (TCG), or add your user to the kvm group.');

  const work = mkdtempSync(join(tmpdir(), 'kdumpkit-rehearse-'));
  const keep = o.keep;
  if (keep) mkdirSync(keep, { recursive: true, mode: 0o700 });
  // Interrupted (Ctrl-C, kill): stop QEMU and remove the scratch directory (its disk image is
  // as large as the VM's RAM), then die of the same signal as if we had not caught it.
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    abort.abort();
    rmSync(work, { recursive: true, force: true });
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    progress(`building the initramfs for ${release} (busybox, kexec, ${DISK_MODULES.join(', ')})`);
    const initramfs = buildInitramfs({ root, release, kernelImage: files.image, mode, captureCmdline: capture });
    const initrd = join(work, 'initrd.img');
    writeFileSync(initrd, initramfs.first, { mode: 0o600 });
    const disk = join(work, 'disk.raw');
    writeFileSync(disk, '', { mode: 0o600 });
    // Sparse: only what the capture kernel writes takes space. Room for all RAM plus headers.
    truncateSync(disk, (memoryMb + 64) * 1024 * 1024);
    const consoleLog = join(keep ?? work, 'console.log');
    progress(`booting ${release} in QEMU (${accel.toUpperCase()}, ${memoryMb}M, crashkernel=${ck.value}, crash by ${mode})`);
    const vm = await runVm({
      qemu, kernel: root.path(files.image), initrd, append: first, memoryMb, disk, accel, timeoutSeconds, ...(o.stallSeconds !== undefined ? { stallSeconds: o.stallSeconds } : {}), consoleLog,
      signal: abort.signal,
      onLine: (line, ms) => {
        const m = line.startsWith(MARKER) ? line.slice(MARKER.length).trim() : undefined;
        if (m !== undefined) progress(`[${(ms / 1000).toFixed(1)} s] ${describeMarker(m)}`);
        else if (/Kernel panic - not syncing/.test(line)) progress(`[${(ms / 1000).toFixed(1)} s] ${line.replace(/^\[\s*\d+\.\d+\]\s?/, '')}`);
      },
    });
    const host: { collected?: HostSteps['collected']; analyzed?: HostSteps['analyzed'] } = {};
    let dumpDir: string | undefined;
    if (vm.facts.dumpSaved) {
      const bytes = Number(vm.facts.dumpSaved.value.bytes);
      truncateSync(disk, bytes);
      const elf = join(work, 'vmcore.elf');
      renameSync(disk, elf);
      const t1 = performance.now();
      if (!isElf(elf)) {
        host.collected = { ok: false, error: `${elf}: the disk does not start with an ELF header`, seconds: 0 };
      } else {
        const crashDir = keep ?? join(work, 'crash');
        mkdirSync(crashDir, { recursive: true, mode: 0o700 });
        progress(`saving the dump with kdumpkit save (level ${config.level}, ${config.compress})`);
        const before = new Set(readdirSync(crashDir));
        const r = await runCollector(elf, crashDir, config.level, config.compress);
        const added = readdirSync(crashDir).find((n) => !before.has(n) && /^\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d$/.test(n));
        const seconds = (performance.now() - t1) / 1000;
        if (r.ok && added) {
          dumpDir = join(crashDir, added);
          const vmcore = join(dumpDir, 'vmcore');
          host.collected = { ok: true, dir: dumpDir, vmcore, bytes: statSync(vmcore).size, seconds };
          progress('analyzing the saved dump');
          const t2 = performance.now();
          try {
            const ctx = await AnalysisContext.open(vmcore);
            try {
              const rep = analyzeReport(ctx, { logLines: 0 });
              host.analyzed = { ok: true, kind: rep.triage.kind, sentence: rep.triage.sentence, panicString: rep.panic.panicString, seconds: (performance.now() - t2) / 1000 };
            } finally {
              ctx.close();
            }
          } catch (e) {
            if (!(e instanceof KdumpkitError)) throw e;
            host.analyzed = { ok: false, error: e.message, seconds: (performance.now() - t2) / 1000 };
          }
        } else {
          host.collected = { ok: false, error: r.ok ? `no new dump directory in ${crashDir}` : r.error, seconds };
        }
      }
      if (keep && existsSync(elf) && !dumpDir) copyFileSync(elf, join(keep, 'vmcore.elf'));
    }
    const j = judge(vm.facts, vm, host, { mode, crashkernel: ck.value, timeoutSeconds });
    return {
      ...j,
      release,
      kernelImage: root.path(files.image),
      mode,
      accel,
      memoryMb,
      crashkernel: ck.value,
      crashkernelSource: ck.source,
      firstCmdline: first,
      captureCmdline: capture,
      kept: keep ? { dir: keep, consoleLog, dumpDir } : undefined,
      analysis: host.analyzed?.ok ? { kind: host.analyzed.kind, sentence: host.analyzed.sentence, panicString: host.analyzed.panicString } : undefined,
      totalSeconds: Math.round((performance.now() - t0) / 100) / 10,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(work, { recursive: true, force: true });
  }
}

function describeMarker(m: string): string {
  if (m === 'first-kernel-up') return 'first kernel booted, /init running';
  if (m.startsWith('kexec-load')) return `capture kernel load: ${m}`;
  if (m.startsWith('kexec-error')) return `kexec: ${m.slice('kexec-error '.length)}`;
  if (m.startsWith('crash')) return `triggering the crash (${m})`;
  if (m.startsWith('capture-kernel-up')) return `capture kernel booted (${m.slice('capture-kernel-up '.length)})`;
  if (m.startsWith('dump-saved')) return `dump copied to the virtual disk (${m.slice('dump-saved '.length)})`;
  return m;
}

/** /dev/kvm opens read-write (what QEMU needs); only then is --kvm allowed. */
export function kvmUsable(root: HostRoot): boolean {
  try {
    closeSync(openSync(root.path('/dev/kvm'), 'r+'));
    return true;
  } catch {
    return false;
  }
}

