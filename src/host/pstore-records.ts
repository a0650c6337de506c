/**
 * The records of /sys/fs/pstore, read and made sense of: which crash each file belongs to,
 * what it says once decompressed, and the crashed kernel's log joined back together.
 *
 * What the kernel puts there (Linux fs/pstore/, as of 6.x):
 *
 * - File names (fs/pstore/inode.c, pstore_mkfile): `<type>-<backend>-<id>`, plus `.enc.z` when
 *   the record is compressed and the running kernel could not decompress it. Types are the
 *   names of enum pstore_type_id (fs/pstore/platform.c pstore_type_names): dmesg, mce, console,
 *   ftrace, rtas, powerpc-ofw, powerpc-common, pmsg, powerpc-opal. Backends: `ramoops`
 *   (fs/pstore/ram.c), `efi_pstore` (drivers/firmware/efi/efi-pstore.c, KBUILD_MODNAME; `efi`
 *   before Linux 5.x), `erst`, `nvram`, `pstore_blk`/`pstore_zone`, ... The mtime of the file is
 *   the time the record was written (inode.c sets i_mtime = record->time when it is non-zero).
 *
 * - A dmesg record is one chunk of the log as pstore_dump() (fs/pstore/platform.c) wrote it at
 *   the crash: the line `<reason>#<count> Part<part>\n` (e.g. `Panic#1 Part1`; reason from
 *   kmsg_dump_reason_str: Panic, Oops, Emergency, Shutdown/Restart/Halt/Poweroff, Unknown;
 *   count numbers the dumps since boot), then whole log lines in syslog form (`<6>[    1.234567]
 *   text`, kmsg_dump_get_buffer(.., syslog=true, ..)). The dumper walks the log from the newest
 *   end: Part1 holds the newest lines, Part2 the lines before them, and so on, until kmsg_bytes
 *   (default 10240) are stored. So the log is the parts in descending part order.
 *
 * - Compression (dmesg only): since Linux 6.5 ("pstore: Replace crypto API compression with
 *   zlib_deflate library calls") zlib_deflateInit2(.., -MAX_WBITS, DEF_MEM_LEVEL, ..): a raw
 *   deflate stream, no zlib header. From 4.19 to 6.4 the crypto API's "deflate" (also raw,
 *   crypto/deflate.c uses -DEFLATE_DEF_WINBITS), or lzo/lz4/lz4hc/842/zstd when chosen with
 *   pstore.compress=. Before 4.19 zlib_deflateInit2 with WINDOW_BITS 12: a zlib-wrapped stream
 *   (header byte 0x48). A record compression could not shrink is stored uncompressed, cut to the
 *   backend's buffer size. We try raw deflate, zlib, zstd and LZO1X; lz4 and 842 are not
 *   decoded (the record is kept raw).
 *
 * - ramoops (fs/pstore/ram.c) stores only Part1 of each dump (ramoops_pstore_write returns
 *   -ENOSPC for part != 1), one dump per record slot (dmesg-ramoops-<slot>); its in-memory header
 *   `====<sec>.<usec>-<C|D>\n` is stripped by ramoops_read_kmsg_hdr (it becomes the mtime and the
 *   compressed flag), and with ECC enabled a notice `\nECC: ...\n` is appended after the data
 *   (persistent_ram_ecc_string), also after still-compressed data.
 *
 * - efi_pstore writes each part as an EFI variable `dump-type<type>-<part>-<count>-<sec>-<C|D>`
 *   and names the record id generic_id(sec, part, count) = (sec * 100 + part) * 1000 + count, so
 *   part, count and time can be read back from the file name even when the data cannot.
 *
 * - Removing a file calls the backend's erase (inode.c pstore_unlink → psi->erase): the EFI
 *   variable is deleted, the ramoops zone zapped. That is how records are cleared.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { inflateRawSync, inflateSync } from 'node:zlib';
import { lzo1xDecompress } from '../formats/codecs/lzo.js';
import { zstdDecompress } from '../formats/codecs/zstd.js';
import type { HostRoot } from './root.js';

/** Where the kernel mounts pstore (systemd mounts it there at boot). */
export const PSTORE_DIR = '/sys/fs/pstore';

