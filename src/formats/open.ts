import { FileSource, type ByteSource } from '../util/file.js';
import { FormatError } from '../util/errors.js';
import type { PhysicalMemory } from '../memory/physical-memory.js';
import { isElf, readElfCore, PT_LOAD, PT_NOTE, type Elf64Header, type ProgramHeader } from './elf/elf64.js';
import { ElfPhysicalMemory } from './elf/elf-memory.js';
import { NT_PRSTATUS, parseNotes, type ElfNote } from './elf/notes.js';
import { isKdumpSignature, readDiskDumpHeader, readKdumpSubHeader, type DiskDumpHeader, type KdumpSubHeader } from './kdump/header.js';
import { KdumpPhysicalMemory } from './kdump/kdump-memory.js';
import { FlattenedSource, isFlattened } from './kdump/flattened.js';
import { codecFromFlags, initCodecs, type CodecName } from './codecs/index.js';
import { Vmcoreinfo } from './vmcore/vmcoreinfo.js';
import { parsePrStatus, type PrStatus } from './vmcore/prstatus.js';

export type DumpFormat = 'elf' | 'kdump';

interface DumpBase {
  readonly path: string;
  /** File size on disk (of the flattened stream, when flattened). */
  readonly fileSize: bigint;
  /** True when the file is a makedumpfile -F stream, read in place. */
  readonly flattened: boolean;
  readonly memory: PhysicalMemory;
  readonly notes: readonly ElfNote[];
  readonly vmcoreinfo: Vmcoreinfo | undefined;
  /** One per NT_PRSTATUS note, in note order (= CPU order for kernel-made dumps). */
  readonly prstatus: readonly PrStatus[];
  /** phys_base as the container records it (kdump sub-header, or PT_LOAD derivation). */
  readonly physBaseHint: bigint | undefined;
  /** Non-fatal oddities found while opening (truncated note segment, …). */
  readonly warnings: readonly string[];
  close(): void;
}

export interface ElfDump extends DumpBase {
  readonly format: 'elf';
  readonly elf: { readonly header: Elf64Header; readonly phdrs: readonly ProgramHeader[] };
  /** Direct-map base guessed from the PT_LOADs (makedumpfile's rule), if any. */
  readonly pageOffsetHint: bigint | undefined;
}

export interface KdumpDump extends DumpBase {
  readonly format: 'kdump';
  readonly kdump: {
    readonly header: DiskDumpHeader;
    readonly sub: KdumpSubHeader;
    /** Codec named by header.status, if any (pages may still be stored raw). */
    readonly codec: CodecName | undefined;
    readonly memory: KdumpPhysicalMemory;
  };
}

export type Dump = ElfDump | KdumpDump;

const START_KERNEL_MAP = 0xffffffff80000000n;

