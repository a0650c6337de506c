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
