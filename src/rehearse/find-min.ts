/**
 * `rehearse --find-min-crashkernel`: the smallest reservation that still yields a dump, by
 * bisection over whole rehearsals.
 *
 * Sizes are tried on a grid (64M..512M in 16M steps, capped at half the VM's RAM). Whether a size works is assumed
 * monotonic (more reserved memory never hurts the capture kernel), so a binary search needs
 * about log2(29) = 5 rehearsals after the first one at the top of the range. A rehearsal at a
 * too-small size usually fails fast (kexec -p finds no room, or the capture kernel panics),
 * so the failing probes are the cheap ones.
 *
 * The recommendation is the minimum plus a safety margin of max(64M, 25% of the minimum),
 * rounded up to the step, because the rehearsal is the best case:
 *   - its capture initramfs is a few MB of busybox; a real one (the distribution's, with
 *     systemd, storage and network drivers, kdumpkit itself) needs tens of MB more;
 *   - real hardware has more devices whose drivers allocate memory at boot (the VM has one
 *     virtio disk), and the dump is written through a real storage stack;
 *   - the capture kernel grows with kernel updates.
 * 64M is the network allowance recommend.ts adds for the same kind of reason; the 25% covers
 * larger machines where the kernel's own page tables and per-device buffers scale up.
 */
import { formatSize } from '../host/crashkernel.js';
import type { RehearsalReport, RehearseOptions } from './rehearse.js';

export interface Probe {
  readonly crashkernel: string;
  readonly passed: boolean;
  /** The failing stage, or '' when it passed. */
  readonly failedStage: string;
  readonly seconds: number;
}

export interface FindMinReport {
  /** The smallest size that passed, or null when even the largest failed. */
  readonly minimum: string | null;
  readonly recommended: string | null;
  readonly marginNote: string;
  readonly range: { readonly low: string; readonly high: string; readonly step: string };
  readonly probes: readonly Probe[];
  readonly verdict: string;
  /** The report of the rehearsal at the minimum (its stages and timings). */
  readonly atMinimum: RehearsalReport | undefined;
  readonly totalSeconds: number;
}

const M = 1n << 20n;

export function safetyMargin(minimum: bigint, step: bigint): bigint {
  const quarter = minimum / 4n;
  const margin = quarter > 64n * M ? quarter : 64n * M;
  const total = minimum + margin;
  return ((total + step - 1n) / step) * step;
}

/** Bisects with `run(sizeBytes)`; separated from QEMU so the search itself is testable. */
export async function bisect(low: bigint, high: bigint, step: bigint, run: (size: bigint) => Promise<boolean>): Promise<bigint | undefined> {
  let lo = 0n; // index of a size known to fail (or the bottom, untested)
  let hi = (high - low) / step; // index known to pass once tested
  if (!(await run(low + hi * step))) return undefined;
  if (await run(low)) return low;
  // Invariant: size(lo) fails, size(hi) passes.
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (await run(low + mid * step)) hi = mid;
    else lo = mid;
  }
  return low + hi * step;
}

/**
 * The grid: 64M up to 512M in 16M steps, but at most half the VM's RAM, because a larger
 * reservation leaves the first kernel too little to boot, and the kernel refuses one that has
 * no room ("crashkernel reservation failed - No suitable area found" for 512M of 768M).
 */
export function searchRange(memoryMb: number): { low: bigint; high: bigint; step: bigint } {
  const step = 16n * M;
  const half = ((BigInt(memoryMb) * M) / 2n / step) * step;
  const high = half < 512n * M ? half : 512n * M;
  return { low: 64n * M, high: high > 64n * M ? high : 64n * M, step };
}

export async function findMinCrashkernel(
  o: RehearseOptions,
  rehearseOnce: (o: RehearseOptions) => Promise<RehearsalReport>,
  range: { low: bigint; high: bigint; step: bigint } = searchRange(o.memoryMb ?? 1024),
): Promise<FindMinReport> {
  const t0 = performance.now();
  const probes: Probe[] = [];
  const reports = new Map<bigint, RehearsalReport>();
  const progress = o.progress ?? (() => undefined);
  const min = await bisect(range.low, range.high, range.step, async (size) => {
    const ck = formatSize(size);
    progress(`find-min-crashkernel: trying crashkernel=${ck}`);
    const r = await rehearseOnce({ ...o, crashkernel: ck });
    reports.set(size, r);
    const failed = r.stages.find((s) => s.status === 'fail');
    probes.push({ crashkernel: ck, passed: r.passed, failedStage: failed?.title ?? '', seconds: r.totalSeconds });
    progress(`find-min-crashkernel: crashkernel=${ck} ${r.passed ? 'passed' : `failed (${failed?.title ?? '?'})`}`);
    return r.passed;
  });
  const marginNote = 'minimum + max(64M, 25%), rounded up to the step: a real capture initramfs, real devices and kernel updates need more than the rehearsal VM';
  const fr = { low: formatSize(range.low), high: formatSize(range.high), step: formatSize(range.step) };
  const totalSeconds = Math.round((performance.now() - t0) / 100) / 10;
  if (min === undefined) {
    return { minimum: null, recommended: null, marginNote, range: fr, probes, verdict: `even crashkernel=${fr.high} did not yield a dump: the failure is not the reservation size (see the rehearsal's stages)`, atMinimum: reports.get(range.high), totalSeconds };
  }
  const rec = safetyMargin(min, range.step);
  const note = min === range.low ? ` (the bottom of the range: the true minimum may be lower)` : '';
  return {
    minimum: formatSize(min),
    recommended: formatSize(rec),
    marginNote,
    range: fr,
    probes,
    verdict: `the smallest reservation that yields a dump is crashkernel=${formatSize(min)}${note}; use crashkernel=${formatSize(rec)}`,
    atMinimum: reports.get(min),
    totalSeconds,
  };
}