/** Opens a dump of any supported format, detected by its magic bytes (never by file name). */
export async function openDump(path: string): Promise<Dump> {
  let file: FileSource;
  try {
    file = new FileSource(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new FormatError(path, undefined, `cannot open: ${why}`);
  }
  try {
    return await openDumpSource(file);
  } catch (e) {
    file.close();
    throw e;
  }
}

/** Opens a dump from any byte source (a file, or bytes in memory for tests and fuzzing). */
export async function openDumpSource(file: ByteSource): Promise<Dump> {
  if (file.size < 24n) throw new FormatError(file.path, 0, `file too small (${file.size} bytes) to be a dump`);
  const magic = file.read(0n, 24, 'magic');
  let src: ByteSource = file;
  let flattened = false;
  if (isFlattened(magic)) {
    src = new FlattenedSource(file);
    flattened = true;
  }
  const inner = flattened ? src.read(0n, Math.min(24, Number(src.size)), 'magic') : magic;
  if (isKdumpSignature(inner)) {
    // Only kdump-compressed pages may need the (WebAssembly) zstd decoder; an ELF vmcore -- what
    // `kdumpkit save` reads in the capture kernel -- does not pay for loading it.
    await initCodecs();
    return openKdump(src, file.size, flattened);
  }
  if (isElf(inner)) return openElf(src, file.size, flattened);
  throw new FormatError(
    file.path,
    0,
    `unknown dump format (magic ${Buffer.from(inner.subarray(0, 8)).toString('hex')})`,
    'Supported: ELF vmcore (/proc/vmcore, QEMU dump-guest-memory), kdump-compressed (makedumpfile -c/-l/-p/-z), flattened (makedumpfile -F).',
  );
}

function collectNotes(path: string, data: Uint8Array, baseOffset: bigint, warnings: string[]): { notes: ElfNote[]; vmcoreinfo: Vmcoreinfo | undefined; prstatus: PrStatus[] } {
  const notes = parseNotes(data, (off, why) => warnings.push(`${path} at offset 0x${(baseOffset + BigInt(off)).toString(16)}: ${why}`));
  let vmcoreinfo: Vmcoreinfo | undefined;
  const prstatus: PrStatus[] = [];
  for (const n of notes) {
    if (n.name === 'VMCOREINFO' && vmcoreinfo === undefined) vmcoreinfo = new Vmcoreinfo(Buffer.from(n.desc).toString('latin1'));
    else if (n.name === 'CORE' && n.type === NT_PRSTATUS) {
      const p = parsePrStatus(n.desc, prstatus.length);
      if (p) prstatus.push(p);
      else warnings.push(`${path}: NT_PRSTATUS note at offset 0x${(baseOffset + BigInt(n.descOffset)).toString(16)} is too short (${n.desc.length} bytes)`);
    }
  }
  return { notes, vmcoreinfo, prstatus };
}

function openElf(src: ByteSource, fileSize: bigint, flattened: boolean): ElfDump {
  const { header, phdrs } = readElfCore(src);
  const warnings: string[] = [];
  const notes: ElfNote[] = [];
  let vmcoreinfo: Vmcoreinfo | undefined;
  const prstatus: PrStatus[] = [];
  for (const p of phdrs) {
    if (p.type !== PT_NOTE || p.filesz === 0n) continue;
    if (p.offset + p.filesz > src.size || p.filesz > 1n << 26n) {
      throw new FormatError(src.path, header.phoff + BigInt(p.index * 56), `PT_NOTE #${p.index} (offset 0x${p.offset.toString(16)}, size ${p.filesz}) extends past end of file`);
    }
    const r = collectNotes(src.path, src.read(p.offset, Number(p.filesz), 'PT_NOTE data'), p.offset, warnings);
    notes.push(...r.notes);
    vmcoreinfo ??= r.vmcoreinfo;
    for (const ps of r.prstatus) prstatus.push({ ...ps, index: prstatus.length });
  }
  for (const p of phdrs) {
    if (p.type === PT_LOAD && p.filesz > 0n && p.offset + p.filesz > src.size) {
      throw new FormatError(src.path, header.phoff + BigInt(p.index * 56), `PT_LOAD #${p.index} data (offset 0x${p.offset.toString(16)}, size 0x${p.filesz.toString(16)}) extends past end of file (size 0x${src.size.toString(16)}): truncated dump?`);
    }
    if (p.type === PT_LOAD && p.filesz > p.memsz) {
      throw new FormatError(src.path, header.phoff + BigInt(p.index * 56), `PT_LOAD #${p.index} has p_filesz > p_memsz`);
    }
  }
  const pageSize = vmcoreinfo?.pageSize ?? 4096;
  if (pageSize < 4096 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    throw new FormatError(src.path, undefined, `VMCOREINFO PAGESIZE=${pageSize} is not a supported page size`);
  }
  // makedumpfile (arch/x86_64.c get_phys_base / get_page_offset): the last PT_LOAD below the
  // kernel map gives the direct-map offset; the first in the kernel map gives phys_base.
  let pageOffsetHint: bigint | undefined;
  let physBaseHint: bigint | undefined;
  for (const p of phdrs) {
    if (p.type !== PT_LOAD) continue;
    if (p.vaddr !== 0n && p.vaddr < START_KERNEL_MAP) pageOffsetHint = p.vaddr - p.paddr;
    if (physBaseHint === undefined && p.vaddr >= START_KERNEL_MAP) physBaseHint = p.paddr - (p.vaddr - START_KERNEL_MAP);
  }
  return {
    format: 'elf',
    path: src.path,
    fileSize,
    flattened,
    memory: new ElfPhysicalMemory(src, phdrs, pageSize),
    notes,
    vmcoreinfo,
    prstatus,
    physBaseHint,
    pageOffsetHint,
    warnings,
    elf: { header, phdrs },
    close: () => src.close(),
  };
}

function openKdump(src: ByteSource, fileSize: bigint, flattened: boolean): KdumpDump {
  const header = readDiskDumpHeader(src);
  const sub = readKdumpSubHeader(src, header);
  const warnings: string[] = [];
  let notes: ElfNote[] = [];
  let vmcoreinfo: Vmcoreinfo | undefined;
  let prstatus: PrStatus[] = [];
  if (sub.sizeNote > 0n) {
    if (sub.sizeNote > 1n << 26n) throw new FormatError(src.path, BigInt(header.blockSize) + 56n, `size_note ${sub.sizeNote} is implausibly large`);
    const r = collectNotes(src.path, src.read(sub.offsetNote, Number(sub.sizeNote), 'ELF notes'), sub.offsetNote, warnings);
    ({ notes, vmcoreinfo, prstatus } = r);
  }
  if (sub.sizeVmcoreinfo > 0n) {
    if (sub.sizeVmcoreinfo > 1n << 20n) throw new FormatError(src.path, BigInt(header.blockSize) + 40n, `size_vmcoreinfo ${sub.sizeVmcoreinfo} is implausibly large`);
    vmcoreinfo = new Vmcoreinfo(Buffer.from(src.read(sub.offsetVmcoreinfo, Number(sub.sizeVmcoreinfo), 'VMCOREINFO')).toString('latin1'));
  }
  const memory = new KdumpPhysicalMemory(src, header, sub);
  return {
    format: 'kdump',
    path: src.path,
    fileSize,
    flattened,
    memory,
    notes,
    vmcoreinfo,
    prstatus,
    physBaseHint: sub.physBase,
    warnings,
    kdump: { header, sub, codec: codecFromFlags(header.status), memory },
    close: () => src.close(),
  };
}
