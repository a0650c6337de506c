/**
 * Locating the kallsyms tables by scanning the kernel image in the dump, for kernels whose
 * VMCOREINFO does not export them (before 6.0) when no System.map or vmlinux is at hand.
 *
 * 1. The token table: every character used in a symbol name is a one-character token of its own
 *    at its own byte value (scripts/kallsyms.c insert_real_symbols_in_table), so the table holds
 *    "0\0" "1\0" … "9\0" back to back. Each such run is tried: `kallsyms_token_index` lies just
 *    after the table (or before it) and must give exactly these offsets.
 * 2. The names: `kallsyms_num_syms` (u32) sits right before `kallsyms_names` in every layout,
 *    and `kallsyms_markers` right after them. Walking back from the token table, the first
 *    position whose count, decoded names and markers all agree is the start of the names.
 * 3. The addresses: `kallsyms_offsets` + `kallsyms_relative_base` before `kallsyms_num_syms`
 *    (≤ 6.1 layout), or after `kallsyms_token_index` (later layout), or absolute
 *    `kallsyms_addresses` before the count; each candidate is decoded and must come out sorted
 *    and (when VMCOREINFO has it) give the right `_stext`.
 */
import type { Vmcoreinfo } from '../../formats/vmcore/vmcoreinfo.js';
import type { VirtualMemory } from '../../memory/address-space.js';
import { FaultError, KdumpkitError, MissingInfoError, PageNotPresentError, ValidationError } from '../../util/errors.js';
import { hex } from '../../util/bytes.js';
import { decodeKallsymsAlternatives, markersMatch, MAX_KALLSYMS, readTokenTable, type AddressTableCandidate, type KallsymsLocations } from './kallsyms.js';
import type { SymbolTable } from './symbol-table.js';

export interface ScanOptions {
  /** First address to scan; default VMCOREINFO _stext, else 0xffffffff81000000 + KERNELOFFSET. */
  readonly start?: bigint;
  /** How far to scan at most; default 256 MiB (scanning also stops at the end of the mapped image). */
  readonly maxBytes?: number;
  /** How far below the token table to look for the names; default 64 MiB. */
  readonly maxNamesBytes?: number;
}

const DIGITS = Buffer.from('0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00', 'latin1');
const CHUNK = 1 << 20;
/** A run of unmapped pages this long ends the kernel image (its freed gaps are < 2 MiB). */
const MAX_GAP = 4 << 20;
/** A kernel with kallsyms has thousands of symbols; far fewer would be a false match. */
const MIN_SCAN_SYMS = 256;
const SOURCE = 'kallsyms scan (dump memory)';

/** Finds and decodes the kallsyms tables without VMCOREINFO's table addresses. */
export function scanKallsyms(mem: VirtualMemory, info: Vmcoreinfo | undefined, opts: ScanOptions = {}): SymbolTable {
  const start = opts.start ?? info?.symbol('_stext') ?? 0xffffffff81000000n + (info?.kernelOffset ?? 0n);
  const max = opts.maxBytes ?? 256 << 20;
  const img = new ImageReader(mem, start, max);

  // 1. Token table and index; 2. kallsyms_num_syms + kallsyms_names below the token table.
  let tokens: { table: bigint; index: bigint; strings: string[] } | undefined;
  let names: FoundNames | undefined;
  const tables: string[] = [];
  let from = 0;
  let hits = 0;
  while (!names) {
    const at = img.indexOf(DIGITS, from);
    if (at < 0) break;
    hits++;
    from = at + 1;
    tokens = tokenTableAround(mem, img, at);
    if (!tokens) continue;
    tables.push(hex(tokens.table));
    names = findNames(mem, img, Number(tokens.table - start), tokens.strings, opts.maxNamesBytes ?? 64 << 20);
  }
  if (!tokens) {
    throw new MissingInfoError(
      `${SOURCE}: no kallsyms token table in the kernel image ${hex(start)}..${hex(start + BigInt(img.length))} (${(img.length / 1048576).toFixed(1)} MiB scanned, ${hits} candidate digit runs)`,
    );
  }
  if (!names) throw new ValidationError(`${SOURCE}: found kallsyms_token_table at ${tables.join(', ')} but no kallsyms_names/kallsyms_markers below it`);
  const n = names.count;
  const namesAt = start + BigInt(names.at);
  const numSymsAt = start + BigInt(names.countAt);

  // 3. Address tables: every layout scripts/kallsyms.c has used.
  const loc: KallsymsLocations = { numSyms: numSymsAt, names: namesAt, tokenTable: tokens.table, tokenIndex: tokens.index };
  const align = (v: bigint, a: bigint) => ((v + a - 1n) / a) * a;
  const candidates: AddressTableCandidate[] = [];
  const relBelow = numSymsAt - 8n;
  for (const pad of [0n, 4n]) candidates.push({ label: 'scan: offsets and relative_base before num_syms (≤ 6.1 layout)', loc: { relativeBase: relBelow, offsets: relBelow - BigInt(4 * n) - pad } });
  for (const a of [8n, 4n]) {
    const off = align(tokens.index + 512n, a);
    candidates.push({ label: 'scan: offsets and relative_base after token_index', loc: { offsets: off, relativeBase: align(off + BigInt(4 * n), 8n) } });
    candidates.push({ label: 'scan: place-relative offsets after token_index', loc: { offsets: off } });
  }
  for (const pad of [0n, 8n]) candidates.push({ label: 'scan: absolute addresses before num_syms', loc: { addresses: numSymsAt - BigInt(8 * n) - pad } });

  try {
    return decodeKallsymsAlternatives(mem, loc, candidates, {
      stext: info?.symbol('_stext'),
      release: info?.osrelease,
      source: SOURCE,
      notes: [`found by scanning: token table ${hex(tokens.table)}, names ${hex(namesAt)} (${n} symbols)`],
    });
  } catch (e) {
    if (e instanceof KdumpkitError) throw new ValidationError(`${SOURCE}: names at ${hex(namesAt)} (${n} symbols), but ${e.message}`);
    throw e;
  }
}

