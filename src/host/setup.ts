/**
 * `kdumpkit setup`: everything a machine needs for kdump, computed as one plan (file-plan.ts).
 *
 *   /etc/kdumpkit.conf                 existing values kept, options (--crashkernel, --early)
 *                                      applied, rewritten in the canonical format (formatConfig)
 *   /etc/systemd/system/kdumpkit-{load,save,pstore}.service   (units.ts)
 *   the boot command line's crashkernel=                       (bootloader.ts)
 *   early-kdump initramfs hooks when early = yes               (early-kdump.ts)
 *   actions: grub/UKI regeneration, systemctl daemon-reload + enable, initramfs rebuilds
 *
 * The crashkernel= value is --crashkernel, else kdumpkit.conf `crashkernel`, else
 * `kdumpkit recommend`'s for this machine's RAM and architecture.
 *
 * systemctl with a fake root: `systemctl --root=DIR enable UNIT` works offline (it only makes the
 * [Install] symlinks under DIR), so it runs; daemon-reload talks to the running manager, which
 * does not manage DIR, so it is skipped with a note.
 *
 * A reboot is needed when the reservation the running kernel was booted with (readKdumpState:
 * the crashkernel= of /proc/cmdline, and whether anything is reserved) differs from the new one.
 */
import { KdumpkitError } from '../util/errors.js';
import { kernelFiles } from './boot-images.js';
import { planBoot, crashkernelParams, type Bootloader, type BootPlan } from './bootloader.js';
import { LOAD_UNIT, SAVE_UNIT } from './capture-cmdline.js';
import { CONFIG_PATH, formatConfig, readConfig, type KdumpkitConfig } from './config.js';
import { parseCrashkernel, reservedFor } from './crashkernel.js';
import { planEarly } from './early-kdump.js';
import { existingMode, type Action, type FileChange } from './file-plan.js';
import { normalizeArch, recommend } from './recommend.js';
import type { HostRoot } from './root.js';
import { readKdumpState } from './state.js';
import { kdumpkitCommand, loadUnit, pstoreUnit, PSTORE_UNIT, saveUnit, UNIT_DIR, unitEnabled } from './units.js';

export interface SetupOptions {
  readonly bootloader: Bootloader | 'auto';
  /** --crashkernel: stored in kdumpkit.conf too, so the next run keeps it. */
  readonly crashkernel?: string;
  /** --early: sets early = yes in kdumpkit.conf. */
  readonly early?: boolean;
  /** ExecStart command for the units (default: kdumpkitCommand()); tests pass a fixed one. */
  readonly kdumpkit?: readonly string[];
  /** Architecture for the recommendation (default: this machine's). */
  readonly arch?: string;
}

export interface SetupPlan {
  readonly root: string;
  readonly config: KdumpkitConfig;
  readonly crashkernel: { readonly value: string; readonly source: 'option' | 'config' | 'recommend'; readonly running: readonly string[] };
  readonly bootloader: Bootloader;
  readonly detectedBy: string;
  /** Only real changes (old !== new). */
  readonly changes: readonly FileChange[];
  /** Files setup manages that are already as wanted. */
  readonly unchanged: readonly string[];
  readonly actions: readonly Action[];
  readonly warnings: readonly string[];
  readonly reboot: { readonly needed: boolean; readonly why: string };
  readonly kdumpkit: readonly string[];
}

function chooseCrashkernel(root: HostRoot, config: KdumpkitConfig, o: SetupOptions, memTotal: bigint | undefined): { value: string; source: 'option' | 'config' | 'recommend' } {
  if (o.crashkernel !== undefined) return { value: o.crashkernel, source: 'option' };
  if (config.crashkernel) return { value: config.crashkernel, source: 'config' };
  const arch = normalizeArch(o.arch ?? process.arch);
  if (!arch) throw new KdumpkitError('E_SETUP', `no crashkernel recommendation for architecture '${o.arch ?? process.arch}'`, `Give the value with --crashkernel SIZE or 'crashkernel' in ${CONFIG_PATH}.`);
  if (memTotal === undefined) throw new KdumpkitError('E_SETUP', `${root.path('/proc/meminfo')}: no MemTotal, cannot size crashkernel=`, 'Give the value with --crashkernel SIZE.');
  return { value: recommend({ ramBytes: memTotal, arch }).crashkernel, source: 'recommend' };
}

function rebootVerdict(running: readonly string[], value: string, reserved: bigint | undefined, memTotal: bigint | undefined): { needed: boolean; why: string } {
  const wanted = crashkernelParams(value).map((p) => p.slice('crashkernel='.length));
  const same = running.length === wanted.length && running.every((p, i) => p === wanted[i]);
  if (!same) {
    return { needed: true, why: running.length ? `the running kernel was booted with crashkernel=${running.join(' crashkernel=')}; the new crashkernel=${wanted.join(' crashkernel=')} takes effect at the next boot` : `the running kernel was booted without crashkernel=; the reservation is made at boot` };
  }
  const expect = memTotal === undefined ? undefined : reservedFor(parseCrashkernel(value), memTotal);
  if (reserved === 0n && expect) return { needed: true, why: 'crashkernel= is on the running command line but nothing was reserved (see dmesg for "crashkernel"); reboot after fixing the value' };
  return { needed: false, why: 'the running kernel already has this crashkernel= reservation' };
}

