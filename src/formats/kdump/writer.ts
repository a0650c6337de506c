import { CODEC_FLAGS, type CodecName } from '../codecs/index.js';
import { parseNotes, NT_PRSTATUS } from '../elf/notes.js';
import { DISK_DUMP_HEADER_SIZE, DUMP_DH_COMPRESSED_INCOMPLETE, KDUMP_SIGNATURE, KDUMP_SUB_HEADER_SIZE } from './header.js';
import { PAGE_DESC_SIZE } from './kdump-memory.js';
import { FlaggedHeaderWriter, SinkWriteError, type DumpSink } from './flattened-writer.js';

/**
 * Writer of the kdump-compressed format, byte for byte as makedumpfile lays it out
 * (makedumpfile.c write_kdump_header, write_kdump_pages_and_bitmap_cyclic,
 * write_kdump_pages_cyclic, write_kdump_page; diskdump_mod.h):
 *
 *   0                       disk_dump_header (header_version 6), rest of block 0 zero
 *   block_size              kdump_sub_header (104 bytes), then the source's ELF notes verbatim
 *   (1+sub_hdr_size) blocks 1st bitmap (RAM), then 2nd bitmap (dumpable), each
 *                           ceil(ceil(max_mapnr/8)/block_size) blocks
 *   (1+sub+bitmap) blocks   page_desc_t[popcount(2nd bitmap)], 24 bytes each
 *   after the descriptors   page data back to back: first one raw zero page shared by every
 *                           all-zero page when dump_level has bit 1, then each page compressed,
 *                           or raw when compression does not make it smaller
 *
 * Pages arrive in ascending pfn order in batches; each batch's descriptors are written before
 * its data (as makedumpfile flushes its descriptor cache before its page cache) so that, when a
 * write fails, the descriptors of pages whose data did not reach the disk can be overwritten with
 * zeros in place: readers then see those pages as missing (offset 0), never as garbage.
 */

export const UTSNAME_SIZE = 6 * 65;
/** dump_level bit 1: pages filled with zeros are excluded (here: shared). */
export const DL_EXCLUDE_ZERO = 1;

export interface KdumpWriterInput {
  readonly pageSize: number;
  readonly maxMapnr: bigint;
  /** 1st bitmap bytes (bit p = pfn p is RAM); bits at or past maxMapnr are ignored. */
  readonly ram: Uint8Array;
  /** 2nd bitmap bytes (bit p = pfn p gets a descriptor). */
  readonly dumpable: Uint8Array;
  /** The source's ELF note data (PRSTATUS notes, VMCOREINFO, ...), copied verbatim. */
  readonly notes: Uint8Array;
  /** struct new_utsname (6 x 65 bytes) of the crashed kernel. */
  readonly utsname: Uint8Array;
  /** timestamp.tv_sec (VMCOREINFO CRASHTIME). */
  readonly crashTime: bigint;
  readonly physBase: bigint;
  readonly dumpLevel: number;
  /** Codec named in header.status; pages that do not shrink are stored raw anyway. */
  readonly codec: CodecName | undefined;
  /** nr_cpus; default: the number of "CORE" NT_PRSTATUS notes, as makedumpfile counts them. */
  readonly nrCpus?: number;
}

export interface KdumpLayout {
  readonly blockSize: number;
  readonly subHdrSize: number;
  /** Total blocks of both bitmaps. */
  readonly bitmapBlocks: number;
  /** Meaningful bytes of each bitmap (ceil(max_mapnr / 8)). */
  readonly bitmapBytes: number;
  readonly bitmap1Offset: number;
  readonly bitmap2Offset: number;
  readonly descsOffset: number;
  readonly dataOffset: number;
  readonly numDumpable: number;
  readonly offsetNote: number;
  readonly offsetVmcoreinfo: number;
  readonly sizeVmcoreinfo: number;
  readonly nrCpus: number;
  /** Offset of the shared zero page, when dump_level has bit 1. */
  readonly zeroPageOffset: number | undefined;
}

const POP8 = Uint8Array.from({ length: 256 }, (_, i) => {
  let c = 0;
  for (let v = i; v; v >>= 1) c += v & 1;
  return c;
});

