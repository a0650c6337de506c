import { PT_LOAD, PT_NOTE, type ProgramHeader } from './elf64.js';
import { FlaggedHeaderWriter, type DumpSink } from '../kdump/flattened-writer.js';

/**
 * ELF vmcore writer with makedumpfile -E semantics (makedumpfile.c write_elf_header,
 * get_loads_dumpfile_cyclic, write_elf_pages_cyclic, write_elf_load_segment):
 *
 * - The ELF header is the source's, with the new e_phnum (PN_XNUM and one section header when
 *   there are 65535 or more program headers).
 * - Program headers start at 64: the source's first PT_NOTE, moved to just after the program
 *   header table, then the PT_LOADs. Note data follows the table unpadded, and segment data
 *   follows the notes unpadded.
 * - Each source PT_LOAD is walked page by page against the dumpable bitmap. A run of 256
 *   (PFN_EXCLUDED) or more excluded pages ends the segment: the run counts in its p_memsz but not
 *   in its p_filesz, and a new PT_LOAD starts at the next dumpable page (p_paddr and p_vaddr
 *   advanced by the previous p_memsz). Shorter runs are written as real data. A partial first
 *   page (p_paddr not page aligned) is always data; a partial last page counts its bytes only.
 *   A segment left with no data gets p_offset 0, except the last one of each source PT_LOAD.
 * - Files are written with e_flags bit 0 (DUMP_ELF_INCOMPLETE) set and cleared at the end; on a
 *   write error the bit stays, as makedumpfile's check_and_modify_elf_headers sets it.
 */

export const PFN_EXCLUDED = 256;
export const DUMP_ELF_INCOMPLETE = 0x1;
const PN_XNUM = 0xffff;
const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;

export interface ElfWriterInput {
  readonly pageSize: number;
  /** The source's 64-byte ELF header, copied with e_phnum (and section fields) replaced. */
  readonly ehdr: Uint8Array;
  /** The source's program headers, in file order. */
  readonly phdrs: readonly ProgramHeader[];
  /** Data of the source's first PT_NOTE, copied verbatim. */
  readonly notes: Uint8Array;
  /** Bitmap of pages to keep (zero pages already removed when dump_level has bit 1). */
  readonly dumpable: Uint8Array;
  /** Pfns at or above this are never dumpable. */
  readonly maxMapnr: bigint;
}

/** A program header as written (the reader's ProgramHeader without its table index). */
export type OutputSegment = Omit<ProgramHeader, 'index'>;

export interface ElfLayout {
  readonly phnum: number;
  readonly xnum: boolean;
  readonly noteOffset: bigint;
  readonly loadOffset: bigint;
  readonly note: OutputSegment;
  readonly loads: readonly OutputSegment[];
  /** Excluded pages that really left the file (runs of >= 256 and segment tails): "in ELF format". */
  readonly elfExcludedPages: bigint;
  /** Pages the walk found dumpable (makedumpfile's num_dumped). */
  readonly dumpablePages: bigint;
  /** One past the last byte of segment data: the file size. */
  readonly fileSize: bigint;
}

const NOT_PADDR = 0xffffffffffffffffn;

/** The output program headers, computed from the bitmap alone (nothing is read). */
export function elfLayout(input: ElfWriterInput): ElfLayout {
  // Page numbers and byte counts stay far below 2^53, so the per-page walk uses numbers.
  const ps = input.pageSize;
  const bits = input.dumpable;
  const max = Number(input.maxMapnr);
  const noteSrc = input.phdrs.find((p) => p.type === PT_NOTE);
  type Seg = { flags: number; vaddr: bigint; paddr: bigint; memsz: number; filesz: number; align: bigint; hasOffset: boolean };
  const segs: Seg[] = [];
  let elfExcluded = 0;
  let dumpable = 0;
  for (const src of input.phdrs) {
    if (src.type !== PT_LOAD || src.paddr === NOT_PADDR) continue;
    const bps = BigInt(ps);
    let pfnStart = Number(src.paddr / bps);
    let pfnEnd = Number((src.paddr + src.memsz) / bps);
    const fracHead = ps - Number(src.paddr % bps);
    const fracTail = Number((src.paddr + src.memsz) % bps);
    let memsz = 0;
    let filesz = 0;
    if (fracHead !== ps) {
      memsz = fracHead;
      filesz = fracHead;
      pfnStart++;
    }
    if (fracTail) pfnEnd++;
    let numExcluded = 0;
    let paddr = src.paddr;
    let vaddr = src.vaddr;
    for (let pfn = pfnStart; pfn < pfnEnd; pfn++) {
      const size = pfn === pfnEnd - 1 && fracTail !== 0 ? fracTail : ps;
      if (pfn >= max || ((bits[pfn >>> 3] ?? 0) & (1 << (pfn & 7))) === 0) {
        numExcluded++;
        memsz += size;
        continue;
      }
      dumpable++;
      if (numExcluded === 0) {
        memsz += size;
        filesz += size;
        continue;
      }
      if (numExcluded < PFN_EXCLUDED) {
        memsz += size;
        filesz += ps * numExcluded + size;
        numExcluded = 0;
        continue;
      }
      elfExcluded += numExcluded;
      segs.push({ flags: src.flags, vaddr, paddr, memsz, filesz, align: src.align, hasOffset: filesz > 0 });
      paddr += BigInt(memsz);
      vaddr = BigInt.asUintN(64, vaddr + BigInt(memsz));
      numExcluded = 0;
      // makedumpfile starts the new segment with a whole page, even a partial last one.
      memsz = ps;
      filesz = ps;
    }
    elfExcluded += numExcluded;
    segs.push({ flags: src.flags, vaddr, paddr, memsz, filesz, align: src.align, hasOffset: true });
  }
  const phnum = segs.length + 1;
  const xnum = phnum >= PN_XNUM;
  let noteOffset = BigInt(EHDR_SIZE + PHDR_SIZE * phnum);
  if (xnum) noteOffset += BigInt(SHDR_SIZE);
  const noteSize = BigInt(input.notes.length);
  const loadOffset = noteOffset + noteSize;
  let cursor = loadOffset;
  const loads: OutputSegment[] = segs.map((s) => {
    const offset = s.hasOffset ? cursor : 0n;
    cursor += BigInt(s.filesz);
    return { type: PT_LOAD, flags: s.flags, offset, vaddr: s.vaddr, paddr: s.paddr, filesz: BigInt(s.filesz), memsz: BigInt(s.memsz), align: s.align };
  });
  const note: OutputSegment = {
    type: PT_NOTE,
    flags: noteSrc?.flags ?? 0,
    offset: noteOffset,
    vaddr: noteSrc?.vaddr ?? 0n,
    paddr: noteSrc?.paddr ?? 0n,
    filesz: noteSize,
    memsz: noteSrc?.memsz ?? noteSize,
    align: noteSrc?.align ?? 0n,
  };
  return { phnum, xnum, noteOffset, loadOffset, note, loads, elfExcludedPages: BigInt(elfExcluded), dumpablePages: BigInt(dumpable), fileSize: cursor };
}

