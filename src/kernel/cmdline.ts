/**
 * The crashed kernel's command line, from its memory: `saved_command_line` (init/main.c), the
 * copy of boot_command_line that /proc/cmdline prints. Better than the "Kernel command line:"
 * line of the log, which a long-running kernel's ring buffer has overwritten long ago.
 */
import type { Kernel } from './kernel.js';
import { tryRead } from './attempt.js';

/** COMMAND_LINE_SIZE on x86 (arch/x86/include/asm/setup.h): the longest command line. */
const COMMAND_LINE_SIZE = 2048;
const PAGE = 4096n;

export function readSavedCommandLine(k: Kernel, warnings: string[]): string | undefined {
  const sym = k.symbols.address('saved_command_line');
  if (sym === undefined) return undefined;
  return tryRead(warnings, 'saved_command_line', () => {
    const pb = k.mem.read(sym, 8);
    let p = new DataView(pb.buffer, pb.byteOffset, 8).getBigUint64(0, true);
    const bytes: number[] = [];
    // Page by page, so a string ending just before an unreadable page still reads.
    while (bytes.length < COMMAND_LINE_SIZE) {
      const n = Number(PAGE - (p % PAGE));
      const chunk = k.mem.read(p, Math.min(n, COMMAND_LINE_SIZE - bytes.length));
      const nul = chunk.indexOf(0);
      if (nul >= 0) {
        bytes.push(...chunk.subarray(0, nul));
        return Buffer.from(bytes).toString('utf8');
      }
      bytes.push(...chunk);
      p += BigInt(chunk.length);
    }
    return Buffer.from(bytes).toString('utf8');
  });
}
