import type { ByteSource } from '../../util/file.js';
import { FormatError } from '../../util/errors.js';

/**
 * The flattened format (makedumpfile -F; makedumpfile.h MAKEDUMPFILE_SIGNATURE, struct
 * makedumpfile_header / makedumpfile_data_header): a 4096-byte header, then records
 * {be64 offset, be64 size, payload} that each belong at `offset` of the real dump file, ended by
 * offset = size = -1. We index the records once and serve reads of the dump they describe,
 * so a flattened stream is read in place without `makedumpfile -R`.
 */
export const FLAT_SIGNATURE = 'makedumpfile';
const FLAT_HEADER_SIZE = 4096;
const TYPE_FLAT_HEADER = 1n;

export function isFlattened(magic: Uint8Array): boolean {
  if (magic.length < 24) return false;
  if (Buffer.from(magic.subarray(0, 12)).toString('latin1') !== FLAT_SIGNATURE || magic[12] !== 0) return false;
  return Buffer.from(magic.buffer, magic.byteOffset, magic.length).readBigInt64BE(16) === TYPE_FLAT_HEADER;
}

interface Piece {
  /** Target offset in the dump file. */
  start: bigint;
  end: bigint;
  /** Where the bytes for `start` are in the stream. */
  streamPos: bigint;
}

interface RecordRef extends Piece {
  seq: number;
}

export class FlattenedSource implements ByteSource {
  readonly path: string;
  readonly size: bigint;
  readonly recordCount: number;
  private readonly pieces: Piece[];

  constructor(private readonly stream: ByteSource) {
    this.path = stream.path;
    const head = stream.read(0n, FLAT_HEADER_SIZE, 'flattened header');
    if (!isFlattened(head)) throw new FormatError(stream.path, 0, 'not a makedumpfile flattened file (bad signature or type)');
    const records: RecordRef[] = [];
    let pos = BigInt(FLAT_HEADER_SIZE);
    let terminated = false;
    // Read record headers in batches would need payload sizes first; one 16-byte read per record
    // is fine: makedumpfile writes large records (page data is buffered before writing).
    while (pos + 16n <= stream.size) {
      const h = Buffer.from(stream.read(pos, 16, 'flattened record header'));
      const offset = h.readBigInt64BE(0);
      const size = h.readBigInt64BE(8);
      if (offset === -1n && size === -1n) {
        terminated = true;
        break;
      }
      if (offset < 0n || size <= 0n || size > 1n << 40n) {
        throw new FormatError(stream.path, pos, `bad flattened record header (offset ${offset}, size ${size})`);
      }
      if (pos + 16n + size > stream.size) {
        throw new FormatError(stream.path, pos, `flattened record of ${size} bytes extends past end of file (stream truncated?)`);
      }
      records.push({ start: offset, end: offset + size, streamPos: pos + 16n, seq: records.length });
      pos += 16n + size;
    }
    if (!terminated) {
      throw new FormatError(stream.path, pos, 'flattened stream has no end marker (truncated?)', 'The capture may have been interrupted; what was written can still be reassembled and inspected with care.');
    }
    this.recordCount = records.length;
    this.pieces = resolveOverlaps(records);
    const last = this.pieces[this.pieces.length - 1];
    this.size = last ? last.end : 0n;
  }

  read(offset: bigint, length: number, what = 'data'): Uint8Array {
    if (offset < 0n || offset + BigInt(length) > this.size) {
      throw new FormatError(this.path, offset, `${what} (${length} bytes) extends past the end of the flattened dump (size ${this.size})`);
    }
    const out = new Uint8Array(length);
    let done = 0;
    let i = this.findFirst(offset);
    while (done < length) {
      const a = offset + BigInt(done);
      const p = this.pieces[i];
      if (!p || a < p.start) {
        // Never-written gap (e.g. header padding): zeros, as after makedumpfile -R.
        const gapEnd = p ? p.start : this.size;
        const n = Number(gapEnd - a < BigInt(length - done) ? gapEnd - a : BigInt(length - done));
        done += n;
        continue;
      }
      if (a >= p.end) {
        i++;
        continue;
      }
      const n = Number(p.end - a < BigInt(length - done) ? p.end - a : BigInt(length - done));
      out.set(this.stream.read(p.streamPos + (a - p.start), n, what), done);
      done += n;
    }
    return out;
  }

  /** Index of the first piece whose end is after `offset`. */
  private findFirst(offset: bigint): number {
    let lo = 0;
    let hi = this.pieces.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.pieces[mid]!.end <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  close(): void {
    this.stream.close();
  }
}

/**
 * Turns records (in write order) into disjoint pieces sorted by target offset where the last
 * write wins, as `makedumpfile -R` replaying the writes would. Overlaps are rare (a header
 * rewritten after the fact), so records are sorted once and only overlapping groups are painted.
 */
function resolveOverlaps(records: RecordRef[]): Piece[] {
  const sorted = [...records].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.seq - b.seq));
  const out: Piece[] = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i + 1;
    let groupEnd = sorted[i]!.end;
    while (j < sorted.length && sorted[j]!.start < groupEnd) {
      if (sorted[j]!.end > groupEnd) groupEnd = sorted[j]!.end;
      j++;
    }
    if (j === i + 1) out.push({ start: sorted[i]!.start, end: sorted[i]!.end, streamPos: sorted[i]!.streamPos });
    else out.push(...paint(sorted.slice(i, j).sort((a, b) => a.seq - b.seq)));
    i = j;
  }
  return out;
}

function paint(group: RecordRef[]): Piece[] {
  let pieces: Piece[] = [];
  for (const r of group) {
    const next: Piece[] = [];
    for (const p of pieces) {
      if (p.end <= r.start || p.start >= r.end) next.push(p);
      else {
        if (p.start < r.start) next.push({ start: p.start, end: r.start, streamPos: p.streamPos });
        if (p.end > r.end) next.push({ start: r.end, end: p.end, streamPos: p.streamPos + (r.end - p.start) });
      }
    }
    next.push({ start: r.start, end: r.end, streamPos: r.streamPos });
    pieces = next.sort((a, b) => (a.start < b.start ? -1 : 1));
  }
  return pieces;
}