/** enum pstore_type_id names, in the kernel's order (fs/pstore/platform.c pstore_type_names). */
export const PSTORE_TYPES = ['dmesg', 'mce', 'console', 'ftrace', 'rtas', 'powerpc-ofw', 'powerpc-common', 'pmsg', 'powerpc-opal'] as const;
export type PstoreType = (typeof PSTORE_TYPES)[number];

/** A decompressed record larger than this is not a pstore record (kmsg_bytes is ~10 KiB). */
const MAX_DECOMPRESSED = 4 << 20;

/** Time-stamps of the parts of one dump differ by the seconds the dump took to write. */
const SAME_DUMP_SECONDS = 120;

export interface RecordName {
  readonly type: PstoreType;
  readonly backend: string;
  /** u64 record id: the slot for ramoops, generic_id() for efi_pstore. */
  readonly id: bigint;
  /** The name ends in `.enc.z`: the kernel left the data compressed. */
  readonly encZ: boolean;
}

const NAME_RE = new RegExp(`^(${PSTORE_TYPES.map((t) => t.replace('-', '\\-')).join('|')})-(.+)-(\\d+)(\\.enc\\.z)?$`);

/** Parses `dmesg-efi_pstore-172955512001.enc.z`; undefined for a name pstore does not make. */
export function parseRecordName(name: string): RecordName | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  return { type: m[1] as PstoreType, backend: m[2]!, id: BigInt(m[3]!), encZ: m[4] !== undefined };
}

/** What generic_id() (drivers/firmware/efi/efi-pstore.c) packed into an efi_pstore id. */
export function decodeEfiId(id: bigint): { seconds: bigint; part: number; count: number } {
  return { seconds: id / 100000n, part: Number((id / 1000n) % 100n), count: Number(id % 1000n) };
}

export function isEfiBackend(backend: string): boolean {
  return backend === 'efi_pstore' || backend === 'efi';
}

/** The `Panic#1 Part2` line pstore_dump() puts at the start of every dmesg record. */
export interface DumpHeader {
  readonly reason: string;
  readonly count: number;
  readonly part: number;
}

const HEADER_RE = /^([A-Za-z]+)#(\d+) Part(\d+)\n/;

export function parseDumpHeader(data: Uint8Array): { header: DumpHeader; length: number } | undefined {
  const head = Buffer.from(data.subarray(0, 64)).toString('latin1');
  const m = HEADER_RE.exec(head);
  if (!m) return undefined;
  return { header: { reason: m[1]!, count: Number(m[2]), part: Number(m[3]) }, length: m[0].length };
}

/** persistent_ram_ecc_string (fs/pstore/ram_core.c), appended by ramoops when ECC is on. */
const ECC_RE = /\nECC: (?:No errors detected|\d+ Corrected bytes, \d+ unrecoverable blocks)\n$/;

function splitEccNotice(data: Buffer): { data: Buffer; ecc: string | undefined } {
  const tail = data.subarray(Math.max(0, data.length - 80)).toString('latin1');
  const m = ECC_RE.exec(tail);
  if (!m) return { data, ecc: undefined };
  return { data: data.subarray(0, data.length - m[0].length), ecc: m[0].trim() };
}

/** ramoops' own header (fs/pstore/ram.c RAMOOPS_KERNMSG_HDR), present only in a copy of a zone. */
const RAMOOPS_HDR_RE = /^====(\d+)\.(\d+)(?:-([CD]))?\n/;

export type Decompression = 'deflate-raw' | 'zlib' | 'zstd' | 'lzo';

/**
 * Decompresses a compressed dmesg record, trying the formats kernels have written (see the top
 * of this file). Returns undefined with the reasons when none fits.
 */
