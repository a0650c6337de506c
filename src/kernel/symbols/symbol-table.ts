/**
 * Kernel symbols: name ↔ address, with nm-style types and kallsyms-style sizes.
 *
 * One table per source (kallsyms decoded from the dump, a System.map, a vmlinux ELF symtab).
 * Built once: a sorted copy of the addresses for address → symbol (binary search), and a name
 * map for name → symbol. Addresses are runtime addresses (already KASLR-shifted).
 */

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

export class SymbolTable {
  /** Where the symbols came from, e.g. 'kallsyms (dump memory)', 'System.map FILE', 'vmlinux FILE'. */
  readonly source: string;
  /** How the source was decoded (encodings chosen, checks made), for `--verbose` style reports. */
  readonly notes: readonly string[];

  private readonly symbols: readonly KernelSymbol[];
  /** Indices into `symbols`, ordered by address; ties keep source order. */
  private readonly byAddress: Uint32Array;
  /** addresses[i] = symbols[byAddress[i]].address */
  private readonly addresses: BigUint64Array;
  private readonly firstByName = new Map<string, number>();
  /** Only for names that occur more than once (static functions, aliases). */
  private readonly allByName = new Map<string, number[]>();

  constructor(symbols: readonly KernelSymbol[], source: string, notes: readonly string[] = []) {
    this.source = source;
    this.notes = notes;
    this.symbols = symbols;
    const n = symbols.length;

    for (let i = 0; i < n; i++) {
      const name = symbols[i]!.name;
      const first = this.firstByName.get(name);
      if (first === undefined) {
        this.firstByName.set(name, i);
        continue;
      }
      const list = this.allByName.get(name);
      if (list) list.push(i);
      else this.allByName.set(name, [first, i]);
    }

    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    // kallsyms and `nm -n` output is already sorted: check in O(n) before paying for a sort.
    let sorted = true;
    for (let i = 1; i < n && sorted; i++) if (symbols[i]!.address < symbols[i - 1]!.address) sorted = false;
    if (!sorted) {
      const idx = Array.from(order);
      idx.sort((a, b) => {
        const x = symbols[a]!.address;
        const y = symbols[b]!.address;
        return x < y ? -1 : x > y ? 1 : a - b;
      });
      order.set(idx);
    }
    this.byAddress = order;
    this.addresses = new BigUint64Array(n);
    for (let i = 0; i < n; i++) this.addresses[i] = BigInt.asUintN(64, symbols[order[i]!]!.address);
  }

  /** Number of symbols. */
  get size(): number {
    return this.symbols.length;
  }

  /** The first symbol of that name in source order. */
  lookup(name: string): KernelSymbol | undefined {
    const i = this.firstByName.get(name);
    return i === undefined ? undefined : this.symbols[i];
  }

  /** Every symbol of that name (several for static functions of the same name), in source order. */
  lookupAll(name: string): KernelSymbol[] {
    const list = this.allByName.get(name);
    if (list) return list.map((i) => this.symbols[i]!);
    const one = this.lookup(name);
    return one ? [one] : [];
  }

  has(name: string): boolean {
    return this.firstByName.has(name);
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
    const a = this.addresses;
    const n = a.length;
    if (n === 0) return undefined;
    const x = BigInt.asUintN(64, addr);
    // hi = first index with address > x
    const hi = upperBound(a, x);
    if (hi === 0) return undefined;
    const start = a[hi - 1]!;
    if (hi === n && x !== start) return undefined;
    const first = lowerBound(a, start, hi - 1);
    const symbol = this.symbols[this.byAddress[first]!]!;
    return { symbol, offset: x - start, size: hi < n ? a[hi]! - start : undefined };
  }

  /** Symbols in source order. */
  all(): readonly KernelSymbol[] {
    return this.symbols;
  }

  /** Symbols ordered by address (ties in source order). */
  sortedByAddress(): KernelSymbol[] {
    return Array.from(this.byAddress, (i) => this.symbols[i]!);
  }
}

function upperBound(a: BigUint64Array, x: bigint): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index in [0, end] whose address equals a[end] (a is sorted). */
function lowerBound(a: BigUint64Array, x: bigint, end: number): number {
  let lo = 0;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
