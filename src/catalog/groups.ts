/**
 * Grouping by signature: which crashes are the same bug (the triage signature is "kind: f1 <
 * f2 < f3 [module]", free of offsets and addresses, see src/analyze/triage.ts), how often it
 * happened, and when first and last.
 */
import type { CatalogEntry } from './entries.js';

export interface SignatureGroup {
  readonly signature: string;
  readonly panicKind: string | undefined;
  readonly count: number;
  readonly firstSeen: Date;
  readonly lastSeen: Date;
  /** Entry ids, newest first. */
  readonly ids: readonly string[];
  /** How many of them are dumps and how many pstore logs. */
  readonly kinds: { readonly vmcore: number; readonly pstore: number };
  readonly releases: readonly string[];
}

/** Groups of entries with a signature, most frequent first (then most recent). Entries without one (unreadable) are left out. */
export function groupBySignature(entries: readonly CatalogEntry[]): SignatureGroup[] {
  const by = new Map<string, CatalogEntry[]>();
  for (const e of entries) {
    if (e.signature === undefined) continue;
    const list = by.get(e.signature) ?? [];
    list.push(e);
    by.set(e.signature, list);
  }
  const groups: SignatureGroup[] = [];
  for (const [signature, list] of by) {
    const times = list.map((e) => e.time.getTime());
    const newest = [...list].sort((a, b) => b.time.getTime() - a.time.getTime());
    groups.push({
      signature,
      panicKind: list[0]!.panicKind,
      count: list.length,
      firstSeen: new Date(Math.min(...times)),
      lastSeen: new Date(Math.max(...times)),
      ids: newest.map((e) => e.id),
      kinds: { vmcore: list.filter((e) => e.kind === 'vmcore').length, pstore: list.filter((e) => e.kind === 'pstore').length },
      releases: [...new Set(list.map((e) => e.release).filter((r): r is string => r !== undefined))].sort(),
    });
  }
  return groups.sort((a, b) => b.count - a.count || b.lastSeen.getTime() - a.lastSeen.getTime() || (a.signature < b.signature ? -1 : 1));
}
