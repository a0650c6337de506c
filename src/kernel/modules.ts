/**
 * Loaded modules, their symbols, and the kernel's taint flags — read with BTF only.
 *
 * The `modules` list links `struct module` through `.list`. Where a module lives changed twice:
 * Linux ≥ 6.4 has `mem[MOD_MEM_NUM_TYPES]` (struct module_memory: base, size; MOD_TEXT is the
 * core text), 4.5–6.3 `core_layout`/`init_layout` (struct module_layout: base, size, text_size),
 * older kernels `module_core`/`core_size`/`init_size`. Sizes are what lsmod (/proc/modules)
 * prints: every region's size added up.
 *
 * Taint letters come from the kernel's own `taint_flags[]` table (struct taint_flag: c_true,
 * c_false, module), so a kernel with new taint bits needs no change here; the letters of Linux
 * 4.15–6.12 are the fallback.
 *
 * Module symbols: `mod->kallsyms` (struct mod_kallsyms: an Elf64_Sym table, its string table
 * and kallsyms type letters), searched like kernel/module/kallsyms.c find_kallsyms_symbol(), so
 * `func+0x47/0x80 [mod]` comes out as the kernel prints it.
 */
import type { Kernel } from './kernel.js';
import { KdumpkitError, ValidationError } from '../util/errors.js';
import { cString } from '../util/bytes.js';

export type ModuleState = 'live' | 'coming' | 'going' | 'unformed' | 'unknown';

export interface ModuleRegion {
  /** MOD_TEXT, MOD_DATA, … (Linux ≥ 6.4), or core/init (older layouts). */
  readonly kind: string;
  readonly base: bigint;
  readonly size: number;
  /** The text part: the region itself for *_TEXT, layout.text_size for older layouts. */
  readonly textSize: number;
  readonly init: boolean;
}

export interface ModuleInfo {
  /** struct module address. */
  readonly address: bigint;
  readonly name: string;
  readonly state: ModuleState;
  /** Core text base (mem[MOD_TEXT].base, core_layout.base, module_core). */
  readonly base: bigint;
  /** What lsmod prints: all regions added up. */
  readonly size: number;
  readonly regions: readonly ModuleRegion[];
  /** mod->taints bitmask. */
  readonly taints: number;
  /** The module's taint letters, e.g. "OE". */
  readonly taintLetters: string;
  /** What /proc/modules and "Modules linked in:" print after the name: "(OE+)", or "". */
  readonly flags: string;
  /** refcnt (module references); undefined when unreadable. */
  readonly refcount: number | undefined;
}

export interface TaintFlag {
  readonly bit: number;
  readonly letter: string;
  /** The letter printed when the bit is clear (' ' or, for bit 0, 'G'). */
  readonly clear: string;
  /** Whether modules carry this taint too. */
  readonly module: boolean;
  readonly name: string;
}

export interface KernelTaint {
  readonly mask: bigint;
  /** print_tainted(): "Not tainted" or "Tainted: G           OE      ". */
  readonly text: string;
  /** The bits set. */
  readonly flags: readonly TaintFlag[];
}

/** TAINT_* names (include/linux/panic.h), by bit; the letters are read from the dump. */
const TAINT_NAMES = [
  'PROPRIETARY_MODULE', 'FORCED_MODULE', 'CPU_OUT_OF_SPEC', 'FORCED_RMMOD', 'MACHINE_CHECK', 'BAD_PAGE',
  'USER', 'DIE', 'OVERRIDDEN_ACPI_TABLE', 'WARN', 'CRAP', 'FIRMWARE_WORKAROUND', 'OOT_MODULE',
  'UNSIGNED_MODULE', 'SOFTLOCKUP', 'LIVEPATCH', 'AUX', 'RANDSTRUCT', 'TEST',
];
/** Linux 4.15–6.12 taint_flags[]: c_true letters, and which apply to modules. */
const DEFAULT_TAINT_LETTERS = 'PFSRMBUDAWCIOELKXTN';
const DEFAULT_MODULE_TAINTS = new Set(['P', 'F', 'C', 'O', 'E', 'L', 'K', 'X', 'T', 'N'].map((c) => DEFAULT_TAINT_LETTERS.indexOf(c)));