/** Set bits of `bits` for pfns below `n`. */
export function popcountBits(bits: Uint8Array, n: bigint): number {
  const nbits = Number(n);
  const full = nbits >>> 3;
  let c = 0;
  for (let i = 0; i < full && i < bits.length; i++) c += POP8[bits[i]!]!;
  if (nbits & 7 && full < bits.length) c += POP8[bits[full]! & ((1 << (nbits & 7)) - 1)]!;
  return c;
}

/** The bitmap as it goes into the file: exactly ceil(n/8) bytes, bits past n cleared. */
export function trimBitmap(bits: Uint8Array, n: bigint): Uint8Array {
  const nbits = Number(n);
  const out = new Uint8Array(Math.ceil(nbits / 8));
  out.set(bits.subarray(0, Math.min(out.length, bits.length)));
  if (nbits & 7 && out.length > 0) out[out.length - 1]! &= (1 << (nbits & 7)) - 1;
  return out;
}

/** Where the VMCOREINFO note's desc is inside the note data, and how many CORE/NT_PRSTATUS notes there are. */
export function scanNotes(notes: Uint8Array): { vmcoreinfo: { offset: number; size: number } | undefined; prstatusCount: number } {
  let vmcoreinfo: { offset: number; size: number } | undefined;
  let prstatusCount = 0;
  for (const n of parseNotes(notes)) {
    if (n.name === 'CORE' && n.type === NT_PRSTATUS) prstatusCount++;
    else if (n.name === 'VMCOREINFO' && n.type === 0 && vmcoreinfo === undefined) vmcoreinfo = { offset: n.descOffset, size: n.desc.length };
  }
  return { vmcoreinfo, prstatusCount };
}

export function kdumpLayout(input: KdumpWriterInput): KdumpLayout {
  const bs = input.pageSize;
  const subHdrSize = Math.ceil((KDUMP_SUB_HEADER_SIZE + input.notes.length) / bs);
  const bitmapBytes = Math.ceil(Number(input.maxMapnr) / 8);
  const perBitmapBlocks = Math.ceil(bitmapBytes / bs);
  const bitmapBlocks = 2 * perBitmapBlocks;
  const bitmap1Offset = (1 + subHdrSize) * bs;
  const bitmap2Offset = bitmap1Offset + perBitmapBlocks * bs;
  const descsOffset = (1 + subHdrSize + bitmapBlocks) * bs;
  const numDumpable = popcountBits(input.dumpable, input.maxMapnr);
  const dataOffset = descsOffset + PAGE_DESC_SIZE * numDumpable;
  const notes = scanNotes(input.notes);
  const offsetNote = bs + KDUMP_SUB_HEADER_SIZE;
  return {
    blockSize: bs,
    subHdrSize,
    bitmapBlocks,
    bitmapBytes,
    bitmap1Offset,
    bitmap2Offset,
    descsOffset,
    dataOffset,
    numDumpable,
    offsetNote,
    offsetVmcoreinfo: notes.vmcoreinfo ? offsetNote + notes.vmcoreinfo.offset : 0,
    sizeVmcoreinfo: notes.vmcoreinfo ? notes.vmcoreinfo.size : 0,
    nrCpus: input.nrCpus ?? notes.prstatusCount,
    zeroPageOffset: input.dumpLevel & DL_EXCLUDE_ZERO ? dataOffset : undefined,
  };
}

/** struct disk_dump_header, 464 bytes (x86_64). */
export function encodeDiskDumpHeader(input: KdumpWriterInput, layout: KdumpLayout, extraStatus = 0): Uint8Array {
  const h = Buffer.alloc(DISK_DUMP_HEADER_SIZE);
  h.write(KDUMP_SIGNATURE, 0, 'latin1');
  h.writeInt32LE(6, 8);
  h.set(input.utsname.subarray(0, UTSNAME_SIZE), 12);
  h.writeBigInt64LE(input.crashTime, 408);
  h.writeBigInt64LE(0n, 416);
  const codecBit = input.codec ? CODEC_FLAGS[input.codec] : 0;
  h.writeUInt32LE((codecBit | extraStatus) >>> 0, 424);
  h.writeInt32LE(layout.blockSize, 428);
  h.writeInt32LE(layout.subHdrSize, 432);
  h.writeUInt32LE(layout.bitmapBlocks, 436);
  h.writeUInt32LE(input.maxMapnr > 0xffffffffn ? 0xffffffff : Number(input.maxMapnr), 440);
  // total_ram_blocks, device_blocks, written_blocks, current_cpu: 0
  h.writeInt32LE(layout.nrCpus, 460);
  return h;
}

