import type { Kernel } from '../kernel/kernel.js';
import { ModuleSymbols, readModules } from '../kernel/modules.js';
import { KdumpkitError } from '../util/errors.js';

/** One answer of `kdumpkit sym`: a symbol with the address asked about (or its own). */
export interface SymAnswer {
  readonly query: string;
  readonly address: bigint;
  readonly name: string;
  /** nm-style type letter where the source records one. */
  readonly type: string | undefined;
  readonly offset: bigint;
  readonly size: bigint | undefined;
  readonly module: string | undefined;
}

export interface SymReport {
  readonly symbolSource: string;
  readonly answers: readonly SymAnswer[];
  /** Queries nothing matched, with why. */
  readonly unresolved: readonly { readonly query: string; readonly why: string }[];
  readonly warnings: readonly string[];
}

/** An address: 0x-prefixed, or bare hex of 9+ digits (kernel addresses are 16). */
export function parseAddressQuery(q: string): bigint | undefined {
  if (/^0x[0-9a-f]{1,16}$/i.test(q)) return BigInt(q);
  if (/^[0-9a-f]{9,16}$/i.test(q)) return BigInt('0x' + q);
  return undefined;
}

/**
 * crash's `sym`: names to addresses (every definition of a name, static functions can repeat)
 * and addresses to `name+off/size [module]`, over kernel symbols and loaded modules' kallsyms.
 */
export function symReport(k: Kernel, queries: readonly string[]): SymReport {
  const warnings: string[] = [];
  const answers: SymAnswer[] = [];
  const unresolved: { query: string; why: string }[] = [];
  let mods: ModuleSymbols | undefined;
  const modules = (): ModuleSymbols | undefined => {
    if (mods) return mods;
    try {
      mods = new ModuleSymbols(k, readModules(k).modules, warnings);
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      warnings.push(`module symbols unavailable: ${e.message}`);
    }
    return mods;
  };
  for (const q of queries) {
    const addr = parseAddressQuery(q);
    if (addr !== undefined) {
      const m = modules()?.symbolize(addr);
      if (m) {
        answers.push({ query: q, address: addr, name: m.name, type: undefined, offset: m.offset, size: m.size, module: m.module });
        continue;
      }
      const s = k.symbols.symbolize(addr);
      if (s) answers.push({ query: q, address: addr, name: s.symbol.name, type: s.symbol.type, offset: s.offset, size: s.size, module: s.symbol.module });
      else unresolved.push({ query: q, why: 'no symbol at or below this address' });
      continue;
    }
    const found = k.symbols.lookupAll(q);
    for (const s of found) answers.push({ query: q, address: s.address, name: s.name, type: s.type, offset: 0n, size: undefined, module: s.module });
    if (found.length) continue;
    const ms = modules();
    let hit = false;
    for (const mod of ms?.modules ?? []) {
      for (const s of ms?.symbolsOf(mod)?.syms ?? []) {
        if (s.name !== q) continue;
        answers.push({ query: q, address: s.address, name: s.name, type: s.type, offset: 0n, size: undefined, module: mod.name });
        hit = true;
      }
    }
    if (!hit) unresolved.push({ query: q, why: `not in ${k.symbols.source} nor in any module's symbols` });
  }
  return { symbolSource: k.symbols.source, answers, unresolved, warnings };
}
