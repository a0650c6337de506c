import { closeSync, openSync, readSync } from 'node:fs';
import type { Dump } from '../formats/open.js';
import { PT_LOAD, PT_NOTE } from '../formats/elf/elf64.js';
import { FlattenedSource } from '../formats/kdump/flattened.js';
import { FileSource, type ByteSource } from '../util/file.js';
import { KdumpkitError } from '../util/errors.js';

interface Piece {
  /** Physical [start, end) backed by file bytes at `offset`. */
  readonly start: bigint;
  readonly end: bigint;
  readonly offset: bigint;
}

/**
 * Reads the source's physical memory for the collector, in large sequential reads.
 *
 * For an ELF source (/proc/vmcore) the PT_LOAD file ranges are flattened into disjoint pieces
 * (where segments overlap, the earlier one in file order wins, as in the reader and
 * makedumpfile), and runs of pages inside one piece are read with one pread into the caller's
 * buffer: no per-page allocation. Anything else (pages only partly backed, kdump-compressed
 * or flattened sources) goes through the dump's PhysicalMemory one page at a time.
 *
 * A page that cannot be read is zero-filled and counted in `unreadable` (with the first few
 * addresses in `warnings`): in the capture kernel a damaged page must not cost the whole dump.
 */
export class SourceReader {
  readonly pageSize: number;
  unreadable = 0;
  readonly warnings: string[] = [];
  private readonly pieces: Piece[];
  private fd: number;
  private cursor = 0;

  constructor(private readonly dump: Dump) {
    this.pageSize = dump.memory.pageSize;
    this.pieces = [];
    this.fd = -1;
    if (dump.format === 'elf' && !dump.flattened) {
      this.pieces = elfPieces(dump);
      this.fd = openSync(dump.path, 'r');
    }
  }

  /**
   * Fills `out` with `count` pages, the pfns in ascending order. Consecutive pfns inside one
   * file-backed piece are read with a single pread.
   */
  readPages(pfns: Float64Array, count: number, out: Uint8Array): void {
    const ps = this.pageSize;
    let i = 0;
    while (i < count) {
      let j = i + 1;
      while (j < count && pfns[j] === pfns[j - 1]! + 1) j++;
      this.readBytes(BigInt(pfns[i]!) * BigInt(ps), out, i * ps, (j - i) * ps);
      i = j;
    }
  }

  /**
   * The positioned reads that fill a buffer with these pages, as quads (file offset, length,
   * buffer offset, physical address) for CompressJob.reads, or undefined when some page is not
   * entirely file-backed (then readPages must be used).
   */
  planReads(pfns: Float64Array, count: number): Float64Array | undefined {
    if (this.pieces.length === 0) return undefined;
    const ps = this.pageSize;
    const quads: number[] = [];
    let i = 0;
    while (i < count) {
      let j = i + 1;
      while (j < count && pfns[j] === pfns[j - 1]! + 1) j++;
      let a = pfns[i]! * ps;
      const end = pfns[j - 1]! * ps + ps;
      let at = i * ps;
      while (a < end) {
        const p = this.find(BigInt(a));
        if (!p) return undefined;
        const pieceEnd = Number(p.end);
        const n = Math.min(end, pieceEnd) - a;
        const last = quads.length - 4;
        const fileOff = Number(p.offset) + (a - Number(p.start));
        if (last >= 0 && quads[last]! + quads[last + 1]! === fileOff && quads[last + 2]! + quads[last + 1]! === at) quads[last + 1]! += n;
        else quads.push(fileOff, n, at, a);
        a += n;
        at += n;
      }
      i = j;
    }
    return Float64Array.from(quads);
  }

  /** True when pages can be read by workers from the source file (an ELF core). */
  get sourcePath(): string | undefined {
    return this.pieces.length ? this.dump.path : undefined;
  }

  /** Fills out[outOff, outOff+length) with physical memory from `paddr`. */
  readBytes(paddr: bigint, out: Uint8Array, outOff: number, length: number): void {
    let done = 0;
    while (done < length) {
      const a = paddr + BigInt(done);
      const p = this.find(a);
      if (p) {
        const n = Number(p.end - a < BigInt(length - done) ? p.end - a : BigInt(length - done));
        this.pread(out, outOff + done, n, p.offset + (a - p.start), a);
        done += n;
        continue;
      }
      // Not file-backed by a single piece: page by page through the reader.
      const ps = BigInt(this.pageSize);
      const pageEnd = (a / ps + 1n) * ps;
      const n = Number(pageEnd - a < BigInt(length - done) ? pageEnd - a : BigInt(length - done));
      try {
        out.set(this.dump.memory.read(a, n), outOff + done);
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
        out.fill(0, outOff + done, outOff + done + n);
        this.noteUnreadable(a, e.message);
      }
      done += n;
    }
  }

