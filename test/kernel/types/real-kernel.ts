/**
 * Loads what the real-dump type tests need from one dump: the address space, the kernel's
 * symbols (kallsyms decoded from the dump by src/kernel/symbols), and the BTF between
 * `__start_BTF` and `__stop_BTF`.
 */
import { openDump, type Dump } from '../../../src/formats/open.js';
import { X86_64AddressSpace } from '../../../src/memory/arch/x86_64.js';
import { readKallsyms } from '../../../src/kernel/symbols/kallsyms.js';
import type { SymbolTable } from '../../../src/kernel/symbols/symbol-table.js';
import { btfFromDumpMemory } from '../../../src/formats/btf/sources.js';
import type { Btf } from '../../../src/formats/btf/btf.js';

export interface RealKernel {
  readonly dump: Dump;
  readonly mem: X86_64AddressSpace;
  readonly symbols: SymbolTable;
  readonly btfStart: bigint;
  readonly btfStop: bigint;
  readonly btf: Btf;
  /** Milliseconds to read and parse (incl. validation) the BTF from the dump. */
  readonly btfMs: number;
}

export async function loadRealKernel(path: string): Promise<RealKernel> {
  const dump = await openDump(path);
  try {
    const mem = X86_64AddressSpace.fromDump(dump);
    const symbols = readKallsyms(mem, dump.vmcoreinfo!);
    const btfStart = symbols.address('__start_BTF');
    const btfStop = symbols.address('__stop_BTF');
    if (btfStart === undefined || btfStop === undefined) throw new Error(`${path}: kallsyms has no __start_BTF/__stop_BTF`);
    const t0 = performance.now();
    const btf = btfFromDumpMemory(mem, btfStart, btfStop, { label: path });
    const btfMs = performance.now() - t0;
    return { dump, mem, symbols, btfStart, btfStop, btf, btfMs };
  } catch (e) {
    dump.close();
    throw e;
  }
}

/** The debug vmlinux of a release, as linux-image-RELEASE-dbg installs it. */
export function debugVmlinux(release: string): { path: string; how: string } {
  return {
    path: `/usr/lib/debug/boot/vmlinux-${release}`,
    how: `install the debug kernel: apt-get install linux-image-${release}-dbg (Debian bookworm-security: ~1 GB download, ~6 GB installed)`,
  };
}
