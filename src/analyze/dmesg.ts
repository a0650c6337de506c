import type { Dump } from '../formats/open.js';
import { X86_64AddressSpace } from '../memory/arch/x86_64.js';
import { readPrintkLog, type PrintkLog } from '../kernel/printk.js';
import { MissingInfoError } from '../util/errors.js';

/** One log record as `kdumpkit dmesg --json` reports it. */
export interface DmesgEntry {
  readonly seq: number;
  /** Seconds since boot, from ts_nsec (local_clock). */
  readonly time: number;
  readonly tsNsec: string;
  readonly level: number;
  readonly facility: number;
  /** "T<pid>" (task) or "C<cpu>" (interrupt context), as the kernel's printk caller id. */
  readonly caller: string | undefined;
  readonly text: string;
  readonly subsystem?: string;
  readonly device?: string;
}

export interface DmesgReport {
  readonly kind: PrintkLog['kind'];
  readonly entries: readonly DmesgEntry[];
  readonly warnings: readonly string[];
}

/** Reads the crashed kernel's printk buffer through its page tables. */
export function readDumpLog(dump: Dump, opts: { partial?: boolean } = {}): PrintkLog {
  if (!dump.vmcoreinfo) throw new MissingInfoError(`${dump.path}: no VMCOREINFO note: the log buffer cannot be located`);
  return readPrintkLog(X86_64AddressSpace.fromDump(dump), dump.vmcoreinfo, opts);
}

export function callerString(id: number | undefined): string | undefined {
  if (id === undefined) return undefined;
  return (id & 0x80000000 ? 'C' : 'T') + String(id & 0x7fffffff);
}

export function dmesgReport(log: PrintkLog): DmesgReport {
  return {
    kind: log.kind,
    entries: log.records
      .filter((r) => !r.dataless)
      .map((r) => ({
        seq: Number(r.seq),
        time: Number(r.tsNsec / 1000n) / 1e6,
        tsNsec: r.tsNsec.toString(),
        level: r.level,
        facility: r.facility,
        caller: callerString(r.callerId),
        text: Buffer.from(r.text).toString('utf8'),
        ...(r.subsystem ? { subsystem: r.subsystem } : {}),
        ...(r.device ? { device: r.device } : {}),
      })),
    warnings: log.warnings,
  };
}