export function decompressRecord(data: Buffer): { data: Buffer; codec: Decompression } | { error: string } {
  const tried: string[] = [];
  const attempt = (codec: Decompression, f: () => Uint8Array, mustHaveHeader: boolean): { data: Buffer; codec: Decompression } | undefined => {
    try {
      const out = Buffer.from(f());
      if (mustHaveHeader && !parseDumpHeader(out)) {
        tried.push(`${codec}: no dump header in the result`);
        return undefined;
      }
      return { data: out, codec };
    } catch (e) {
      tried.push(`${codec}: ${(e as Error).message}`);
      return undefined;
    }
  };
  const b0 = data[0] ?? 0;
  const b1 = data[1] ?? 0;
  // zstd frame magic 0xFD2FB528 (little-endian), as the crypto API's zstd writes it.
  if (data.length >= 4 && data.readUInt32LE(0) === 0xfd2fb528) {
    const r = attempt('zstd', () => zstdDecompress(data, MAX_DECOMPRESSED), false);
    if (r) return r;
  }
  // A zlib header (RFC 1950): CM 8, window <= 32K, header checksum; pre-4.19 kernels.
  if ((b0 & 0x0f) === 8 && b0 >> 4 <= 7 && ((b0 << 8) | b1) % 31 === 0) {
    const r = attempt('zlib', () => inflateSync(data, { maxOutputLength: MAX_DECOMPRESSED }), false);
    if (r) return r;
  }
  const raw = attempt('deflate-raw', () => inflateRawSync(data, { maxOutputLength: MAX_DECOMPRESSED }), false);
  if (raw) return raw;
  // LZO1X has no header or checksum, so only a result that starts like a dump counts.
  const lzo = attempt('lzo', () => lzo1xDecompress(data, 1 << 20), true);
  if (lzo) return lzo;
  return { error: `not raw deflate, zlib, zstd or LZO1X data (${tried.join('; ')}); lz4 and 842 records are not decoded` };
}

export interface PstoreRecord {
  /** File name in /sys/fs/pstore. */
  readonly file: string;
  /** Host path (under the HostRoot): /sys/fs/pstore/FILE. */
  readonly hostPath: string;
  readonly name: RecordName;
  /** The file's bytes as read. */
  readonly raw: Buffer;
  readonly sha256: string;
  /** When the record was written: the file's mtime (or a ramoops header, or the efi id). */
  readonly time: Date;
  /** dmesg: the record is (or was) compressed. */
  readonly compressed: boolean;
  readonly decompression?: Decompression;
  /** dmesg: why the data could not be decompressed (the record is then kept raw only). */
  readonly decodeError?: string;
  /** ramoops' ECC notice found after the data. */
  readonly ecc?: string;
  /** dmesg: the dump this part belongs to, from the header line (or the efi id). */
  readonly header?: DumpHeader;
  /** The header was not readable and comes from the efi_pstore id (reason unknown). */
  readonly headerFromId?: boolean;
  /** dmesg: the log text of this part without its header line (undefined if undecodable). */
  readonly body?: Buffer;
}