  private pread(out: Uint8Array, at: number, n: number, fileOffset: bigint, paddr: bigint): void {
    let got = 0;
    try {
      while (got < n) {
        const r = readSync(this.fd, out, at + got, n - got, fileOffset + BigInt(got));
        if (r === 0) throw Object.assign(new Error('unexpected end of file'), { code: 'EOF' });
        got += r;
      }
    } catch (e) {
      // /proc/vmcore answers EIO for pages the capture kernel cannot read: zero them one page
      // at a time so the rest of the run still comes through.
      const err = e as NodeJS.ErrnoException;
      if (n <= this.pageSize || got > 0) {
        out.fill(0, at + got, at + n);
        this.noteUnreadable(paddr + BigInt(got), `${err.code ?? ''} ${err.message}`.trim());
        return;
      }
      for (let o = 0; o < n; o += this.pageSize) {
        const len = Math.min(this.pageSize, n - o);
        this.pread(out, at + o, len, fileOffset + BigInt(o), paddr + BigInt(o));
      }
    }
  }

  private noteUnreadable(paddr: bigint, why: string): void {
    this.unreadable++;
    if (this.warnings.length < 10) this.warnings.push(`physical 0x${paddr.toString(16)}: unreadable, saved as zeros (${why})`);
  }

  /** The piece containing `a`; pfns are mostly visited in ascending order, so start at the last hit. */
  private find(a: bigint): Piece | undefined {
    const ps = this.pieces;
    if (ps.length === 0) return undefined;
    let i = this.cursor;
    const c = ps[i];
    if (c && a >= c.start && a < c.end) return c;
    if (c && a >= c.end) {
      const n = ps[i + 1];
      if (n && a >= n.start && a < n.end) {
        this.cursor = i + 1;
        return n;
      }
    }
    let lo = 0;
    let hi = ps.length - 1;
    i = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (ps[mid]!.start <= a) {
        i = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const p = i >= 0 ? ps[i] : undefined;
    if (p && a < p.end) {
      this.cursor = i;
      return p;
    }
    return undefined;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Disjoint, sorted file-backed physical ranges of an ELF core; earlier segments win overlaps. */
function elfPieces(dump: Dump & { format: 'elf' }): Piece[] {
  let pieces: Piece[] = [];
  for (const p of dump.elf.phdrs) {
    if (p.type !== PT_LOAD || p.filesz === 0n) continue;
    // Subtract what earlier segments already cover.
    let parts: { start: bigint; end: bigint }[] = [{ start: p.paddr, end: p.paddr + p.filesz }];
    for (const q of pieces) {
      const next: typeof parts = [];
      for (const r of parts) {
        if (q.end <= r.start || q.start >= r.end) next.push(r);
        else {
          if (r.start < q.start) next.push({ start: r.start, end: q.start });
          if (r.end > q.end) next.push({ start: q.end, end: r.end });
        }
      }
      parts = next;
    }
    for (const r of parts) pieces.push({ start: r.start, end: r.end, offset: p.offset + (r.start - p.paddr) });
    pieces = pieces.sort((a, b) => (a.start < b.start ? -1 : 1));
  }
  return pieces;
}

/** The source as bytes: the file, or the file a flattened stream describes. */
export function openRawSource(dump: Dump): ByteSource {
  const f = new FileSource(dump.path);
  return dump.flattened ? new FlattenedSource(f) : f;
}

/**
 * The source's ELF note data, verbatim: the first PT_NOTE of an ELF core (what makedumpfile
 * copies), or the note area of a kdump-compressed file.
 */
export function readSourceNotes(dump: Dump): Uint8Array {
  if (dump.format === 'kdump') {
    const { sub } = dump.kdump;
    if (sub.sizeNote === 0n) return new Uint8Array(0);
    const src = openRawSource(dump);
    try {
      return src.read(sub.offsetNote, Number(sub.sizeNote), 'ELF notes');
    } finally {
      src.close();
    }
  }
  const note = dump.elf.phdrs.find((p) => p.type === PT_NOTE && p.filesz > 0n);
  if (!note) return new Uint8Array(0);
  const src = openRawSource(dump);
  try {
    return src.read(note.offset, Number(note.filesz), 'PT_NOTE data');
  } finally {
    src.close();
  }
}

/** The source's raw 64-byte ELF header. */
export function readSourceElfHeader(dump: Dump): Uint8Array {
  const src = openRawSource(dump);
  try {
    return src.read(0n, 64, 'ELF header');
  } finally {
    src.close();
  }
}
