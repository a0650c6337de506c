import type { ByteSource } from '../../util/file.js';
import { PageNotPresentError } from '../../util/errors.js';
import type { PageState, PhysicalMemory, PhysRange } from '../../memory/physical-memory.js';
import { PT_LOAD, type ProgramHeader } from './elf64.js';

interface Segment {
  readonly start: bigint;
  readonly fileEnd: bigint;
  readonly memEnd: bigint;
  readonly offset: bigint;
  readonly index: number;
}

/**
 * Physical memory of an ELF core (/proc/vmcore, QEMU dump-guest-memory, makedumpfile -E):
 * lookups are keyed on p_paddr. Bytes in [p_filesz, p_memsz) of a segment existed but were not
 * written (makedumpfile -E filtered them): they are "excluded", not zeros.
 */
export class ElfPhysicalMemory implements PhysicalMemory {
  readonly pageSize: number;
  readonly maxPfn: bigint;
  private readonly segs: Segment[];
  private readonly pageShift: number;
  private last: Segment | undefined;

  constructor(
    private readonly src: ByteSource,
    phdrs: readonly ProgramHeader[],
    pageSize = 4096,
  ) {
    this.pageSize = pageSize;
    this.pageShift = Math.log2(pageSize);
    this.segs = phdrs
      .filter((p) => p.type === PT_LOAD && p.memsz > 0n)
      .map((p) => ({ start: p.paddr, fileEnd: p.paddr + p.filesz, memEnd: p.paddr + p.memsz, offset: p.offset, index: p.index }))
      .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.index - b.index));
    let max = 0n;
    for (const s of this.segs) if (s.memEnd > max) max = s.memEnd;
    // makedumpfile's max_mapnr: highest PT_LOAD end, rounded up to a page.
    this.maxPfn = (max + BigInt(pageSize) - 1n) >> BigInt(this.pageShift);
  }

  /** Finds the segment containing `pa` in its memory range (first in file order on overlap). */
  private find(pa: bigint): Segment | undefined {
    const l = this.last;
    if (l && pa >= l.start && pa < l.memEnd) return l;
    const cand = this.firstCandidate(pa);
    let best: Segment | undefined;
    // Overlapping segments (the kernel-text PT_LOAD lies inside a RAM PT_LOAD) are rare and few:
    // walk back from the candidate and keep the earliest-in-file segment that contains pa.
    for (let i = cand; i >= 0 && cand - i < 64; i--) {
      const s = this.segs[i]!;
      if (pa < s.memEnd && (best === undefined || s.index < best.index)) best = s;
    }
    if (best) this.last = best;
    return best;
  }

  read(paddr: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.readInto(paddr, out, 0, length);
    return out;
  }

  readInto(paddr: bigint, dest: Uint8Array, at: number, length: number): void {
    // A view of the destination range: file bytes are read straight into it (no copy).
    const out = at === 0 && dest.length === length ? dest : dest.subarray(at, at + length);
    const direct = (this.src as { readInto?: (buf: Uint8Array, offset: bigint, what?: string) => void }).readInto?.bind(this.src);
    let done = 0;
    while (done < length) {
      const a = paddr + BigInt(done);
      const s = this.find(a);
      let n: number;
      if (!s) {
        // Bytes outside every segment but inside a page that a segment partly covers read as
        // zeros, as makedumpfile's readpage_elf fills them; whole pages outside are holes.
        const pfn = a >> BigInt(this.pageShift);
        if (this.pageState(pfn) === 'hole') throw new PageNotPresentError(a, this.pageShift, 'hole');
        const pageEnd = (pfn + 1n) << BigInt(this.pageShift);
        const next = this.nextStart(a);
        const stop = next !== undefined && next < pageEnd ? next : pageEnd;
        n = Math.min(length - done, Number(stop - a));
        out.fill(0, done, done + n);
      } else {
        if (a >= s.fileEnd) throw new PageNotPresentError(a, this.pageShift, 'excluded');
        n = Number(BigInt(length - done) < s.fileEnd - a ? BigInt(length - done) : s.fileEnd - a);
        if (direct) direct(out.subarray(done, done + n), s.offset + (a - s.start), `PT_LOAD #${s.index} data`);
        else out.set(this.src.read(s.offset + (a - s.start), n, `PT_LOAD #${s.index} data`), done);
      }
      done += n;
    }
  }

  /** Lowest segment start above `pa`. */
  private nextStart(pa: bigint): bigint | undefined {
    return this.segs[this.firstCandidate(pa) + 1]?.start;
  }

  /**
   * Page-granular view of a byte-granular format. RAM ranges need not be page aligned (one may
   * end at 0x9fc00): like makedumpfile, a page that a segment's file data covers at all is
   * present, and its uncovered bytes read as zeros.
   */
  pageState(pfn: bigint): PageState {
    const pa = pfn << BigInt(this.pageShift);
    const s = this.find(pa);
    if (s && pa < s.fileEnd) return 'present';
    const next = this.segs[this.firstCandidate(pa) + 1];
    if (next && next.start < pa + BigInt(this.pageSize) && next.fileEnd > next.start) return 'present';
    return s ? 'excluded' : 'hole';
  }

  /** Index of the last segment starting at or below `pa` (-1 if none). */
  private firstCandidate(pa: bigint): number {
    let lo = 0;
    let hi = this.segs.length - 1;
    let cand = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.segs[mid]!.start <= pa) {
        cand = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return cand;
  }

  ranges(): readonly PhysRange[] {
    const out: PhysRange[] = [];
    for (const s of this.segs) {
      const prev = out[out.length - 1];
      if (prev && s.start <= prev.end) {
        if (s.memEnd > prev.end) out[out.length - 1] = { start: prev.start, end: s.memEnd };
      } else out.push({ start: s.start, end: s.memEnd });
    }
    return out;
  }
}
