/**
 * The kernel's `crashkernel=` syntax: parse it, and say what it reserves on a machine with a given
 * amount of RAM.
 *
 * Written from Documentation/admin-guide/kdump/kdump.rst ("Extended crashkernel syntax"),
 * Documentation/admin-guide/kernel-parameters.txt (crashkernel=) and kernel/crash_reserve.c
 * (parse_crashkernel_mem, parse_crashkernel_simple, parse_crashkernel_suffix,
 * get_last_crashkernel, parse_crashkernel) plus lib/cmdline.c memparse(). The forms are:
 *
 *   crashkernel=size[@offset]                          classic: fixed size, optional fixed base
 *   crashkernel=start-[end]:size[,start-[end]:size...][@offset]
 *                                                      ranges: size chosen by the RAM size
 *   crashkernel=size,high                              reserve above 4G (x86_64, arm64, riscv, ...)
 *   crashkernel=size,low                               the low (DMA-able) part to go with ,high
 *   crashkernel=size,cma                               extra reservation from CMA (Linux 6.16+)
 *
 * Sizes are memparse() numbers: decimal, `0x` hex or leading-`0` octal (as strtoull base 0), then an
 * optional K, M, G, T, P or E suffix (either case), each a further factor of 1024.
 *
 * Where the kernel is lax we are strict, on purpose: the kernel ignores junk after a matching range
 * entry and wraps numbers that overflow 64 bits; we reject both, because a typo there silently
 * changes what gets reserved.
 */
import { KdumpkitError } from '../util/errors.js';

/** One `start-[end]:size` entry; `end` undefined means "no upper limit". */
export interface CrashkernelRange {
  readonly start: bigint;
  readonly end: bigint | undefined;
  readonly size: bigint;
}

/** One `crashkernel=` value. */
export type CrashkernelEntry =
  | { readonly kind: 'simple'; readonly size: bigint; readonly offset: bigint | undefined }
  | { readonly kind: 'ranges'; readonly ranges: readonly CrashkernelRange[]; readonly offset: bigint | undefined }
  | { readonly kind: 'high' | 'low' | 'cma'; readonly size: bigint };

/** Everything parsed from the text: one or more whitespace-separated `crashkernel=` values. */
export interface CrashkernelSpec {
  readonly text: string;
  readonly entries: readonly CrashkernelEntry[];
}

/** What the kernel reserves for a spec on a machine with a given amount of RAM. */
export interface Reservation {
  /** The main reservation (holds the capture kernel and its initramfs). */
  size: bigint;
  /** Fixed physical base from `@offset`, if given (0 or absent: the kernel picks). */
  offset?: bigint;
  /** From `,high`: the main reservation goes above 4G. */
  high?: boolean;
  /** Low-memory part with `,high`: the `,low` value, or the arch default when absent. */
  low?: bigint;
  /** True when `low` is the kernel's default (no `,low` given). */
  lowIsDefault?: boolean;
  /** Extra CMA reservation from `,cma`. */
  cma?: bigint;
}

export class CrashkernelSyntaxError extends KdumpkitError {
  readonly text: string;
  readonly index: number;

  constructor(text: string, index: number, what: string, hint?: string) {
    super('E_CRASHKERNEL_SYNTAX', `crashkernel: ${what} at index ${index}\n  ${text}\n  ${' '.repeat(index)}^`, hint);
    this.text = text;
    this.index = index;
  }
}

const SUFFIX_SHIFT: Readonly<Record<string, bigint>> = { k: 10n, m: 20n, g: 30n, t: 40n, p: 50n, e: 60n };
const U64_MAX = (1n << 64n) - 1n;
const SZ_128M = 128n << 20n;

/** Kernel default for the low part of `,high` when `,low` is absent (DEFAULT_CRASH_KERNEL_LOW_SIZE). */
export function defaultLowSize(arch: string | undefined): bigint {
  // x86: max(swiotlb default 64M + 8M, 256M) = 256M. arm64, riscv, loongarch: 128M.
  return arch === 'x86_64' || arch === undefined ? 256n << 20n : 128n << 20n;
}