export function planSetup(root: HostRoot, o: SetupOptions): SetupPlan {
  // Every input is read and validated before any plan exists: a malformed file is an error here,
  // so nothing is ever written for it.
  const cfg = readConfig(root);
  const config: KdumpkitConfig = {
    ...cfg.config,
    ...(o.crashkernel !== undefined ? { crashkernel: o.crashkernel } : {}),
    ...(o.early ? { early: true } : {}),
  };
  if (o.crashkernel !== undefined) parseCrashkernel(o.crashkernel);
  const state = readKdumpState(root);
  const ck = chooseCrashkernel(root, config, o, state.memTotalBytes);
  const boot: BootPlan = planBoot(root, o.bootloader, ck.value);
  const kdumpkit = o.kdumpkit ?? kdumpkitCommand(root);

  const wanted: Array<{ path: string; content: string | undefined; mode: number; why: string }> = [];
  // A file that already says what we want is left as the user wrote it (comments, order); it
  // is rewritten in the canonical format only when a value changes (--crashkernel, --early).
  const sameConfig = cfg.exists && (Object.keys(config) as (keyof KdumpkitConfig)[]).every((k) => config[k] === cfg.config[k]);
  const configText = sameConfig ? root.read(CONFIG_PATH)! : formatConfig(config);
  wanted.push({ path: CONFIG_PATH, content: configText, mode: 0o644, why: 'kdumpkit configuration (existing values kept)' });
  wanted.push({ path: `${UNIT_DIR}/${LOAD_UNIT}`, content: loadUnit(kdumpkit), mode: 0o644, why: 'loads the capture kernel at boot' });
  wanted.push({ path: `${UNIT_DIR}/${SAVE_UNIT}`, content: saveUnit(kdumpkit, config), mode: 0o644, why: 'saves the dump in the capture kernel' });
  const pstorePath = `${UNIT_DIR}/${PSTORE_UNIT}`;
  if (config.pstore) wanted.push({ path: pstorePath, content: pstoreUnit(kdumpkit, config), mode: 0o644, why: 'collects pstore records at boot (pstore = yes)' });
  else if (root.exists(pstorePath)) wanted.push({ path: pstorePath, content: undefined, mode: 0o644, why: 'pstore = no' });
  for (const e of boot.edits) wanted.push({ path: e.path, content: e.new, mode: 0o644, why: e.why });
  const warnings = [...boot.warnings];
  let early: ReturnType<typeof planEarly> | undefined;
  if (config.early) {
    const release = state.release;
    const kernel = config.kernel || (release ? kernelFiles(root, release).image : undefined);
    early = planEarly(root, config, kernel, release);
    for (const f of early.files) wanted.push({ path: f.path, content: f.content, mode: f.mode, why: f.why });
    warnings.push(...early.warnings);
  }

  const changes: FileChange[] = [];
  const unchanged: string[] = [];
  for (const w of wanted) {
    const old = root.read(w.path);
    if (old === w.content) unchanged.push(w.path);
    else changes.push({ path: w.path, old, new: w.content, mode: old === undefined ? w.mode : existingMode(root, w.path, w.mode), why: w.why });
  }
  const changed = (p: string): boolean => changes.some((c) => c.path === p);

  const actions: Action[] = [];
  if (boot.edits.some((e) => changed(e.path))) actions.push(...boot.actions);
  const unitsChanged = changes.some((c) => c.path.startsWith(`${UNIT_DIR}/`));
  if (unitsChanged) {
    actions.push(root.isFake ? { argv: ['systemctl', 'daemon-reload'], why: 'systemd rereads the unit files', skip: `--root ${root.dir} is not the running system (its units are read at its next boot)` } : { argv: ['systemctl', 'daemon-reload'], why: 'systemd rereads the unit files' });
  }
  const rootOpt = root.isFake ? [`--root=${root.dir}`] : [];
  const enable = [LOAD_UNIT, ...(config.pstore ? [PSTORE_UNIT] : [])].filter((u) => !unitEnabled(root, u));
  if (enable.length) actions.push({ argv: ['systemctl', ...rootOpt, 'enable', ...enable], why: 'start at every boot' });
  if (!config.pstore && changed(pstorePath) && unitEnabled(root, PSTORE_UNIT)) actions.push({ argv: ['systemctl', ...rootOpt, 'disable', PSTORE_UNIT], why: 'pstore = no' });
  if (early && early.files.some((f) => changed(f.path))) actions.push(...early.actions);

  // The same command twice (mkinitcpio -P for the UKIs and for the early hook): run it once, at
  // its last place, after everything it depends on (the capture initramfs) has been built.
  // A program that is not installed is known now, before anything is written: the action is
  // skipped with a note that says what to run, instead of failing after the files changed (a
  // second run would see no change and never run it).
  const deduped = actions
    .map((a, i) => {
      const same = actions.filter((b) => b.argv.join('\0') === a.argv.join('\0'));
      return same.length > 1 && actions.lastIndexOf(same.at(-1)!) === i ? { ...a, why: [...new Set(same.map((b) => b.why))].join('; ') } : a;
    })
    .filter((a, i) => !actions.slice(i + 1).some((b) => b.argv.join('\0') === a.argv.join('\0')))
    .map((a) => (a.skip || root.which(a.argv[0]!) ? a : { ...a, skip: `${a.argv[0]} is not on PATH: run '${a.argv.join(' ')}' yourself once it is installed` }));
  for (const a of deduped) if (a.skip && /is not on PATH/.test(a.skip)) warnings.push(a.skip);

  return {
    root: root.dir,
    config,
    crashkernel: { ...ck, running: state.crashkernelParams },
    bootloader: boot.bootloader,
    detectedBy: boot.detectedBy,
    changes,
    unchanged,
    actions: deduped,
    warnings,
    reboot: rebootVerdict(state.crashkernelParams, ck.value, state.reservedBytes, state.memTotalBytes),
    kdumpkit,
  };
}
