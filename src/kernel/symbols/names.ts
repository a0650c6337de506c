/**
 * Symbol names without one JS string per symbol, and a compact name → indices index.
 *
 * A NameColumn holds the names of a SymbolTable in whatever form its source has them (kallsyms
 * keeps the kernel's token-compressed stream, System.map and vmlinux one latin1 byte buffer)
 * and expands one name on demand. The index is a chained hash table in three typed arrays
 * (bucket heads, next links, full hashes: 12-16 bytes a symbol), built on the first name lookup
 * from hashes the column computes without materialising the names (kallsyms builds it while it
 * walks the names stream anyway).
 */

/** Multiplier of the polynomial name hash (the FNV prime: odd, well spread). */
export const NAME_HASH_MULTIPLIER = 0x01000193;

/**
 * The name hash: h = h * M + c over the UTF-16 code units, modulo 2^32 (as an int32). Being
 * polynomial, the hash of a concatenation is hash(a) * M^|b| + hash(b): a kallsyms name hashes
 * from per-token values without being expanded.
 */
export function nameHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, NAME_HASH_MULTIPLIER) + s.charCodeAt(i)) | 0;
  return h;
}

/** M^k modulo 2^32, as an int32. */
export function hashPower(k: number): number {
  let p = 1;
  for (let i = 0; i < k; i++) p = Math.imul(p, NAME_HASH_MULTIPLIER);
  return p;
}

/** Bucket of a hash: the murmur3 finaliser, so that the low bits depend on every character. */
export function bucketOf(h: number, mask: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & mask;
}

/**
 * name → indices: a chained hash table. Chain heads by bucket, and for each index the next one
 * in its bucket (descending: each index is pushed on its chain in ascending order; -1 at the
 * end) and its name's hash.
 */
export interface NameIndex {
  readonly head: Int32Array;
  readonly next: Int32Array;
  readonly hash: Int32Array;
  /** Buckets - 1 (a power of two minus one). */
  readonly mask: number;
}

/** The bucket mask for n names: a power of two ≥ n / 2 buckets (chains of 1-2: small and in cache). */
export function indexMask(n: number): number {
  let buckets = 16;
  while (buckets * 2 < n) buckets *= 2;
  return buckets - 1;
}

/** Pushes index i (ascending order of calls) with hash h on its chain. */
export function indexAdd(head: Int32Array, next: Int32Array, mask: number, i: number, h: number): void {
  const b = bucketOf(h, mask);
  next[i] = head[b]!;
  head[b] = i;
}

export abstract class NameColumn {
  /** Number of names. */
  abstract readonly count: number;
  /** Name number `i` (source order). */
  abstract name(i: number): string;
  /** nameHash(name(i)) for every i; columns compute it without materialising strings. */
  protected abstract hashes(): Int32Array;

  /** Every name, in order (for listing every symbol: faster than name(i) one by one). */
  names(): string[] {
    const out = new Array<string>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.name(i);
    return out;
  }

  /** Whether name(i) is `s`; columns may compare without materialising name(i). */
  protected equals(i: number, s: string): boolean {
    return this.name(i) === s;
  }

  private index: NameIndex | undefined;

  /** Takes an index built along with the names (instead of building one on the first lookup). */
  protected adopt(index: NameIndex): void {
    if (index.next.length !== this.count || index.hash.length !== this.count) throw new RangeError('name index of another length');
    this.index = index;
  }

  private buildIndex(): NameIndex {
    const n = this.count;
    const hash = this.hashes();
    const mask = indexMask(n);
    const head = new Int32Array(mask + 1).fill(-1);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) indexAdd(head, next, mask, i, hash[i]!);
    return (this.index = { head, next, hash, mask });
  }

  /** Whether the name index has been built (it is, on the first lookup). */
  get indexed(): boolean {
    return this.index !== undefined;
  }

  /** The first index (source order) whose name is `s`, or -1. */
  first(s: string): number {
    const { head, next, hash, mask } = this.index ?? this.buildIndex();
    const h = nameHash(s);
    // Chains run from the highest index down: the first is the last match.
    let found = -1;
    for (let i = head[bucketOf(h, mask)]!; i >= 0; i = next[i]!) {
      if (hash[i] === h && this.equals(i, s)) found = i;
    }
    return found;
  }

  /** Every index whose name is `s`, ascending. */
  all(s: string): number[] {
    const { head, next, hash, mask } = this.index ?? this.buildIndex();
    const h = nameHash(s);
    const out: number[] = [];
    for (let i = head[bucketOf(h, mask)]!; i >= 0; i = next[i]!) {
      if (hash[i] === h && this.equals(i, s)) out.push(i);
    }
    return out.reverse();
  }
}

/** Names read from JS strings through an accessor (a KernelSymbol array). */
export class StringNames extends NameColumn {
  constructor(
    readonly count: number,
    private readonly get: (i: number) => string,
  ) {
    super();
  }