function defaultTaintFlags(): TaintFlag[] {
  return [...DEFAULT_TAINT_LETTERS].map((letter, bit) => ({ bit, letter, clear: bit === 0 ? 'G' : ' ', module: DEFAULT_MODULE_TAINTS.has(bit), name: TAINT_NAMES[bit] ?? `TAINT_${bit}` }));
}

/** The kernel's taint_flags[] table, or the Linux 4.15–6.12 table when it cannot be read. */
export function readTaintFlags(k: Kernel, warnings: string[]): TaintFlag[] {
  const a = k.symbols.address('taint_flags');
  if (a === undefined) {
    warnings.push(`taint_flags not in ${k.symbols.source}: using the taint letters of Linux 4.15–6.12`);
    return defaultTaintFlags();
  }
  try {
    const t = k.types;
    const elem = t.sizeof('struct taint_flag');
    const offT = t.offsetof('struct taint_flag', 'c_true');
    const offF = t.offsetof('struct taint_flag', 'c_false');
    const offM = t.offsetof('struct taint_flag', 'module');
    const size = k.symbols.symbolize(a)?.size;
    const n = Math.min(size !== undefined ? Number(size) / elem : TAINT_NAMES.length, 64);
    const b = k.mem.read(a, Math.floor(n) * elem);
    const out: TaintFlag[] = [];
    for (let i = 0; i < Math.floor(n); i++) {
      const ct = b[i * elem + offT]!;
      const cf = b[i * elem + offF]!;
      // Uppercase letters (and 'G'/' '/'-' when clear); anything else is past the table's end.
      if (ct < 0x41 || ct > 0x5a || !(cf === 0x20 || cf === 0x2d || (cf >= 0x41 && cf <= 0x5a))) break;
      out.push({ bit: i, letter: String.fromCharCode(ct), clear: String.fromCharCode(cf), module: b[i * elem + offM]! !== 0, name: TAINT_NAMES[i] ?? `TAINT_${i}` });
    }
    if (out.length < 10) throw new ValidationError(`taint_flags at 0x${a.toString(16)} does not look like a taint table (${out.length} valid entries)`);
    return out;
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    warnings.push(`taint_flags unreadable (${e.message}): using the taint letters of Linux 4.15–6.12`);
    return defaultTaintFlags();
  }
}

/** tainted_mask as print_tainted() shows it. */
export function readKernelTaint(k: Kernel, flags: readonly TaintFlag[]): KernelTaint {
  const mask = readU64At(k, k.address('tainted_mask'));
  return { mask, text: taintText(mask, flags), flags: flags.filter((f) => (mask >> BigInt(f.bit)) & 1n) };
}

export function taintText(mask: bigint, flags: readonly TaintFlag[]): string {
  if (mask === 0n) return 'Not tainted';
  return 'Tainted: ' + flags.map((f) => ((mask >> BigInt(f.bit)) & 1n ? f.letter : f.clear)).join('');
}

const STATES: Record<number, ModuleState> = { 0: 'live', 1: 'coming', 2: 'going', 3: 'unformed' };

interface ModuleLayout {
  list: number;
  name: number;
  nameSize: number;
  state: number;
  taints: number | undefined;
  refcnt: number | undefined;
  kallsyms: number | undefined;
  regions: (mod: bigint) => ModuleRegion[];
}

function has(k: Kernel, s: string, m: string): boolean {
  try {
    k.types.member(s, m);
    return true;
  } catch (e) {
    if (e instanceof KdumpkitError) return false;
    throw e;
  }
}

const MOD_MEM_NAMES = ['MOD_TEXT', 'MOD_DATA', 'MOD_RODATA', 'MOD_RO_AFTER_INIT', 'MOD_INIT_TEXT', 'MOD_INIT_DATA', 'MOD_INIT_RODATA'];

