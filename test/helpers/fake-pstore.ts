/**
 * pstore records made the way the kernel makes them, for fake /sys/fs/pstore trees:
 * pstore_dump() (fs/pstore/platform.c) splits the end of the log into parts, newest chunk first,
 * each starting with `<Reason>#<count> Part<n>\n`, compressed with zlib_deflateInit2(level
 * Z_DEFAULT_COMPRESSION, -MAX_WBITS, DEF_MEM_LEVEL) into the backend's buffer (stored
 * uncompressed and cut to the buffer when compression does not fit); the backend names the
 * files (fs/pstore/inode.c) and sets their mtime to the record time.
 *
 * The log lines are a real kernel log: the reference dmesg stored beside a shared dump.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { SHARED } from './dumps.js';
import { HostRoot } from '../../src/host/root.js';

/** The reference log of a shared dump (makedumpfile --dump-dmesg output), one entry per line. */
export function referenceLogPath(dump = '6.12-nullderef'): string {
  return join(SHARED, 'vmcores', dump, 'reference', 'makedumpfile-dmesg.txt');
}

export function referenceLog(dump = '6.12-nullderef'): string[] {
  const text = readFileSync(referenceLogPath(dump), 'utf8');
  return text.split('\n').filter((l, i, a) => l !== '' || i < a.length - 1);
}

/** kmsg_dump_get_buffer(.., syslog=true, ..): `<level>` before every line. */
function syslogLine(line: string): string {
  const level = /BUG|Oops|panic|RIP:|Call Trace/.test(line) ? 0 : /warn/i.test(line) ? 4 : 6;
  return `<${level}>${line}\n`;
}

export interface DumpPart {
  readonly part: number;
  /** What the backend stores: compressed bytes, or header + text. */
  readonly stored: Buffer;
  readonly compressed: boolean;
  /** header + text, as the kernel reading it back shows it when it could decompress. */
  readonly plain: Buffer;
  /** The log lines of this part as dmesg.txt shows them. */
  readonly log: string;
}

export interface FakeDump {
  readonly parts: DumpPart[];
  /** The log lines the parts hold, oldest first, as dmesg.txt should show them. */
  readonly expectedLog: string;
}

/**
 * pstore_dump for one crash: `bufsize` is the backend's record buffer (efi_pstore 1024 by
 * default, ramoops record_size minus its header), `kmsgBytes` pstore's kmsg_bytes.
 */
export function pstoreDump(lines: readonly string[], o: { reason: string; count: number; bufsize: number; kmsgBytes?: number; compress: boolean }): FakeDump {
  const kmsgBytes = o.kmsgBytes ?? 10240;
  // platform.c: with compression the text buffer is bufsize * 100 / DMESG_COMP_PERCENT (60).
  const dstSize = o.compress ? Math.floor((o.bufsize * 100) / 60) : o.bufsize;
  const parts: DumpPart[] = [];
  let end = lines.length; // lines[0..end) not yet dumped
  let total = 0;
  let part = 1;
  while (total < kmsgBytes && end > 0) {
    const header = `${o.reason}#${o.count} Part${part}\n`;
    let room = dstSize - header.length;
    let start = end;
    while (start > 0 && Buffer.byteLength(syslogLine(lines[start - 1]!)) <= room) {
      room -= Buffer.byteLength(syslogLine(lines[start - 1]!));
      start--;
    }
    if (start === end) break;
    const plain = Buffer.from(header + lines.slice(start, end).map(syslogLine).join(''));
    let stored = plain;
    let compressed = false;
    if (o.compress) {
      const z = deflateRawSync(plain, { level: 6, windowBits: 15, memLevel: 8 });
      if (z.length <= o.bufsize) {
        stored = z;
        compressed = true;
      } else stored = plain.subarray(0, o.bufsize);
    }
    parts.push({ part, stored, compressed, plain: compressed ? plain : stored, log: lines.slice(start, end).map((l) => l + '\n').join('') });
    total += stored.length;
    part++;
    end = start;
  }
  return { parts, expectedLog: lines.slice(end).map((l) => l + '\n').join('') };
}

/** drivers/firmware/efi/efi-pstore.c generic_id(). */
export function efiId(seconds: number, part: number, count: number): bigint {
  return (BigInt(seconds) * 100n + BigInt(part)) * 1000n + BigInt(count);
}

export interface FakePstoreRoot {
  readonly dir: string;
  readonly root: HostRoot;
  readonly pstore: string;
  /** Writes /sys/fs/pstore/NAME with the given mtime (seconds since the epoch). */
  add(name: string, data: Uint8Array | string, seconds: number): void;
  has(name: string): boolean;
  remove(): void;
}

export function fakePstoreRoot(): FakePstoreRoot {
  const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-pstore-'));
  const pstore = join(dir, 'sys/fs/pstore');
  mkdirSync(pstore, { recursive: true });
  mkdirSync(join(dir, 'var/crash'), { recursive: true });
  return {
    dir,
    root: new HostRoot(dir, { PATH: '' }),
    pstore,
    add(name, data, seconds) {
      const p = join(pstore, name);
      writeFileSync(p, data);
      utimesSync(p, seconds, seconds);
    },
    has: (name) => existsSync(join(pstore, name)),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Adds a dump as efi_pstore records (one file per part), as a 6.x kernel shows them. */
export function addEfiDump(r: FakePstoreRoot, d: FakeDump, count: number, seconds: number, o: { encZ?: (part: number) => boolean; backend?: string; tick?: (part: number) => number } = {}): string[] {
  const names: string[] = [];
  for (const p of d.parts) {
    const encZ = p.compressed && (o.encZ?.(p.part) ?? false);
    // efi_pstore writes parts in order, each with its own time (the clock may tick meanwhile).
    const at = seconds + (o.tick?.(p.part) ?? 0);
    const name = `dmesg-${o.backend ?? 'efi_pstore'}-${efiId(at, p.part, count)}${encZ ? '.enc.z' : ''}`;
    r.add(name, encZ ? p.stored : p.plain, at);
    names.push(name);
  }
  return names;
}
