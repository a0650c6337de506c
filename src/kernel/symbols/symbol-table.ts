/**
 * Kernel symbols: name ↔ address, with nm-style types and kallsyms-style sizes.
 *
 * One table per source (kallsyms decoded from the dump, a System.map, a vmlinux ELF symtab).
 * The table is columns, not objects: addresses in a BigUint64Array (searched through a Uint32
 * view, no BigInt per step), the order by address as a Uint32Array (none when the source is
 * already sorted, as kallsyms and `nm -n` are), types as char codes, and names in a NameColumn
 * (kallsyms keeps them token-compressed as the kernel does and expands one on demand). A name
 * index is built on the first name lookup. KernelSymbol objects are made only for the symbols
 * asked for (and kept, so the same symbol is the same object); all() makes every one.
 * Addresses are runtime addresses (already KASLR-shifted).
 */
import { NameColumn, NamesBuilder, StringNames } from './names.js';

export interface KernelSymbol {
  readonly name: string;
  /** Runtime virtual address (for x86_64 absolute-percpu kernels, percpu symbols are small offsets). */
  readonly address: bigint;
  /** nm-style type character: 'T'/'t' text, 'D'/'d' data, 'B'/'b' bss, 'R'/'r' rodata, 'A' absolute, 'W'/'V' weak… */
  readonly type: string;
  /** Module name for module symbols; absent for the core kernel. */
  readonly module?: string;
}

export interface Symbolized {
  /** The symbol containing the address: the first of any aliases at the same address. */
  readonly symbol: KernelSymbol;
  /** addr - symbol.address */
  readonly offset: bigint;
  /**
   * Distance from the symbol to the next higher distinct address in the table, as the kernel's
   * kallsyms_lookup_size_offset() computes it; undefined for the highest address.
   */
  readonly size: bigint | undefined;
}

/** A table's symbols as columns, in source order (what the readers build instead of objects). */
export interface SymbolColumns {
  readonly names: NameColumn;
  /** Runtime addresses (64-bit unsigned). */
  readonly addresses: BigUint64Array;
  /** nm type characters: char codes, or strings when some type is not one latin1 character. */
  readonly types: Uint8Array | readonly string[];
  /** Module of each symbol as 1 + an index into `names` (0: none); absent when no symbol has one. */
  readonly modules?: { readonly index: Uint32Array; readonly names: readonly string[] };
  /** The addresses are known to be ascending (the reader checked): no need to check again. */
  readonly sorted?: boolean;
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
/** Word indices of the low and high halves of element i of a BigUint64Array's Uint32 view: 2i + LO, 2i + HI. */
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;

/** One-character strings for type codes. */
const TYPE_STRINGS: string[] = Array.from({ length: 256 }, (_, c) => String.fromCharCode(c));

export class SymbolTable {
  /** Where the symbols came from, e.g. 'kallsyms (dump memory)', 'System.map FILE', 'vmlinux FILE'. */
  readonly source: string;
  /** How the source was decoded (encodings chosen, checks made), for `--verbose` style reports. */
  readonly notes: readonly string[];

  private readonly count: number;
  private readonly names: NameColumn;
  private readonly columns: SymbolColumns | undefined;
  /** Every symbol as an object: the constructor's array, or all() once called. */
  private objects: readonly KernelSymbol[] | undefined;
  /** Objects made so far for single symbols (lookup, symbolize), by index. */
  private readonly made = new Map<number, KernelSymbol>();
  /** Source index of the i-th symbol by address (ties in source order); undefined: the identity. */
  private readonly byAddress: Uint32Array | undefined;
  /** Addresses ordered by address (the source's own array when it is sorted). */
  private readonly sorted: BigUint64Array;
  private readonly sorted32: Uint32Array;

  /**
   * From symbol objects (kept as they are: lookups return these very objects), or from columns
   * (what the kallsyms, System.map and vmlinux readers build).
   */
  constructor(symbols: readonly KernelSymbol[] | SymbolColumns, source: string, notes: readonly string[] = []) {
    this.source = source;
    this.notes = notes;
    let addresses: BigUint64Array;
    if (isSymbolArray(symbols)) {
      this.objects = symbols;
      this.count = symbols.length;
      this.names = new StringNames(symbols.length, (i) => symbols[i]!.name);
      addresses = new BigUint64Array(symbols.length);
      for (let i = 0; i < symbols.length; i++) addresses[i] = BigInt.asUintN(64, symbols[i]!.address);
    } else {
      this.columns = symbols;
      this.count = symbols.addresses.length;
      this.names = symbols.names;
      addresses = symbols.addresses;
      if (symbols.names.count !== this.count || symbols.types.length !== this.count || (symbols.modules && symbols.modules.index.length !== this.count)) {
        throw new RangeError(`symbol columns of different lengths: ${this.count} addresses, ${symbols.names.count} names, ${symbols.types.length} types`);
      }
    }
    this.byAddress = this.columns?.sorted ? undefined : orderByAddress(addresses);
    if (this.byAddress) {
      const order = this.byAddress;
      this.sorted = new BigUint64Array(this.count);
      for (let i = 0; i < this.count; i++) this.sorted[i] = addresses[order[i]!]!;
    } else this.sorted = addresses;
    this.sorted32 = new Uint32Array(this.sorted.buffer, this.sorted.byteOffset, this.count * 2);
  }