  name(i: number): string {
    return this.get(i);
  }

  protected hashes(): Int32Array {
    const out = new Int32Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = nameHash(this.get(i));
    return out;
  }
}

/** Names as one latin1 byte buffer: name i is bytes[offsets[i]..offsets[i + 1]). */
export class PackedNames extends NameColumn {
  private readonly text: Buffer;

  constructor(
    readonly bytes: Uint8Array,
    readonly offsets: Uint32Array,
  ) {
    super();
    this.text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get count(): number {
    return this.offsets.length - 1;
  }

  name(i: number): string {
    return this.text.toString('latin1', this.offsets[i], this.offsets[i + 1]);
  }

  override names(): string[] {
    return sliceAll(this.text.toString('latin1', this.offsets[0], this.offsets[this.count]), this.offsets);
  }

  protected override equals(i: number, s: string): boolean {
    const start = this.offsets[i]!;
    const len = this.offsets[i + 1]! - start;
    if (len !== s.length) return false;
    const b = this.bytes;
    for (let k = 0; k < len; k++) if (b[start + k] !== s.charCodeAt(k)) return false;
    return true;
  }

  protected hashes(): Int32Array {
    const n = this.count;
    const out = new Int32Array(n);
    const b = this.bytes;
    const off = this.offsets;
    let j = off[0]!;
    for (let i = 0; i < n; i++) {
      const end = off[i + 1]!;
      let h = 0;
      for (; j < end; j++) h = (Math.imul(h, NAME_HASH_MULTIPLIER) + b[j]!) | 0;
      out[i] = h;
    }
    return out;
  }
}

/**
 * Strings for text[offsets[i] - offsets[0] .. offsets[i + 1] - offsets[0]): slices of one string
 * (V8 makes longer ones views of it), far cheaper than decoding each name on its own.
 */
export function sliceAll(text: string, offsets: Uint32Array): string[] {
  const n = offsets.length - 1;
  const base = offsets[0]!;
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = text.slice(offsets[i]! - base, offsets[i + 1]! - base);
  return out;
}

/**
 * Builds a PackedNames from names given as strings or as latin1 bytes. A name with a character
 * above U+00FF (only possible from a caller's JS string) cannot be latin1: the builder then
 * keeps plain strings instead.
 */
export class NamesBuilder {
  private bytes = new Uint8Array(1 << 16);
  private used = 0;
  private offsets = new Uint32Array(1 << 12);
  private n = 0;
  private strings: string[] | undefined;

  get count(): number {
    return this.n;
  }

  add(s: string): void {
    if (this.strings) {
      this.strings.push(s);
      this.n++;
      return;
    }
    const len = s.length;
    this.reserve(len);
    const b = this.bytes;
    let at = this.used;
    for (let k = 0; k < len; k++) {
      const c = s.charCodeAt(k);
      if (c > 0xff) {
        this.widen();
        this.strings!.push(s);
        this.n++;
        return;
      }
      b[at++] = c;
    }
    this.push(at);
  }

  /** Adds the latin1 name bytes src[start..end). */
  addLatin1(src: Uint8Array, start: number, end: number): void {
    if (this.strings) {
      this.strings.push(Buffer.from(src.buffer, src.byteOffset + start, end - start).toString('latin1'));
      this.n++;
      return;
    }
    this.reserve(end - start);
    this.bytes.set(src.subarray(start, end), this.used);
    this.push(this.used + end - start);
  }

  build(): NameColumn {
    if (this.strings) {
      const s = this.strings;
      return new StringNames(s.length, (i) => s[i]!);
    }
    const offsets = this.offsets.slice(0, this.n + 1);
    return new PackedNames(this.bytes.slice(0, this.used), offsets);
  }

  private push(end: number): void {
    if (this.n + 2 > this.offsets.length) {
      const bigger = new Uint32Array(this.offsets.length * 2);
      bigger.set(this.offsets);
      this.offsets = bigger;
    }
    this.used = end;
    this.n++;
    this.offsets[this.n] = end;
  }

  private reserve(len: number): void {
    if (this.used + len <= this.bytes.length) return;
    let cap = this.bytes.length * 2;
    while (cap < this.used + len) cap *= 2;
    const bigger = new Uint8Array(cap);
    bigger.set(this.bytes.subarray(0, this.used));
    this.bytes = bigger;
  }

  private widen(): void {
    const text = Buffer.from(this.bytes.buffer, 0, this.used);
    const out: string[] = [];
    for (let i = 0; i < this.n; i++) out.push(text.toString('latin1', this.offsets[i], this.offsets[i + 1]));
    this.strings = out;
    this.bytes = new Uint8Array(0);
    this.offsets = new Uint32Array(0);
  }
}
