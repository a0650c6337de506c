/**
 * Symbols from a vmlinux ELF file's `.symtab` + `.strtab` (the debug vmlinux of a -dbg package;
 * a distribution's /boot image is stripped). Only the section headers, the symbol table, its
 * string table and `linux_banner` are read, by positional reads: a 600 MB vmlinux stays on disk.
 *
 * Types follow nm (binutils bfd_decode_symclass): section flags give t/d/b/r, global binding
 * makes them upper case, A for SHN_ABS, W/V for weak, u for GNU unique.
 */
import { FileSource, type ByteSource } from '../../util/file.js';
import { FormatError } from '../../util/errors.js';
import { u16, u32, u64 } from '../../util/bytes.js';
import { isElf } from '../../formats/elf/elf64.js';
import { readElfSections, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_NOBITS, elfString, type ElfSection } from '../../formats/elf/sections.js';
import { kaslrShift, type KaslrShift } from './kaslr.js';
import { SymbolTableBuilder, type SymbolTable } from './symbol-table.js';

const SHT_SYMTAB = 2;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
const SHN_ABS = 0xfff1;
const SHN_COMMON = 0xfff2;
const STT_OBJECT = 1;
const STT_SECTION = 3;
const STT_FILE = 4;
const STB_LOCAL = 0;
const STB_WEAK = 2;
const STB_GNU_UNIQUE = 10;
const LINUX_BANNER = Buffer.from('linux_banner', 'latin1');
/** Larger than any vmlinux symtab (allyesconfig: ~100 MB). */
const MAX_TABLE = 1 << 30;