/** Interprets one record's bytes (pure: tests feed it directly). */
export function interpretRecord(file: string, hostPath: string, name: RecordName, raw: Buffer, mtime: Date): PstoreRecord {
  const sha256 = createHash('sha256').update(raw).digest('hex');
  const base = { file, hostPath, name, raw, sha256, time: mtime };
  if (name.type !== 'dmesg') {
    const { ecc } = splitEccNotice(raw);
    return { ...base, compressed: false, ...(ecc ? { ecc } : {}) };
  }
  const split = splitEccNotice(raw);
  const ecc = split.ecc;
  let data = split.data;
  let time = mtime;
  let compressed = name.encZ;
  const hdr = RAMOOPS_HDR_RE.exec(data.subarray(0, 40).toString('latin1'));
  if (hdr) {
    time = new Date(Number(hdr[1]) * 1000 + Math.floor(Number(hdr[2]) / 1000));
    compressed ||= hdr[3] === 'C';
    data = data.subarray(hdr[0].length);
  }
  const efi = isEfiBackend(name.backend) ? decodeEfiId(name.id) : undefined;
  // efi_pstore's id carries the write time in seconds (more reliable than an mtime after a copy).
  if (efi && efi.seconds > 0n && Math.abs(Number(efi.seconds) * 1000 - time.getTime()) >= 1000) time = new Date(Number(efi.seconds) * 1000);
  let decompression: Decompression | undefined;
  if (compressed) {
    const r = decompressRecord(data);
    if ('error' in r) {
      const header = efi ? { reason: 'Unknown', count: efi.count, part: efi.part } : undefined;
      return { ...base, time, compressed, decodeError: r.error, ...(ecc ? { ecc } : {}), ...(header ? { header, headerFromId: true } : {}) };
    }
    data = r.data;
    decompression = r.codec;
  }
  const parsed = parseDumpHeader(data);
  const idHeader = !parsed && efi ? { reason: 'Unknown', count: efi.count, part: efi.part } : undefined;
  const header = parsed?.header ?? idHeader;
  const body = parsed ? data.subarray(parsed.length) : data;
  return { ...base, time, compressed, ...(decompression ? { decompression } : {}), ...(ecc ? { ecc } : {}), ...(header ? { header } : {}), ...(idHeader ? { headerFromId: true } : {}), body };
}

export interface PstoreScan {
  /** Real path of the pstore directory read. */
  readonly dir: string;
  readonly mounted: boolean;
  readonly records: PstoreRecord[];
  /** Files whose names pstore does not make: never touched. */
  readonly unknown: string[];
}

/** Reads every record under ROOT/sys/fs/pstore. */
export function readPstore(root: HostRoot): PstoreScan {
  const dir = root.path(PSTORE_DIR);
  const records: PstoreRecord[] = [];
  const unknown: string[] = [];
  for (const file of root.list(PSTORE_DIR)) {
    const hostPath = `${PSTORE_DIR}/${file}`;
    const name = parseRecordName(file);
    if (!name) {
      unknown.push(file);
      continue;
    }
    const raw = root.readBytes(hostPath);
    if (raw === undefined) continue; // removed meanwhile, or a directory
    let mtime: Date;
    try {
      mtime = statSync(root.path(hostPath)).mtime;
    } catch {
      continue; // removed between the read and the stat
    }
    records.push(interpretRecord(file, hostPath, name, raw, mtime));
  }
  return { dir, mounted: root.isDirectory(PSTORE_DIR), records, unknown };
}

/** One kmsg dump (one pstore_dump() call): its parts joined. */
export interface PstoreDump {
  readonly backend: string;
  readonly reason: string;
  /** The `#N` of the header: dumps since that boot; undefined when no header was readable. */
  readonly count: number | undefined;
  /** When Part1 (the first written) was stored. */
  readonly time: Date;
  /** The records, Part1 first. */
  readonly records: PstoreRecord[];
  /** Part numbers found, ascending. */
  readonly parts: number[];
  /** Part numbers between 1 and the highest found that are missing. */
  readonly missingParts: number[];
  /** The log, oldest line first, without headers and syslog `<N>` prefixes. */
  readonly log: Buffer;
  /** The last panic/BUG/Oops line of the log, for listings. */
  readonly headline: string | undefined;
  readonly notes: string[];
}

/**
 * Groups dmesg records into dumps: same backend, reason and count, written within a short time
 * (count restarts at 1 every boot, so `Panic#1` of two boots are told apart by time), one record
 * per part number. Records without a readable header each make a dump of their own.
 */