/** Elf64_Ehdr: the source's, with e_phoff 64, the new e_phnum, and e_flags | extraFlags. */
export function encodeElfHeader(input: ElfWriterInput, layout: ElfLayout, extraFlags = 0): Uint8Array {
  const h = Buffer.alloc(EHDR_SIZE);
  h.set(input.ehdr.subarray(0, EHDR_SIZE));
  h.writeBigUInt64LE(BigInt(EHDR_SIZE), 32);
  h.writeUInt32LE((h.readUInt32LE(48) | extraFlags) >>> 0, 48);
  h.writeUInt16LE(EHDR_SIZE, 52);
  h.writeUInt16LE(PHDR_SIZE, 54);
  if (layout.xnum) {
    h.writeUInt16LE(PN_XNUM, 56);
    h.writeBigUInt64LE(BigInt(EHDR_SIZE + PHDR_SIZE * layout.phnum), 40);
    h.writeUInt16LE(SHDR_SIZE, 58);
    h.writeUInt16LE(1, 60);
    h.writeUInt16LE(0, 62);
  } else {
    h.writeUInt16LE(layout.phnum, 56);
    h.writeBigUInt64LE(0n, 40);
    h.writeUInt16LE(0, 58);
    h.writeUInt16LE(0, 60);
    h.writeUInt16LE(0, 62);
  }
  return h;
}

function encodePhdr(s: OutputSegment, to: Buffer, at: number): void {
  to.writeUInt32LE(s.type, at);
  to.writeUInt32LE(s.flags, at + 4);
  to.writeBigUInt64LE(s.offset, at + 8);
  to.writeBigUInt64LE(s.vaddr, at + 16);
  to.writeBigUInt64LE(s.paddr, at + 24);
  to.writeBigUInt64LE(s.filesz, at + 32);
  to.writeBigUInt64LE(s.memsz, at + 40);
  to.writeBigUInt64LE(s.align, at + 48);
}

/** Program header table (PT_NOTE first), plus the section header for PN_XNUM. */
export function encodeProgramHeaders(layout: ElfLayout): Uint8Array {
  const t = Buffer.alloc(PHDR_SIZE * layout.phnum + (layout.xnum ? SHDR_SIZE : 0));
  encodePhdr(layout.note, t, 0);
  layout.loads.forEach((s, i) => encodePhdr(s, t, PHDR_SIZE * (i + 1)));
  if (layout.xnum) {
    // Section header 0 (SHT_NULL): sh_size = e_shnum (1), sh_link = e_shstrndx (0), sh_info = phnum.
    const o = PHDR_SIZE * layout.phnum;
    t.writeBigUInt64LE(1n, o + 32);
    t.writeUInt32LE(layout.phnum, o + 44);
  }
  return t;
}

export class ElfWriter extends FlaggedHeaderWriter {
  readonly layout: ElfLayout;
  protected readonly incompleteFlag = DUMP_ELF_INCOMPLETE;

  constructor(
    sink: DumpSink,
    readonly input: ElfWriterInput,
  ) {
    super(sink);
    this.layout = elfLayout(input);
  }

  protected encodeHeader(flags: number): Uint8Array {
    return encodeElfHeader(this.input, this.layout, flags);
  }

  /** ELF header (incomplete bit set while a file is being written), program headers, notes. */
  begin(): void {
    this.guard(() => {
      this.sink.write(0n, this.encodeHeader(this.inProgressFlags));
      this.sink.write(BigInt(EHDR_SIZE), encodeProgramHeaders(this.layout));
      if (this.input.notes.length > 0) this.sink.write(this.layout.noteOffset, this.input.notes);
    });
  }

  /** Segment data at its file offset (callers write each PT_LOAD's p_filesz bytes in order). */
  writeData(offset: bigint, data: Uint8Array): void {
    this.guard(() => this.sink.write(offset, data));
  }

  finish(): void {
    this.rewriteCleanHeader();
  }
}
