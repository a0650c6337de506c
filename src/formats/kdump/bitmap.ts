import { popcount8 } from '../../util/bytes.js';

const POP8 = Uint8Array.from({ length: 256 }, (_, i) => popcount8(i));

/**
 * A kdump page bitmap (bit for pfn p: byte p>>3, bit p&7, LSB first) with a rank index so that
 * "how many set bits below p" — the page descriptor index — costs O(1): cumulative counts every
 * 64 pfns plus at most 7 byte lookups (crash keeps a similar table per 4096 pfns).
 */
export class PageBitmap {
  readonly bits: Uint8Array;
  readonly nbits: bigint;
  private rankTable: Uint32Array | undefined;

  constructor(bits: Uint8Array, nbits: bigint) {
    this.bits = bits;
    this.nbits = nbits;
  }

  test(pfn: bigint): boolean {
    if (pfn < 0n || pfn >= this.nbits) return false;
    const p = Number(pfn);
    return ((this.bits[p >>> 3] ?? 0) & (1 << (p & 7))) !== 0;
  }

  /** Number of set bits for pfns < `pfn`. */
  rank(pfn: bigint): number {
    const table = (this.rankTable ??= this.buildRank());
    const p = Number(pfn);
    const word = p >>> 6;
    let r = table[word] ?? 0;
    const firstByte = word << 3;
    const byte = p >>> 3;
    for (let b = firstByte; b < byte; b++) r += POP8[this.bits[b] ?? 0]!;
    const partial = (this.bits[byte] ?? 0) & ((1 << (p & 7)) - 1);
    return r + POP8[partial]!;
  }

  /** Total number of set bits within [0, nbits). */
  count(): number {
    return this.rank(this.nbits);
  }

  private buildRank(): Uint32Array {
    const nbytes = Math.ceil(Number(this.nbits) / 8);
    const words = Math.ceil(nbytes / 8) + 1;
    const t = new Uint32Array(words);
    let acc = 0;
    for (let w = 0; w < words; w++) {
      t[w] = acc;
      const end = Math.min(nbytes, (w + 1) * 8);
      for (let b = w * 8; b < end; b++) {
        let v = this.bits[b] ?? 0;
        // Bits past nbits in the last byte are padding and must not be counted.
        if (b === nbytes - 1 && Number(this.nbits) % 8 !== 0) v &= (1 << (Number(this.nbits) % 8)) - 1;
        acc += POP8[v]!;
      }
    }
    return t;
  }
}