function layout(k: Kernel): ModuleLayout {
  const t = k.types;
  const M = 'struct module';
  const name = t.member(M, 'name');
  let regions: ModuleLayout['regions'];
  if (has(k, M, 'mem')) {
    const memOff = t.offsetof(M, 'mem');
    const elem = t.sizeof('struct module_memory');
    const baseOff = t.offsetof('struct module_memory', 'base');
    const sizeOff = t.offsetof('struct module_memory', 'size');
    const kinds: { name: string; index: number }[] = [];
    for (const n of MOD_MEM_NAMES) {
      try {
        kinds.push({ name: n, index: Number(t.enumValue('mod_mem_type', n)) });
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
      }
    }
    if (kinds.length === 0) kinds.push(...MOD_MEM_NAMES.map((n, index) => ({ name: n, index })));
    regions = (mod) => {
      const b = k.mem.read(mod + BigInt(memOff), elem * (Math.max(...kinds.map((x) => x.index)) + 1));
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      return kinds.map(({ name: kind, index }) => {
        const size = dv.getUint32(index * elem + sizeOff, true);
        return { kind, base: dv.getBigUint64(index * elem + baseOff, true), size, textSize: kind.endsWith('_TEXT') ? size : 0, init: kind.startsWith('MOD_INIT') };
      });
    };
  } else if (has(k, M, 'core_layout')) {
    const L = 'struct module_layout';
    const lb = t.offsetof(L, 'base');
    const ls = t.offsetof(L, 'size');
    const lt = has(k, L, 'text_size') ? t.offsetof(L, 'text_size') : undefined;
    const parts = (['core_layout', 'data_layout', 'init_layout'] as const).filter((p) => has(k, M, p)).map((p) => ({ p, off: t.offsetof(M, p) }));
    regions = (mod) =>
      parts.map(({ p, off }) => {
        const b = k.mem.read(mod + BigInt(off), t.sizeof(L));
        const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
        return { kind: p, base: dv.getBigUint64(lb, true), size: dv.getUint32(ls, true), textSize: lt === undefined ? 0 : dv.getUint32(lt, true), init: p === 'init_layout' };
      });
  } else if (has(k, M, 'module_core')) {
    const f = (m: string): number => t.offsetof(M, m);
    regions = (mod) => {
      const rd = (m: string, n: 4 | 8): bigint => {
        const b = k.mem.read(mod + BigInt(f(m)), n);
        const dv = new DataView(b.buffer, b.byteOffset, n);
        return n === 8 ? dv.getBigUint64(0, true) : BigInt(dv.getUint32(0, true));
      };
      return [
        { kind: 'module_core', base: rd('module_core', 8), size: Number(rd('core_size', 4)), textSize: Number(rd('core_text_size', 4)), init: false },
        { kind: 'module_init', base: rd('module_init', 8), size: Number(rd('init_size', 4)), textSize: Number(rd('init_text_size', 4)), init: true },
      ];
    };
  } else throw new ValidationError('struct module has none of mem, core_layout, module_core: unknown module layout');
  return {
    list: t.offsetof(M, 'list'),
    name: name.offsetBits / 8,
    nameSize: name.size ?? 56,
    state: t.offsetof(M, 'state'),
    taints: has(k, M, 'taints') ? t.offsetof(M, 'taints') : undefined,
    refcnt: has(k, M, 'refcnt') ? t.offsetof(M, 'refcnt') : undefined,
    kallsyms: has(k, M, 'kallsyms') ? t.offsetof(M, 'kallsyms') : undefined,
    regions,
  };
}

export interface ModuleList {
  readonly modules: readonly ModuleInfo[];
  readonly taintFlags: readonly TaintFlag[];
  readonly warnings: readonly string[];
}

