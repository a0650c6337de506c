import type { ByteSource } from '../../util/file.js';
import { FormatError, PageNotPresentError } from '../../util/errors.js';
import { i64, u32, u64 } from '../../util/bytes.js';
import { readAcrossPages, type PageState, type PhysicalMemory, type PhysRange } from '../../memory/physical-memory.js';
import { codecFromFlags, decompressPage, type CodecName } from '../codecs/index.js';
import { PageBitmap } from './bitmap.js';
import type { DiskDumpHeader, KdumpSubHeader } from './header.js';

/** `page_desc_t` (makedumpfile diskdump_mod.h): 24 bytes per dumpable page. */
export const PAGE_DESC_SIZE = 24;

export interface PageDesc {
  readonly offset: bigint;
  readonly size: number;
  readonly flags: number;
  readonly pageFlags: bigint;
}

const DESC_CHUNK = 512;
const PAGE_CACHE_PAGES = 256;

/**
 * Physical memory of a kdump-compressed file: pfn → 1st bitmap (RAM?) → 2nd bitmap (dumped?)
 * → page descriptor (rank in the 2nd bitmap) → stored data, decompressed per descriptor flags.
 * Follows crash's diskdump.c read path, including its "partial dump" rule for the two bitmaps.
 */
export class KdumpPhysicalMemory implements PhysicalMemory {
  readonly pageSize: number;
  readonly maxPfn: bigint;
  readonly ram: PageBitmap;
  readonly dumpable: PageBitmap;
  readonly descsOffset: bigint;
  /** File offset of the shared zero page, when the dump level removed zero pages (bit 1). */
  readonly zeroPageOffset: bigint | undefined;
  private readonly pageShift: number;
  private descChunkIndex = -1;
  private descChunk: Uint8Array = new Uint8Array(0);
  private readonly cache = new Map<bigint, Uint8Array>();

  constructor(
    private readonly src: ByteSource,
    readonly header: DiskDumpHeader,
    readonly sub: KdumpSubHeader,
  ) {
    const bs = header.blockSize;
    this.pageSize = bs;
    this.pageShift = Math.log2(bs);
    this.maxPfn = sub.maxMapnr;
    const bitmapStart = BigInt(1 + header.subHdrSize) * BigInt(bs);
    const needBytes = Number((sub.maxMapnr + 7n) / 8n);
    const needBlocks = Math.ceil(needBytes / bs);
    // crash: two bitmaps when bitmap_blocks covers both, else a single (full) bitmap.
    const twoBitmaps = header.bitmapBlocks >= 2 * needBlocks;
    if (!twoBitmaps && header.bitmapBlocks < needBlocks) {
      throw new FormatError(src.path, 436, `bitmap_blocks ${header.bitmapBlocks} too small for max_mapnr ${sub.maxMapnr} (need ${needBlocks} per bitmap)`);
    }
    const half = twoBitmaps ? (header.bitmapBlocks / 2) * bs : header.bitmapBlocks * bs;
    const first = src.read(bitmapStart, needBytes, '1st bitmap');
    this.ram = new PageBitmap(first, sub.maxMapnr);
    this.dumpable = twoBitmaps ? new PageBitmap(src.read(bitmapStart + BigInt(Math.floor(half)), needBytes, '2nd bitmap'), sub.maxMapnr) : this.ram;
    this.descsOffset = BigInt(1 + header.subHdrSize + header.bitmapBlocks) * BigInt(bs);
    const dataStart = this.descsOffset + BigInt(this.dumpable.count()) * BigInt(PAGE_DESC_SIZE);
    if (dataStart > src.size) {
      throw new FormatError(src.path, this.descsOffset, `page descriptor table (${this.dumpable.count()} entries) extends past end of file`);
    }
    // makedumpfile writes one raw zero page first in the data area when dump_level has bit 1;
    // QEMU always does.
    this.zeroPageOffset = sub.dumpLevel & 1 ? dataStart : undefined;
  }

  /** Number of dumpable pages (= page descriptors). */
  get dumpableCount(): number {
    return this.dumpable.count();
  }

