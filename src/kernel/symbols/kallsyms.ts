/**
 * The kernel's own symbol table, decoded from the crashed kernel's memory.
 *
 * Layout (scripts/kallsyms.c writes it, kernel/kallsyms.c reads it):
 * - `kallsyms_num_syms`: u32 count.
 * - `kallsyms_names`: per symbol a token count, then that many token bytes. The count is one
 *   byte, or (Linux ≥ 6.1, "big" symbols) two bytes in ULEB128 form when the first has its high
 *   bit set: count = (b0 & 0x7f) | (b1 << 7). Expanding the tokens gives the type character
 *   followed by the name.
 * - `kallsyms_token_table`: 256 NUL-terminated strings back to back; `kallsyms_token_index`:
 *   256 u16 offsets of those strings.
 * - `kallsyms_markers`: u32 offset into `kallsyms_names` of every 256th symbol (right after the
 *   names; not exported in VMCOREINFO, used here only to check the length encoding).
 * - addresses, sorted ascending, in one of four encodings:
 *   - `kallsyms_addresses`: absolute unsigned longs (!CONFIG_KALLSYMS_BASE_RELATIVE, < 6.11);
 *   - `kallsyms_offsets` + `kallsyms_relative_base`, CONFIG_KALLSYMS_ABSOLUTE_PERCPU (x86_64 SMP
 *     until 6.15): offset ≥ 0 is an absolute value (percpu symbols), offset < 0 means
 *     relative_base - 1 - offset;
 *   - `kallsyms_offsets` + `kallsyms_relative_base` without it: relative_base + (u32)offset;
 *   - `kallsyms_offsets` alone (proposed 2026, "kallsyms: Get rid of kallsyms relative base"):
 *     place-relative, &kallsyms_offsets[i] + (s32)offset.
 *   No version number tells these apart reliably (distributions backport), so every encoding the
 *   exported symbols allow is tried; the right one is the one whose addresses come out sorted and
 *   whose `_stext` equals VMCOREINFO SYMBOL(_stext).
 *
 * VMCOREINFO exports the table addresses since Linux 6.0 (kernel/vmcore_info.c). It does not
 * export `kallsyms_markers` or `kallsyms_seqs_of_names` (≥ 6.2: the symbols in name order); from
 * 6.12 (not 6.1) both are in kallsyms itself. Neither is used for lookups: a binary search over
 * seqs_of_names expands ~17 names from as many pages of the dump per lookup, while one pass over
 * the names stream (read anyway to check it) hashes every name for an index of its own.
 *
 * Decoding reads each table once, in bulk, and checks every symbol, but expands no name: the
 * table keeps the compressed stream (KallsymsNames) and expands a name when it is asked for, as
 * kernel/kallsyms.c kallsyms_expand_symbol() does. The names walk gets each symbol's type and a
 * hash of its name from per-token facts; addresses are decoded on 32-bit halves.
 */
import type { VirtualMemory } from '../../memory/address-space.js';
import { readU32, readU64 } from '../../memory/address-space.js';
import type { Vmcoreinfo } from '../../formats/vmcore/vmcoreinfo.js';
import { FaultError, KdumpkitError, MissingInfoError, ValidationError } from '../../util/errors.js';
import { hex, u16, u32, u64 } from '../../util/bytes.js';
import { SymbolTable } from './symbol-table.js';
import { bucketOf, hashPower, indexMask, nameHash, NameColumn, type NameIndex } from './names.js';

export type KallsymsAddressEncoding = 'absolute-percpu' | 'base-relative' | 'pc-relative' | 'absolute';

/** Runtime addresses of the kallsyms tables. */
export interface KallsymsLocations {
  readonly numSyms: bigint;
  readonly names: bigint;
  readonly tokenTable: bigint;
  readonly tokenIndex: bigint;
  readonly offsets?: bigint;
  readonly relativeBase?: bigint;
  readonly addresses?: bigint;
}

export interface KallsymsOptions {
  /** The true runtime `_stext` (VMCOREINFO SYMBOL(_stext)): picks and checks the address encoding. */
  readonly stext?: bigint;
  /** Use only this address encoding. */
  readonly addressEncoding?: KallsymsAddressEncoding;
  /**
   * Whether counts ≥ 0x80 are two-byte "big symbol" lengths (Linux ≥ 6.1). By default decided by
   * the data (kallsyms_markers), falling back to `release` ≥ 6.1.
   */
  readonly bigSymbols?: boolean;
  /** OSRELEASE, the last resort for the length encoding. */
  readonly release?: string;
  /** SymbolTable.source; default 'kallsyms (dump memory)'. */
  readonly source?: string;
  /** Added to SymbolTable.notes (how the tables were found). */
  readonly notes?: readonly string[];
}

