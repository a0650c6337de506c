/**
 * Arming the machine for crashes: `load`, `unload` and `status` as report objects.
 *
 * Each reads the live kdump state (state.ts) and the configuration (config.ts), plans the
 * kexec call (kexec.ts), runs it unless asked for a dry run, reads kexec_crash_loaded again and
 * explains failures (kexec-errors.ts). Nothing here prints; the CLI renders the reports.
 *
 * "Armed" means what a crash needs: memory reserved (kexec_crash_size > 0) and a capture kernel
 * loaded into it (kexec_crash_loaded = 1, kernel/ksysfs.c kexec_crash_loaded_show).
 */
import { readConfig } from './config.js';
import { explainRun, liveKexecRefusal, planLoad, runKexec, unloadArgv, type KexecRun, type LoadPlan, type SyscallChoice, type SyscallMode } from './kexec.js';
import type { KexecExplanation } from './kexec-errors.js';
import type { HostRoot } from './root.js';
import { readKdumpState, type IomemRange, type KdumpState } from './state.js';

/** What load and unload report alike: the kexec call (if it ran) and the state around it. */
interface KexecCallReport {
  readonly root: string;
  readonly dryRun: boolean;
  readonly loadedBefore: boolean | undefined;
  /** kexec's result; absent on a dry run or when a check refused the call. */
  readonly run?: KexecRun;
  /** kexec_crash_loaded read again after kexec ran. */
  readonly loadedAfter?: boolean | undefined;
  readonly explanations: readonly KexecExplanation[];
  /** Done now (or, on a dry run, nothing refused). */
  readonly ok: boolean;
  /** One line: what happened. */
  readonly summary: string;
}

export interface LoadReport extends KexecCallReport {
  readonly command: 'load';
  readonly plan: LoadPlan;
}

export interface UnloadReport extends KexecCallReport {
  readonly command: 'unload';
  readonly argv: readonly string[];
  readonly syscall: SyscallChoice;
  readonly kexecPath: string | undefined;
}

export interface StatusReport {
  readonly command: 'status';
  readonly root: string;
  readonly release: string | undefined;
  readonly reservation: {
    readonly params: readonly string[];
    readonly bytes: bigint | undefined;
    readonly ranges: readonly IomemRange[] | undefined;
    readonly iomemHidden: boolean;
  };
  readonly loaded: boolean | undefined;
  readonly lockdown: KdumpState['lockdown'];
  readonly secureBoot: boolean | undefined;
  readonly config: { readonly path: string; readonly exists: boolean };
  /** What `kdumpkit load` would run now. */
  readonly load: LoadPlan;
  /** Reserved and loaded: a crash now is captured. */
  readonly armed: boolean;
  readonly summary: string;
}

function failedChecks(plan: LoadPlan): string {
  return plan.checks
    .filter((c) => c.status === 'fail')
    .map((c) => c.title)
    .join('; ');
}

/** Runs kexec and reads kexec_crash_loaded again; a failed run comes with its explanations. */
function runAndReread(root: HostRoot, kexecPath: string, argv: readonly string[], before: KdumpState): { run: KexecRun; loadedAfter: boolean | undefined; explanations: KexecExplanation[] } {
  const run = runKexec(kexecPath, argv);
  const loadedAfter = readKdumpState(root).loaded;
  return { run, loadedAfter, explanations: run.exitCode !== 0 ? explainRun(run, before) : [] };
}