function readSection(src: ByteSource, s: ElfSection, what: string): Uint8Array {
  if (s.type === SHT_NOBITS) throw new FormatError(src.path, undefined, `${what} section ${s.name || `#${s.index}`} has no data in the file (SHT_NOBITS)`);
  if (s.size > BigInt(MAX_TABLE)) throw new FormatError(src.path, s.offset, `${what} section ${s.name} is implausibly large (${s.size} bytes)`);
  if (s.offset + s.size > src.size) throw new FormatError(src.path, s.offset, `${what} section ${s.name} (${s.size} bytes) extends past end of file`);
  return src.read(s.offset, Number(s.size), `${what} section ${s.name}`);
}

/** nm's type letter for a defined symbol. */
function typeChar(info: number, shndx: number, sec: ElfSection | undefined): string {
  const bind = info >> 4;
  const stype = info & 0xf;
  if (bind === STB_GNU_UNIQUE) return 'u';
  if (shndx === SHN_COMMON) return 'C';
  if (bind === STB_WEAK) return stype === STT_OBJECT ? 'V' : 'W';
  let c: string;
  if (shndx === SHN_ABS) c = 'a';
  else if (!sec) c = '?';
  else if (sec.flags & SHF_EXECINSTR) c = 't';
  else if (sec.type === SHT_NOBITS) c = sec.flags & SHF_ALLOC ? 'b' : 'n';
  else if (!(sec.flags & SHF_ALLOC)) c = 'n';
  else if (sec.flags & SHF_WRITE) c = 'd';
  else c = 'r';
  return bind === STB_LOCAL ? c : c.toUpperCase();
}

export interface VmlinuxSymbols {
  readonly table: SymbolTable;
  /** The text of `linux_banner` ("Linux version …"), when the file holds it. */
  readonly banner: string | undefined;
}

/** Reads the symbol table of a vmlinux (or any ELF64 LE) file, shifting kernel-image addresses by `kaslr`. */
export function readVmlinuxSymbols(path: string, kaslr?: KaslrShift): VmlinuxSymbols {
  let src: FileSource;
  try {
    src = new FileSource(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new FormatError(path, undefined, `cannot open: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  try {
    return readElfSymbols(src, kaslr);
  } finally {
    src.close();
  }
}

export function readElfSymbols(src: ByteSource, kaslr: KaslrShift = kaslrShift(0n)): VmlinuxSymbols {
  // Symbol entries are read as Elf64_Sym, little-endian (x86_64 vmlinux).
  if (src.size < 64n) throw new FormatError(src.path, 0, `file too small (${src.size} bytes) to be an ELF file`);
  const id = src.read(0n, 6, 'ELF identification');
  if (!isElf(id)) throw new FormatError(src.path, 0, 'not an ELF file (bad magic)');
  if (id[4] !== 2) throw new FormatError(src.path, 4, `ELF class ${id[4]} is not ELFCLASS64`);
  if (id[5] !== 1) throw new FormatError(src.path, 5, `ELF data encoding ${id[5]} is not little-endian`);
  const sections = readElfSections(src);
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  if (!symtab) {
    throw new FormatError(src.path, undefined, 'no .symtab: the ELF file is stripped', 'Use the debug vmlinux (/usr/lib/debug/boot/vmlinux-RELEASE from the linux-image-RELEASE-dbg package) or a System.map.');
  }
  if (symtab.entsize !== 24n) throw new FormatError(src.path, undefined, `.symtab entry size ${symtab.entsize} is not 24`);
  const strSec = sections[symtab.link];
  if (!strSec) throw new FormatError(src.path, undefined, `.symtab links to string table section ${symtab.link}, which does not exist`);
  const syms = readSection(src, symtab, 'symbol table');
  const strs = readSection(src, strSec, 'string table');
  const count = Math.floor(syms.length / 24);
  const out = new SymbolTableBuilder();
  let bannerSym: { value: bigint; shndx: number } | undefined;
  for (let i = 1; i < count; i++) {
    const o = i * 24;
    const nameOff = u32(syms, o);
    const info = syms[o + 4]!;
    const shndx = u16(syms, o + 6);
    const stype = info & 0xf;
    if (stype === STT_SECTION || stype === STT_FILE || shndx === SHN_UNDEF || nameOff === 0) continue;
    if (nameOff >= strs.length) throw new FormatError(src.path, symtab.offset + BigInt(o), `symbol #${i} name offset ${nameOff} is past the end of the string table (${strs.length} bytes)`);
    // The name's latin1 bytes go to the table as they are (elfString would decode them so).
    let end = strs.indexOf(0, nameOff);
    if (end < 0) end = strs.length;
    if (end === nameOff) continue;
    const value = u64(syms, o + 8);
    const sec = shndx < SHN_LORESERVE ? sections[shndx] : undefined;
    out.addLatin1(strs, nameOff, end, kaslr.apply(value), typeChar(info, shndx, sec));
    if (bannerSym === undefined && end - nameOff === LINUX_BANNER.length && LINUX_BANNER.every((c, k) => strs[nameOff + k] === c)) bannerSym = { value, shndx };
  }
  if (out.size === 0) throw new FormatError(src.path, symtab.offset, '.symtab holds no defined symbols');
  const banner = bannerSym ? readBanner(src, sections, bannerSym.value, bannerSym.shndx) : undefined;
  const notes = kaslr.offset !== 0n ? [`KASLR offset 0x${kaslr.offset.toString(16)} added to kernel-image addresses`] : [];
  return { table: out.build(`vmlinux ${src.path}`, notes), banner };
}

function readBanner(src: ByteSource, sections: readonly ElfSection[], value: bigint, shndx: number): string | undefined {
  const sec = sections[shndx];
  if (!sec || sec.type === SHT_NOBITS || value < sec.addr || value >= sec.addr + sec.size) return undefined;
  const off = sec.offset + (value - sec.addr);
  const left = sec.addr + sec.size - value;
  const len = Number(left < 512n ? left : 512n);
  if (off + BigInt(len) > src.size) return undefined;
  const b = src.read(off, len, 'linux_banner');
  return elfString(b, 0);
}