/** More than any kernel has (allyesconfig: ~400k); fewer than this many would be no kernel at all. */
export const MAX_KALLSYMS = 1 << 22;
const MIN_KALLSYMS = 16;
/** scripts/kallsyms.c: "Only lengths that fit in up-to-two-byte ULEB128 are supported." */
const MAX_TOKENS_PER_SYMBOL = 0x3fff;
/** Reads of the names stream: small enough not to read far past its end into the next table. */
const CHUNK = 1 << 18;
/** A names area up to this size gets its buffer in one allocation. */
const PREALLOCATE = 32 << 20;

/** The table addresses from VMCOREINFO; MissingInfoError names the keys that are absent. */
export function kallsymsLocationsFromVmcoreinfo(info: Vmcoreinfo): KallsymsLocations {
  const need = ['kallsyms_names', 'kallsyms_num_syms', 'kallsyms_token_table', 'kallsyms_token_index'];
  const missing = need.filter((k) => info.symbol(k) === undefined);
  const offsets = info.symbol('kallsyms_offsets');
  const addresses = info.symbol('kallsyms_addresses');
  if (offsets === undefined && addresses === undefined) missing.push('kallsyms_offsets (or kallsyms_addresses)');
  if (missing.length > 0) {
    throw new MissingInfoError(
      `VMCOREINFO has no ${missing.map((k) => `SYMBOL(${k})`).join(', ')}: the kernel does not export its kallsyms tables (Linux < 6.0?)`,
      'Give --system-map or --vmlinux for this kernel.',
    );
  }
  return {
    names: info.symbol('kallsyms_names')!,
    numSyms: info.symbol('kallsyms_num_syms')!,
    tokenTable: info.symbol('kallsyms_token_table')!,
    tokenIndex: info.symbol('kallsyms_token_index')!,
    offsets,
    relativeBase: info.symbol('kallsyms_relative_base'),
    addresses: offsets === undefined ? addresses : undefined,
  };
}

/** Decodes kallsyms from dump memory at the addresses VMCOREINFO gives. */
export function readKallsyms(mem: VirtualMemory, info: Vmcoreinfo, opts: KallsymsOptions = {}): SymbolTable {
  const loc = kallsymsLocationsFromVmcoreinfo(info);
  return decodeKallsyms(mem, loc, { stext: info.symbol('_stext'), release: info.osrelease, ...opts });
}

/** Decodes kallsyms tables at known addresses. Reads each table in a few bulk reads. */
export function decodeKallsyms(mem: VirtualMemory, loc: KallsymsLocations, opts: KallsymsOptions = {}): SymbolTable {
  return decodeKallsymsAlternatives(mem, loc, [{ label: '', loc }], opts);
}

/** Where the address table may be, for decodeKallsymsAlternatives. */
export interface AddressTableCandidate {
  /** Added to the notes when this candidate is the one that decodes. */
  readonly label: string;
  readonly loc: Pick<KallsymsLocations, 'offsets' | 'relativeBase' | 'addresses'>;
}

/**
 * Decodes the names once (tables at `loc`), then tries each candidate address table in order;
 * the first whose addresses come out sorted (and match `opts.stext`) wins. For the memory scan,
 * which knows the names but has to guess where the addresses are.
 */
export function decodeKallsymsAlternatives(mem: VirtualMemory, loc: KallsymsLocations, candidates: readonly AddressTableCandidate[], opts: KallsymsOptions = {}): SymbolTable {
  const notes: string[] = [];
  const n = readChecked(() => readU32(mem, loc.numSyms), loc.numSyms, 'kallsyms_num_syms');
  if (n < MIN_KALLSYMS || n > MAX_KALLSYMS) {
    throw new ValidationError(`kallsyms_num_syms at ${hex(loc.numSyms)} is ${n}, outside the sane range ${MIN_KALLSYMS}..${MAX_KALLSYMS}`);
  }
  const tokens = readTokenTable(mem, loc);
  const parsed = parseNames(mem, loc, n, tokens, opts, notes);
  // Every name is checked (type character, printable) but none is expanded: the table keeps the
  // compressed stream and expands a name when one is asked for, as the kernel does.
  const stream = parsed.bytes.length - parsed.end > 1 << 16 ? parsed.bytes.slice(0, parsed.end) : parsed.bytes.subarray(0, parsed.end);
  const names = new KallsymsNames(stream, parsed.starts, parsed.counts, tokens, parsed.index);
  if (parsed.bad >= 0) {
    names.checkExpansion(parsed.bad);
    throw new ValidationError(`kallsyms symbol #${parsed.bad} is malformed: names or token table corrupt`);
  }
  const types = parsed.types;
  let enc: DecodedAddresses | undefined;
  const failures: string[] = [];
  for (const c of candidates) {
    try {
      enc = decodeAddresses(mem, { ...loc, ...c.loc }, n, names, opts, notes);
      if (c.label) notes.push(c.label);
      break;
    } catch (e) {
      if (!(e instanceof KdumpkitError) || candidates.length === 1) throw e;
      failures.push(`${c.label}: ${e.message}`);
    }
  }
  if (!enc) throw new ValidationError(`no candidate address table decodes: ${failures.join('; ')}`);
  const lengths = !parsed.sawHighBit ? 'every count < 0x80 (one byte)' : parsed.big ? 'two-byte counts for big symbols (≥ 6.1)' : 'one-byte counts ≥ 0x80 (< 6.1)';
  notes.unshift(`${n} symbols; addresses: ${enc.encoding}; names: ${lengths}`);

  return new SymbolTable({ names, addresses: enc.addresses, types, sorted: true }, opts.source ?? 'kallsyms (dump memory)', [...notes, ...(opts.notes ?? [])]);
}

