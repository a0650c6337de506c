/**
 * Error types with stable codes. The CLI prints any KdumpkitError as one line plus an optional
 * hint and exits non-zero; anything else is a bug and gets a stack trace.
 */

export class KdumpkitError extends Error {
  /** Stable machine-readable code, e.g. `E_FORMAT`. */
  readonly code: string;
  /** One sentence telling the user what to do about it, if we know. */
  readonly hint: string | undefined;

  constructor(code: string, message: string, hint?: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.hint = hint;
  }
}

/** A file is not what its format says it should be. Names the file and the byte offset. */
export class FormatError extends KdumpkitError {
  readonly file: string;
  readonly offset: bigint | undefined;

  constructor(file: string, offset: bigint | number | undefined, what: string, hint?: string) {
    const at = offset === undefined ? '' : ` at offset 0x${BigInt(offset).toString(16)}`;
    super('E_FORMAT', `${file}${at}: ${what}`, hint);
    this.file = file;
    this.offset = offset === undefined ? undefined : BigInt(offset);
  }
}

/** An address could not be read (unmapped virtual address, or physical memory absent). */
export class FaultError extends KdumpkitError {
  readonly address: bigint;
  readonly addressKind: 'physical' | 'virtual';

  constructor(address: bigint, addressKind: 'physical' | 'virtual', why: string, code = 'E_FAULT') {
    super(code, `cannot read ${addressKind} address 0x${address.toString(16)}: ${why}`);
    this.address = address;
    this.addressKind = addressKind;
  }
}

/** Why a physical page cannot be read. */
export type PageAbsence =
  /** No RAM there in the crashed machine (outside every PT_LOAD / 1st bitmap clear). */
  | 'hole'
  /** The page existed but the dump filtered it out (dump level), crash's PAGE_EXCLUDED. */
  | 'excluded'
  /** The dump was cut short (incomplete kdump file) before this page was written. */
  | 'incomplete';

/**
 * A physical page that the dump does not hold. Never silently read as zeros: the caller decides
 * whether "unavailable" is acceptable.
 */
export class PageNotPresentError extends FaultError {
  readonly pfn: bigint;
  readonly reason: PageAbsence;

  constructor(paddr: bigint, pageShift: number, reason: PageAbsence) {
    const why =
      reason === 'hole'
        ? 'not in the dump (memory hole)'
        : reason === 'excluded'
          ? 'page excluded from the dump by its dump level'
          : 'page missing (the dump is incomplete)';
    super(paddr, 'physical', why, 'E_PAGE_NOT_PRESENT');
    this.pfn = paddr >> BigInt(pageShift);
    this.reason = reason;
  }
}

/** A kernel data structure read from the dump does not make sense. */
export class ValidationError extends KdumpkitError {
  constructor(message: string, hint?: string) {
    super('E_VALIDATION', message, hint);
  }
}

/** Bad command-line input. */
export class UsageError extends KdumpkitError {
  constructor(message: string, hint?: string) {
    super('E_USAGE', message, hint);
  }
}

/** A required piece of kernel metadata (VMCOREINFO key, symbol, type) is missing. */
export class MissingInfoError extends KdumpkitError {
  constructor(message: string, hint?: string) {
    super('E_MISSING_INFO', message, hint);
  }
}
