/**
 * A page cache over kernel virtual memory for the unwinder: stacks, ORC tables and module symbol
 * tables are read in small pieces (8-byte stack slots, 4-byte ORC ip entries), and every piece
 * would otherwise be a page-table walk plus a positional read of the dump. Pages are read once,
 * whole, and kept (bounded); an unreadable page is remembered as its FaultError and re-thrown on
 * every later access, so a missing page costs one attempt.
 */
import type { VirtualMemory } from '../../memory/address-space.js';
import { KdumpkitError } from '../../util/errors.js';
import { readCStringBytes } from '../types/object.js';

const PAGE = 4096;
const PAGE_BIG = 4096n;
/** 16 MiB of cached pages; beyond that the cache starts over (never unbounded). */
const MAX_PAGES = 4096;

export class PagedMemory {
  private readonly pages = new Map<bigint, Uint8Array | KdumpkitError>();
  /** Reads that went to the underlying memory (for tests and benchmarks). */
  reads = 0;

  constructor(readonly mem: VirtualMemory) {}

  private page(vpage: bigint): Uint8Array {
    let p = this.pages.get(vpage);
    if (p === undefined) {
      if (this.pages.size >= MAX_PAGES) this.pages.clear();
      this.reads++;
      try {
        p = this.mem.read(vpage * PAGE_BIG, PAGE);
      } catch (e) {
        if (!(e instanceof KdumpkitError)) throw e;
        p = e;
      }
      this.pages.set(vpage, p);
    }
    if (p instanceof KdumpkitError) throw p;
    return p;
  }

  /** `length` bytes at `addr`; FaultError (or another KdumpkitError) if any byte is unreadable. */
  read(addr: bigint, length: number): Uint8Array {
    addr = BigInt.asUintN(64, addr);
    const off = Number(addr & 0xfffn);
    if (off + length <= PAGE) {
      const p = this.page(addr >> 12n);
      return p.subarray(off, off + length);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const va = BigInt.asUintN(64, addr + BigInt(done));
      const o = Number(va & 0xfffn);
      const n = Math.min(length - done, PAGE - o);
      out.set(this.page(va >> 12n).subarray(o, o + n), done);
      done += n;
    }
    return out;
  }

  u64(addr: bigint): bigint {
    const b = this.read(addr, 8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  }

  i32(addr: bigint): number {
    const b = this.read(addr, 4);
    return new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
  }

  u32(addr: bigint): number {
    const b = this.read(addr, 4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }

  /** True when the 8 bytes at `addr` can be read. */
  readable(addr: bigint, length = 8): boolean {
    try {
      this.read(addr, length);
      return true;
    } catch (e) {
      if (e instanceof KdumpkitError) return false;
      throw e;
    }
  }

  /** A NUL-terminated string of at most `max` bytes (UTF-8). */
  cString(addr: bigint, max = 256): string {
    const b = readCStringBytes(this, addr, max);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
  }
}
