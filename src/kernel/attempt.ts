/**
 * Reading a crashed kernel is best effort: a partial dump (makedumpfile -d 31) lacks pages, a
 * structure may be corrupt, a symbol may be missing from the symbol source. Each part of an
 * analysis reads what it can and reports the rest as unavailable, with the reason. Only our own
 * errors (KdumpkitError: faults, missing pages, missing info, invalid structures) are caught;
 * anything else is a bug and propagates.
 */
import { KdumpkitError } from '../util/errors.js';
import type { Kernel } from './kernel.js';

/** A value that could not be read, and why. */
export interface Unavailable {
  readonly unavailable: string;
}

export function isUnavailable(v: unknown): v is Unavailable {
  return typeof v === 'object' && v !== null && 'unavailable' in v && typeof (v as Unavailable).unavailable === 'string';
}

/** f(), or { unavailable: why } when it fails with a KdumpkitError. */
export function attempt<T>(f: () => T): T | Unavailable {
  try {
    return f();
  } catch (e) {
    if (e instanceof KdumpkitError) return { unavailable: e.message };
    throw e;
  }
}

/** f(), or undefined (with `what: why` pushed to notes) when it fails with a KdumpkitError. */
export function tryRead<T>(notes: string[], what: string, f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof KdumpkitError) {
      notes.push(`${what}: ${e.message}`);
      return undefined;
    }
    throw e;
  }
}

/** The s32 variable `name`, or undefined when the symbol is missing or (with a note) unreadable. */
export function readSymbolS32(k: Kernel, name: string, warnings: string[]): number | undefined {
  const a = k.symbols.address(name);
  if (a === undefined) return undefined;
  return tryRead(warnings, name, () => {
    const b = k.mem.read(a, 4);
    return new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
  });
}
