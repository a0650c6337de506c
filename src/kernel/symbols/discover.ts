/**
 * Finding the crashed kernel's symbols: the first source that loads and agrees with the dump.
 *
 * Order: an explicit --vmlinux, an explicit --system-map, kallsyms decoded from the dump's memory
 * (VMCOREINFO keys, Linux ≥ 6.0), then files found by release under `root`:
 * /boot/System.map-REL, /usr/lib/debug/boot/System.map-REL, /usr/lib/debug/boot/vmlinux-REL,
 * and last the kallsyms tables located by scanning the kernel image in the dump.
 * Every source that fails says why in `tried`; a file for another build is rejected, never used.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Dump } from '../../formats/open.js';
import type { Vmcoreinfo } from '../../formats/vmcore/vmcoreinfo.js';
import type { VirtualMemory } from '../../memory/address-space.js';
import { KdumpkitError, MissingInfoError } from '../../util/errors.js';
import { hex } from '../../util/bytes.js';
import { readVmlinuxSymbols } from './elf-symtab.js';
import { readKallsyms } from './kallsyms.js';
import { kaslrFromVmcoreinfo } from './kaslr.js';
import { scanKallsyms } from './scan.js';
import type { SymbolTable } from './symbol-table.js';
import { readSystemMap } from './system-map.js';

export interface LoadSymbolsOptions {
  readonly systemMap?: string;
  readonly vmlinux?: string;
  /** Ignore the VMCOREINFO kallsyms keys (as on a kernel before 6.0). */
  readonly noKallsyms?: boolean;
  /** Skip the memory scan for kallsyms tables. */
  readonly noScan?: boolean;
  /** Root for auto-discovery of /boot and /usr/lib/debug files; default '/'. */
  readonly root?: string;
}

export interface LoadedSymbols {
  readonly table: SymbolTable;
  /** Sources tried before `table.source`, each with the reason it was not used. */
  readonly tried: string[];
}

export function loadSymbols(dump: Dump, mem: VirtualMemory, opts: LoadSymbolsOptions = {}): LoadedSymbols {
  const info = dump.vmcoreinfo;
  const kaslr = kaslrFromVmcoreinfo(info);
  const tried: string[] = [];

  const attempt = (label: string, load: () => { table: SymbolTable; banner?: string }): SymbolTable | undefined => {
    try {
      const { table, banner } = load();
      const why = checkAgainstDump(table, info, mem, banner);
      if (why !== undefined) {
        tried.push(`${label}: rejected: ${why}`);
        return undefined;
      }
      return table;
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      // File errors already start with the path: "PATH at offset 0x0: …".
      const path = label.replace(/^--[a-z-]+ /, '');
      tried.push(e.message.startsWith(path) ? `${label.slice(0, label.length - path.length)}${e.message}` : `${label}: ${e.message}`);
      return undefined;
    }
  };
  const file = (label: string, path: string, kind: 'map' | 'vmlinux'): SymbolTable | undefined =>
    attempt(label, () => (kind === 'map' ? { table: readSystemMap(path, kaslr) } : readVmlinuxSymbols(path, kaslr)));

  let t: SymbolTable | undefined;
  if (opts.vmlinux !== undefined && (t = file(`--vmlinux ${opts.vmlinux}`, opts.vmlinux, 'vmlinux'))) return { table: t, tried };
  if (opts.systemMap !== undefined && (t = file(`--system-map ${opts.systemMap}`, opts.systemMap, 'map'))) return { table: t, tried };

  if (opts.noKallsyms) tried.push('kallsyms (dump memory): skipped (--no-kallsyms)');
  else if (!info) tried.push('kallsyms (dump memory): the dump has no VMCOREINFO');
  else if ((t = attempt('kallsyms (dump memory)', () => ({ table: readKallsyms(mem, info) })))) return { table: t, tried };

  const release = info?.osrelease;
  if (release === undefined) {
    tried.push('auto-discovery: VMCOREINFO has no OSRELEASE to name the files by');
  } else {
    const root = opts.root ?? '/';
    const candidates: Array<[string, 'map' | 'vmlinux']> = [
      [join(root, 'boot', `System.map-${release}`), 'map'],
      [join(root, 'usr/lib/debug/boot', `System.map-${release}`), 'map'],
      [join(root, 'usr/lib/debug/boot', `vmlinux-${release}`), 'vmlinux'],
    ];
    for (const [path, kind] of candidates) {
      if (!existsSync(path)) {
        tried.push(`${path}: not found`);
        continue;
      }
      if ((t = file(path, path, kind))) return { table: t, tried };
    }
  }

  if (opts.noScan) tried.push('kallsyms scan (dump memory): skipped');
  else if ((t = attempt('kallsyms scan (dump memory)', () => ({ table: scanKallsyms(mem, info) })))) return { table: t, tried };

  throw new MissingInfoError(
    `no usable kernel symbols for ${dump.path}:\n  ${tried.join('\n  ')}`,
    release !== undefined
      ? `Give --system-map or --vmlinux for ${release} (Debian: the linux-image-${release}-dbg package installs /usr/lib/debug/boot/System.map-${release} and vmlinux-${release}).`
      : 'Give --system-map or --vmlinux for the crashed kernel.',
  );
}

