import { MissingInfoError } from '../../util/errors.js';

/**
 * The VMCOREINFO note: `KEY=VALUE` lines written by the crashed kernel
 * (kernel/vmcore_info.c, arch/x86/kernel/vmcore_info_64.c). Lookups follow makedumpfile's
 * rules: exact key match, first occurrence wins, SYMBOL() values 0 or ~0 are invalid.
 */
export class Vmcoreinfo {
  /** The raw text, kept so it can be copied verbatim into files we write. */
  readonly text: string;
  private readonly map = new Map<string, string>();

  constructor(text: string) {
    this.text = text;
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq);
      if (!this.map.has(key)) this.map.set(key, line.slice(eq + 1).replace(/\0+$/, '').trim());
    }
  }

  /** All keys in order of first appearance. */
  keys(): string[] {
    return [...this.map.keys()];
  }

  raw(key: string): string | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  get osrelease(): string | undefined {
    return this.map.get('OSRELEASE');
  }

  get buildId(): string | undefined {
    return this.map.get('BUILD-ID');
  }

  get pageSize(): number | undefined {
    const v = this.map.get('PAGESIZE');
    return v === undefined ? undefined : Number.parseInt(v, 10);
  }

  /** KERNELOFFSET (KASLR text slide), printed with %lx. */
  get kernelOffset(): bigint | undefined {
    return parseHex(this.map.get('KERNELOFFSET'));
  }

  /** CRASHTIME, seconds since the epoch, appended at panic time. */
  get crashTime(): bigint | undefined {
    return parseDec(this.map.get('CRASHTIME'));
  }

  /** x86_64 exports phys_base as NUMBER(phys_base) (decimal). */
  get physBase(): bigint | undefined {
    return this.number('phys_base');
  }

  /** SYMBOL(name): a runtime (already KASLR-relocated) virtual address. */
  symbol(name: string): bigint | undefined {
    const v = parseHex(this.map.get(`SYMBOL(${name})`));
    if (v === undefined || v === 0n || v === 0xffffffffffffffffn) return undefined;
    return v;
  }

  size(type: string): number | undefined {
    return toNum(parseDec(this.map.get(`SIZE(${type})`)));
  }

  offset(type: string, member: string): number | undefined {
    return toNum(parseDec(this.map.get(`OFFSET(${type}.${member})`)));
  }

  length(name: string): number | undefined {
    return toNum(parseDec(this.map.get(`LENGTH(${name})`)));
  }

  /**
   * NUMBER(name): printed with %ld, %d or `0x%lx` depending on the key; like makedumpfile, try
   * decimal and fall back to hex when the decimal parse leaves trailing text.
   */
  number(name: string): bigint | undefined {
    const v = this.map.get(`NUMBER(${name})`);
    if (v === undefined) return undefined;
    return /^-?\d+$/.test(v) ? BigInt(v) : parseHex(v);
  }

  /** Like `symbol` but throws a MissingInfoError naming the key. */
  requireSymbol(name: string): bigint {
    const v = this.symbol(name);
    if (v === undefined) throw new MissingInfoError(`VMCOREINFO has no SYMBOL(${name})`);
    return v;
  }
  requireSize(type: string): number {
    const v = this.size(type);
    if (v === undefined) throw new MissingInfoError(`VMCOREINFO has no SIZE(${type})`);
    return v;
  }
  requireOffset(type: string, member: string): number {
    const v = this.offset(type, member);
    if (v === undefined) throw new MissingInfoError(`VMCOREINFO has no OFFSET(${type}.${member})`);
    return v;
  }
  requireLength(name: string): number {
    const v = this.length(name);
    if (v === undefined) throw new MissingInfoError(`VMCOREINFO has no LENGTH(${name})`);
    return v;
  }
  requireNumber(name: string): bigint {
    const v = this.number(name);
    if (v === undefined) throw new MissingInfoError(`VMCOREINFO has no NUMBER(${name})`);
    return v;
  }
}

function parseHex(v: string | undefined): bigint | undefined {
  if (v === undefined) return undefined;
  const m = /^(?:0x)?([0-9a-fA-F]+)$/.exec(v);
  if (!m || m[1] === undefined || m[1].length > 16) return undefined;
  return BigInt('0x' + m[1]);
}

function parseDec(v: string | undefined): bigint | undefined {
  if (v === undefined || !/^-?\d+$/.test(v)) return undefined;
  return BigInt(v);
}

function toNum(v: bigint | undefined): number | undefined {
  return v === undefined ? undefined : Number(v);
}