function readChecked<T>(f: () => T, addr: bigint, what: string): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof FaultError) throw new ValidationError(`${what} at ${hex(addr)} cannot be read: ${e.message}`);
    throw e;
  }
}

/** The 256 tokens, checked: offsets strictly increasing, each string ending right before the next. */
export function readTokenTable(mem: VirtualMemory, loc: Pick<KallsymsLocations, 'tokenTable' | 'tokenIndex'>): string[] {
  const idxBytes = readChecked(() => mem.read(loc.tokenIndex, 512), loc.tokenIndex, 'kallsyms_token_index');
  const idx: number[] = [];
  for (let i = 0; i < 256; i++) idx.push(u16(idxBytes, i * 2));
  if (idx[0] !== 0) throw new ValidationError(`kallsyms_token_index at ${hex(loc.tokenIndex)}: entry 0 is ${idx[0]}, not 0`);
  for (let i = 1; i < 256; i++) {
    if (idx[i]! <= idx[i - 1]!) {
      throw new ValidationError(`kallsyms_token_index at ${hex(loc.tokenIndex)} is not increasing: entry ${i} is ${idx[i]} after ${idx[i - 1]}`);
    }
  }
  // The last token's length is unknown: read a little past its start (tokens are short).
  const last = idx[255]!;
  let table: Uint8Array | undefined;
  for (const extra of [1024, 64, 1]) {
    try {
      table = mem.read(loc.tokenTable, last + extra);
      break;
    } catch (e) {
      if (!(e instanceof FaultError)) throw e;
    }
  }
  if (!table) throw new ValidationError(`kallsyms_token_table at ${hex(loc.tokenTable)} (${last + 1} bytes) cannot be read`);
  const out: string[] = [];
  for (let i = 0; i < 256; i++) {
    const start = idx[i]!;
    const end = i < 255 ? idx[i + 1]! - 1 : table.indexOf(0, start);
    if (end < 0) throw new ValidationError(`kallsyms_token_table at ${hex(loc.tokenTable)}: token 255 has no terminating NUL`);
    const nul = table.indexOf(0, start);
    if (nul !== end) {
      throw new ValidationError(
        `kallsyms_token_table at ${hex(loc.tokenTable)}: token ${i} at offset ${start} ends at ${nul}, but kallsyms_token_index says the next token starts at ${end + 1}`,
      );
    }
    out.push(Buffer.from(table.buffer, table.byteOffset + start, end - start).toString('latin1'));
  }
  return out;
}

/** Reads a growing prefix of a region in chunks, never past `limit`. */
class ChunkReader {
  /** Bytes [0, length) are read; the buffer grows by doubling (a view: valid until the next ensure). */
  bytes = new Uint8Array(0);
  length = 0;
  constructor(
    private readonly mem: VirtualMemory,
    readonly base: bigint,
    readonly limit: number,
    private readonly what: string,
  ) {}

  /** Makes bytes [0, end) available; false when `end` is past the limit. */
  ensure(end: number): boolean {
    if (end <= this.length) return true;
    if (end > this.limit) return false;
    const have = this.length;
    let want = Math.min(this.limit, Math.max(end, have + CHUNK));
    let chunk: Uint8Array | undefined;
    try {
      chunk = this.mem.read(this.base + BigInt(have), want - have);
    } catch (e) {
      if (!(e instanceof FaultError)) throw e;
      // A big chunk may run into an unmapped page after the table: read just what is needed.
      want = end;
      try {
        chunk = this.mem.read(this.base + BigInt(have), want - have);
      } catch (e2) {
        if (!(e2 instanceof FaultError)) throw e2;
        throw new ValidationError(`${this.what} at ${hex(this.base)} runs into unreadable memory within ${end} bytes: ${e2.message}`);
      }
    }
    if (want > this.bytes.length) {
      // A limit of a few MiB (the next table right after the names) is allocated at once.
      const cap = this.limit <= PREALLOCATE ? this.limit : Math.min(this.limit, Math.max(want, this.bytes.length * 2));
      const next = new Uint8Array(cap);
      next.set(this.bytes.subarray(0, have));
      this.bytes = next;
    }
    this.bytes.set(chunk, have);
    this.length = want;
    return true;
  }
}