  /** Reads page descriptor number `index` (rank in the 2nd bitmap). */
  descriptor(index: number): PageDesc {
    const chunk = Math.floor(index / DESC_CHUNK);
    if (chunk !== this.descChunkIndex) {
      const total = this.dumpable.count();
      const first = chunk * DESC_CHUNK;
      const n = Math.min(DESC_CHUNK, total - first);
      this.descChunk = this.src.read(this.descsOffset + BigInt(first * PAGE_DESC_SIZE), n * PAGE_DESC_SIZE, 'page descriptors');
      this.descChunkIndex = chunk;
    }
    const o = (index % DESC_CHUNK) * PAGE_DESC_SIZE;
    return { offset: i64(this.descChunk, o), size: u32(this.descChunk, o + 8), flags: u32(this.descChunk, o + 12), pageFlags: u64(this.descChunk, o + 16) };
  }

  descriptorOffset(index: number): bigint {
    return this.descsOffset + BigInt(index * PAGE_DESC_SIZE);
  }

  pageState(pfn: bigint): PageState {
    if (pfn < 0n || pfn >= this.maxPfn || !this.ram.test(pfn)) return 'hole';
    if (!this.dumpable.test(pfn)) return 'excluded';
    const d = this.descriptor(this.dumpable.rank(pfn));
    if (d.offset === 0n) return 'incomplete';
    if (this.zeroPageOffset !== undefined && d.offset === this.zeroPageOffset && d.flags === 0) return 'zero';
    return 'present';
  }

  /** Reads and decompresses one page; throws PageNotPresentError or FormatError. */
  readPage(pfn: bigint): Uint8Array {
    const hit = this.cache.get(pfn);
    if (hit) return hit;
    const pa = pfn << BigInt(this.pageShift);
    if (pfn < 0n || pfn >= this.maxPfn || !this.ram.test(pfn)) throw new PageNotPresentError(pa, this.pageShift, 'hole');
    if (!this.dumpable.test(pfn)) throw new PageNotPresentError(pa, this.pageShift, 'excluded');
    const index = this.dumpable.rank(pfn);
    const d = this.descriptor(index);
    const at = this.descriptorOffset(index);
    if (d.offset === 0n) throw new PageNotPresentError(pa, this.pageShift, 'incomplete');
    if (d.size === 0 || d.size > this.pageSize) {
      throw new FormatError(this.src.path, at, `page descriptor for pfn 0x${pfn.toString(16)} has size ${d.size} (must be 1..${this.pageSize})`);
    }
    if (d.offset < this.descsOffset || d.offset + BigInt(d.size) > this.src.size) {
      throw new FormatError(this.src.path, at, `page descriptor for pfn 0x${pfn.toString(16)} points at 0x${d.offset.toString(16)}+${d.size}, outside the data area`);
    }
    const stored = this.src.read(d.offset, d.size, `page data of pfn 0x${pfn.toString(16)}`);
    let page: Uint8Array;
    const codec: CodecName | undefined = codecFromFlags(d.flags);
    if (codec === undefined) {
      if (d.size !== this.pageSize) {
        throw new FormatError(this.src.path, at, `uncompressed page for pfn 0x${pfn.toString(16)} has size ${d.size}, expected ${this.pageSize}`);
      }
      page = stored;
    } else {
      try {
        page = decompressPage(codec, stored, this.pageSize);
      } catch (e) {
        throw new FormatError(this.src.path, d.offset, `corrupt ${codec} data for pfn 0x${pfn.toString(16)}: ${(e as Error).message}`);
      }
    }
    if (this.cache.size >= PAGE_CACHE_PAGES) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(pfn, page);
    return page;
  }

  read(paddr: bigint, length: number): Uint8Array {
    return readAcrossPages(this.pageSize, paddr, length, (pfn) => this.readPage(pfn));
  }

  ranges(): readonly PhysRange[] {
    const out: PhysRange[] = [];
    const ps = BigInt(this.pageSize);
    const bits = this.ram.bits;
    const n = Number(this.maxPfn);
    let runStart = -1;
    for (let p = 0; p <= n; p++) {
      const set = p < n && ((bits[p >>> 3] ?? 0) & (1 << (p & 7))) !== 0;
      if (set && runStart < 0) runStart = p;
      else if (!set && runStart >= 0) {
        out.push({ start: BigInt(runStart) * ps, end: BigInt(p) * ps });
        runStart = -1;
      }
    }
    return out;
  }
}
