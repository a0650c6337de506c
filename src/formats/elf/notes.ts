import { u32 } from '../../util/bytes.js';

/** One ELF note (Elf64_Nhdr + name + desc), with its offset inside the note segment. */
export interface ElfNote {
  readonly name: string;
  readonly type: number;
  readonly desc: Uint8Array;
  /** Offset of the desc bytes from the start of the note data. */
  readonly descOffset: number;
}

export const NT_PRSTATUS = 1;

const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Walks notes in a PT_NOTE payload. Kernel cores use 4-byte alignment for both ELF classes
 * (fs/proc/vmcore.c). Stops at the end of the data, at an all-zero header (the terminator
 * the first kernel leaves in each per-CPU buffer), or at a note that does not fit, which
 * `onTruncated` reports with its offset.
 */
export function parseNotes(data: Uint8Array, onTruncated?: (offset: number, why: string) => void): ElfNote[] {
  const notes: ElfNote[] = [];
  let off = 0;
  while (off + 12 <= data.length) {
    const namesz = u32(data, off);
    const descsz = u32(data, off + 4);
    const type = u32(data, off + 8);
    if (namesz === 0 && descsz === 0 && type === 0) break;
    const nameStart = off + 12;
    const descStart = nameStart + align4(namesz);
    const next = descStart + align4(descsz);
    if (namesz > data.length || descsz > data.length || next > data.length + 3 || descStart + descsz > data.length) {
      onTruncated?.(off, `note (namesz ${namesz}, descsz ${descsz}) extends past the end of the note segment`);
      break;
    }
    let nameEnd = nameStart + namesz;
    while (nameEnd > nameStart && data[nameEnd - 1] === 0) nameEnd--;
    const name = Buffer.from(data.buffer, data.byteOffset + nameStart, nameEnd - nameStart).toString('latin1');
    notes.push({ name, type, desc: data.subarray(descStart, descStart + descsz), descOffset: descStart });
    off = next;
  }
  return notes;
}
