/**
 * Little-endian field access over byte arrays. All 64-bit values come back as bigint so that
 * addresses above 2^53 survive.
 */

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function u8(b: Uint8Array, off: number): number {
  const v = b[off];
  if (v === undefined) throw new RangeError(`offset ${off} outside ${b.length}-byte buffer`);
  return v;
}
export function u16(b: Uint8Array, off: number): number {
  return view(b).getUint16(off, true);
}
export function u32(b: Uint8Array, off: number): number {
  return view(b).getUint32(off, true);
}
export function i32(b: Uint8Array, off: number): number {
  return view(b).getInt32(off, true);
}
export function u64(b: Uint8Array, off: number): bigint {
  return view(b).getBigUint64(off, true);
}
export function i64(b: Uint8Array, off: number): bigint {
  return view(b).getBigInt64(off, true);
}

/** Reads a NUL-terminated (or field-bounded) string of at most `max` bytes as latin1-safe text. */
export function cString(b: Uint8Array, off: number, max: number): string {
  const end = Math.min(b.length, off + max);
  let i = off;
  while (i < end && b[i] !== 0) i++;
  return Buffer.from(b.buffer, b.byteOffset + off, i - off).toString('utf8');
}

/** Converts a bigint known to be small (file offsets, lengths) to number, refusing silent loss. */
export function toSafeNumber(v: bigint, what: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what} out of range: ${v}`);
  return Number(v);
}

export function hex(v: bigint | number, width = 0): string {
  return '0x' + v.toString(16).padStart(width, '0');
}

export function alignUp(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

export function popcount8(v: number): number {
  v = v - ((v >> 1) & 0x55);
  v = (v & 0x33) + ((v >> 2) & 0x33);
  return (v + (v >> 4)) & 0x0f;
}