interface ParsedNames {
  bytes: Uint8Array;
  /** Offset of each symbol's first token byte in `bytes`. */
  starts: Uint32Array;
  counts: Uint16Array;
  /** Offset of each symbol's length byte (what kallsyms_markers record). */
  heads: Uint32Array;
  end: number;
  big: boolean;
  sawHighBit: boolean;
  /** Type character of each symbol (0 where there is none: see `bad`). */
  types: Uint8Array;
  /** The name index (nameHash() of each name, chains by bucket). */
  index: NameIndex;
  /** The first symbol whose expansion fails the checks of checkExpansion(), or -1. */
  bad: number;
}

/** What the names walk needs to know of each token, so that no name is expanded. */
class TokenFacts {
  readonly length = new Uint32Array(256);
  /** First character (the type, when the token starts a symbol). */
  readonly first = new Uint8Array(256);
  /** 1 when every character is printable, and when every character after the first is. */
  readonly clean = new Uint8Array(256);
  readonly cleanTail = new Uint8Array(256);
  /** nameHash() of the token, of the token without its first character, and M^length. */
  readonly hash = new Int32Array(256);
  readonly hashTail = new Int32Array(256);
  readonly power = new Int32Array(256);
  /**
   * Every token non-empty and printable (as in real kernels): then a symbol's type is the first
   * character of its first token and its name is printable, whatever the tokens.
   */
  readonly allClean: boolean;

  constructor(tokens: readonly string[]) {
    for (let t = 0; t < 256; t++) {
      const s = tokens[t]!;
      this.length[t] = s.length;
      this.first[t] = s.length > 0 ? s.charCodeAt(0) : 0;
      const tail = s.slice(1);
      this.cleanTail[t] = printable(tail) ? 1 : 0;
      this.clean[t] = printable(s) ? 1 : 0;
      this.hash[t] = nameHash(s);
      this.hashTail[t] = nameHash(tail);
      this.power[t] = hashPower(s.length);
    }
    this.allClean = tokens.every((s) => s.length > 0 && printable(s));
  }
}

/** State of a walk over the names stream with one length rule. */
class NamesWalk {
  readonly starts: Uint32Array;
  readonly counts: Uint16Array;
  readonly heads: Uint32Array;
  readonly types: Uint8Array;
  /** The name index, built as the walk goes. */
  readonly hashes: Int32Array;
  readonly head: Int32Array;
  readonly next: Int32Array;
  readonly mask: number;
  /** Next symbol (its entry starts where the one before ends). */
  i = 0;
  bad = -1;
  sawHighBit = false;

  constructor(readonly n: number) {
    this.starts = new Uint32Array(n);
    this.counts = new Uint16Array(n);
    this.heads = new Uint32Array(n);
    this.types = new Uint8Array(n);
    this.hashes = new Int32Array(n);
    this.mask = indexMask(n);
    this.head = new Int32Array(this.mask + 1).fill(-1);
    this.next = new Int32Array(n);
  }

  /** Offset of the next symbol's entry. */
  get off(): number {
    return this.i > 0 ? this.starts[this.i - 1]! + this.counts[this.i - 1]! : 0;
  }
}

/**
 * Walks symbols from w.i for as long as their entries lie within bytes[0, avail) (the caller
 * reads more, or reports the error, where one does not fit or has length 0): where each
 * symbol's tokens are and, from per-token facts (no name is expanded), its type, the hash of
 * its name and whether its expansion passes checkExpansion(). One tight loop with no reads
 * inside, so that the JIT keeps it optimised across the reads; returns the next symbol (the
 * return value rather than a property store, on which the optimised loop would bail out).
 */