/** Reads the `modules` list in list order (most recently loaded first, as lsmod). */
export function readModules(k: Kernel, taintFlags?: readonly TaintFlag[]): ModuleList {
  const warnings: string[] = [];
  const flags = taintFlags ?? readTaintFlags(k, warnings);
  const lay = layout(k);
  const head = k.address('modules');
  const modules: ModuleInfo[] = [];
  const seen = new Set<bigint>();
  let node: bigint;
  try {
    node = readU64At(k, head);
    while (node !== head) {
      if (node === 0n) throw new ValidationError(`NULL next pointer after ${modules.length} modules`);
      if (seen.has(node) || seen.size > 100_000) throw new ValidationError(`the list loops after ${modules.length} modules`);
      seen.add(node);
      const mod = node - BigInt(lay.list);
      modules.push(readModule(k, lay, mod, flags, warnings));
      node = readU64At(k, node);
    }
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    warnings.push(`modules list: walk stopped: ${e.message}`);
  }
  return { modules, taintFlags: flags, warnings };
}

function readModule(k: Kernel, lay: ModuleLayout, mod: bigint, flags: readonly TaintFlag[], warnings: string[]): ModuleInfo {
  const nameBytes = k.mem.read(mod + BigInt(lay.name), lay.nameSize);
  const name = cString(nameBytes, 0, lay.nameSize);
  const st = readU32At(k, mod + BigInt(lay.state));
  const state = STATES[st] ?? 'unknown';
  let regions: ModuleRegion[] = [];
  try {
    regions = lay.regions(mod);
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    warnings.push(`module ${name}: memory regions unreadable: ${e.message}`);
  }
  const core = regions.find((r) => r.kind === 'MOD_TEXT' || r.kind === 'core_layout' || r.kind === 'module_core');
  const taints = lay.taints === undefined ? 0 : Number(readU64At(k, mod + BigInt(lay.taints)) & 0xffffffffn);
  const taintLetters = flags
    .filter((f) => f.module && (taints >> f.bit) & 1)
    .map((f) => f.letter)
    .join('');
  const mark = taintLetters + (state === 'going' ? '-' : '') + (state === 'coming' ? '+' : '');
  let refcount: number | undefined;
  if (lay.refcnt !== undefined) {
    try {
      refcount = readU32At(k, mod + BigInt(lay.refcnt)) | 0;
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
    }
  }
  return {
    address: mod,
    name,
    state,
    base: core?.base ?? 0n,
    size: regions.reduce((s, r) => s + r.size, 0),
    regions,
    taints,
    taintLetters,
    flags: mark ? `(${mark})` : '',
    refcount,
  };
}

// ---------------------------------------------------------------------------------------------
// Module symbols

export interface ModuleSymbol {
  readonly name: string;
  readonly address: bigint;
  /** kallsyms type letter ('t', 'T', 'd', …) when the module records one. */
  readonly type: string;
}

export interface ModuleSymbolized {
  readonly module: string;
  readonly name: string;
  readonly offset: bigint;
  readonly size: bigint;
}

const ELF64_SYM_SIZE = 24;
const SHN_UNDEF = 0;
const MAX_MODULE_SYMBOLS = 1_000_000;

/** Symbol lookup in module memory, loading each module's kallsyms on first use. */
export class ModuleSymbols {
  private readonly tables = new Map<bigint, { syms: ModuleSymbol[] } | null>();
  private kallsymsOff: number | undefined;

  constructor(
    private readonly k: Kernel,
    readonly modules: readonly ModuleInfo[],
    private readonly warnings: string[] = [],
  ) {}

  /** The module whose memory holds `addr`. */
  moduleAt(addr: bigint): ModuleInfo | undefined {
    return this.modules.find((m) => m.regions.some((r) => r.size > 0 && addr >= r.base && addr < r.base + BigInt(r.size)));
  }