/** struct kdump_sub_header, 104 bytes (x86_64); not a split dump, no eraseinfo. */
export function encodeSubHeader(input: KdumpWriterInput, layout: KdumpLayout): Uint8Array {
  const s = Buffer.alloc(KDUMP_SUB_HEADER_SIZE);
  s.writeBigUInt64LE(BigInt.asUintN(64, input.physBase), 0);
  s.writeInt32LE(input.dumpLevel, 8);
  // split 0, start_pfn 0, end_pfn 0
  s.writeBigInt64LE(BigInt(layout.offsetVmcoreinfo), 32);
  s.writeBigUInt64LE(BigInt(layout.sizeVmcoreinfo), 40);
  if (input.notes.length > 0) {
    s.writeBigInt64LE(BigInt(layout.offsetNote), 48);
    s.writeBigUInt64LE(BigInt(input.notes.length), 56);
  }
  // offset/size_eraseinfo 0, start/end_pfn_64 0
  s.writeBigUInt64LE(input.maxMapnr, 96);
  return s;
}

/**
 * One batch of stored pages, in ascending pfn order. `sizes[i]` is the stored size of page i
 * (0 = all-zero page that uses the shared zero page), `flags[i]` its descriptor flags (a codec
 * bit, or 0 = raw), and `data` holds the stored bytes of the non-zero pages back to back.
 */
export interface StoredBatch {
  readonly count: number;
  readonly sizes: Uint32Array;
  readonly flags: Uint8Array;
  readonly data: Uint8Array;
}

export interface KdumpWriteStats {
  pages: number;
  zeroPages: number;
  compressedPages: number;
  rawPages: number;
}

/** A file offset (< 2^53) as the little-endian off_t of a page descriptor, without BigInt. */
function writeOffset(b: Buffer, at: number, v: number): void {
  b.writeUInt32LE(v % 0x100000000, at);
  b.writeUInt32LE(Math.floor(v / 0x100000000), at + 4);
}

export class KdumpWriter extends FlaggedHeaderWriter {
  readonly layout: KdumpLayout;
  readonly stats: KdumpWriteStats = { pages: 0, zeroPages: 0, compressedPages: 0, rawPages: 0 };
  /** makedumpfile's check_and_modify_kdump_headers sets this after ENOSPC. */
  protected readonly incompleteFlag = DUMP_DH_COMPRESSED_INCOMPLETE;
  private descIndex = 0;
  private dataCursor: number;

  constructor(
    sink: DumpSink,
    readonly input: KdumpWriterInput,
  ) {
    super(sink);
    if (input.utsname.length < UTSNAME_SIZE) throw new RangeError(`utsname must be ${UTSNAME_SIZE} bytes`);
    this.layout = kdumpLayout(input);
    this.dataCursor = this.layout.dataOffset;
  }

  /**
   * Header, sub-header, notes, both bitmaps and the shared zero page. A file first gets the
   * header with the incomplete flag (0x8) set, cleared by finish(): a dump cut short by a crash
   * or power loss is recognisable as incomplete. A stream gets the final header at once.
   */
  begin(): void {
    const L = this.layout;
    this.guard(() => {
      this.sink.write(0n, this.encodeHeader(this.inProgressFlags));
      this.sink.write(BigInt(L.blockSize), encodeSubHeader(this.input, L));
      if (this.input.notes.length > 0) this.sink.write(BigInt(L.offsetNote), this.input.notes);
      this.sink.write(BigInt(L.bitmap1Offset), trimBitmap(this.input.ram, this.input.maxMapnr));
      this.sink.write(BigInt(L.bitmap2Offset), trimBitmap(this.input.dumpable, this.input.maxMapnr));
      if (L.zeroPageOffset !== undefined) {
        this.sink.write(BigInt(L.zeroPageOffset), new Uint8Array(L.blockSize));
        this.dataCursor += L.blockSize;
      }
    });
  }