function walkNames(w: NamesWalk, bytes: Uint8Array, avail: number, big: boolean, tf: TokenFacts): number {
  const { starts, counts, heads, types, hashes, head, next, mask, n } = w;
  const { length, first, clean, cleanTail, hash, hashTail, power, allClean } = tf;
  let i = w.i;
  let off = i > 0 ? starts[i - 1]! + counts[i - 1]! : 0;
  for (; i < n; i++) {
    if (off >= avail) break;
    let len = bytes[off]!;
    let at = off + 1;
    if (len & 0x80) {
      w.sawHighBit = true;
      if (big) {
        if (at >= avail) break;
        len = (len & 0x7f) | (bytes[at]! << 7);
        at += 1;
      }
    }
    const end = at + len;
    if (len === 0 || end > avail) break;
    heads[i] = off;
    starts[i] = at;
    counts[i] = len;
    off = end;
    if (allClean) {
      // Every token non-empty and printable: only a lone one-character token is no symbol.
      const t0 = bytes[at]!;
      if (len < 2 && length[t0]! < 2) {
        if (w.bad < 0) w.bad = i;
      } else types[i] = first[t0]!;
      let h = hashTail[t0]!;
      for (let j = at + 1; j < end; j++) {
        const t = bytes[j]!;
        h = (Math.imul(h, power[t]!) + hash[t]!) | 0;
      }
      hashes[i] = h;
      const k = bucketOf(h, mask);
      next[i] = head[k]!;
      head[k] = i;
      continue;
    }
    // The type is the first character of the first non-empty token; the name is the rest.
    let chars = 0;
    let type = -1;
    let ok = 1;
    let h = 0;
    for (let j = at; j < end; j++) {
      const t = bytes[j]!;
      const l = length[t]!;
      if (l === 0) continue;
      if (type < 0) {
        type = first[t]!;
        ok = cleanTail[t]!;
        h = hashTail[t]!;
      } else {
        ok &= clean[t]!;
        h = (Math.imul(h, power[t]!) + hash[t]!) | 0;
      }
      chars += l;
    }
    if (chars < 2 || type < 0x21 || type > 0x7e || !ok) {
      if (w.bad < 0) w.bad = i;
    } else types[i] = type;
    hashes[i] = h;
    const k = bucketOf(h, mask);
    next[i] = head[k]!;
    head[k] = i;
  }
  return i;
}

/** Upper bound for the names stream: the nearest other known table above it. */
function namesLimit(loc: KallsymsLocations, n: number): number {
  let limit = BigInt(n) * BigInt(2 + MAX_TOKENS_PER_SYMBOL);
  for (const a of [loc.tokenTable, loc.tokenIndex, loc.offsets, loc.relativeBase, loc.addresses, loc.numSyms]) {
    if (a !== undefined && a > loc.names && a - loc.names < limit) limit = a - loc.names;
  }
  return Number(limit);
}

/**
 * Walks the names stream (walkNames) with the length rule kallsyms_markers or the release
 * confirm, reading it in chunks as the walk goes.
 */
function parseNames(mem: VirtualMemory, loc: KallsymsLocations, n: number, tokens: readonly string[], opts: KallsymsOptions, notes: string[]): ParsedNames {
  const reader = new ChunkReader(mem, loc.names, namesLimit(loc, n), 'kallsyms_names');
  const tf = new TokenFacts(tokens);
  const parse = (big: boolean): ParsedNames | string => {
    const w = new NamesWalk(n);
    for (;;) {
      w.i = walkNames(w, reader.bytes, reader.length, big, tf);
      if (w.i === n) break;
      // The entry at w.off is not (entirely) read yet, or has length 0: read on, or say why not.
      const i = w.i;
      const off = w.off;
      if (off + 2 > reader.length && !reader.ensure(off + 2)) {
        if (!reader.ensure(off + 1)) return `symbol #${i} starts at offset ${off}, past the end of the names area (${reader.limit} bytes)`;
      }
      const b = reader.bytes;
      let len = b[off]!;
      let at = off + 1;
      if (len & 0x80 && big) {
        len = (len & 0x7f) | (b[at]! << 7);
        at += 1;
      }
      if (len === 0) return `symbol #${i} at offset ${off} has length 0`;
      if (at + len > reader.length && !reader.ensure(at + len)) return `symbol #${i} (${len} tokens at offset ${at}) runs past the end of the names area (${reader.limit} bytes)`;
    }
    return { bytes: reader.bytes, starts: w.starts, counts: w.counts, heads: w.heads, end: w.off, big, sawHighBit: w.sawHighBit, types: w.types, index: { head: w.head, next: w.next, hash: w.hashes, mask: w.mask }, bad: w.bad };
  };

  const forced = opts.bigSymbols;
  const first = parse(forced ?? true);
  if (typeof first === 'string') {
    if (forced !== undefined) throw new ValidationError(`kallsyms_names at ${hex(loc.names)}: ${first}`);
    const alt = parse(false);
    if (typeof alt === 'string') throw new ValidationError(`kallsyms_names at ${hex(loc.names)}: ${first}`);
    notes.push('names: two-byte lengths overran the names area; one-byte lengths fit');
    return alt;
  }
  if (forced !== undefined || !first.sawHighBit) return first;

  // A count byte ≥ 0x80 means a big symbol on ≥ 6.1, a plain count before. kallsyms_markers
  // (right after the names) records where every 256th symbol starts: let it decide.
  const second = parse(false);
  const bigOk = markersMatch(mem, loc.names, first.heads, first.end);
  const smallOk = typeof second !== 'string' && markersMatch(mem, loc.names, second.heads, second.end);
  if (bigOk && !smallOk) {
    notes.push('names: big-symbol lengths confirmed by kallsyms_markers');
    return first;
  }
  if (smallOk && !bigOk) {
    notes.push('names: one-byte lengths confirmed by kallsyms_markers');
    return second as ParsedNames;
  }
  const useBig = typeof second === 'string' || releaseAtLeast(opts.release, 6, 1) !== false;
  notes.push(`names: kallsyms_markers did not decide the length encoding; chose ${useBig ? 'big-symbol' : 'one-byte'} lengths by release ${opts.release ?? '(unknown)'}`);
  return useBig ? first : (second as ParsedNames);
}

