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
 * VMCOREINFO exports the table addresses since Linux 6.0 (kernel/vmcore_info.c).
 */
import type { VirtualMemory } from '../../memory/address-space.js';
import { readU32, readU64 } from '../../memory/address-space.js';
import type { Vmcoreinfo } from '../../formats/vmcore/vmcoreinfo.js';
import { FaultError, KdumpkitError, MissingInfoError, ValidationError } from '../../util/errors.js';
import { hex, u16, u32, u64 } from '../../util/bytes.js';
import { SymbolTable, type KernelSymbol } from './symbol-table.js';

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
const CHUNK = 1 << 20;

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
  const parsed = parseNames(mem, loc, n, opts, notes);
  const { names, types } = expandNames(parsed.bytes, parsed.starts, parsed.counts, tokens, n);
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

  const syms: KernelSymbol[] = new Array<KernelSymbol>(n);
  for (let i = 0; i < n; i++) syms[i] = { name: names[i]!, address: enc.addresses[i]!, type: types[i]! };
  return new SymbolTable(syms, opts.source ?? 'kallsyms (dump memory)', [...notes, ...(opts.notes ?? [])]);
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

/** Reads a growing prefix of a region in large chunks, never past `limit`. */
class ChunkReader {
  bytes = new Uint8Array(0);
  constructor(
    private readonly mem: VirtualMemory,
    readonly base: bigint,
    readonly limit: number,
    private readonly what: string,
  ) {}

