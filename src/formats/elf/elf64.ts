import type { ByteSource } from '../../util/file.js';
import { FormatError } from '../../util/errors.js';
import { u16, u32, u64 } from '../../util/bytes.js';

/** ELF constants we rely on (include/uapi/linux/elf.h). */
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const ET_CORE = 4;
export const EM_X86_64 = 62;
const PN_XNUM = 0xffff;

export interface Elf64Header {
  readonly type: number;
  readonly machine: number;
  readonly flags: number;
  readonly phoff: bigint;
  readonly phentsize: number;
  readonly phnum: number;
}

export interface ProgramHeader {
  readonly index: number;
  readonly type: number;
  readonly flags: number;
  readonly offset: bigint;
  readonly vaddr: bigint;
  readonly paddr: bigint;
  readonly filesz: bigint;
  readonly memsz: bigint;
  readonly align: bigint;
}

/** True when the first bytes look like an ELF file. */
export function isElf(magic: Uint8Array): boolean {
  return magic[0] === 0x7f && magic[1] === 0x45 && magic[2] === 0x4c && magic[3] === 0x46;
}

/** Parses and validates the ELF64 header and program header table of a core file. */
export function readElfCore(src: ByteSource): { header: Elf64Header; phdrs: ProgramHeader[] } {
  const h = src.read(0n, 64, 'ELF header');
  if (!isElf(h)) throw new FormatError(src.path, 0, 'not an ELF file (bad magic)');
  if (h[4] !== 2) throw new FormatError(src.path, 4, `ELF class ${h[4]} is not ELFCLASS64; only 64-bit dumps are supported`);
  if (h[5] !== 1) throw new FormatError(src.path, 5, `ELF data encoding ${h[5]} is not little-endian`);
  const type = u16(h, 16);
  const machine = u16(h, 18);
  if (type !== ET_CORE) throw new FormatError(src.path, 16, `e_type ${type} is not ET_CORE (4): not a core dump`);
  if (machine !== EM_X86_64) throw new FormatError(src.path, 18, `e_machine ${machine} is not EM_X86_64 (62); only x86_64 is supported`);
  const phoff = u64(h, 32);
  const shoff = u64(h, 40);
  const flags = u32(h, 48);
  const phentsize = u16(h, 54);
  let phnum = u16(h, 56);
  if (phentsize !== 56) throw new FormatError(src.path, 54, `e_phentsize ${phentsize} is not 56`);
  if (phnum === PN_XNUM) {
    // More than 65534 segments (makedumpfile -E can emit this): the count is in section 0's sh_info.
    if (shoff === 0n || shoff >= src.size) throw new FormatError(src.path, 40, 'e_phnum is PN_XNUM but e_shoff points nowhere');
    const sh0 = src.read(shoff, 64, 'section header 0');
    phnum = u32(sh0, 44);
  }
  if (phnum === 0) throw new FormatError(src.path, 56, 'no program headers');
  const tableLen = phnum * 56;
  if (phoff + BigInt(tableLen) > src.size) {
    throw new FormatError(src.path, 32, `program header table (${phnum} entries at 0x${phoff.toString(16)}) extends past end of file`);
  }
  const t = src.read(phoff, tableLen, 'program header table');
  const phdrs: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * 56;
    phdrs.push({
      index: i,
      type: u32(t, o),
      flags: u32(t, o + 4),
      offset: u64(t, o + 8),
      vaddr: u64(t, o + 16),
      paddr: u64(t, o + 24),
      filesz: u64(t, o + 32),
      memsz: u64(t, o + 40),
      align: u64(t, o + 48),
    });
  }
  return { header: { type, machine, flags, phoff, phentsize, phnum }, phdrs };
}
