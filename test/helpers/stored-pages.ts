import { openDump } from '../../src/formats/open.js';
import { FileSource } from '../../src/util/file.js';

export interface StoredPage {
  readonly pfn: bigint;
  /** The page's bytes exactly as stored in the file (compressed). */
  readonly data: Uint8Array;
}

/**
 * The first `max` pages of a kdump-compressed file whose descriptor flags include `flag`
 * (0x1 zlib, 0x2 lzo, 0x4 snappy, 0x20 zstd), located through our reader's bitmap and
 * descriptors but returned raw, so codec tests see what makedumpfile's compressor wrote.
 */
export async function storedPages(path: string, flag: number, max: number): Promise<StoredPage[]> {
  const dump = await openDump(path);
  const raw = new FileSource(path);
  try {
    if (dump.format !== 'kdump') throw new Error(`${path} is not kdump-compressed`);
    const mem = dump.kdump.memory;
    const out: StoredPage[] = [];
    for (let pfn = 0n; pfn < mem.maxPfn && out.length < max; pfn++) {
      if (!mem.dumpable.test(pfn)) continue;
      const d = mem.descriptor(mem.dumpable.rank(pfn));
      if ((d.flags & flag) !== 0) out.push({ pfn, data: raw.read(d.offset, d.size) });
    }
    return out;
  } finally {
    raw.close();
    dump.close();
  }
}

/** Whole pages of an ELF vmcore by pfn; undefined where the dump holds none. */
export async function elfPages(path: string): Promise<{ read(pfn: bigint): Uint8Array | undefined; close(): void }> {
  const dump = await openDump(path);
  return {
    read: (pfn) => (dump.memory.pageState(pfn) === 'present' ? dump.memory.read(pfn << 12n, 4096) : undefined),
    close: () => dump.close(),
  };
}

export interface RealCodecCheck {
  /** makedumpfile output whose pages carry `flag`. */
  readonly file: string;
  /** The ELF vmcore the file was made from. */
  readonly elf: string;
  readonly flag: number;
  readonly decompress: (data: Uint8Array, size: number) => Uint8Array;
  readonly compress: (page: Uint8Array) => Uint8Array;
  /** Largest output our compressor may produce for one page (the codec's worst case). */
  readonly maxCompressed: number;
}

/**
 * The codec test on real data: the first 2000 pages stored with `flag` decode to the vmcore's
 * pages and survive a round trip through our compressor. Returns the decode rate in MB/s on
 * all such pages, for the record (not asserted: machines vary).
 */
export async function checkCodecOnRealPages(c: RealCodecCheck): Promise<{ pages: number; mbps: number }> {
  const PAGE = 4096;
  const pages = await storedPages(c.file, c.flag, 2000);
  if (pages.length !== 2000) throw new Error(`expected at least 2000 pages with flag 0x${c.flag.toString(16)} in ${c.file}, found ${pages.length}`);
  const elf = await elfPages(c.elf);
  let compared = 0;
  try {
    for (const { pfn, data } of pages) {
      const page = c.decompress(data, PAGE);
      if (page.length !== PAGE) throw new Error(`pfn ${pfn}: decoded to ${page.length} bytes`);
      const expected = elf.read(pfn);
      if (expected) {
        if (!Buffer.from(page).equals(expected)) throw new Error(`pfn ${pfn}: decoded page differs from the ELF vmcore`);
        compared++;
      }
      const again = c.compress(page);
      if (again.length > c.maxCompressed) throw new Error(`pfn ${pfn}: compressed to ${again.length} bytes`);
      if (!Buffer.from(c.decompress(again, PAGE)).equals(page)) throw new Error(`pfn ${pfn}: round trip through our compressor changed the page`);
    }
  } finally {
    elf.close();
  }
  if (compared <= 1900) throw new Error(`only ${compared} of 2000 pages found in the ELF vmcore`);
  const all = await storedPages(c.file, c.flag, Infinity);
  const t0 = process.hrtime.bigint();
  for (const { data } of all) c.decompress(data, PAGE);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { pages: all.length, mbps: (all.length * PAGE) / s / 1e6 };
}
