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
import { kaslrShift, type KaslrShift } from './kaslr.js';
import { SymbolTable, type KernelSymbol } from './symbol-table.js';

const SHT_SYMTAB = 2;
const SHT_NOBITS = 8;
const SHF_WRITE = 0x1n;
const SHF_ALLOC = 0x2n;
const SHF_EXECINSTR = 0x4n;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
const SHN_ABS = 0xfff1;
const SHN_COMMON = 0xfff2;
const SHN_XINDEX = 0xffff;
const STT_OBJECT = 1;
const STT_SECTION = 3;
const STT_FILE = 4;
const STB_LOCAL = 0;
const STB_WEAK = 2;
const STB_GNU_UNIQUE = 10;
/** Larger than any vmlinux symtab (allyesconfig: ~100 MB). */
const MAX_TABLE = 1 << 30;

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
}

/** Reads and checks the ELF64 little-endian section header table. */
export function readElfSections(src: ByteSource): ElfSection[] {
  if (src.size < 64n) throw new FormatError(src.path, 0, `file too small (${src.size} bytes) to be an ELF file`);
  const h = src.read(0n, 64, 'ELF header');
  if (!(h[0] === 0x7f && h[1] === 0x45 && h[2] === 0x4c && h[3] === 0x46)) throw new FormatError(src.path, 0, 'not an ELF file (bad magic)');
  if (h[4] !== 2) throw new FormatError(src.path, 4, `ELF class ${h[4]} is not ELFCLASS64`);
  if (h[5] !== 1) throw new FormatError(src.path, 5, `ELF data encoding ${h[5]} is not little-endian`);
  const shoff = u64(h, 0x28);
  const shentsize = u16(h, 0x3a);
  let shnum = u16(h, 0x3c);
  let shstrndx = u16(h, 0x3e);
  if (shoff === 0n) throw new FormatError(src.path, 0x28, 'no section header table (e_shoff is 0)');
  if (shentsize !== 64) throw new FormatError(src.path, 0x3a, `e_shentsize ${shentsize} is not 64`);
  if (shnum === 0 || shstrndx === SHN_XINDEX) {
    // Extended numbering: the real values live in section header 0.
    if (shoff + 64n > src.size) throw new FormatError(src.path, 0x28, `section header 0 at 0x${shoff.toString(16)} is past end of file`);
    const s0 = src.read(shoff, 64, 'section header 0');
    if (shnum === 0) shnum = Number(u64(s0, 32));
    if (shstrndx === SHN_XINDEX) shstrndx = u32(s0, 40);
  }
  if (shnum === 0 || shnum > 1 << 20) throw new FormatError(src.path, 0x3c, `implausible section count ${shnum}`);
  if (shoff + BigInt(shnum * 64) > src.size) throw new FormatError(src.path, 0x28, `section header table (${shnum} entries at 0x${shoff.toString(16)}) extends past end of file`);
  const t = src.read(shoff, shnum * 64, 'section header table');
  const raw = [];
  for (let i = 0; i < shnum; i++) {
    const o = i * 64;
    raw.push({ nameOff: u32(t, o), type: u32(t, o + 4), flags: u64(t, o + 8), addr: u64(t, o + 16), offset: u64(t, o + 24), size: u64(t, o + 32), link: u32(t, o + 40), entsize: u64(t, o + 56) });
  }
  let shstr: Uint8Array | undefined;
  const strSec = raw[shstrndx];
  if (strSec && strSec.type !== SHT_NOBITS && strSec.size > 0n && strSec.size < BigInt(MAX_TABLE) && strSec.offset + strSec.size <= src.size) {
    shstr = src.read(strSec.offset, Number(strSec.size), 'section name table');
  }
  return raw.map((s, index) => ({ index, name: shstr ? cstr(shstr, s.nameOff) : '', type: s.type, flags: s.flags, addr: s.addr, offset: s.offset, size: s.size, link: s.link, entsize: s.entsize }));
}

function cstr(b: Uint8Array, off: number): string {
  if (off >= b.length) return '';
  let e = b.indexOf(0, off);
  if (e < 0) e = b.length;
  return Buffer.from(b.buffer, b.byteOffset + off, e - off).toString('latin1');
}

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
  const out: KernelSymbol[] = [];
  let bannerSym: { value: bigint; shndx: number } | undefined;
  for (let i = 1; i < count; i++) {
    const o = i * 24;
    const nameOff = u32(syms, o);
    const info = syms[o + 4]!;
    const shndx = u16(syms, o + 6);
    const value = u64(syms, o + 8);
    const stype = info & 0xf;
    if (stype === STT_SECTION || stype === STT_FILE || shndx === SHN_UNDEF || nameOff === 0) continue;
    if (nameOff >= strs.length) throw new FormatError(src.path, symtab.offset + BigInt(o), `symbol #${i} name offset ${nameOff} is past the end of the string table (${strs.length} bytes)`);
    const name = cstr(strs, nameOff);
    if (name === '') continue;
    const sec = shndx < SHN_LORESERVE ? sections[shndx] : undefined;
    out.push({ name, address: kaslr.apply(value), type: typeChar(info, shndx, sec) });
    if (name === 'linux_banner' && bannerSym === undefined) bannerSym = { value, shndx };
  }
  if (out.length === 0) throw new FormatError(src.path, symtab.offset, '.symtab holds no defined symbols');
  const banner = bannerSym ? readBanner(src, sections, bannerSym.value, bannerSym.shndx) : undefined;
  const notes = kaslr.offset !== 0n ? [`KASLR offset 0x${kaslr.offset.toString(16)} added to kernel-image addresses`] : [];
  return { table: new SymbolTable(out, `vmlinux ${src.path}`, notes), banner };
}

function readBanner(src: ByteSource, sections: readonly ElfSection[], value: bigint, shndx: number): string | undefined {
  const sec = sections[shndx];
  if (!sec || sec.type === SHT_NOBITS || value < sec.addr || value >= sec.addr + sec.size) return undefined;
  const off = sec.offset + (value - sec.addr);
  const left = sec.addr + sec.size - value;
  const len = Number(left < 512n ? left : 512n);
  if (off + BigInt(len) > src.size) return undefined;
  const b = src.read(off, len, 'linux_banner');
  return cstr(b, 0);
}