  /** Number of symbols. */
  get size(): number {
    return this.count;
  }

  /** The first symbol of that name in source order. */
  lookup(name: string): KernelSymbol | undefined {
    const i = this.names.first(name);
    return i < 0 ? undefined : this.symbolAt(i);
  }

  /** Every symbol of that name (several for static functions of the same name), in source order. */
  lookupAll(name: string): KernelSymbol[] {
    return this.names.all(name).map((i) => this.symbolAt(i));
  }

  has(name: string): boolean {
    return this.names.first(name) >= 0;
  }

  address(name: string): bigint | undefined {
    return this.lookup(name)?.address;
  }

  /**
   * The symbol at or below `addr` (kernel get_symbol_pos(): binary search, then back to the first
   * alias). Undefined below the lowest symbol and above the highest one: past the last symbol
   * there is nothing to measure a size against, and such an address (a module, the direct map)
   * is not in the table's image.
   */
  symbolize(addr: bigint): Symbolized | undefined {
    const n = this.count;
    if (n === 0) return undefined;
    const x = BigInt.asUintN(64, addr);
    const xh = Number(x >> 32n);
    const xl = Number(x & 0xffffffffn);
    const a = this.sorted32;
    // hi = first position with address > x
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const h = a[2 * mid + HI]!;
      if (h < xh || (h === xh && a[2 * mid + LO]! <= xl)) lo = mid + 1;
      else hi = mid;
    }
    if (hi === 0) return undefined;
    const sh = a[2 * (hi - 1) + HI]!;
    const sl = a[2 * (hi - 1) + LO]!;
    if (hi === n && (sh !== xh || sl !== xl)) return undefined;
    // The first position with that same address.
    let f = 0;
    let e = hi - 1;
    while (f < e) {
      const mid = (f + e) >>> 1;
      const h = a[2 * mid + HI]!;
      if (h < sh || (h === sh && a[2 * mid + LO]! < sl)) f = mid + 1;
      else e = mid;
    }
    const start = this.sorted[hi - 1]!;
    const symbol = this.symbolAt(this.byAddress ? this.byAddress[f]! : f);
    return { symbol, offset: x - start, size: hi < n ? this.sorted[hi]! - start : undefined };
  }

  /**
   * Symbols with start ≤ address < end, ordered by address (ties in source order): a binary
   * search, then one object per symbol in the range.
   */
  symbolsBetween(start: bigint, end: bigint): KernelSymbol[] {
    const from = this.firstAtOrAbove(BigInt.asUintN(64, start));
    const to = end <= start ? from : this.firstAtOrAbove(BigInt.asUintN(64, end));
    const out: KernelSymbol[] = [];
    for (let p = from; p < to; p++) out.push(this.symbolAt(this.byAddress ? this.byAddress[p]! : p));
    return out;
  }

  /** Symbols in source order. */
  all(): readonly KernelSymbol[] {
    if (!this.objects) {
      const c = this.columns!;
      const names = this.names.names();
      const out = new Array<KernelSymbol>(this.count);
      const made = this.made;
      for (let i = 0; i < this.count; i++) out[i] = (made.size > 0 ? made.get(i) : undefined) ?? this.make(c, i, names[i]!);
      this.objects = out;
      made.clear();
    }
    return this.objects;
  }

  /** Symbols ordered by address (ties in source order). */
  sortedByAddress(): KernelSymbol[] {
    const order = this.byAddress;
    return Array.from({ length: this.count }, (_, p) => this.symbolAt(order ? order[p]! : p));
  }

  /** Symbol number i in source order, as an object (the same object every time). */
  private symbolAt(i: number): KernelSymbol {
    if (this.objects) return this.objects[i]!;
    let s = this.made.get(i);
    if (s) return s;
    s = this.make(this.columns!, i, this.names.name(i));
    this.made.set(i, s);
    return s;
  }

  private make(c: SymbolColumns, i: number, name: string): KernelSymbol {
    const address = c.addresses[i]!;
    const type = c.types instanceof Uint8Array ? TYPE_STRINGS[c.types[i]!]! : (c.types as readonly string[])[i]!;
    const m = c.modules ? c.modules.index[i]! : 0;
    return m > 0 ? { name, address, type, module: c.modules!.names[m - 1]! } : { name, address, type };
  }

