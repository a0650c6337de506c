import type { Dump } from '../formats/open.js';
import type { Vmcoreinfo } from '../formats/vmcore/vmcoreinfo.js';
import { btfFromDumpMemory, btfFromElf, btfFromFile, findBtfInImage } from '../formats/btf/sources.js';
import { X86_64AddressSpace } from '../memory/arch/x86_64.js';
import { KdumpkitError, MissingInfoError } from '../util/errors.js';
import { loadSymbols, type LoadSymbolsOptions } from './symbols/discover.js';
import type { SymbolTable } from './symbols/symbol-table.js';
import { BtfTypeInfo, VmcoreinfoTypeInfo, chainTypeInfo, type TypeInfo } from './types/type-info.js';
import { KObject, TypedMemory } from './types/object.js';

export interface KernelOptions extends LoadSymbolsOptions {
  /** A raw BTF file (e.g. /sys/kernel/btf/vmlinux of the same build) or an ELF with .BTF. */
  readonly btf?: string;
}

/** Where each kind of kernel knowledge came from, and what was tried first. */
export interface KernelSources {
  readonly symbols: string;
  readonly symbolsTried: readonly string[];
  readonly types: string;
  readonly typesTried: readonly string[];
}

/** How far to scan the kernel image for BTF when no symbol names its range. */
const BTF_SCAN_BYTES = 96n << 20n;

/**
 * The crashed kernel as analyses see it: its memory through its own page tables, its symbols
 * (kallsyms from the dump, or System.map/vmlinux), its types (BTF from the dump, a vmlinux,
 * or VMCOREINFO's SIZE/OFFSET entries as the minimal fallback) and typed objects on top.
 * The analyses never know which dump format or which source answered.
 */
export class Kernel {
  readonly mem: X86_64AddressSpace;
  readonly info: Vmcoreinfo;
  readonly symbols: SymbolTable;
  /** BTF when available; analyses needing struct navigation require it. */
  readonly btf: BtfTypeInfo | undefined;
  /** BTF first, then VMCOREINFO. */
  readonly types: TypeInfo;
  readonly sources: KernelSources;
  private typedMemory: TypedMemory | undefined;

  private constructor(
    readonly dump: Dump,
    parts: { mem: X86_64AddressSpace; info: Vmcoreinfo; symbols: SymbolTable; btf: BtfTypeInfo | undefined; sources: KernelSources },
  ) {
    this.mem = parts.mem;
    this.info = parts.info;
    this.symbols = parts.symbols;
    this.btf = parts.btf;
    this.types = chainTypeInfo(parts.btf, new VmcoreinfoTypeInfo(parts.info));
    this.sources = parts.sources;
  }

  static open(dump: Dump, opts: KernelOptions = {}): Kernel {
    const info = dump.vmcoreinfo;
    if (!info) throw new MissingInfoError(`${dump.path}: the dump has no VMCOREINFO note`, 'For QEMU dump-guest-memory, start the guest with -device vmcoreinfo.');
    const mem = X86_64AddressSpace.fromDump(dump);
    const { table: symbols, tried: symbolsTried } = loadSymbols(dump, mem, opts);
    const typesTried: string[] = [];
    const btf = loadBtf(mem, symbols, opts, typesTried);
    return new Kernel(dump, {
      mem,
      info,
      symbols,
      btf,
      sources: { symbols: symbols.source, symbolsTried, types: btf ? btf.source : 'VMCOREINFO SIZE/OFFSET entries only', typesTried },
    });
  }

  /** Typed access (objects, container_of, list walks); needs BTF. */
  get typed(): TypedMemory {
    if (!this.btf) throw new MissingInfoError(`no BTF type information for this kernel (${this.sources.typesTried.join('; ')})`, 'Give --btf FILE or --vmlinux FILE of the same kernel build.');
    this.typedMemory ??= new TypedMemory(this.mem, this.btf);
    return this.typedMemory;
  }

  /** Address of a kernel symbol; MissingInfoError naming the symbol source if absent. */
  address(name: string): bigint {
    const a = this.symbols.address(name);
    if (a === undefined) throw new MissingInfoError(`symbol ${name} not found in ${this.symbols.source}`);
    return a;
  }

  /** The global variable `name` as an object of `type`, e.g. object('init_task', 'struct task_struct'). */
  object(name: string, type: string): KObject {
    return this.typed.object(type, this.address(name));
  }
}

function loadBtf(mem: X86_64AddressSpace, symbols: SymbolTable, opts: KernelOptions, tried: string[]): BtfTypeInfo | undefined {
  const attempt = (label: string, f: () => BtfTypeInfo): BtfTypeInfo | undefined => {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      tried.push(`${label}: ${e.message}`);
      return undefined;
    }
  };
  if (opts.btf) {
    const t = attempt(`--btf ${opts.btf}`, () => new BtfTypeInfo(btfFromFile(opts.btf!)));
    if (t) return t;
  }
  const start = symbols.address('__start_BTF');
  const stop = symbols.address('__stop_BTF');
  if (start !== undefined && stop !== undefined) {
    const t = attempt('BTF in dump memory', () => new BtfTypeInfo(btfFromDumpMemory(mem, start, stop)));
    if (t) return t;
  } else tried.push(`BTF in dump memory: __start_BTF/__stop_BTF not in ${symbols.source}`);
  if (opts.vmlinux) {
    const t = attempt(`--vmlinux ${opts.vmlinux}`, () => new BtfTypeInfo(btfFromElf(opts.vmlinux!)));
    if (t) return t;
  }
  const stext = symbols.address('_stext');
  if (stext !== undefined) {
    const t = attempt('BTF by scanning the kernel image', () => {
      const c = findBtfInImage(mem, stext, stext + BTF_SCAN_BYTES);
      if (!c) throw new MissingInfoError('no BTF header found in the kernel image');
      return new BtfTypeInfo(c.btf, `BTF found by scanning the kernel image at 0x${c.start.toString(16)}`);
    });
    if (t) return t;
  }
  return undefined;
}
