/**
 * Loaded modules as the unwinder needs them: where each module's memory is, its ORC tables
 * (`mod->arch`), and its symbols from the module's own kallsyms (`mod->kallsyms`: the ELF
 * symtab and strtab the module loader kept), so module frames read
 * `func+0x12/0x80 [module]` exactly as the kernel prints them.
 *
 * Layouts: Linux 6.4+ describes a module's memory as `mod->mem[MOD_TEXT…MOD_INIT_RODATA]`
 * (`struct module_memory { base, size }`); before, as `core_layout`/`init_layout`
 * (`struct module_layout { base, size, text_size, … }`). Both are read through BTF.
 *
 * Symbol lookup follows kernel/module/kallsyms.c find_kallsyms_symbol(): among the symtab's
 * defined, named, non-mapping symbols, the highest value <= addr (the first in table order among
 * equal values) and the lowest value > addr bound the size, itself bounded by the end of the
 * module text (6.4+: of the memory region holding addr) the address lies in.
 */
import type { Kernel } from '../kernel.js';
import { KdumpkitError } from '../../util/errors.js';
import { tryRead } from '../attempt.js';
import type { AddressRange } from './orc.js';
import type { PagedMemory } from './paged.js';

export interface ModuleRegion extends AddressRange {
  /** 'text', 'data', 'rodata', 'ro_after_init', 'init_text', 'init_data', 'init_rodata' (6.4+) or 'core'/'init' (before). */
  readonly kind: string;
  /** Where a symbol's size stops at the latest when the address lies in this region. */
  readonly symbolEnd: bigint;
}

export interface ModuleSymbol {
  readonly name: string;
  readonly value: bigint;
  /** Index in the module's symtab (ties between equal values go to the lowest index). */
  readonly index: number;
}

export interface ModuleOrc {
  readonly ipTable: bigint;
  readonly orcTable: bigint;
  readonly count: number;
}

export interface LoadedModule {
  readonly name: string;
  /** Address of the `struct module`. */
  readonly address: bigint;
  readonly regions: readonly ModuleRegion[];
  readonly orc: ModuleOrc | undefined;
  /** Sorted by value, then symtab index. */
  readonly symbols: readonly ModuleSymbol[];
  /** What could not be read for this module. */
  readonly notes: readonly string[];
}

export interface ModuleSymbolized {
  readonly name: string;
  readonly offset: bigint;
  readonly size: bigint;
  readonly module: string;
}

const SHN_UNDEF = 0;
const ELF64_SYM_SIZE = 24;
/** Sanity bounds: no module has this many symbols, or this many modules load. */
const MAX_MODULE_SYMBOLS = 1_000_000;
const MAX_MODULES = 10_000;

/** kernel/module/internal.h is_mapping_symbol() (x86: ".L", "L0", "$a/$d/$t/$x"). */
export function isMappingSymbol(s: string): boolean {
  if (s.startsWith('.L') || s.startsWith('L0')) return true;
  return s[0] === '$' && 'adtx'.includes(s[1] ?? '') && (s.length === 2 || s[2] === '.');
}

/** Where the fields bt needs are, looked up once per kernel. */
interface ModuleLayout {
  readonly list: bigint;
  readonly name: bigint;
  readonly nameSize: number;
  readonly numOrcs: bigint;
  readonly orcUnwindIp: bigint;
  readonly orcUnwind: bigint;
  readonly kallsyms: bigint;
  readonly ksSymtab: number;
  readonly ksNum: number;
  readonly ksStrtab: number;
  /** 6.4+: mod->mem[], its element size and base/size offsets, and the index of each kind. */
  readonly mem?: { readonly at: bigint; readonly stride: bigint; readonly base: bigint; readonly size: bigint; readonly kinds: ReadonlyArray<[string, number]> };
  /** Before 6.4: core_layout/init_layout and the module_layout base/size/text_size offsets. */
  readonly layouts?: { readonly core: bigint; readonly init: bigint; readonly base: bigint; readonly size: bigint; readonly textSize: bigint };
}