/** The kernel image read in chunks from `start` until unmapped memory or `max` bytes. */
class ImageReader {
  /** Capacity grows by doubling; `len` bytes are valid. */
  private store = Buffer.alloc(0);
  private len = 0;
  private done = false;
  /** Bytes of unmapped pages at the end of what was read so far (zero-filled). */
  private gap = 0;
  constructor(
    private readonly mem: VirtualMemory,
    readonly start: bigint,
    private readonly max: number,
  ) {}

  get length(): number {
    return this.len;
  }

  /** The bytes read so far (a view: valid until the next read). */
  get bytes(): Buffer {
    return this.store.subarray(0, this.len);
  }

  /** Reads one more chunk; false at the end of the image. */
  private more(): boolean {
    if (this.done || this.len >= this.max) return false;
    const want = Math.min(CHUNK, this.max - this.len);
    let chunk: Uint8Array | undefined;
    try {
      chunk = this.mem.read(this.start + BigInt(this.len), want);
      this.gap = 0;
    } catch (e) {
      if (!(e instanceof FaultError)) throw e;
      chunk = this.pageByPage(want);
    }
    if (chunk.length === 0) return false;
    if (this.len + chunk.length > this.store.length) {
      const bigger = Buffer.alloc(Math.max(this.store.length * 2, this.len + chunk.length));
      this.store.copy(bigger, 0, 0, this.len);
      this.store = bigger;
    }
    this.store.set(chunk, this.len);
    this.len += chunk.length;
    if (this.done) {
      // The image ended at the start of the unmapped run.
      this.len -= this.gap;
      this.gap = 0;
    }
    return this.len > 0;
  }

  /**
   * Pages the dump left out (freed init memory, excluded by the dump level) read as zeros. So do
   * unmapped pages: with PTI the kernel unmaps the freed gaps between text, rodata and data in
   * its image mapping (free_kernel_image_pages); only MAX_GAP of unmapped pages in a row ends
   * the image.
   */
  private pageByPage(want: number): Uint8Array {
    const pages: Uint8Array[] = [];
    for (let o = 0; o < want; o += 4096) {
      const len = Math.min(4096, want - o);
      try {
        pages.push(this.mem.read(this.start + BigInt(this.len + o), len));
        this.gap = 0;
      } catch (e) {
        if (e instanceof PageNotPresentError) {
          pages.push(new Uint8Array(len));
          this.gap = 0;
        } else if (e instanceof FaultError) {
          pages.push(new Uint8Array(len));
          this.gap += len;
          if (this.gap >= MAX_GAP) {
            this.done = true;
            break;
          }
        } else throw e;
      }
    }
    if (!this.done && this.len + want >= this.max) this.done = true;
    return Buffer.concat(pages);
  }