export function load(root: HostRoot, opts: { dryRun?: boolean; syscall?: SyscallMode } = {}): LoadReport {
  const state = readKdumpState(root);
  const { config } = readConfig(root);
  const plan = planLoad(root, state, config, { syscall: opts.syscall ?? 'auto' });
  const base = { command: 'load' as const, root: root.dir, dryRun: opts.dryRun === true, plan, loadedBefore: state.loaded };
  if (!plan.ok || !plan.argv || !plan.kexecPath) {
    return { ...base, explanations: [], ok: false, summary: `not loaded: ${failedChecks(plan)}` };
  }
  if (opts.dryRun) return { ...base, explanations: [], ok: true, summary: 'dry run: kexec would be run as shown' };
  const { run, loadedAfter, explanations } = runAndReread(root, plan.kexecPath, plan.argv, state);
  if (run.exitCode !== 0) {
    const lost = state.loaded === true && loadedAfter !== true ? ' (the capture kernel loaded before is gone too: nothing is loaded now)' : '';
    return { ...base, run, loadedAfter, explanations, ok: false, summary: `kexec failed (exit ${run.exitCode ?? run.signal}): ${explanations[0]!.cause}${lost}` };
  }
  if (loadedAfter !== true) {
    return {
      ...base,
      run,
      loadedAfter,
      explanations: [],
      ok: false,
      summary: `kexec exited 0 but ${root.path('/sys/kernel/kexec_crash_loaded')} is ${loadedAfter === undefined ? 'absent' : '0'}: no capture kernel is loaded`,
    };
  }
  return { ...base, run, loadedAfter, explanations: [], ok: true, summary: state.loaded === true ? 'capture kernel reloaded (the previous one was replaced)' : 'capture kernel loaded: a crash now boots it and saves a dump' };
}

export function unload(root: HostRoot, opts: { dryRun?: boolean; syscall?: SyscallMode } = {}): UnloadReport {
  const state = readKdumpState(root);
  const { argv, syscall } = unloadArgv(state, opts.syscall ?? 'auto');
  const kexecPath = root.which('kexec');
  const base = { command: 'unload' as const, root: root.dir, dryRun: opts.dryRun === true, argv, syscall, kexecPath, loadedBefore: state.loaded };
  // Idempotent: nothing loaded is already the wanted state, and kexec need not run for it.
  if (state.loaded === false) return { ...base, explanations: [], ok: true, summary: 'no capture kernel is loaded; nothing to unload' };
  if (!kexecPath) return { ...base, explanations: [], ok: false, summary: 'kexec is not on PATH (install kexec-tools)' };
  const refusal = liveKexecRefusal(root, kexecPath);
  if (refusal) return { ...base, explanations: [], ok: false, summary: `refused: ${refusal}` };
  if (opts.dryRun) return { ...base, explanations: [], ok: true, summary: 'dry run: kexec would be run as shown' };
  const { run, loadedAfter, explanations } = runAndReread(root, kexecPath, argv, state);
  if (run.exitCode !== 0) {
    return { ...base, run, loadedAfter, explanations, ok: false, summary: `kexec failed (exit ${run.exitCode ?? run.signal}): ${explanations[0]!.cause}` };
  }
  if (loadedAfter === true) return { ...base, run, loadedAfter, explanations: [], ok: false, summary: `kexec exited 0 but ${root.path('/sys/kernel/kexec_crash_loaded')} is still 1` };
  return { ...base, run, loadedAfter, explanations: [], ok: true, summary: 'capture kernel unloaded: a crash now is NOT captured' };
}

export function status(root: HostRoot, opts: { syscall?: SyscallMode } = {}): StatusReport {
  const state = readKdumpState(root);
  const cfg = readConfig(root);
  const plan = planLoad(root, state, cfg.config, { syscall: opts.syscall ?? 'auto' });
  const reserved = (state.reservedBytes ?? 0n) > 0n;
  const armed = reserved && state.loaded === true;
  const summary = armed
    ? 'armed: a capture kernel is loaded into the reservation; a crash now is saved'
    : !reserved
      ? 'NOT armed: no memory is reserved for a capture kernel'
      : 'NOT armed: memory is reserved but no capture kernel is loaded (run kdumpkit load)';
  return {
    command: 'status',
    root: root.dir,
    release: state.release,
    reservation: { params: state.crashkernelParams, bytes: state.reservedBytes, ranges: state.crashRanges, iomemHidden: state.iomemHidden },
    loaded: state.loaded,
    lockdown: state.lockdown,
    secureBoot: state.secureBoot,
    config: { path: cfg.path, exists: cfg.exists },
    load: plan,
    armed,
    summary,
  };
}