/**
 * True when kallsyms_markers, found at the 4- or 8-aligned end of the names stream (`end` bytes
 * from `names`), record the same offsets as `heads` (the offset of every symbol's length byte).
 * Markers are u32 in current kernels, unsigned long in old ones: both widths are tried.
 */
export function markersMatch(mem: VirtualMemory, names: bigint, heads: Uint32Array, end: number): boolean {
  const n = heads.length;
  const count = Math.min(64, Math.ceil(n / 256));
  if (count < 2) return false;
  for (const [align, width] of [
    [8n, 4],
    [4n, 4],
    [8n, 8],
  ] as const) {
    const at = ((names + BigInt(end) + align - 1n) / align) * align;
    let m: Uint8Array;
    try {
      m = mem.read(at, count * width);
    } catch {
      continue;
    }
    let ok = true;
    for (let k = 0; k < count && ok; k++) {
      const v = width === 4 ? u32(m, k * 4) : Number(u64(m, k * 8));
      if (v !== heads[k * 256]) ok = false;
    }
    if (ok) return true;
  }
  return false;
}

/**
 * kallsyms names kept as the kernel keeps them: the token-compressed stream, expanded one name at
 * a time (kernel/kallsyms.c kallsyms_expand_symbol). Name hashes for the index come from
 * per-token hashes, without expanding anything.
 */
class KallsymsNames extends NameColumn {
  /** Token bytes, token t at tokenBytes[tokenStart[t] .. tokenStart[t + 1]). */
  private readonly tokenBytes: Uint8Array;
  private readonly tokenStart: Uint32Array;
  private scratch = Buffer.alloc(1024);

  /**
   * @param bytes the kallsyms_names stream
   * @param starts offset of each symbol's first token byte in `bytes`
   * @param counts number of token bytes of each symbol
   */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly starts: Uint32Array,
    private readonly counts: Uint16Array,
    tokens: readonly string[],
    /** The name index (the names walk builds it from per-token hashes). */
    private readonly prebuilt: NameIndex,
  ) {
    super();
    this.adopt(prebuilt);
    if (tokens.length !== 256) throw new RangeError(`kallsyms needs 256 tokens, not ${tokens.length}`);
    const all = Buffer.from(tokens.join(''), 'latin1');
    this.tokenBytes = all;
    this.tokenStart = new Uint32Array(257);
    for (let t = 0; t < 256; t++) this.tokenStart[t + 1] = this.tokenStart[t]! + tokens[t]!.length;
  }

  get count(): number {
    return this.starts.length;
  }

  /** The expansion of symbol i: its type character, then its name. */
  private expand(i: number): { buf: Buffer; len: number } {
    const b = this.bytes;
    const st = this.starts[i]!;
    const end = st + this.counts[i]!;
    const tb = this.tokenBytes;
    const ts = this.tokenStart;
    let buf = this.scratch;
    let len = 0;
    for (let j = st; j < end; j++) {
      const t = b[j]!;
      const from = ts[t]!;
      const to = ts[t + 1]!;
      if (len + to - from > buf.length) {
        const bigger = Buffer.alloc(buf.length * 2 + to - from);
        buf.copy(bigger, 0, 0, len);
        buf = this.scratch = bigger;
      }
      for (let k = from; k < to; k++) buf[len++] = tb[k]!;
    }
    return { buf, len };
  }

  name(i: number): string {
    const { buf, len } = this.expand(i);
    return buf.toString('latin1', 1, len);
  }

  /** Every name: all expanded into one buffer, decoded once, then sliced. */
  override names(): string[] {
    const n = this.count;
    const b = this.bytes;
    const tb = this.tokenBytes;
    const ts = this.tokenStart;
    let out = new Uint8Array(Math.max(1024, b.length * 2));
    /** Expansion i (type character, then name) is out[at[i] .. at[i + 1]). */
    const at = new Uint32Array(n + 1);
    let len = 0;
    for (let i = 0; i < n; i++) {
      at[i] = len;
      const end = this.starts[i]! + this.counts[i]!;
      for (let j = this.starts[i]!; j < end; j++) {
        const t = b[j]!;
        const from = ts[t]!;
        const to = ts[t + 1]!;
        if (len + to - from > out.length) {
          const bigger = new Uint8Array(out.length * 2 + to - from);
          bigger.set(out.subarray(0, len));
          out = bigger;
        }
        for (let k = from; k < to; k++) out[len++] = tb[k]!;
      }
    }
    at[n] = len;
    const text = Buffer.from(out.buffer, 0, len).toString('latin1');
    const names = new Array<string>(n);
    for (let i = 0; i < n; i++) names[i] = text.slice(at[i]! + 1, at[i + 1]);
    return names;
  }

  protected override equals(i: number, s: string): boolean {
    const { buf, len } = this.expand(i);
    if (len - 1 !== s.length) return false;
    for (let k = 1; k < len; k++) if (buf[k] !== s.charCodeAt(k - 1)) return false;
    return true;
  }

  /**
   * Throws the ValidationError for symbol i when its expansion lacks a type character and a name,
   * has an unprintable type, or a name that is not printable ASCII without blanks.
   */
  checkExpansion(i: number): void {
    const { buf, len } = this.expand(i);
    if (len < 2) throw new ValidationError(`kallsyms symbol #${i} expands to ${JSON.stringify(buf.toString('latin1', 0, len))}: no type character and name`);
    const type = buf[0]!;
    if (type < 0x21 || type > 0x7e) throw new ValidationError(`kallsyms symbol #${i} has type byte 0x${type.toString(16)}, not a printable character: names or token table corrupt`);
    const name = buf.toString('latin1', 1, len);
    if (!printable(name)) throw new ValidationError(`kallsyms symbol #${i} name ${JSON.stringify(name)} has unprintable characters: names or token table corrupt`);
  }

  protected hashes(): Int32Array {
    return this.prebuilt.hash;
  }
}

