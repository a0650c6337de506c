import type { ByteSource } from '../../util/file.js';
import { FormatError } from '../../util/errors.js';
import { cString, i32, i64, u32, u64 } from '../../util/bytes.js';

/**
 * `struct disk_dump_header` and `struct kdump_sub_header` of the kdump-compressed format
 * (makedumpfile diskdump_mod.h; x86_64 layout, 464 and 104 bytes).
 */
export const KDUMP_SIGNATURE = 'KDUMP   ';
export const DISKDUMP_SIGNATURE = 'DISKDUMP';
export const DISK_DUMP_HEADER_SIZE = 464;
export const KDUMP_SUB_HEADER_SIZE = 104;

/** header.status bits that are not codecs. */
export const DUMP_DH_COMPRESSED_INCOMPLETE = 0x08;
export const DUMP_DH_EXCLUDED_VMEMMAP = 0x10;

export interface UtsName {
  readonly sysname: string;
  readonly nodename: string;
  readonly release: string;
  readonly version: string;
  readonly machine: string;
  readonly domainname: string;
}

export interface DiskDumpHeader {
  readonly signature: string;
  readonly headerVersion: number;
  readonly utsname: UtsName;
  readonly timestampSec: bigint;
  readonly timestampUsec: bigint;
  readonly status: number;
  readonly blockSize: number;
  readonly subHdrSize: number;
  readonly bitmapBlocks: number;
  readonly maxMapnr32: number;
  readonly nrCpus: number;
}

export interface KdumpSubHeader {
  readonly physBase: bigint;
  readonly dumpLevel: number;
  readonly split: number;
  readonly startPfn: bigint;
  readonly endPfn: bigint;
  readonly offsetVmcoreinfo: bigint;
  readonly sizeVmcoreinfo: bigint;
  readonly offsetNote: bigint;
  readonly sizeNote: bigint;
  readonly offsetEraseinfo: bigint;
  readonly sizeEraseinfo: bigint;
  /** Real max_mapnr: sub-header v6 field, else the 32-bit header field. */
  readonly maxMapnr: bigint;
}

export function isKdumpSignature(magic: Uint8Array): boolean {
  const s = Buffer.from(magic.subarray(0, 8)).toString('latin1');
  return s === KDUMP_SIGNATURE || s === DISKDUMP_SIGNATURE;
}

export function readDiskDumpHeader(src: ByteSource): DiskDumpHeader {
  const h = src.read(0n, DISK_DUMP_HEADER_SIZE, 'disk_dump_header');
  const signature = Buffer.from(h.subarray(0, 8)).toString('latin1');
  if (signature !== KDUMP_SIGNATURE && signature !== DISKDUMP_SIGNATURE) {
    throw new FormatError(src.path, 0, `bad signature ${JSON.stringify(signature)}, expected "KDUMP   "`);
  }
  const uts = (i: number): string => cString(h, 12 + i * 65, 65);
  const hdr: DiskDumpHeader = {
    signature,
    headerVersion: i32(h, 8),
    utsname: { sysname: uts(0), nodename: uts(1), release: uts(2), version: uts(3), machine: uts(4), domainname: uts(5) },
    timestampSec: i64(h, 408),
    timestampUsec: i64(h, 416),
    status: u32(h, 424),
    blockSize: i32(h, 428),
    subHdrSize: i32(h, 432),
    bitmapBlocks: u32(h, 436),
    maxMapnr32: u32(h, 440),
    nrCpus: i32(h, 460),
  };
  const bs = hdr.blockSize;
  if (bs < 512 || bs > 65536 || (bs & (bs - 1)) !== 0) {
    throw new FormatError(src.path, 428, `block_size ${bs} is not a power of two between 512 and 65536`);
  }
  if (hdr.headerVersion < 0 || hdr.headerVersion > 100) {
    throw new FormatError(src.path, 8, `header_version ${hdr.headerVersion} out of range`);
  }
  if (hdr.subHdrSize < 0 || BigInt(1 + hdr.subHdrSize) * BigInt(bs) > src.size) {
    throw new FormatError(src.path, 432, `sub_hdr_size ${hdr.subHdrSize} blocks extends past end of file`);
  }
  if (hdr.bitmapBlocks === 0 || BigInt(1 + hdr.subHdrSize + hdr.bitmapBlocks) * BigInt(bs) > src.size) {
    throw new FormatError(src.path, 436, `bitmap_blocks ${hdr.bitmapBlocks} ${hdr.bitmapBlocks === 0 ? 'is zero' : 'extends past end of file'}`);
  }
  return hdr;
}

/** Reads the sub-header at block 1; fields newer than header_version read as zero. */
export function readKdumpSubHeader(src: ByteSource, hdr: DiskDumpHeader): KdumpSubHeader {
  const v = hdr.headerVersion;
  const bs = BigInt(hdr.blockSize);
  const zero = { physBase: 0n, dumpLevel: 0, split: 0, startPfn: 0n, endPfn: 0n, offsetVmcoreinfo: 0n, sizeVmcoreinfo: 0n, offsetNote: 0n, sizeNote: 0n, offsetEraseinfo: 0n, sizeEraseinfo: 0n };
  if (hdr.subHdrSize === 0 || hdr.signature === DISKDUMP_SIGNATURE) {
    return { ...zero, maxMapnr: BigInt(hdr.maxMapnr32) };
  }
  const s = src.read(bs, KDUMP_SUB_HEADER_SIZE, 'kdump_sub_header');
  const sub = {
    physBase: u64(s, 0),
    dumpLevel: v >= 1 ? i32(s, 8) : 0,
    split: v >= 2 ? i32(s, 12) : 0,
    startPfn: v >= 6 ? u64(s, 80) : v >= 2 ? u64(s, 16) : 0n,
    endPfn: v >= 6 ? u64(s, 88) : v >= 2 ? u64(s, 24) : 0n,
    offsetVmcoreinfo: v >= 3 ? i64(s, 32) : 0n,
    sizeVmcoreinfo: v >= 3 ? u64(s, 40) : 0n,
    offsetNote: v >= 4 ? i64(s, 48) : 0n,
    sizeNote: v >= 4 ? u64(s, 56) : 0n,
    offsetEraseinfo: v >= 5 ? i64(s, 64) : 0n,
    sizeEraseinfo: v >= 5 ? u64(s, 72) : 0n,
    maxMapnr: v >= 6 ? u64(s, 96) : BigInt(hdr.maxMapnr32),
  };
  const check = (off: bigint, size: bigint, field: number, name: string): void => {
    if (size === 0n) return;
    if (off < 0n || size < 0n || off + size > src.size) {
      throw new FormatError(src.path, bs + BigInt(field), `sub-header ${name} (offset 0x${off.toString(16)}, size ${size}) points past end of file`);
    }
  };
  check(sub.offsetVmcoreinfo, sub.sizeVmcoreinfo, 32, 'vmcoreinfo');
  check(sub.offsetNote, sub.sizeNote, 48, 'note');
  check(sub.offsetEraseinfo, sub.sizeEraseinfo, 64, 'eraseinfo');
  if (sub.dumpLevel < 0 || sub.dumpLevel > 31) {
    throw new FormatError(src.path, bs + 8n, `dump_level ${sub.dumpLevel} out of range 0..31`);
  }
  if (sub.maxMapnr === 0n || sub.maxMapnr > (1n << 52n)) {
    throw new FormatError(src.path, v >= 6 ? bs + 96n : 440n, `max_mapnr ${sub.maxMapnr} out of range`);
  }
  return sub;
}