  /** Makes [0, end) available if the image is that long. */
  ensure(end: number): boolean {
    while (this.len < end) if (!this.more()) return false;
    return true;
  }

  indexOf(needle: Buffer, from: number): number {
    for (;;) {
      const i = this.bytes.indexOf(needle, from);
      if (i >= 0) return i;
      from = Math.max(from, this.len - needle.length + 1);
      if (!this.more()) return -1;
    }
  }
}

/** Given a "0\0…9\0" run at image offset `at`, the token table and index it belongs to. */
function tokenTableAround(mem: VirtualMemory, img: ImageReader, at: number): { table: bigint; index: bigint; strings: string[] } | undefined {
  img.ensure(at + 16384);
  const b = img.bytes;
  const lo = Math.max(0, at - 16384) & ~3;
  const hi = Math.min(b.length - 512, at + 16384);
  for (let q = lo; q <= hi; q += 4) {
    if (b[q] !== 0 || b[q + 1] !== 0) continue;
    const i30 = b.readUInt16LE(q + 0x30 * 2);
    if (i30 > at) continue;
    let ok = true;
    for (let c = 0x31; c <= 0x39 && ok; c++) if (b.readUInt16LE(q + c * 2) !== i30 + 2 * (c - 0x30)) ok = false;
    if (!ok) continue;
    for (let i = 1; i < 256 && ok; i++) if (b.readUInt16LE(q + i * 2) <= b.readUInt16LE(q + i * 2 - 2)) ok = false;
    if (!ok) continue;
    const table = img.start + BigInt(at - i30);
    const index = img.start + BigInt(q);
    try {
      return { table, index, strings: readTokenTable(mem, { tokenTable: table, tokenIndex: index }) };
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
    }
  }
  return undefined;
}

interface FoundNames {
  /** Image offsets. */
  at: number;
  countAt: number;
  count: number;
}

/** Walks back from the token table to the start of kallsyms_names (preceded by its count). */
function findNames(mem: VirtualMemory, img: ImageReader, tIdx: number, tokens: readonly string[], maxBytes: number): FoundNames | undefined {
  const b = img.bytes;
  const letter = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  const tokenOk = tokens.map((t) => {
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (c <= 0x20 || c >= 0x7f) return false;
    }
    return t.length > 0;
  });
  /** The first few symbols from `s` look like kallsyms entries: type letter, printable tokens. */
  const looksLikeNames = (s: number): boolean => {
    let off = s;
    for (let k = 0; k < 8; k++) {
      if (off >= tIdx) return false;
      let len = b[off]!;
      off++;
      if (len & 0x80) len = (len & 0x7f) | (b[off++]! << 7);
      if (len === 0 || off + len > tIdx) return false;
      if (!letter(tokens[b[off]!]!.charCodeAt(0))) return false;
      for (let j = off; j < off + len; j++) if (!tokenOk[b[j]!]) return false;
      off += len;
    }
    return true;
  };
  /** Walks `n` entries from `s`; the offsets of their length bytes and the end, or undefined. */
  const walk = (s: number, n: number, big: boolean): { heads: Uint32Array; end: number } | undefined => {
    const heads = new Uint32Array(n);
    let off = s;
    for (let i = 0; i < n; i++) {
      if (off >= tIdx) return undefined;
      heads[i] = off - s;
      let len = b[off]!;
      off++;
      if (len & 0x80 && big) len = (len & 0x7f) | (b[off++]! << 7);
      if (len === 0) return undefined;
      off += len;
    }
    return off > tIdx ? undefined : { heads, end: off - s };
  };

  const lowest = Math.max(8, tIdx - maxBytes);
  for (let s = (tIdx - 4) & ~3; s >= lowest; s -= 4) {
    for (const countAt of [s - 8, s - 4]) {
      const n = b.readUInt32LE(countAt);
      if (n < MIN_SCAN_SYMS || n > MAX_KALLSYMS) continue;
      if (countAt === s - 8 && b.readUInt32LE(s - 4) !== 0) continue;
      if (!looksLikeNames(s)) continue;
      for (const big of [true, false]) {
        const w = walk(s, n, big);
        if (w && markersMatch(mem, img.start + BigInt(s), w.heads, w.end)) return { at: s, countAt, count: n };
      }
    }
  }
  return undefined;
}
