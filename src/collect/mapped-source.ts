import { fstatSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Pages of an ELF dump file read in place through read-only memory maps, as makedumpfile does
 * (makedumpfile.c read_with_mmap: 4 MiB windows of /proc/vmcore, --non-mmap to turn it off).
 *
 * With read(2) every saved page is first copied out of the page cache (or, in the capture
 * kernel, out of the old memory through a temporary mapping per page: arch/x86/kernel/
 * crash_dump_64.c) before it is checked for zeros and compressed; through a map the compressor
 * reads it where it is. On the 2.3 GB lab dump reading and zero-checking every page takes half
 * the time it takes with pread.
 *
 * The maps come from native/kdumpkit_mmap.c (built at install by scripts/build-native.mjs).
 * Without it, or with --no-mmap, the collector reads with pread as before.
 */

interface MmapBinding {
  map(fd: number, offset: number, length: number): ArrayBuffer;
  unmap(buffer: ArrayBuffer): void;
}

let binding: MmapBinding | null | undefined;

/** The native mmap helper, when it was built (build/kdumpkit_mmap.node). */
export function mmapHelper(): MmapBinding | undefined {
  if (binding === undefined) {
    binding = null;
    try {
      // dist/src/collect/ -> the package root.
      const b = createRequire(import.meta.url)(new URL('../../../build/kdumpkit_mmap.node', import.meta.url).pathname) as Partial<MmapBinding>;
      if (typeof b.map === 'function' && typeof b.unmap === 'function') binding = b as MmapBinding;
    } catch {
      // Not built: pread.
    }
  }
  return binding ?? undefined;
}

/** How the collector reads an ELF source's pages here (for the bench and --json). */
export function sourceReadMethod(): 'mmap' | 'pread' {
  return mmapHelper() ? 'mmap' : 'pread';
}

/**
 * Windows of one file mapped read-only. A view stays valid until release(): the window it lies
 * in is kept while a batch of pages still refers to it, and unmapped only then, so that the
 * process's resident set holds at most a few windows (mapped file pages count in RSS).
 */
export class MappedFile {
  /** Window size, as makedumpfile maps /proc/vmcore (4 MiB); a batch range (<= 1 MiB) fits in one. */
  static readonly WINDOW = 4 << 20;
  private current: { start: number; end: number; buffer: ArrayBuffer; bytes: Buffer } | undefined;
  private retired: ArrayBuffer[] = [];
  private readonly size: number;

  private constructor(
    private readonly fd: number,
    private readonly helper: MmapBinding,
  ) {
    this.size = fstatSync(fd).size;
  }

  /** A mapper for `fd`, or undefined when the native helper is not available. */
  static open(fd: number): MappedFile | undefined {
    const h = mmapHelper();
    return h ? new MappedFile(fd, h) : undefined;
  }

  /**
   * The bytes [offset, offset + length) of the file, in place: a Buffer and the offset in it.
   * Undefined when the range is not wholly inside the file (a truncated dump: the caller reads
   * it with pread, which reports the short file; a map would fault with SIGBUS) or the map
   * fails (the caller falls back as well).
   */
  view(offset: number, length: number): { bytes: Buffer; offset: number } | undefined {
    if (length <= 0 || offset + length > this.size) return undefined;
    let w = this.current;
    if (!w || offset < w.start || offset + length > w.end) {
      // mmap offsets are multiples of the page size: 64 KiB suits every Linux page size.
      const start = offset - (offset % 65536);
      const end = Math.min(this.size, Math.max(start + MappedFile.WINDOW, offset + length));
      let buffer: ArrayBuffer;
      try {
        buffer = this.helper.map(this.fd, start, end - start);
      } catch {
        return undefined;
      }
      if (w) this.retired.push(w.buffer);
      w = this.current = { start, end, buffer, bytes: Buffer.from(buffer) };
    }
    return { bytes: w.bytes, offset: offset - w.start };
  }

  /** Unmaps the windows no view may use any more (all but the current one). */
  release(): void {
    for (const b of this.retired.splice(0)) this.helper.unmap(b);
  }

  close(): void {
    this.release();
    if (this.current) this.helper.unmap(this.current.buffer);
    this.current = undefined;
  }
}