/** Symbol names are printable ASCII without blanks. */
function printable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

interface DecodedAddresses {
  encoding: KallsymsAddressEncoding;
  addresses: BigUint64Array;
}

function decodeAddresses(mem: VirtualMemory, loc: KallsymsLocations, n: number, names: NameColumn, opts: KallsymsOptions, notes: string[]): DecodedAddresses {
  let candidates: KallsymsAddressEncoding[];
  if (opts.addressEncoding) candidates = [opts.addressEncoding];
  else if (loc.offsets === undefined) candidates = ['absolute'];
  else if (loc.relativeBase === undefined) candidates = ['pc-relative'];
  else candidates = ['absolute-percpu', 'base-relative'];

  let raw: Uint8Array | undefined;
  let base = 0n;
  const tableAddr = (c: KallsymsAddressEncoding): bigint => {
    const a = c === 'absolute' ? loc.addresses : loc.offsets;
    if (a === undefined) throw new MissingInfoError(`kallsyms address encoding ${c} needs SYMBOL(${c === 'absolute' ? 'kallsyms_addresses' : 'kallsyms_offsets'})`);
    return a;
  };
  const needsBase = (c: KallsymsAddressEncoding): boolean => c === 'absolute-percpu' || c === 'base-relative';
  if (candidates.some(needsBase)) {
    if (loc.relativeBase === undefined) throw new MissingInfoError('kallsyms address encoding needs SYMBOL(kallsyms_relative_base)');
    base = readChecked(() => readU64(mem, loc.relativeBase!), loc.relativeBase, 'kallsyms_relative_base');
  }
  // The first symbol named _stext (looked up only when needed: it builds the name index).
  let stextAt: number | undefined;
  const stextIdx = (): number => (stextAt ??= names.first('_stext'));
  const failures: string[] = [];
  const passed: DecodedAddresses[] = [];
  for (const c of candidates) {
    const at = tableAddr(c);
    const width = c === 'absolute' ? 8 : 4;
    if (!raw || raw.length !== n * width) raw = readChecked(() => mem.read(at, n * width), at, c === 'absolute' ? 'kallsyms_addresses' : 'kallsyms_offsets');
    const addrs = new BigUint64Array(n);
    const unsorted = decodeAddressTable(c, raw, addrs, base, at);
    if (unsorted >= 0) {
      failures.push(`${c}: addresses not sorted at symbol #${unsorted} (${names.name(unsorted)} ${hex(addrs[unsorted]!)} < ${hex(addrs[unsorted - 1]!)})`);
      continue;
    }
    if (opts.stext !== undefined) {
      if (stextIdx() < 0) {
        failures.push(`${c}: kallsyms has no _stext to check against VMCOREINFO`);
        continue;
      }
      if (addrs[stextIdx()] !== opts.stext) {
        failures.push(`${c}: _stext would be ${hex(addrs[stextIdx()]!)}, VMCOREINFO SYMBOL(_stext) is ${hex(opts.stext)}`);
        continue;
      }
    }
    passed.push({ encoding: c, addresses: addrs });
  }
  if (passed.length === 0) {
    throw new ValidationError(`kallsyms addresses make no sense in any encoding: ${failures.join('; ')}`);
  }
  let pick = passed[0]!;
  if (passed.length > 1) {
    // Without a known _stext: the encoding that puts _stext (or most symbols) in kernel space.
    const kernelSpace = (d: DecodedAddresses): boolean => {
      if (stextIdx() >= 0) return d.addresses[stextIdx()]! >= 0xffff800000000000n;
      return d.addresses[n >> 1]! >= 0xffff800000000000n;
    };
    pick = passed.find(kernelSpace) ?? pick;
    notes.push(`addresses: ${passed.map((p) => p.encoding).join(' and ')} both sorted; chose ${pick.encoding} (no VMCOREINFO _stext to decide)`);
  } else if (opts.stext !== undefined) {
    notes.push(`addresses: ${pick.encoding}, _stext ${hex(opts.stext)} matches VMCOREINFO`);
  }
  return pick;
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const TWO32 = 0x100000000;

/** The little-endian 32-bit words of `raw` (a view when the host is little-endian and `raw` aligned). */
function words32(raw: Uint8Array): Uint32Array {
  const count = raw.byteLength >>> 2;
  if (LITTLE_ENDIAN && raw.byteOffset % 4 === 0) return new Uint32Array(raw.buffer, raw.byteOffset, count);
  const out = new Uint32Array(count);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < count; i++) out[i] = dv.getUint32(i * 4, true);
  return out;
}

