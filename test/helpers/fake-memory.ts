import { PageNotPresentError } from '../../src/util/errors.js';
import { readAcrossPages, type PageState, type PhysicalMemory, type PhysRange } from '../../src/memory/physical-memory.js';

/** Sparse physical memory for unit tests: pages exist only where written. */
export class FakePhysicalMemory implements PhysicalMemory {
  readonly pageSize = 4096;
  readonly maxPfn = 1n << 40n;
  private readonly pages = new Map<bigint, Uint8Array>();

  private page(pfn: bigint, create: boolean): Uint8Array | undefined {
    let p = this.pages.get(pfn);
    if (!p && create) {
      p = new Uint8Array(4096);
      this.pages.set(pfn, p);
    }
    return p;
  }

  write(paddr: bigint, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      const a = paddr + BigInt(i);
      this.page(a >> 12n, true)![Number(a & 0xfffn)] = bytes[i]!;
    }
  }

  writeU64(paddr: bigint, v: bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, v));
    this.write(paddr, b);
  }

  read(paddr: bigint, length: number): Uint8Array {
    return readAcrossPages(4096, paddr, length, (pfn) => {
      const p = this.page(pfn, false);
      if (!p) throw new PageNotPresentError(pfn << 12n, 12, 'hole');
      return p;
    });
  }

  pageState(pfn: bigint): PageState {
    return this.pages.has(pfn) ? 'present' : 'hole';
  }

  ranges(): readonly PhysRange[] {
    return [...this.pages.keys()].sort((a, b) => (a < b ? -1 : 1)).map((p) => ({ start: p << 12n, end: (p + 1n) << 12n }));
  }
}