  /** The first position (by address) whose address is ≥ x. */
  private firstAtOrAbove(x: bigint): number {
    const xh = Number(x >> 32n);
    const xl = Number(x & 0xffffffffn);
    const a = this.sorted32;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const h = a[2 * mid + HI]!;
      if (h < xh || (h === xh && a[2 * mid + LO]! < xl)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function isSymbolArray(x: readonly KernelSymbol[] | SymbolColumns): x is readonly KernelSymbol[] {
  return Array.isArray(x);
}

/**
 * Source indices in address order, ties in source order; undefined when the source is sorted
 * already (checked in O(n) first). A stable LSD radix sort on 16-bit digits of the address,
 * skipping digits that all addresses share.
 */
function orderByAddress(addresses: BigUint64Array): Uint32Array | undefined {
  const n = addresses.length;
  const w = new Uint32Array(addresses.buffer, addresses.byteOffset, n * 2);
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) {
    const ph = w[2 * i - 2 + HI]!;
    const h = w[2 * i + HI]!;
    if (h < ph || (h === ph && w[2 * i + LO]! < w[2 * i - 2 + LO]!)) sorted = false;
  }
  if (sorted) return undefined;
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let tmp = new Uint32Array(n);
  const counts = new Uint32Array(65537);
  for (let digit = 0; digit < 4; digit++) {
    const word = digit < 2 ? LO : HI;
    const shift = (digit & 1) * 16;
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[((w[2 * i + word]! >>> shift) & 0xffff) + 1]!++;
    // All in one bucket: this digit orders nothing.
    if (counts.some((c) => c === n)) continue;
    for (let d = 0; d < 65536; d++) counts[d + 1]! += counts[d]!;
    for (let p = 0; p < n; p++) {
      const i = order[p]!;
      tmp[counts[(w[2 * i + word]! >>> shift) & 0xffff]!++] = i;
    }
    [order, tmp] = [tmp, order];
  }
  return order;
}

/**
 * Builds a SymbolTable's columns one symbol at a time (System.map lines, ELF symbols), without
 * an object per symbol.
 */
export class SymbolTableBuilder {
  private readonly names = new NamesBuilder();
  private addresses = new BigUint64Array(1024);
  private types = new Uint8Array(1024);
  /** Types as strings, once some type is not one latin1 character. */
  private typeStrings: string[] | undefined;
  private moduleIndex: Uint32Array | undefined;
  private readonly moduleNames: string[] = [];
  private readonly moduleIds = new Map<string, number>();
  private n = 0;

  /** Number of symbols added. */
  get size(): number {
    return this.n;
  }

  add(name: string, address: bigint, type: string, module?: string): void {
    this.names.add(name);
    this.push(address, type, module);
  }

  /** Adds a symbol whose name is the latin1 bytes src[start..end). */
  addLatin1(src: Uint8Array, start: number, end: number, address: bigint, type: string, module?: string): void {
    this.names.addLatin1(src, start, end);
    this.push(address, type, module);
  }

  build(source: string, notes: readonly string[] = []): SymbolTable {
    const n = this.n;
    const modules = this.moduleIndex ? { index: this.moduleIndex.slice(0, n), names: this.moduleNames } : undefined;
    const columns: SymbolColumns = {
      names: this.names.build(),
      addresses: this.addresses.slice(0, n),
      types: this.typeStrings ?? this.types.slice(0, n),
      ...(modules ? { modules } : {}),
    };
    return new SymbolTable(columns, source, notes);
  }

  private push(address: bigint, type: string, module: string | undefined): void {
    const i = this.n;
    if (i === this.addresses.length) this.grow();
    this.addresses[i] = BigInt.asUintN(64, address);
    const code = type.length === 1 ? type.charCodeAt(0) : 0x100;
    if (this.typeStrings) this.typeStrings.push(type);
    else if (code <= 0xff) this.types[i] = code;
    else {
      this.typeStrings = Array.from(this.types.subarray(0, i), (c) => TYPE_STRINGS[c]!);
      this.typeStrings.push(type);
    }
    if (module !== undefined) {
      this.moduleIndex ??= new Uint32Array(this.addresses.length);
      let id = this.moduleIds.get(module);
      if (id === undefined) {
        this.moduleNames.push(module);
        id = this.moduleNames.length;
        this.moduleIds.set(module, id);
      }
      this.moduleIndex[i] = id;
    }
    this.n = i + 1;
  }

  private grow(): void {
    const cap = this.addresses.length * 2;
    const a = new BigUint64Array(cap);
    a.set(this.addresses);
    this.addresses = a;
    const t = new Uint8Array(cap);
    t.set(this.types);
    this.types = t;
    if (this.moduleIndex) {
      const m = new Uint32Array(cap);
      m.set(this.moduleIndex);
      this.moduleIndex = m;
    }
  }
}
