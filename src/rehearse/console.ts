/**
 * Reads a rehearsal's serial console as it arrives: both kernels' logs and the marker lines of
 * our /init (initramfs.ts MARKER), into facts with the time each was first seen.
 *
 * What the kernel prints that we rely on:
 *   "Linux version ..."                  the first line of every boot (init/main.c
 *                                        start_kernel -> linux_banner); the second one on the
 *                                        console is the capture kernel starting
 *   "Reserving 192MB of memory at 608MB for crashkernel (System RAM: 1023MB)"
 *                                        x86 reserve_crashkernel() up to Linux 6.5
 *                                        (arch/x86/kernel/setup.c)
 *   "crashkernel reserved: 0x... - 0x... (192 MB)"
 *                                        reserve_crashkernel_generic() since 6.6
 *                                        (kernel/crash_reserve.c; base and base + size)
 *   "crashkernel reservation failed - ...", "...: crashkernel ... failed"
 *                                        either of them giving up
 *   "Kernel panic - not syncing: ..."    kernel/panic.c; after the capture kernel started it
 *                                        means the capture kernel died (typically OOM, or its
 *                                        initramfs did not fit: "Initramfs unpacking failed")
 *   "Out of memory", "oom-kill"          mm/oom_kill.c, the capture kernel ran out of memory
 */
import { MARKER } from './initramfs.js';

export interface Seen<T = true> {
  /** Milliseconds since the VM started. */
  readonly ms: number;
  readonly value: T;
}

export interface ConsoleFacts {
  /** Console line count and the `Linux version` banners (1 = first kernel, 2 = capture kernel). */
  lines: number;
  banners: Seen<string>[];
  reservation?: Seen<{ bytes: bigint; text: string }>;
  reservationFailure?: Seen<string>;
  firstUp?: Seen;
  kexecErrors: string[];
  kexecLoad?: Seen<{ rc: number; loaded: boolean; size: bigint }>;
  crash?: Seen<string>;
  /** The first kernel's panic line (after the crash marker, before the capture kernel). */
  firstPanic?: Seen<string>;
  captureUp?: Seen<{ vmcoreBytes: bigint }>;
  insmodFailures: string[];
  dumpSaved?: Seen<{ bytes: bigint }>;
  dumpFailed?: Seen<string>;
  /** The capture kernel died or ran out of memory: the line that says so. */
  captureFailure?: Seen<string>;
  /** "still-alive": the crash did not crash the first kernel. */
  stillAlive?: Seen;
}

const RESERVE_OLD = /Reserving (\d+)MB of memory at (\d+)MB for crashkernel/;
const RESERVE_NEW = /crashkernel reserved: 0x([0-9a-f]+) - 0x([0-9a-f]+) \((\d+) MB\)/;
const RESERVE_FAIL = /crashkernel reservation failed[^\r\n]*|crashkernel[^\r\n]*(?:failed|too small|not enough)[^\r\n]*/i;
const PANIC = /Kernel panic - not syncing:.*/;
const CAPTURE_DEATH = /Out of memory[^\r\n]*|oom-kill[^\r\n]*|Initramfs unpacking failed[^\r\n]*|Kernel panic - not syncing:[^\r\n]*/;

export class ConsoleWatcher {
  readonly facts: ConsoleFacts = { lines: 0, banners: [], kexecErrors: [], insmodFailures: [] };
  /** Every line seen, for the console log file and error messages. */
  private pending = '';

  /** Feeds console bytes (any chunking) seen `ms` milliseconds after the VM started. */
  feed(chunk: string, ms: number): void {
    this.pending += chunk;
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl).replace(/\r/g, '');
      this.pending = this.pending.slice(nl + 1);
      this.line(line, ms);
    }
  }

  /** Feeds the last partial line, if any (the VM exited). */
  end(ms: number): void {
    if (this.pending !== '') this.line(this.pending.replace(/\r/g, ''), ms);
    this.pending = '';
  }

  /** True once nothing more can happen that changes the verdict: the host can stop the VM. */
  get finished(): boolean {
    const f = this.facts;
    if (f.dumpSaved || f.dumpFailed || f.captureFailure || f.stillAlive) return true;
    if (f.kexecLoad && (f.kexecLoad.value.rc !== 0 || !f.kexecLoad.value.loaded)) return true;
    return false;
  }

  private line(line: string, ms: number): void {
    const f = this.facts;
    f.lines++;
    const at = <T>(value: T): Seen<T> => ({ ms, value });
    // A kernel line is "[    1.234567] text"; a marker line starts with the marker.
    const text = line.replace(/^\[\s*\d+\.\d+\]\s?/, '');
    if (text.startsWith('Linux version ')) {
      f.banners.push(at(text));
      return;
    }
    const booted = f.banners.length;
    if (text.startsWith(MARKER)) {
      this.marker(text.slice(MARKER.length).trim(), ms);
      return;
    }
    if (booted <= 1) {
      if (!f.reservation) {
        const o = RESERVE_OLD.exec(text);
        if (o) f.reservation = at({ bytes: BigInt(o[1]!) << 20n, text });
        const n = RESERVE_NEW.exec(text);
        // crash_reserve.c prints base and base + size (exclusive end).
        if (n) f.reservation = at({ bytes: BigInt('0x' + n[2]!) - BigInt('0x' + n[1]!), text });
      }
      if (!f.reservation && !f.reservationFailure) {
        const r = RESERVE_FAIL.exec(text);
        if (r && !RESERVE_OLD.test(text)) f.reservationFailure = at(r[0]);
      }
      if (f.crash && !f.firstPanic) {
        const p = PANIC.exec(text);
        if (p) f.firstPanic = at(p[0]);
      }
      return;
    }
    // The capture kernel's own log.
    if (!f.captureFailure && !f.dumpSaved) {
      // The whole line ("swapper/0 invoked oom-killer: ..."): who died and how.
      if (CAPTURE_DEATH.test(text)) f.captureFailure = at(text.trim());
    }
  }

  private marker(m: string, ms: number): void {
    const f = this.facts;
    const at = <T>(value: T): Seen<T> => ({ ms, value });
    let x: RegExpExecArray | null;
    if (m === 'first-kernel-up') f.firstUp ??= at(true as const);
    else if ((x = /^kexec-error (.*)$/.exec(m))) f.kexecErrors.push(x[1]!);
    else if ((x = /^kexec-load rc=(\d+) loaded=(\d*) size=(\d*)$/.exec(m))) f.kexecLoad ??= at({ rc: Number(x[1]), loaded: x[2] === '1', size: BigInt(x[3] || '0') });
    else if ((x = /^crash mode=(\S+)$/.exec(m))) f.crash ??= at(x[1]!);
    else if ((x = /^capture-kernel-up vmcore=(\d+)$/.exec(m))) f.captureUp ??= at({ vmcoreBytes: BigInt(x[1]!) });
    else if ((x = /^insmod-failed (.*)$/.exec(m))) f.insmodFailures.push(x[1]!);
    else if ((x = /^dump-saved bytes=(\d+)$/.exec(m))) f.dumpSaved ??= at({ bytes: BigInt(x[1]!) });
    else if ((x = /^dump-failed ?(.*)$/.exec(m))) f.dumpFailed ??= at(x[1]!);
    else if (m === 'still-alive') f.stillAlive ??= at(true as const);
  }
}

/** Facts of a whole recorded console (tests, and re-reading a kept console.log). */
export function parseConsole(text: string): ConsoleFacts {
  const w = new ConsoleWatcher();
  w.feed(text, 0);
  w.end(0);
  return w.facts;
}
