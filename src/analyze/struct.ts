import type { Kernel } from '../kernel/kernel.js';
import type { LayoutMember, StructLayout } from '../kernel/types/type-info.js';
import { KdumpkitError } from '../util/errors.js';

/** A member of `kdumpkit struct` output, flattened with its path; value when an address was given. */
export interface StructRow {
  readonly path: string;
  readonly offset: number;
  readonly bitOffset: number | undefined;
  readonly bitSize: number | undefined;
  readonly size: number | undefined;
  readonly typeName: string;
  /** The member's value at the address (scalars, pointers, char arrays), or why not. */
  readonly value?: string | bigint | number;
}

export interface StructReport {
  readonly kind: 'struct' | 'union';
  readonly name: string;
  readonly size: number;
  readonly source: string;
  readonly address: bigint | undefined;
  readonly rows: readonly StructRow[];
}

function flatten(members: readonly LayoutMember[], prefix = ''): { m: LayoutMember; path: string }[] {
  const out: { m: LayoutMember; path: string }[] = [];
  for (const m of members) {
    // Anonymous struct/union members are reached by their members' names (C11 rules).
    if (m.name === '' && m.members) out.push(...flatten(m.members, prefix));
    else out.push({ m, path: prefix + m.name });
  }
  return out;
}

/**
 * crash's `struct -o TYPE [ADDR]`: the layout of a struct or union (offsets, sizes, C types)
 * from BTF (or VMCOREINFO's few OFFSET entries), and with an address the value of every member.
 */
export function structReport(k: Kernel, type: string, address?: bigint): StructReport {
  const name = /^(struct|union) /.test(type) ? type : `struct ${type}`;
  let layout: StructLayout;
  try {
    layout = k.types.struct(name);
  } catch (e) {
    if (!(e instanceof KdumpkitError) || name === type) throw e;
    layout = k.types.struct(type);
  }
  const rows: StructRow[] = flatten(layout.members).map(({ m, path }) => {
    const row: StructRow = { path, offset: m.offset, bitOffset: m.bitSize !== undefined ? m.offsetBits % 8 : undefined, bitSize: m.bitSize, size: m.size, typeName: m.typeName ?? '?' };
    if (address === undefined) return row;
    return { ...row, value: memberValue(k, layout.name, path, address) };
  });
  return { kind: layout.kind, name: layout.name, size: layout.size, source: layout.source, address, rows };
}

function memberValue(k: Kernel, structName: string, path: string, address: bigint): string | bigint | number {
  try {
    const o = k.typed.object(structName, address).member(path);
    const r = o.resolved();
    if (r.kind === 'array') {
      const el = k.typed.types.resolve(r.element);
      // BTF rarely marks char as BTF_INT_CHAR: go by the name too.
      if (el.kind === 'int' && el.size === 1 && (el.char || el.name.endsWith('char'))) return JSON.stringify(o.string(r.length));
      return `array at 0x${o.address.toString(16)}`;
    }
    if (r.kind === 'struct' || r.kind === 'union') return `${r.kind} at 0x${o.address.toString(16)}`;
    if (r.kind === 'pointer') return o.ptr();
    if (r.kind === 'int' || r.kind === 'enum') return o.int();
    return `(${r.kind})`;
  } catch (e) {
    if (!(e instanceof KdumpkitError)) throw e;
    return `unavailable: ${e.message}`;
  }
}
