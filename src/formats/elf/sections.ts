import type { ByteSource } from '../../util/file.js';
import { FormatError } from '../../util/errors.js';
import { isElf } from './elf64.js';

/** ELF section header constants (include/uapi/linux/elf.h). */
export const SHT_NOBITS = 8;
export const SHF_WRITE = 0x1n;
export const SHF_ALLOC = 0x2n;
export const SHF_EXECINSTR = 0x4n;
export const SHF_COMPRESSED = 0x800n;
const SHN_XINDEX = 0xffff;
/** Section name tables larger than this are corrupt (vmlinux's is a few KiB). */
const MAX_SHSTRTAB = 1 << 26;

export interface ElfSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: bigint;
  readonly addr: bigint;
  readonly offset: bigint;
  readonly size: bigint;
  readonly link: number;
  readonly entsize: bigint;
  /** File offset of this section's header, for error messages. */
  readonly headerOffset: bigint;
}

/**
 * Reads an ELF file's section header table with positional reads (ELF32/ELF64, either byte
 * order; a 600 MB debug vmlinux is never loaded whole), including extended numbering where
 * e_shnum / e_shstrndx live in section header 0.
 */
export function readElfSections(src: ByteSource): ElfSection[] {
  if (src.size < 52n) throw new FormatError(src.path, 0, `file too small (${src.size} bytes) to be an ELF file`);
  const id = src.read(0n, 16, 'ELF identification');
  if (!isElf(id)) throw new FormatError(src.path, 0, 'not an ELF file (bad magic)');
  const cls = id[4];
  const data = id[5];
  if (cls !== 1 && cls !== 2) throw new FormatError(src.path, 4, `ELF class ${cls} is neither ELFCLASS32 nor ELFCLASS64`);
  if (data !== 1 && data !== 2) throw new FormatError(src.path, 5, `ELF data encoding ${data} is neither little- nor big-endian`);
  const is64 = cls === 2;
  const le = data === 1;
  const ehdr = src.read(0n, is64 ? 64 : 52, 'ELF header');
  const dv = new DataView(ehdr.buffer, ehdr.byteOffset, ehdr.byteLength);
  const shoff = is64 ? dv.getBigUint64(0x28, le) : BigInt(dv.getUint32(0x20, le));
  const shentsize = dv.getUint16(is64 ? 0x3a : 0x2e, le);
  let shnum = dv.getUint16(is64 ? 0x3c : 0x30, le);
  let shstrndx = dv.getUint16(is64 ? 0x3e : 0x32, le);
  const entWant = is64 ? 64 : 40;
  if (shoff === 0n) throw new FormatError(src.path, is64 ? 0x28 : 0x20, 'ELF file has no section header table (e_shoff is 0)');
  if (shentsize !== entWant) throw new FormatError(src.path, is64 ? 0x3a : 0x2e, `e_shentsize ${shentsize} is not ${entWant}`);
  const parse = (b: Uint8Array, at: number, headerOffset: bigint, index: number, name: string): ElfSection => {
    const v = new DataView(b.buffer, b.byteOffset + at, entWant);
    return is64
      ? { index, name, type: v.getUint32(4, le), flags: v.getBigUint64(8, le), addr: v.getBigUint64(16, le), offset: v.getBigUint64(24, le), size: v.getBigUint64(32, le), link: v.getUint32(40, le), entsize: v.getBigUint64(56, le), headerOffset }
      : { index, name, type: v.getUint32(4, le), flags: BigInt(v.getUint32(8, le)), addr: BigInt(v.getUint32(12, le)), offset: BigInt(v.getUint32(16, le)), size: BigInt(v.getUint32(20, le)), link: v.getUint32(24, le), entsize: BigInt(v.getUint32(36, le)), headerOffset };
  };
  if (shnum === 0 || shstrndx === SHN_XINDEX) {
    if (shoff + BigInt(shentsize) > src.size) throw new FormatError(src.path, is64 ? 0x28 : 0x20, `section header 0 at 0x${shoff.toString(16)} is past end of file`);
    const s0 = parse(src.read(shoff, shentsize, 'section header 0'), 0, shoff, 0, '');
    if (shnum === 0) shnum = Number(s0.size);
    if (shstrndx === SHN_XINDEX) shstrndx = s0.link;
  }
  if (shnum === 0) return [];
  if (shnum > 1 << 20) throw new FormatError(src.path, is64 ? 0x3c : 0x30, `implausible section count ${shnum}`);
  if (shoff + BigInt(shnum * shentsize) > src.size) {
    throw new FormatError(src.path, is64 ? 0x28 : 0x20, `section header table (${shnum} entries at 0x${shoff.toString(16)}) extends past end of file`);
  }
  const table = src.read(shoff, shnum * shentsize, 'section header table');
  const nameOffs = new DataView(table.buffer, table.byteOffset, table.byteLength);
  if (shstrndx >= shnum) throw new FormatError(src.path, is64 ? 0x3e : 0x32, `e_shstrndx ${shstrndx} is not below the section count ${shnum}`);
  const strHdr = parse(table, shstrndx * shentsize, shoff + BigInt(shstrndx * shentsize), shstrndx, '');
  if (strHdr.offset + strHdr.size > src.size || strHdr.size > BigInt(MAX_SHSTRTAB)) {
    throw new FormatError(src.path, strHdr.headerOffset, `section name table (offset 0x${strHdr.offset.toString(16)}, ${strHdr.size} bytes) extends past end of file`);
  }
  const names = src.read(strHdr.offset, Number(strHdr.size), 'section name table');
  const out: ElfSection[] = [];
  for (let i = 0; i < shnum; i++) {
    const at = i * shentsize;
    out.push(parse(table, at, shoff + BigInt(at), i, elfString(names, nameOffs.getUint32(at, le))));
  }
  return out;
}

/** The section called `name`, or undefined. */
export function findElfSection(src: ByteSource, name: string): ElfSection | undefined {
  return readElfSections(src).find((s) => s.name === name);
}

/** The NUL-terminated string at `off` of an ELF string table ('' when out of range). */
export function elfString(b: Uint8Array, off: number): string {
  if (off >= b.length) return '';
  let e = b.indexOf(0, off);
  if (e < 0) e = b.length;
  return Buffer.from(b.buffer, b.byteOffset + off, e - off).toString('latin1');
}