/** START_KERNEL_MAP .. + KERNEL_IMAGE_SIZE: where VMCOREINFO SYMBOL() values are symbol addresses. */
function imageRange(info: Vmcoreinfo): [bigint, bigint] {
  const k = kaslrFromVmcoreinfo(info);
  return [k.imageStart, k.imageEnd];
}

/**
 * Why `table` does not belong to the dump's kernel, or undefined when it does: every VMCOREINFO
 * SYMBOL() in the kernel image that the table also names must have the same address, and
 * `linux_banner` (read from the dump's memory at the table's address, and the file's own copy
 * for a vmlinux) must name OSRELEASE. At least one of these checks must be possible.
 */
export function checkAgainstDump(table: SymbolTable, info: Vmcoreinfo | undefined, mem: VirtualMemory | undefined, fileBanner?: string): string | undefined {
  let checked = 0;
  const wrong: string[] = [];
  if (info) {
    const [lo, hi] = imageRange(info);
    for (const key of info.keys()) {
      const m = /^SYMBOL\((.+)\)$/.exec(key);
      if (!m) continue;
      const name = m[1]!;
      const want = info.symbol(name);
      if (want === undefined || want < lo || want >= hi) continue;
      const have = table.lookupAll(name);
      if (have.length === 0) continue;
      checked++;
      if (!have.some((s) => s.address === want)) wrong.push(`${name} is ${hex(have[0]!.address)}, VMCOREINFO SYMBOL(${name}) is ${hex(want)}`);
    }
  }
  const shift = info?.kernelOffset ? ` (after adding KASLR offset ${hex(info.kernelOffset)})` : '';
  if (wrong.length > 0) return `its symbols do not match the dump's kernel${shift}: ${wrong.slice(0, 3).join('; ')}${wrong.length > 3 ? `; and ${wrong.length - 3} more` : ''}`;

  const release = info?.osrelease;
  if (fileBanner !== undefined && release !== undefined) {
    const r = bannerRelease(fileBanner);
    if (r !== undefined) {
      checked++;
      if (r !== release) return `its linux_banner says ${JSON.stringify(r)}, the dump's OSRELEASE is ${JSON.stringify(release)}`;
    }
  }
  const bannerAt = table.address('linux_banner');
  if (mem && release !== undefined && bannerAt !== undefined) {
    let text: string | undefined;
    try {
      text = Buffer.from(mem.read(bannerAt, 160)).toString('latin1');
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      const r = bannerRelease(text);
      checked++;
      if (r !== release) return `the dump's memory at its linux_banner (${hex(bannerAt)}) holds ${JSON.stringify(text.split('\0')[0]!.slice(0, 60))}, not the banner of ${release}`;
    }
  }
  if (checked === 0) return 'it cannot be checked against the dump: it names none of the VMCOREINFO symbols and no readable linux_banner';
  return undefined;
}

function bannerRelease(text: string): string | undefined {
  return /^Linux version (\S+)/.exec(text)?.[1];
}
