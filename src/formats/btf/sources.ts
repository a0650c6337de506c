import { readFileSync } from 'node:fs';
import { FaultError, FormatError } from '../../util/errors.js';
import { FileSource, type ByteSource } from '../../util/file.js';
import type { VirtualMemory } from '../../memory/address-space.js';
import { findElfSection, SHF_COMPRESSED, SHT_NOBITS } from '../elf/sections.js';
import { BTF_HEADER_SIZE, BTF_MAGIC, BTF_VERSION, parseBtf, parseBtfHeader, type Btf, type BtfHeader } from './btf.js';

/**
 * Where BTF comes from: the `.BTF` section of a vmlinux (or module) ELF file, a raw BTF file
 * such as /sys/kernel/btf/vmlinux, or the crashed kernel's own memory between `__start_BTF`
 * and `__stop_BTF` (found by symbol, or by scanning the kernel image for the header).
 */

export interface BtfSourceOptions {
  /** Base BTF, when the blob is split BTF (a module's). */
  readonly base?: Btf;
  /** Skip the reference-checking pass. */
  readonly validate?: boolean;
}

/** Largest BTF blob we accept (vmlinux BTF is ~5 MB; allmodconfig kernels reach ~20 MB). */
const MAX_BTF_BYTES = 256 << 20;

/**
 * BTF from the `.BTF` section of a vmlinux or module ELF file. Error offsets are file offsets.
 */
export function btfFromElf(path: string, opts: BtfSourceOptions = {}): Btf {
  const src = openFile(path);
  try {
    return btfFromElfSource(src, opts);
  } finally {
    src.close();
  }
}

/** Like btfFromElf, over any byte source. */
export function btfFromElfSource(src: ByteSource, opts: BtfSourceOptions = {}): Btf {
  const sec = findElfSection(src, '.BTF');
  if (!sec) throw new FormatError(src.path, undefined, 'ELF file has no .BTF section', 'The kernel must be built with CONFIG_DEBUG_INFO_BTF=y.');
  if (sec.type === SHT_NOBITS) throw new FormatError(src.path, sec.headerOffset, '.BTF section has no data in the file (SHT_NOBITS)');
  if ((sec.flags & SHF_COMPRESSED) !== 0n) throw new FormatError(src.path, sec.headerOffset, '.BTF section is compressed (SHF_COMPRESSED); decompress it with objcopy first');
  if (sec.size > BigInt(MAX_BTF_BYTES)) throw new FormatError(src.path, sec.headerOffset, `.BTF section of ${sec.size} bytes is implausibly large`);
  if (sec.offset + sec.size > src.size) {
    throw new FormatError(src.path, sec.headerOffset, `.BTF section (offset 0x${sec.offset.toString(16)}, ${sec.size} bytes) extends past end of file (size ${src.size}): truncated file?`);
  }
  const bytes = src.read(sec.offset, Number(sec.size), '.BTF section');
  return parseBtf(bytes, { source: src.path, baseOffset: sec.offset, base: opts.base, validate: opts.validate });
}

/** BTF from a raw BTF file (/sys/kernel/btf/vmlinux, /sys/kernel/btf/MODULE) or an ELF file. */
export function btfFromFile(path: string, opts: BtfSourceOptions = {}): Btf {
  let bytes: Buffer;
  try {
    // sysfs BTF files report their size, but read to EOF anyway (never trust st_size there).
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new FormatError(path, undefined, `cannot open: ${why}`);
  }
  if (bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) return btfFromElf(path, opts);
  return parseBtf(bytes, { source: path, base: opts.base, validate: opts.validate });
}

/**
 * BTF from the crashed kernel's memory: the bytes between `__start_BTF` and `__stop_BTF`.
 * Error offsets are relative to `start`; the source names the address range.
 */
export function btfFromDumpMemory(mem: VirtualMemory, start: bigint, stop: bigint, opts: BtfSourceOptions & { readonly label?: string } = {}): Btf {
  const source = `${opts.label ? opts.label + ': ' : ''}BTF in kernel memory 0x${start.toString(16)}-0x${stop.toString(16)}`;
  if (stop <= start) throw new FormatError(source, undefined, `__stop_BTF (0x${stop.toString(16)}) is not above __start_BTF (0x${start.toString(16)})`);
  if (stop - start > BigInt(MAX_BTF_BYTES)) throw new FormatError(source, undefined, `${stop - start} bytes of BTF is implausibly large`);
  const bytes = mem.read(start, Number(stop - start));
  return parseBtf(bytes, { source, base: opts.base, validate: opts.validate });
}

export interface BtfCandidate {
  /** Virtual address of the BTF header. */
  readonly start: bigint;
  /** start + header.totalLen */
  readonly stop: bigint;
  readonly header: BtfHeader;
  /** The blob, parsed and validated (its source names the candidate's address). */
  readonly btf: Btf;
}

const SCAN_CHUNK = 1 << 20;
const PAGE = 4096;

