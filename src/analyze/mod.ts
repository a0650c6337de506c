/**
 * `kdumpkit mod`: the loaded modules (src/kernel/modules.ts) and the kernel's taint.
 */
import type { AnalysisContext } from './analyze.js';
import { attempt, isUnavailable, type Unavailable } from '../kernel/attempt.js';
import { readKernelTaint, type KernelTaint, type ModuleRegion } from '../kernel/modules.js';
import { MissingInfoError } from '../util/errors.js';

export interface ModRow {
  readonly name: string;
  /** struct module address. */
  readonly module: bigint;
  /** Core text base. */
  readonly base: bigint;
  readonly size: number;
  readonly state: string;
  /** Module taint letters ("OE"). */
  readonly taints: string;
  /** As /proc/modules: "(OE+)". */
  readonly flags: string;
  readonly refcount: number | undefined;
  readonly regions: readonly ModuleRegion[];
}

export interface ModReport {
  readonly modules: readonly ModRow[];
  readonly taint: KernelTaint | Unavailable;
  /** The "Modules linked in:" line the kernel would print. */
  readonly linkedIn: string;
  readonly warnings: readonly string[];
}

export function modReport(ctx: AnalysisContext): ModReport {
  const ml = ctx.modules;
  if (isUnavailable(ml)) throw new MissingInfoError(`the module list cannot be read: ${ml.unavailable}`);
  const modules = ml.modules.map((m) => ({
    name: m.name,
    module: m.address,
    base: m.base,
    size: m.size,
    state: m.state,
    taints: m.taintLetters,
    flags: m.flags,
    refcount: m.refcount,
    regions: m.regions,
  }));
  return {
    modules,
    taint: attempt(() => readKernelTaint(ctx.kernel, ml.taintFlags)),
    linkedIn: modules.map((m) => m.name + m.flags).join(' '),
    warnings: ml.warnings,
  };
}