  /** `addr` as find_kallsyms_symbol() resolves it, or undefined outside modules. */
  symbolize(addr: bigint): ModuleSymbolized | undefined {
    const mod = this.moduleAt(addr);
    if (!mod) return undefined;
    const t = this.symbolsOf(mod);
    if (!t) return undefined;
    const region = mod.regions.find((r) => r.size > 0 && addr >= r.base && addr < r.base + BigInt(r.size))!;
    // "At worst, next value is at end of module" text (MOD_TEXT / MOD_INIT_TEXT, or layout text).
    const textRegion = mod.regions.find((r) => r.init === region.init && r.textSize > 0) ?? region;
    let nextval = textRegion.base + BigInt(textRegion.textSize || textRegion.size);
    let best: ModuleSymbol | undefined;
    for (const s of t.syms) {
      if (s.address <= addr && (!best || s.address > best.address)) best = s;
      if (s.address > addr && s.address < nextval) nextval = s.address;
    }
    if (!best) return undefined;
    return { module: mod.name, name: best.name, offset: addr - best.address, size: nextval - best.address };
  }

  /** The module's symbols (named, defined, non-mapping), or undefined when unreadable. */
  symbolsOf(mod: ModuleInfo): { syms: ModuleSymbol[] } | undefined {
    if (this.tables.has(mod.address)) return this.tables.get(mod.address) ?? undefined;
    let r: { syms: ModuleSymbol[] } | null = null;
    try {
      r = { syms: this.load(mod) };
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      this.warnings.push(`symbols of module ${mod.name} unreadable: ${e.message}`);
    }
    this.tables.set(mod.address, r);
    return r ?? undefined;
  }

  private load(mod: ModuleInfo): ModuleSymbol[] {
    const t = this.k.types;
    this.kallsymsOff ??= t.offsetof('struct module', 'kallsyms');
    const ks = readU64At(this.k, mod.address + BigInt(this.kallsymsOff));
    if (ks === 0n) throw new ValidationError('mod->kallsyms is NULL');
    const K = 'struct mod_kallsyms';
    const symtab = readU64At(this.k, ks + BigInt(t.offsetof(K, 'symtab')));
    const num = readU32At(this.k, ks + BigInt(t.offsetof(K, 'num_symtab')));
    const strtab = readU64At(this.k, ks + BigInt(t.offsetof(K, 'strtab')));
    let typetab = 0n;
    try {
      typetab = readU64At(this.k, ks + BigInt(t.offsetof(K, 'typetab')));
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
    }
    if (num > MAX_MODULE_SYMBOLS) throw new ValidationError(`num_symtab ${num} is implausible`);
    const sb = this.k.mem.read(symtab, num * ELF64_SYM_SIZE);
    const dv = new DataView(sb.buffer, sb.byteOffset, sb.byteLength);
    let maxName = 0;
    for (let i = 0; i < num; i++) maxName = Math.max(maxName, dv.getUint32(i * ELF64_SYM_SIZE, true));
    const strLen = Math.min(maxName + 512, 16 << 20);
    const strs = this.k.mem.read(strtab, strLen);
    const types = typetab !== 0n ? this.k.mem.read(typetab, num) : undefined;
    const out: ModuleSymbol[] = [];
    for (let i = 1; i < num; i++) {
      const o = i * ELF64_SYM_SIZE;
      const shndx = dv.getUint16(o + 6, true);
      if (shndx === SHN_UNDEF) continue;
      const name = cString(strs, dv.getUint32(o, true), 512);
      if (name === '' || isMappingSymbol(name)) continue;
      const type = types ? String.fromCharCode(types[i]!) : String.fromCharCode(dv.getUint8(o + 4));
      out.push({ name, address: dv.getBigUint64(o + 8, true), type });
    }
    return out;
  }
}

/** kernel/module/kallsyms.c is_mapping_symbol(): "$x", ".L…", "L0…". */
function isMappingSymbol(s: string): boolean {
  if (s.startsWith('.L') || s.startsWith('L0')) return true;
  return s.startsWith('$');
}

function readU64At(k: Kernel, addr: bigint): bigint {
  const b = k.mem.read(addr, 8);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

function readU32At(k: Kernel, addr: bigint): number {
  const b = k.mem.read(addr, 4);
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
}