  /** Descriptors and data of the next `batch.count` dumpable pages. */
  writeBatch(batch: StoredBatch): void {
    const L = this.layout;
    if (this.descIndex + batch.count > L.numDumpable) {
      throw new RangeError(`more pages (${this.descIndex + batch.count}) than the 2nd bitmap has dumpable pfns (${L.numDumpable})`);
    }
    const descs = Buffer.alloc(batch.count * PAGE_DESC_SIZE);
    const dataStart = this.dataCursor;
    let cursor = dataStart;
    let dataLen = 0;
    const st = this.stats;
    for (let i = 0; i < batch.count; i++) {
      const size = batch.sizes[i]!;
      const o = i * PAGE_DESC_SIZE;
      if (size === 0) {
        if (L.zeroPageOffset === undefined) throw new RangeError('zero-page descriptor without dump_level bit 1');
        writeOffset(descs, o, L.zeroPageOffset);
        descs.writeUInt32LE(L.blockSize, o + 8);
        st.zeroPages++;
      } else {
        if (size > L.blockSize) throw new RangeError(`stored page of ${size} bytes exceeds block size ${L.blockSize}`);
        const flags = batch.flags[i]!;
        writeOffset(descs, o, cursor);
        descs.writeUInt32LE(size, o + 8);
        descs.writeUInt32LE(flags, o + 12);
        if (flags) st.compressedPages++;
        else st.rawPages++;
        cursor += size;
        dataLen += size;
      }
    }
    if (dataLen > batch.data.length) throw new RangeError(`batch data holds ${batch.data.length} bytes, descriptors need ${dataLen}`);
    const descOffset = L.descsOffset + this.descIndex * PAGE_DESC_SIZE;
    let descWritten = 0;
    try {
      this.sink.write(BigInt(descOffset), descs);
      descWritten = descs.length;
      if (dataLen > 0) this.sink.write(BigInt(dataStart), batch.data.subarray(0, dataLen));
    } catch (e) {
      this.failed = true;
      if (!(e instanceof SinkWriteError)) throw e;
      if (descWritten === 0) descWritten = e.written;
      const dataOnDisk = descWritten === descs.length ? e.written : 0;
      this.retractDescriptors(descs, descOffset, descWritten, dataStart + dataOnDisk);
      throw e;
    }
    this.descIndex += batch.count;
    this.dataCursor = cursor;
    st.pages += batch.count;
  }

  /**
   * After a failed write: descriptors already on disk whose data is not completely there are
   * overwritten with zeros (offset 0 = page missing), from the first such page on. The region
   * was written already, so rewriting it needs no new disk space.
   */
  private retractDescriptors(descs: Buffer, descOffset: number, descWritten: number, dataEnd: number): void {
    const whole = Math.floor(descWritten / PAGE_DESC_SIZE);
    let first = whole;
    for (let i = 0; i < whole; i++) {
      const o = i * PAGE_DESC_SIZE;
      const off = Number(descs.readBigInt64LE(o));
      const size = descs.readUInt32LE(o + 8);
      if (off !== this.layout.zeroPageOffset && off + size > dataEnd) {
        first = i;
        break;
      }
    }
    const from = first * PAGE_DESC_SIZE;
    if (descWritten > from) {
      try {
        this.sink.write(BigInt(descOffset + from), new Uint8Array(descWritten - from));
      } catch {
        // Best effort: the header's incomplete flag still tells readers.
      }
    }
    this.descIndex += first;
  }

  /** Number of descriptors written so far. */
  get pagesWritten(): number {
    return this.descIndex;
  }

  /** Offset one past the last page data written. */
  get dataEnd(): number {
    return this.dataCursor;
  }

  /** Rewrites the header without the in-progress flag, once every dumpable page is written. */
  finish(): void {
    if (this.descIndex !== this.layout.numDumpable) {
      throw new RangeError(`only ${this.descIndex} of ${this.layout.numDumpable} dumpable pages were written`);
    }
    this.rewriteCleanHeader();
  }

  protected encodeHeader(flags: number): Uint8Array {
    return encodeDiskDumpHeader(this.input, this.layout, flags);
  }

}