export function groupDumps(records: readonly PstoreRecord[]): PstoreDump[] {
  const byTime = (a: PstoreRecord, b: PstoreRecord): number => a.time.getTime() - b.time.getTime() || (a.header?.part ?? 0) - (b.header?.part ?? 0);
  const dmesg = records.filter((r) => r.name.type === 'dmesg').sort(byTime);
  const groups: PstoreRecord[][] = [];
  const fits = (g: PstoreRecord[], r: PstoreRecord, sameReason: boolean): boolean => {
    const lead = g.find((x) => !x.headerFromId) ?? g[0]!;
    return (
      lead.name.backend === r.name.backend &&
      lead.header?.count === r.header!.count &&
      (!sameReason || lead.headerFromId === true || lead.header?.reason === r.header!.reason) &&
      Math.abs(r.time.getTime() - lead.time.getTime()) <= SAME_DUMP_SECONDS * 1000 &&
      !g.some((x) => x.header?.part === r.header!.part)
    );
  };
  // Parts whose header was read first, then parts known only from an efi id join them.
  for (const r of dmesg.filter((x) => x.header && !x.headerFromId)) {
    const g = [...groups].reverse().find((x) => fits(x, r, true));
    if (g) g.push(r);
    else groups.push([r]);
  }
  for (const r of dmesg.filter((x) => x.headerFromId)) {
    const g = [...groups].reverse().find((x) => fits(x, r, false));
    if (g) g.push(r);
    else groups.push([r]);
  }
  for (const r of dmesg.filter((x) => !x.header)) groups.push([r]);
  return groups.map(joinDump).sort((a, b) => a.time.getTime() - b.time.getTime() || (a.count ?? 0) - (b.count ?? 0));
}

const SYSLOG_PREFIX_RE = /^<\d{1,3}>/gm;
/** Lines that say what went wrong, most telling first (a panic line often only says "Fatal exception"). */
const HEADLINE_RES = [/(?:BUG: |kernel BUG at |general protection fault|Oops: |watchdog: BUG: |Unable to handle kernel ).*$/, /Kernel panic - not syncing: .*$/];

function joinDump(records: PstoreRecord[]): PstoreDump {
  const sorted = [...records].sort((a, b) => (a.header?.part ?? 0) - (b.header?.part ?? 0));
  const first = sorted.find((r) => r.header && !r.headerFromId) ?? sorted[0]!;
  const notes: string[] = [];
  const parts = sorted.map((r) => r.header?.part).filter((p): p is number => p !== undefined);
  const max = parts.length ? Math.max(...parts) : 0;
  const missingParts: number[] = [];
  for (let p = 1; p <= max; p++) if (!parts.includes(p)) missingParts.push(p);
  if (missingParts.length) notes.push(`part${missingParts.length > 1 ? 's' : ''} ${missingParts.join(', ')} missing: the log has a gap there (the backend may have run out of space)`);
  // Oldest chunk first: highest part number first.
  const chunks: string[] = [];
  for (const r of [...sorted].reverse()) {
    if (!r.body) {
      notes.push(`${r.file} could not be decompressed (${r.decodeError ?? 'unknown format'}); it is kept in raw/ only and its lines are missing from the log`);
      continue;
    }
    let text = r.body.toString('latin1');
    if (text.length && !text.endsWith('\n')) {
      // pstore_dump stores a chunk that compression could not shrink cut to the buffer size.
      notes.push(`${r.file} ends in the middle of a line (the kernel stored it cut short)`);
      text += '\n';
    }
    chunks.push(text.replace(SYSLOG_PREFIX_RE, ''));
  }
  const logText = chunks.join('');
  let headline: string | undefined;
  const lines = logText.split('\n');
  for (const re of HEADLINE_RES) {
    const m = lines.map((l) => re.exec(l)).find((x) => x !== null);
    if (m) {
      headline = Buffer.from(m[0], 'latin1').toString('utf8');
      break;
    }
  }
  const times = records.map((r) => r.time.getTime());
  return {
    backend: first.name.backend,
    reason: first.header?.reason ?? 'Unknown',
    count: first.header?.count,
    time: new Date(Math.min(...times)),
    records: sorted,
    parts,
    missingParts,
    log: Buffer.from(logText, 'latin1'),
    headline,
    notes,
  };
}