class Cursor {
  pos: number;
  constructor(
    readonly text: string,
    start: number,
  ) {
    this.pos = start;
  }
  get ch(): string | undefined {
    return this.text[this.pos];
  }
  fail(what: string, at = this.pos, hint?: string): never {
    throw new CrashkernelSyntaxError(this.text, at, what, hint);
  }
  /** memparse(): number with strtoull base 0, then an optional K/M/G/T/P/E suffix. */
  memparse(what = 'memory value expected'): bigint {
    const t = this.text;
    const begin = this.pos;
    let i = begin;
    let base = 10n;
    let digits: RegExp = /[0-9]/;
    if (t[i] === '0' && (t[i + 1] === 'x' || t[i + 1] === 'X') && /[0-9a-fA-F]/.test(t[i + 2] ?? '')) {
      base = 16n;
      digits = /[0-9a-fA-F]/;
      i += 2;
    } else if (t[i] === '0') {
      base = 8n;
      digits = /[0-7]/;
    }
    let value = 0n;
    const first = i;
    while (i < t.length && digits.test(t[i]!)) {
      value = value * base + BigInt(parseInt(t[i]!, 16));
      i++;
    }
    if (i === first) this.fail(what, begin);
    const shift = SUFFIX_SHIFT[(t[i] ?? '').toLowerCase()];
    if (shift !== undefined) {
      value <<= shift;
      i++;
    }
    if (value > U64_MAX) this.fail('value does not fit in 64 bits', begin);
    this.pos = i;
    return value;
  }
}

const SUFFIXES = [',high', ',low', ',cma'] as const;

function parseOne(text: string, start: number, end: number): CrashkernelEntry {
  const value = text.slice(start, end);
  const c = new Cursor(text.slice(0, end), start);
  if (value.startsWith('auto')) {
    c.fail('memory value expected', start, "crashkernel=auto was a RHEL/CentOS 8 kernel patch, not upstream syntax; use a range list (see 'kdumpkit recommend')");
  }
  // get_last_crashkernel(): a value ending in ,high / ,low / ,cma is the suffix form.
  const suffix = SUFFIXES.find((s) => value.endsWith(s));
  if (suffix) {
    const size = c.memparse();
    if (c.pos !== end - suffix.length) c.fail(`unrecognized character '${c.ch}' (expected '${suffix}')`);
    return { kind: suffix.slice(1) as 'high' | 'low' | 'cma', size };
  }
  // __parse_crashkernel(): a ':' anywhere means the extended (ranges) syntax.
  if (!value.includes(':')) {
    const size = c.memparse();
    let offset: bigint | undefined;
    if (c.ch === '@') {
      c.pos++;
      offset = c.memparse("memory value expected after '@'");
    }
    if (c.pos !== end) c.fail(`unrecognized character '${c.ch}'`);
    return { kind: 'simple', size, offset };
  }
  const ranges: CrashkernelRange[] = [];
  for (;;) {
    const rangeStart = c.pos;
    const s = c.memparse();
    if (c.ch !== '-') c.fail("'-' expected");
    c.pos++;
    let e: bigint | undefined;
    if (c.ch !== ':') {
      const endAt = c.pos;
      e = c.memparse();
      if (e <= s) c.fail('end <= start', endAt);
    }
    if (c.ch !== ':') c.fail("':' expected");
    c.pos++;
    const size = c.memparse();
    for (const r of ranges) {
      if (s < (r.end ?? U64_MAX + 1n) && r.start < (e ?? U64_MAX + 1n)) {
        c.fail('range overlaps an earlier range (the kernel would silently use the first)', rangeStart);
      }
    }
    ranges.push({ start: s, end: e, size });
    if (c.ch === ',') {
      c.pos++;
      continue;
    }
    break;
  }
  let offset: bigint | undefined;
  if (c.ch === '@') {
    c.pos++;
    offset = c.memparse("memory value expected after '@'");
  }
  if (c.pos !== end) c.fail(c.ch === undefined ? 'unexpected end' : `unrecognized character '${c.ch}' (expected ',' or '@')`);
  return { kind: 'ranges', ranges, offset };
}

/**
 * Parses one or more whitespace-separated crashkernel values, each with or without the
 * `crashkernel=` prefix: `512M-2G:64M,2G-:128M`, `crashkernel=1G,high crashkernel=128M,low`.
 * Throws CrashkernelSyntaxError naming the index of the bad character.
 */