function moduleLayout(k: Kernel): ModuleLayout {
  const t = k.types;
  const off = (path: string): bigint => BigInt(t.offsetof('struct module', path));
  const base = {
    list: off('list'),
    name: off('name'),
    nameSize: t.member('struct module', 'name').size ?? 56,
    numOrcs: off('arch.num_orcs'),
    orcUnwindIp: off('arch.orc_unwind_ip'),
    orcUnwind: off('arch.orc_unwind'),
    kallsyms: off('kallsyms'),
    ksSymtab: t.offsetof('struct mod_kallsyms', 'symtab'),
    ksNum: t.offsetof('struct mod_kallsyms', 'num_symtab'),
    ksStrtab: t.offsetof('struct mod_kallsyms', 'strtab'),
  };
  if (t.hasType('struct module_memory')) {
    // enum mod_mem_type from BTF; its upstream order (MOD_TEXT = 0 …) if BTF lacks the enum.
    const kinds: Array<[string, number]> = Object.entries(MEM_KINDS).map(([constant, kind], i) => {
      try {
        return [kind, Number(t.enumValue('mod_mem_type', constant))];
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
        return [kind, i];
      }
    });
    return {
      ...base,
      mem: {
        at: off('mem'),
        stride: BigInt(t.sizeof('struct module_memory')),
        base: BigInt(t.offsetof('struct module_memory', 'base')),
        size: BigInt(t.offsetof('struct module_memory', 'size')),
        kinds,
      },
    };
  }
  return {
    ...base,
    layouts: {
      core: off('core_layout'),
      init: off('init_layout'),
      base: BigInt(t.offsetof('struct module_layout', 'base')),
      size: BigInt(t.offsetof('struct module_layout', 'size')),
      textSize: BigInt(t.offsetof('struct module_layout', 'text_size')),
    },
  };
}

/**
 * Every module on the kernel's `modules` list. Needs BTF (struct module); a module whose parts
 * cannot be read is kept with notes saying what is missing.
 */
export function readModules(k: Kernel, pm: PagedMemory, notes: string[]): LoadedModule[] {
  const head = k.symbols.address('modules');
  if (head === undefined) {
    notes.push(`modules: symbol not in ${k.symbols.source}`);
    return [];
  }
  if (!k.btf) {
    notes.push('modules: no BTF to read struct module with');
    return [];
  }
  let layout: ModuleLayout;
  try {
    layout = moduleLayout(k);
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    notes.push(`modules: ${e.message}`);
    return [];
  }
  const out: LoadedModule[] = [];
  try {
    const seen = new Set<bigint>([head]);
    for (let node = pm.u64(head); !seen.has(node); node = pm.u64(node)) {
      if (node === 0n) throw new KdumpkitError('E_VALIDATION', 'NULL next pointer');
      if (seen.size > MAX_MODULES) throw new KdumpkitError('E_VALIDATION', `more than ${MAX_MODULES} modules`);
      seen.add(node);
      out.push(readModule(pm, layout, node - layout.list));
    }
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    notes.push(`modules list: ${e.message}`);
  }
  return out;
}

function readModule(pm: PagedMemory, l: ModuleLayout, addr: bigint): LoadedModule {
  const notes: string[] = [];
  const part = <T>(what: string, f: () => T): T | undefined => tryRead(notes, what, f);
  const name = part('name', () => pm.cString(addr + l.name, l.nameSize)) ?? `module@0x${addr.toString(16)}`;
  const regions =
    part('memory layout', () => {
      const out: ModuleRegion[] = [];
      if (l.mem) {
        // A symbol's size stops at the end of the init text for addresses in init memory, else
        // at the end of the core text.
        const found = l.mem.kinds.map(([kind, index]) => {
          const m = addr + l.mem!.at + BigInt(index) * l.mem!.stride;
          const start = pm.u64(m + l.mem!.base);
          return { kind, start, end: start + BigInt(pm.u32(m + l.mem!.size)) };
        });
        const textEnd = found.find((r) => r.kind === 'text')?.end ?? 0n;
        const initTextEnd = found.find((r) => r.kind === 'init_text')?.end ?? 0n;
        for (const r of found) if (r.start !== 0n && r.end > r.start) out.push({ ...r, symbolEnd: r.kind.startsWith('init_') ? initTextEnd : textEnd });
      } else if (l.layouts) {
        for (const [kind, at] of [
          ['core', l.layouts.core],
          ['init', l.layouts.init],
        ] as const) {
          const start = pm.u64(addr + at + l.layouts.base);
          const size = BigInt(pm.u32(addr + at + l.layouts.size));
          const textSize = BigInt(pm.u32(addr + at + l.layouts.textSize));
          if (start !== 0n && size > 0n) out.push({ kind, start, end: start + size, symbolEnd: start + textSize });
        }
      }
      return out;
    }) ?? [];
  const orc = part('ORC tables', () => {
    const count = pm.u32(addr + l.numOrcs);
    const ipTable = pm.u64(addr + l.orcUnwindIp);
    const orcTable = pm.u64(addr + l.orcUnwind);
    if (count > 0 && ipTable !== 0n && orcTable !== 0n) return { ipTable, orcTable, count };
    notes.push('no ORC tables (mod->arch.num_orcs is 0)');
    return undefined;
  });
  const symbols = part('symbols', () => readModuleKallsyms(pm, pm.u64(addr + l.kallsyms), l.ksSymtab, l.ksNum, l.ksStrtab)) ?? [];
  return { name, address: addr, regions, orc, symbols, notes };
}