/**
 * Fills `addrs` with the addresses of `raw` (kallsyms_addresses or kallsyms_offsets) in encoding
 * `c`, computed on 32-bit halves (no BigInt per symbol), modulo 2^64 like the kernel's unsigned
 * long arithmetic. Returns the first symbol whose address is below the one before it (-1:
 * sorted; else decoding stops there). `at` is the table's own address (for place-relative
 * offsets). (Results go out by the return value and `addrs`: a property store after the loop
 * would make the JIT-compiled loop bail out on its first return.)
 */
function decodeAddressTable(c: KallsymsAddressEncoding, raw: Uint8Array, addrs: BigUint64Array, base: bigint, at: bigint): number {
  const n = addrs.length;
  const w = new Uint32Array(addrs.buffer, addrs.byteOffset, n * 2);
  const mode = c === 'absolute' ? 0 : c === 'absolute-percpu' ? 1 : c === 'base-relative' ? 2 : 3;
  const u = words32(raw);
  const v32 = new Int32Array(u.buffer, u.byteOffset, u.length);
  const b = BigInt.asUintN(64, c === 'pc-relative' ? at : base);
  const bh = Number(b >> 32n);
  const bl = Number(b & 0xffffffffn);
  // Each address is formed as a low word t (an exact double) with its carry (or borrow) added
  // to the high word; ph/pl hold the previous address for the order check.
  let unsorted = -1;
  let ph = 0;
  let pl = 0;
  for (let i = 0; i < n; i++) {
    let hi: number;
    let lo: number;
    if (mode === 0) {
      lo = u[2 * i]!;
      hi = u[2 * i + 1]!;
    } else {
      let t: number;
      if (mode === 1) {
        // v ≥ 0: the value itself (a percpu offset); v < 0: relative_base - 1 - v.
        const v = v32[i]!;
        if (v >= 0) {
          t = v;
          hi = 0;
        } else {
          t = bl - 1 - v;
          hi = bh;
        }
      } else if (mode === 2) {
        t = bl + u[i]!;
        hi = bh;
      } else {
        // Place-relative: &kallsyms_offsets[i] + (s32)offset.
        t = bl + i * 4 + v32[i]!;
        hi = bh;
      }
      if (t >= TWO32) {
        t -= TWO32;
        hi = (hi + 1) >>> 0;
      } else if (t < 0) {
        t += TWO32;
        hi = (hi - 1) >>> 0;
      }
      lo = t;
    }
    w[2 * i + LO] = lo;
    w[2 * i + HI] = hi;
    if (i > 0 && (hi < ph || (hi === ph && lo < pl))) {
      // This encoding is wrong (or the table corrupt): the rest does not matter.
      unsorted = i;
      break;
    }
    ph = hi;
    pl = lo;
  }
  return unsorted;
}

/** Compares the leading "MAJOR.MINOR" of a release with a version; undefined when unparsable. */
export function releaseAtLeast(release: string | undefined, major: number, minor: number): boolean | undefined {
  const m = release === undefined ? null : /^(\d+)\.(\d+)/.exec(release);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > major || (a === major && b >= minor);
}