export function parseCrashkernel(text: string): CrashkernelSpec {
  const entries: CrashkernelEntry[] = [];
  const re = /\S+/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let start = m.index;
    const end = m.index + m[0].length;
    if (m[0].startsWith('crashkernel=')) start += 'crashkernel='.length;
    else if (m[0].includes('=')) {
      const eq = m.index + m[0].indexOf('=');
      throw new CrashkernelSyntaxError(text, eq, `'${m[0].slice(0, m[0].indexOf('='))}=' is not crashkernel=`);
    }
    if (start === end) throw new CrashkernelSyntaxError(text, start, 'memory value expected');
    entries.push(parseOne(text, start, end));
  }
  if (entries.length === 0) throw new CrashkernelSyntaxError(text, text.length, 'memory value expected');
  return { text, entries };
}

function last(spec: CrashkernelSpec, kinds: readonly CrashkernelEntry['kind'][]): CrashkernelEntry | undefined {
  for (let i = spec.entries.length - 1; i >= 0; i--) {
    const e = spec.entries[i]!;
    if (kinds.includes(e.kind)) return e;
  }
  return undefined;
}

/** Size of the last `,high` / `,low` / `,cma` value, if any. */
function lastSuffixSize(spec: CrashkernelSpec, kind: 'high' | 'low' | 'cma'): bigint | undefined {
  const e = last(spec, [kind]);
  return e && e.kind === kind ? e.size : undefined;
}

/**
 * What the kernel reserves on a machine with `ramBytes` of system RAM, following
 * parse_crashkernel(): the last plain value wins; without one, the last `,high` (with the last
 * `,low`, or the arch default low size); `,cma` is added either way. Ranges compare the RAM size,
 * rounded up to a multiple of 128M as the kernel does (firmware keeps some RAM for itself), with
 * start inclusive and end exclusive. Undefined when nothing is reserved: no range matches, the size
 * is 0, or it is not below the RAM size (the kernel rejects that).
 */
export function reservedFor(spec: CrashkernelSpec, ramBytes: bigint, opts: { arch?: string } = {}): Reservation | undefined {
  const totalMem = ((ramBytes + SZ_128M - 1n) / SZ_128M) * SZ_128M;
  const cma = lastSuffixSize(spec, 'cma');
  const plain = last(spec, ['simple', 'ranges']);
  let result: Reservation;
  if (plain) {
    let size = 0n;
    if (plain.kind === 'simple') {
      size = plain.size;
    } else if (plain.kind === 'ranges') {
      for (const r of plain.ranges) {
        if (r.size >= totalMem) return undefined; // "crashkernel: invalid size"
        if (totalMem >= r.start && (r.end === undefined || totalMem < r.end)) {
          size = r.size;
          break;
        }
      }
    }
    if (size === 0n || size >= ramBytes) return undefined;
    result = { size };
    if ((plain.kind === 'simple' || plain.kind === 'ranges') && plain.offset) result.offset = plain.offset;
  } else {
    const high = lastSuffixSize(spec, 'high');
    if (high === undefined || high === 0n || high >= ramBytes) return undefined;
    const low = lastSuffixSize(spec, 'low');
    result = { size: high, high: true, low: low ?? defaultLowSize(opts.arch) };
    if (low === undefined) result.lowIsDefault = true;
  }
  if (cma !== undefined && cma > 0n) result.cma = cma;
  return result;
}

/** Bytes in the kernel's notation: the largest K/M/G/T/P/E suffix that divides exactly (`128M`). */
export function formatSize(bytes: bigint): string {
  if (bytes === 0n) return '0';
  const units = ['E', 'P', 'T', 'G', 'M', 'K'] as const;
  for (const u of units) {
    const shift = SUFFIX_SHIFT[u.toLowerCase()]!;
    if (bytes % (1n << shift) === 0n) return `${bytes >> shift}${u}`;
  }
  return bytes.toString();
}

/** Parses one size (`512M`, `0x1000`, `2g`) as the kernel's memparse() does. */
export function parseSize(text: string): bigint {
  const c = new Cursor(text, 0);
  const v = c.memparse();
  if (c.pos !== text.length) c.fail(`unrecognized character '${c.ch}'`);
  return v;
}
