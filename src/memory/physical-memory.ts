/**
 * What every dump format provides: reads of the crashed machine's physical memory.
 * Readers: formats/elf (ELF vmcore, QEMU ELF), formats/kdump (kdump-compressed, flattened).
 */

/** A physical range [start, end) in bytes. */
export interface PhysRange {
  readonly start: bigint;
  readonly end: bigint;
}

/** What a dump knows about one page frame. */
export type PageState = 'present' | 'zero' | 'excluded' | 'hole' | 'incomplete';

export interface PhysicalMemory {
  readonly pageSize: number;
  /**
   * Reads `length` bytes at physical address `paddr`, across page boundaries.
   * Throws PageNotPresentError for holes and excluded pages: never silent zeros.
   */
  read(paddr: bigint, length: number): Uint8Array;
  /**
   * Optional: `read` into out[at, at+length) without allocating (the collector's page filter
   * reads the whole mem_map this way). Same bytes and errors as `read`.
   */
  readInto?(paddr: bigint, out: Uint8Array, at: number, length: number): void;
  /** Classifies a page frame without reading (decompressing) it. */
  pageState(pfn: bigint): PageState;
  /** Physical RAM ranges the dump covers (the PT_LOADs, or the 1st bitmap's runs). */
  ranges(): readonly PhysRange[];
  /** One past the highest page frame number the dump describes. */
  readonly maxPfn: bigint;
}

/** Splits a physical read into per-page reads; readers implement `readPage` only. */
export function readAcrossPages(
  pageSize: number,
  paddr: bigint,
  length: number,
  readPage: (pfn: bigint) => Uint8Array,
): Uint8Array {
  const ps = BigInt(pageSize);
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const a = paddr + BigInt(done);
    const pfn = a / ps;
    const inPage = Number(a % ps);
    const n = Math.min(length - done, pageSize - inPage);
    const page = readPage(pfn);
    out.set(page.subarray(inPage, inPage + n), done);
    done += n;
  }
  return out;
}