const MEM_KINDS: Record<string, string> = {
  MOD_TEXT: 'text',
  MOD_DATA: 'data',
  MOD_RODATA: 'rodata',
  MOD_RO_AFTER_INIT: 'ro_after_init',
  MOD_INIT_TEXT: 'init_text',
  MOD_INIT_DATA: 'init_data',
  MOD_INIT_RODATA: 'init_rodata',
};

/** Reads a `struct mod_kallsyms` (symtab, num_symtab, strtab) at `ks`. */
export function readModuleKallsyms(pm: PagedMemory, ks: bigint, symtabOff: number, numOff: number, strtabOff: number): ModuleSymbol[] {
  if (ks === 0n) return [];
  const symtab = pm.u64(ks + BigInt(symtabOff));
  const num = pm.u32(ks + BigInt(numOff));
  const strtab = pm.u64(ks + BigInt(strtabOff));
  if (num > MAX_MODULE_SYMBOLS) throw new KdumpkitError('E_VALIDATION', `mod_kallsyms at 0x${ks.toString(16)} claims ${num} symbols`);
  const raw = pm.read(symtab, num * ELF64_SYM_SIZE);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: ModuleSymbol[] = [];
  // ELF symtabs start real symbols at 1.
  for (let i = 1; i < num; i++) {
    const o = i * ELF64_SYM_SIZE;
    const stName = dv.getUint32(o, true);
    const shndx = dv.getUint16(o + 6, true);
    const value = dv.getBigUint64(o + 8, true);
    if (shndx === SHN_UNDEF) continue;
    const name = pm.cString(strtab + BigInt(stName), 512);
    if (name === '' || isMappingSymbol(name)) continue;
    out.push({ name, value, index: i });
  }
  out.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : a.index - b.index));
  return out;
}

/** Module address lookups: which module holds an address, and its symbol. */
export class ModuleSymbols {
  constructor(readonly modules: readonly LoadedModule[]) {}

  /** The module and region holding `addr` (__module_address()). */
  moduleAt(addr: bigint): { module: LoadedModule; region: ModuleRegion } | undefined {
    for (const module of this.modules) {
      for (const region of module.regions) if (addr >= region.start && addr < region.end) return { module, region };
    }
    return undefined;
  }

  symbolize(addr: bigint): ModuleSymbolized | undefined {
    const hit = this.moduleAt(addr);
    if (!hit) return undefined;
    return symbolizeIn(hit.module, hit.region, addr);
  }
}

/** find_kallsyms_symbol() over one module's sorted symbols. */
export function symbolizeIn(module: LoadedModule, region: ModuleRegion, addr: bigint): ModuleSymbolized | undefined {
  const syms = module.symbols;
  // hi = first symbol with value > addr
  let lo = 0;
  let hi = syms.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (syms[mid]!.value <= addr) lo = mid + 1;
    else hi = mid;
  }
  if (hi === 0) return undefined;
  const bestVal = syms[hi - 1]!.value;
  // The kernel keeps the first symbol (in symtab order) among those with the best value.
  let best = syms[hi - 1]!;
  for (let i = hi - 2; i >= 0 && syms[i]!.value === bestVal; i--) if (syms[i]!.index < best.index) best = syms[i]!;
  let next = region.symbolEnd;
  if (hi < syms.length && syms[hi]!.value < next) next = syms[hi]!.value;
  if (bestVal === 0n) return undefined;
  return { name: best.name, offset: addr - bestVal, size: next - bestVal, module: module.name };
}
