/**
 * System.map (`nm -n vmlinux` filtered by scripts/mksysmap) and /proc/kallsyms text: one symbol a
 * line, `ADDRESS TYPE NAME`, /proc/kallsyms adding `\t[MODULE]` for module symbols.
 *
 * Addresses are link-time; the KASLR slide is added to those inside the kernel image mapping only
 * (see kaslr.ts). A /proc/kallsyms copy taken on the crashed machine's own boot is already
 * relocated: pass a zero shift for it.
 */
import { readFileSync } from 'node:fs';
import { FormatError } from '../../util/errors.js';
import { kaslrShift, type KaslrShift } from './kaslr.js';
import { SymbolTableBuilder, type SymbolTable } from './symbol-table.js';

const LINE = /^([0-9a-fA-F]{1,16})[ \t]+(\S)[ \t]+(\S+)(?:[ \t]+\[([^\]\s]+)\])?[ \t]*$/;

export interface SystemMapOptions {
  /** Shown in SymbolTable.source and in errors. */
  readonly path: string;
  /** Default: no shift. */
  readonly kaslr?: KaslrShift;
}

/** Debian's /boot/System.map-* is a one-line placeholder pointing at the -dbg package. */
export function isSystemMapPlaceholder(text: string): boolean {
  return /^[0-9a-f]{16} \S The real System\.map is in/m.test(text.slice(0, 4096));
}

/** Parses System.map text. A line that is not `ADDRESS TYPE NAME` is a FormatError naming its offset. */
export function parseSystemMap(text: string, opts: SystemMapOptions): SymbolTable {
  if (isSystemMapPlaceholder(text)) {
    const pkg = /in the (\S+) package/.exec(text)?.[1] ?? 'linux-image-<version>-dbg';
    throw new FormatError(opts.path, 0, `a placeholder, not a System.map ("The real System.map is in the ${pkg} package")`, `Install ${pkg.replace('<version>', 'RELEASE')} and use /usr/lib/debug/boot/System.map-RELEASE.`);
  }
  const shift = opts.kaslr ?? kaslrShift(0n);
  const syms = new SymbolTableBuilder();
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const line = text.slice(pos, nl).replace(/\r$/, '');
    if (line.trim() !== '') {
      const m = LINE.exec(line);
      if (!m) throw new FormatError(opts.path, pos, `not a System.map line ("ADDRESS TYPE NAME"): ${JSON.stringify(line.slice(0, 80))}`);
      const address = shift.apply(BigInt('0x' + m[1]!));
      syms.add(m[3]!, address, m[2]!, m[4]);
    }
    pos = nl + 1;
  }
  if (syms.size === 0) throw new FormatError(opts.path, 0, 'no symbols (empty System.map)');
  const note = shift.offset !== 0n ? [`KASLR offset 0x${shift.offset.toString(16)} added to kernel-image addresses`] : [];
  return syms.build(`System.map ${opts.path}`, note);
}

/** Reads and parses a System.map file. */
export function readSystemMap(path: string, kaslr?: KaslrShift): SymbolTable {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new FormatError(path, undefined, `cannot read: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  return parseSystemMap(text, { path, kaslr });
}