/**
 * Finds BTF blobs in kernel memory [start, end) by their header: magic 0xeB9F, version 1,
 * flags 0, hdr_len >= 24, sections inside the range, a string section that starts and ends with
 * NUL. Unreadable pages are skipped (one page-table walk each, so keep the range to the kernel
 * image). Returns every candidate, largest first: the vmlinux BTF is megabytes, whereas small
 * blobs can be embedded BPF objects (e.g. the bpf_preload iterators).
 */
export function findBtfCandidates(mem: VirtualMemory, start: bigint, end: bigint): BtfCandidate[] {
  const found: BtfCandidate[] = [];
  const le = Buffer.from([0x9f, 0xeb, BTF_VERSION, 0]);
  const be = Buffer.from([0xeb, 0x9f, BTF_VERSION, 0]);
  for (let chunkStart = start; chunkStart < end; ) {
    const len = Number(min(BigInt(SCAN_CHUNK), end - chunkStart));
    // Overlap by 3 bytes so a magic split across chunks is still seen.
    const readLen = Number(min(BigInt(len + 3), end - chunkStart));
    const pieces = readReadable(mem, chunkStart, readLen);
    for (const piece of pieces) {
      const buf = Buffer.from(piece.bytes.buffer, piece.bytes.byteOffset, piece.bytes.byteLength);
      for (const pat of [le, be]) {
        let i = buf.indexOf(pat);
        while (i >= 0) {
          const addr = piece.addr + BigInt(i);
          if (addr < chunkStart + BigInt(len)) {
            const c = checkCandidate(mem, addr, end);
            if (c) found.push(c);
          }
          i = buf.indexOf(pat, i + 1);
        }
      }
    }
    chunkStart += BigInt(len);
  }
  return found.sort((a, b) => b.header.totalLen - a.header.totalLen || (a.start < b.start ? -1 : 1));
}

/** The largest BTF blob in [start, end), i.e. the kernel's own BTF, or undefined. */
export function findBtfInImage(mem: VirtualMemory, start: bigint, end: bigint): BtfCandidate | undefined {
  return findBtfCandidates(mem, start, end)[0];
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** Reads [addr, addr+len) as runs of readable bytes, skipping pages that fault. */
function readReadable(mem: VirtualMemory, addr: bigint, len: number): { addr: bigint; bytes: Uint8Array }[] {
  try {
    return [{ addr, bytes: mem.read(addr, len) }];
  } catch (e) {
    if (!(e instanceof FaultError)) throw e;
  }
  const out: { addr: bigint; bytes: Uint8Array }[] = [];
  let runStart = -1;
  const parts: Uint8Array[] = [];
  const flush = (): void => {
    if (runStart >= 0) out.push({ addr: addr + BigInt(runStart), bytes: Buffer.concat(parts) });
    runStart = -1;
    parts.length = 0;
  };
  let off = 0;
  while (off < len) {
    const va = addr + BigInt(off);
    const n = Math.min(len - off, PAGE - Number(va % BigInt(PAGE)));
    try {
      const b = mem.read(va, n);
      if (runStart < 0) runStart = off;
      parts.push(b);
    } catch (e) {
      if (!(e instanceof FaultError)) throw e;
      flush();
    }
    off += n;
  }
  flush();
  return out;
}

function checkCandidate(mem: VirtualMemory, addr: bigint, end: bigint): BtfCandidate | undefined {
  let hdrBytes: Uint8Array;
  try {
    hdrBytes = mem.read(addr, BTF_HEADER_SIZE);
  } catch (e) {
    if (e instanceof FaultError) return undefined;
    throw e;
  }
  let h: BtfHeader;
  try {
    const dv = new DataView(hdrBytes.buffer, hdrBytes.byteOffset, hdrBytes.byteLength);
    const le = dv.getUint16(0, true) === BTF_MAGIC;
    const hdrLen = dv.getUint32(4, le);
    if (hdrLen < BTF_HEADER_SIZE || hdrLen > 256) return undefined;
    const full = hdrLen === BTF_HEADER_SIZE ? hdrBytes : mem.read(addr, hdrLen);
    h = parseBtfHeader(full);
  } catch (e) {
    if (e instanceof FormatError || e instanceof FaultError) return undefined;
    throw e;
  }
  if (h.typeOff % 4 !== 0 || h.typeLen === 0 || h.strLen === 0 || h.typeLen % 4 !== 0) return undefined;
  const typeEnd = h.typeOff + h.typeLen;
  const strEnd = h.strOff + h.strLen;
  if (h.typeOff < strEnd && h.strOff < typeEnd) return undefined;
  const stop = addr + BigInt(h.totalLen);
  if (stop > end || h.totalLen > MAX_BTF_BYTES) return undefined;
  // Read and parse the whole blob: only a complete, valid BTF counts (a stray magic in data
  // followed by plausible numbers would otherwise pass).
  try {
    const btf = parseBtf(mem.read(addr, h.totalLen), { source: `BTF candidate at 0x${addr.toString(16)}` });
    return { start: addr, stop, header: h, btf };
  } catch (e) {
    if (e instanceof FaultError || e instanceof FormatError) return undefined;
    throw e;
  }
}

function openFile(path: string): FileSource {
  try {
    return new FileSource(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new FormatError(path, undefined, `cannot open: ${why}`);
  }
}