  /** Makes bytes [0, end) available; false when `end` is past the limit. */
  ensure(end: number): boolean {
    if (end <= this.bytes.length) return true;
    if (end > this.limit) return false;
    const have = this.bytes.length;
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
    const next = new Uint8Array(want);
    next.set(this.bytes);
    next.set(chunk, have);
    this.bytes = next;
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
}

/** Upper bound for the names stream: the nearest other known table above it. */
function namesLimit(loc: KallsymsLocations, n: number): number {
  let limit = BigInt(n) * BigInt(2 + MAX_TOKENS_PER_SYMBOL);
  for (const a of [loc.tokenTable, loc.tokenIndex, loc.offsets, loc.relativeBase, loc.addresses, loc.numSyms]) {
    if (a !== undefined && a > loc.names && a - loc.names < limit) limit = a - loc.names;
  }
  return Number(limit);
}

function parseNames(mem: VirtualMemory, loc: KallsymsLocations, n: number, opts: KallsymsOptions, notes: string[]): ParsedNames {
  const reader = new ChunkReader(mem, loc.names, namesLimit(loc, n), 'kallsyms_names');
  const parse = (big: boolean): ParsedNames | string => {
    const starts = new Uint32Array(n);
    const counts = new Uint16Array(n);
    const heads = new Uint32Array(n);
    let off = 0;
    let sawHighBit = false;
    for (let i = 0; i < n; i++) {
      if (!reader.ensure(off + 2)) {
        if (!reader.ensure(off + 1)) return `symbol #${i} starts at offset ${off}, past the end of the names area (${reader.limit} bytes)`;
      }
      heads[i] = off;
      const b = reader.bytes;
      let len = b[off]!;
      off += 1;
      if (len & 0x80) {
        sawHighBit = true;
        if (big) {
          len = (len & 0x7f) | (b[off]! << 7);
          off += 1;
        }
      }
      if (len === 0) return `symbol #${i} at offset ${heads[i]} has length 0`;
      if (!reader.ensure(off + len)) return `symbol #${i} (${len} tokens at offset ${off}) runs past the end of the names area (${reader.limit} bytes)`;
      starts[i] = off;
      counts[i] = len;
      off += len;
    }
    return { bytes: reader.bytes, starts, counts, heads, end: off, big, sawHighBit };
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

function expandNames(bytes: Uint8Array, starts: Uint32Array, counts: Uint16Array, tokens: readonly string[], n: number): { names: string[]; types: string[] } {
  const names = new Array<string>(n);
  const types = new Array<string>(n);
  // Expand into one scratch buffer and decode each name once (no string concatenation).
  const tok = tokens.map((t) => Buffer.from(t, 'latin1'));
  // A printable-token table: one check per token instead of one per character.
  const tokPrintable = tokens.map((t) => printable(t));
  let scratch = Buffer.alloc(4096);
  const typeStr: string[] = [];
  for (let c = 0; c < 128; c++) typeStr.push(String.fromCharCode(c));
  for (let i = 0; i < n; i++) {
    const st = starts[i]!;
    const end = st + counts[i]!;
    let len = 0;
    let clean = true;
    for (let j = st; j < end; j++) {
      const b = bytes[j]!;
      const t = tok[b]!;
      if (len + t.length > scratch.length) {
        const bigger = Buffer.alloc(scratch.length * 2 + t.length);
        scratch.copy(bigger, 0, 0, len);
        scratch = bigger;
      }
      if (t.length === 1) scratch[len] = t[0]!;
      else t.copy(scratch, len);
      len += t.length;
      if (!tokPrintable[b]) clean = false;
    }
    if (len < 2) throw new ValidationError(`kallsyms symbol #${i} expands to ${JSON.stringify(scratch.toString('latin1', 0, len))}: no type character and name`);
    const type = scratch[0]!;
    if (type < 0x21 || type > 0x7e) throw new ValidationError(`kallsyms symbol #${i} has type byte 0x${type.toString(16)}, not a printable character: names or token table corrupt`);
    const name = scratch.toString('latin1', 1, len);
    // The type shares the first token with the name's start: only the name part needs a check.
    if (!clean && !printable(name)) throw new ValidationError(`kallsyms symbol #${i} name ${JSON.stringify(name)} has unprintable characters: names or token table corrupt`);
    types[i] = typeStr[type]!;
    names[i] = name;
  }
  return { names, types };
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

function decodeAddresses(mem: VirtualMemory, loc: KallsymsLocations, n: number, names: readonly string[], opts: KallsymsOptions, notes: string[]): DecodedAddresses {
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
  const stextIdx = names.indexOf('_stext');
  const failures: string[] = [];
  const passed: DecodedAddresses[] = [];
  for (const c of candidates) {
    const at = tableAddr(c);
    const width = c === 'absolute' ? 8 : 4;
    if (!raw || raw.length !== n * width) raw = readChecked(() => mem.read(at, n * width), at, c === 'absolute' ? 'kallsyms_addresses' : 'kallsyms_offsets');
    const addrs = new BigUint64Array(n);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    let unsorted = -1;
    for (let i = 0; i < n; i++) {
      let a: bigint;
      if (c === 'absolute') a = u64(raw, i * 8);
      else {
        const v = dv.getInt32(i * 4, true);
        if (c === 'base-relative') a = base + BigInt(v >>> 0);
        else if (c === 'absolute-percpu') a = v >= 0 ? BigInt(v) : base - 1n - BigInt(v);
        else a = at + BigInt(i * 4) + BigInt(v);
      }
      a = BigInt.asUintN(64, a);
      addrs[i] = a;
      if (unsorted < 0 && i > 0 && a < addrs[i - 1]!) unsorted = i;
    }
    if (unsorted >= 0) {
      failures.push(`${c}: addresses not sorted at symbol #${unsorted} (${names[unsorted]} ${hex(addrs[unsorted]!)} < ${hex(addrs[unsorted - 1]!)})`);
      continue;
    }
    if (opts.stext !== undefined) {
      if (stextIdx < 0) {
        failures.push(`${c}: kallsyms has no _stext to check against VMCOREINFO`);
        continue;
      }
      if (addrs[stextIdx] !== opts.stext) {
        failures.push(`${c}: _stext would be ${hex(addrs[stextIdx]!)}, VMCOREINFO SYMBOL(_stext) is ${hex(opts.stext)}`);
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
      if (stextIdx >= 0) return d.addresses[stextIdx]! >= 0xffff800000000000n;
      return d.addresses[n >> 1]! >= 0xffff800000000000n;
    };
    pick = passed.find(kernelSpace) ?? pick;
    notes.push(`addresses: ${passed.map((p) => p.encoding).join(' and ')} both sorted; chose ${pick.encoding} (no VMCOREINFO _stext to decide)`);
  } else if (opts.stext !== undefined) {
    notes.push(`addresses: ${pick.encoding}, _stext ${hex(opts.stext)} matches VMCOREINFO`);
  }
  return pick;
}

/** Compares the leading "MAJOR.MINOR" of a release with a version; undefined when unparsable. */
export function releaseAtLeast(release: string | undefined, major: number, minor: number): boolean | undefined {
  const m = release === undefined ? null : /^(\d+)\.(\d+)/.exec(release);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > major || (a === major && b >= minor);
}
