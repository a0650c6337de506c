/**
 * The kernel log (printk buffer) read out of a crashed kernel's memory, and makedumpfile's
 * `--dump-dmesg` text rendering of it.
 *
 * Three generations of the buffer exist; which one a dump holds is decided exactly as
 * makedumpfile's dump_dmesg() does:
 * - SYMBOL(prb) present: the lockless ring buffer of Linux ≥ 5.10
 *   (kernel/printk/printk_ringbuffer.[ch]; makedumpfile printk.c dump_lockless_dmesg()).
 * - else SYMBOL(log_buf) + SYMBOL(log_buf_len), without SYMBOL(log_end): the variable-length
 *   `struct printk_log` records of Linux 3.5–5.9 (kernel/printk/printk.c before 5.10;
 *   makedumpfile.c dump_dmesg() / dump_log_entry() / log_from_ptr() / log_next()).
 * - else, with SYMBOL(log_end): the plain character ring of Linux < 3.5, returned raw.
 *
 * Every struct layout comes from VMCOREINFO SIZE()/OFFSET() lines. The only fields the kernel
 * does not export are `facility` and the `flags:5, level:3` byte; they sit right after
 * `text_len` (lockless) or `dict_len` (legacy) in every kernel that has these structs.
 *
 * Damaged records never throw: they are skipped and described in `warnings`. Only a missing
 * VMCOREINFO key (MissingInfoError), an unreadable or implausible ring header (FaultError,
 * ValidationError) stop the whole read.
 */
import type { VirtualMemory } from '../memory/address-space.js';
import { readU32, readU64 } from '../memory/address-space.js';
import type { Vmcoreinfo } from '../formats/vmcore/vmcoreinfo.js';
import { FaultError, ValidationError } from '../util/errors.js';
import { cString, hex } from '../util/bytes.js';

export interface PrintkRecord {
  /** Sequence number. Lockless: printk_info.seq. Legacy buffers store none: 0, 1, 2… in output order. */
  seq: bigint;
  tsNsec: bigint;
  level: number;
  facility: number;
  /** The kernel's internal record flags (LOG_NEWLINE 2, LOG_CONT 8, …). */
  flags: number;
  /** printk_info.caller_id (bit 31 set: CPU number, else thread id); undefined when not exported. */
  callerId: number | undefined;
  /** Raw text bytes, no terminating newline. */
  text: Uint8Array;
  subsystem?: string;
  device?: string;
  /**
   * Lockless only: the descriptor has no data block (FAILED_LPOS: the text was lost;
   * EMPTY_LINE_LPOS: an empty line). makedumpfile prints neither.
   */
  dataless?: boolean;
}

export type PrintkLogKind = 'lockless' | 'legacy' | 'plain';

export interface PrintkLog {
  records: PrintkRecord[];
  kind: PrintkLogKind;
  warnings: string[];
  /** kind 'plain' (Linux < 3.5): the buffer's bytes in log order, unformatted. */
  plainText?: Uint8Array;
}

export interface ReadPrintkOptions {
  /**
   * makedumpfile --partial-dmesg: only what was logged since the last `dmesg -c`
   * (lockless: records with seq ≥ clear_seq; legacy: from clear_idx).
   */
  partial?: boolean;
}

/** Dispatches on the VMCOREINFO symbols like makedumpfile.c dump_dmesg(). */
export function readPrintkLog(mem: VirtualMemory, info: Vmcoreinfo, opts: ReadPrintkOptions = {}): PrintkLog {
  const partial = opts.partial ?? false;
  if (info.symbol('prb') !== undefined) return readLockless(mem, info, partial);
  info.requireSymbol('log_buf');
  info.requireSymbol('log_buf_len');
  if (info.symbol('log_end') === undefined) return readLegacy(mem, info, partial);
  return readPlain(mem, info);
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

const MASK64 = (1n << 64n) - 1n;
/** kernel/printk/printk_ringbuffer.h: the top two bits of state_var are the state. */
const DESC_FLAGS_SHIFT = 62n;
const DESC_ID_MASK = (1n << DESC_FLAGS_SHIFT) - 1n;
const DESC_COMMITTED = 1n;
const DESC_FINALIZED = 2n;
/** Limits on ring sizes read from the dump (the kernel caps log_buf_len at 2 GiB). */
const MAX_RING_BYTES = 2 ** 31;

/**
 * A bulk read that survives unreadable pages: they read as zeros and are remembered, so that
 * records touching them can be skipped with a warning. One `mem.read` in the normal case.
 */
class Bulk {
  private readonly holes: Array<[number, number]> = [];

  private constructor(
    readonly bytes: Uint8Array,
    readonly view: DataView,
  ) {}

  static read(mem: VirtualMemory, addr: bigint, length: number, what: string, pageSize: number, warnings: string[]): Bulk {
    try {
      const b = mem.read(addr, length);
      return new Bulk(b, new DataView(b.buffer, b.byteOffset, b.byteLength));
    } catch (e) {
      if (!(e instanceof FaultError)) throw e;
    }
    const bytes = new Uint8Array(length);
    const bulk = new Bulk(bytes, new DataView(bytes.buffer));
    let firstError: FaultError | undefined;
    let bad = 0;
    const ps = BigInt(pageSize);
    for (let done = 0; done < length; ) {
      const a = addr + BigInt(done);
      const n = Math.min(length - done, pageSize - Number(a % ps));
      try {
        bytes.set(mem.read(a, n), done);
      } catch (e) {
        if (!(e instanceof FaultError)) throw e;
        firstError ??= e;
        bad += n;
        const last = bulk.holes[bulk.holes.length - 1];
        if (last && last[1] === done) last[1] = done + n;
        else bulk.holes.push([done, done + n]);
      }
      done += n;
    }
    if (firstError) {
      if (bad === length) throw firstError;
      warnings.push(`${what} at ${hex(addr)}: ${bad} of ${length} bytes unreadable (${firstError.message}); records there are skipped`);
    }
    return bulk;
  }

  /** True when [off, off+len) is inside the buffer and was read from the dump. */
  ok(off: number, len: number): boolean {
    if (off < 0 || len < 0 || off + len > this.bytes.length) return false;
    for (const [s, e] of this.holes) if (off < e && off + len > s) return false;
    return true;
  }
}

/** Checks a member lies inside its struct, so a bad VMCOREINFO cannot make us read past it. */
function member(info: Vmcoreinfo, type: string, name: string, width: number, structSize: number): number {
  const off = info.requireOffset(type, name);
  if (off < 0 || off + width > structSize) {
    throw new ValidationError(`VMCOREINFO OFFSET(${type}.${name})=${off} does not fit a ${width}-byte field in SIZE ${structSize}`);
  }
  return off;
}

function optMember(info: Vmcoreinfo, type: string, name: string, width: number, structSize: number): number | undefined {
  return info.offset(type, name) === undefined ? undefined : member(info, type, name, width, structSize);
}

function positiveSize(info: Vmcoreinfo, type: string): number {
  const v = info.requireSize(type);
  if (!(v > 0)) throw new ValidationError(`VMCOREINFO SIZE(${type})=${v} is not a valid structure size`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Lockless ring buffer (Linux ≥ 5.10)

interface LocklessLayout {
  rbSize: number;
  countBits: number;
  descs: number;
  infos: number;
  headId: number;
  tailId: number;
  sizeBits: number;
  data: number;
  headLpos: number | undefined;
  tailLpos: number | undefined;
  descSize: number;
  stateVar: number;
  lposBegin: number;
  lposNext: number;
  infoSize: number;
  seq: number;
  tsNsec: number;
  textLen: number;
  facility: number;
  callerId: number | undefined;
  subsystem: { off: number; len: number } | undefined;
  device: { off: number; len: number } | undefined;
}

/** All offsets are checked against their struct sizes before anything is read. */
function locklessLayout(info: Vmcoreinfo): LocklessLayout {
  const rbSize = positiveSize(info, 'printk_ringbuffer');
  const descRingSize = info.size('prb_desc_ring');
  const dataRingSize = info.size('prb_data_ring');
  const descRing = member(info, 'printk_ringbuffer', 'desc_ring', descRingSize ?? 1, rbSize);
  const textRing = member(info, 'printk_ringbuffer', 'text_data_ring', dataRingSize ?? 1, rbSize);
  const counter = info.requireOffset('atomic_long_t', 'counter');
  const atomicSize = info.size('atomic_long_t') ?? counter + 8;
  if (counter < 0 || counter + 8 > atomicSize) throw new ValidationError(`VMCOREINFO OFFSET(atomic_long_t.counter)=${counter} does not fit SIZE ${atomicSize}`);
  const dr = (name: string, width: number): number => descRing + member(info, 'prb_desc_ring', name, width, descRingSize ?? rbSize - descRing);
  const tr = (name: string, width: number): number => textRing + member(info, 'prb_data_ring', name, width, dataRingSize ?? rbSize - textRing);
  const optTr = (name: string): number | undefined =>
    info.offset('prb_data_ring', name) === undefined ? undefined : tr(name, atomicSize) + counter;
  const ring = {
    rbSize,
    countBits: dr('count_bits', 4),
    descs: dr('descs', 8),
    infos: dr('infos', 8),
    headId: dr('head_id', atomicSize) + counter,
    tailId: dr('tail_id', atomicSize) + counter,
    sizeBits: tr('size_bits', 4),
    data: tr('data', 8),
    headLpos: optTr('head_lpos'),
    tailLpos: optTr('tail_lpos'),
  };

  const descSize = positiveSize(info, 'prb_desc');
  const lposSize = info.size('prb_data_blk_lpos') ?? 16;
  const stateVar = member(info, 'prb_desc', 'state_var', atomicSize, descSize) + counter;
  const textBlk = member(info, 'prb_desc', 'text_blk_lpos', lposSize, descSize);
  const lposBegin = textBlk + member(info, 'prb_data_blk_lpos', 'begin', 8, lposSize);
  const lposNext = textBlk + member(info, 'prb_data_blk_lpos', 'next', 8, lposSize);

  const infoSize = positiveSize(info, 'printk_info');
  const textLen = member(info, 'printk_info', 'text_len', 2, infoSize);
  // Not exported: `u8 facility; u8 flags:5, level:3;` follow text_len (and dict_len, in the
  // development kernels that still had it) in struct printk_info.
  const facility = (optMember(info, 'printk_info', 'dict_len', 2, infoSize) ?? textLen) + 2;
  if (facility + 2 > infoSize) throw new ValidationError(`printk_info has no room for facility/level after text_len (SIZE ${infoSize})`);
  const devInfo = optMember(info, 'printk_info', 'dev_info', 1, infoSize);
  const devField = (name: 'subsystem' | 'device'): { off: number; len: number } | undefined => {
    if (devInfo === undefined) return undefined;
    const off = info.offset('dev_printk_info', name);
    const len = info.length(`printk_info_${name}`);
    if (off === undefined || len === undefined || !(len > 0) || off < 0 || devInfo + off + len > infoSize) return undefined;
    return { off: devInfo + off, len };
  };
  return {
    ...ring,
    descSize,
    stateVar,
    lposBegin,
    lposNext,
    infoSize,
    seq: member(info, 'printk_info', 'seq', 8, infoSize),
    tsNsec: member(info, 'printk_info', 'ts_nsec', 8, infoSize),
    textLen,
    facility,
    callerId: optMember(info, 'printk_info', 'caller_id', 4, infoSize),
    subsystem: devField('subsystem'),
    device: devField('device'),
  };
}

/**
 * Follows makedumpfile printk.c dump_lockless_dmesg()/dump_record(): bulk-read the descriptor,
 * info and text arrays, then walk descriptor ids from tail_id to head_id (inclusive), keeping
 * committed and finalized descriptors whose state_var id matches. Block decoding follows the
 * kernel's get_data() (printk_ringbuffer.c) so that malformed lpos values are recognised.
 */
function readLockless(mem: VirtualMemory, info: Vmcoreinfo, partial: boolean): PrintkLog {
  const L = locklessLayout(info);
  const warnings: string[] = [];
  const records: PrintkRecord[] = [];
  const pageSize = info.pageSize ?? 4096;

  const rbAddr = readU64(mem, info.requireSymbol('prb'));
  const rb = mem.read(rbAddr, L.rbSize);
  const rv = new DataView(rb.buffer, rb.byteOffset, rb.byteLength);
  const countBits = rv.getUint32(L.countBits, true);
  const sizeBits = rv.getUint32(L.sizeBits, true);
  if (countBits > 30 || 2 ** countBits * Math.max(L.descSize, L.infoSize) > MAX_RING_BYTES) {
    throw new ValidationError(`printk ring buffer at ${hex(rbAddr)}: desc_ring.count_bits=${countBits} is implausible`);
  }
  if (sizeBits < 3 || sizeBits > 31) {
    throw new ValidationError(`printk ring buffer at ${hex(rbAddr)}: text_data_ring.size_bits=${sizeBits} is implausible`);
  }
  const count = 2 ** countBits;
  const countB = BigInt(count);
  const size = 2 ** sizeBits;
  const sizeB = BigInt(size);
  const sb = BigInt(sizeBits);
  const descsAddr = rv.getBigUint64(L.descs, true);
  const infosAddr = rv.getBigUint64(L.infos, true);
  const dataAddr = rv.getBigUint64(L.data, true);
  const headId = rv.getBigUint64(L.headId, true) & DESC_ID_MASK;
  let tailId = rv.getBigUint64(L.tailId, true) & DESC_ID_MASK;
  const headLpos = L.headLpos === undefined ? undefined : rv.getBigUint64(L.headLpos, true);
  const tailLpos = L.tailLpos === undefined ? undefined : rv.getBigUint64(L.tailLpos, true);

  const descs = Bulk.read(mem, descsAddr, count * L.descSize, 'printk desc_ring.descs', pageSize, warnings);
  const infos = Bulk.read(mem, infosAddr, count * L.infoSize, 'printk desc_ring.infos', pageSize, warnings);
  const data = Bulk.read(mem, dataAddr, size, 'printk text_data_ring.data', pageSize, warnings);
  const dv = descs.view;
  const iv = infos.view;
  const tv = data.view;

  let clearSeq: bigint | undefined;
  if (partial) clearSeq = readClearSeq(mem, info, warnings);

  // A sound ring never holds more than `count` ids between tail and head; ids older than
  // head - count + 1 can no longer match their slot's state_var, so this bound loses nothing.
  let n = ((headId - tailId) & DESC_ID_MASK) + 1n;
  if (n > countB) {
    warnings.push(`printk desc_ring: tail_id ${hex(tailId)} is ${n - 1n} ids behind head_id ${hex(headId)} (ring holds ${count}); reading the last ${count} only`);
    n = countB;
    tailId = (headId - countB + 1n) & DESC_ID_MASK;
  }

  const dataSpan = headLpos !== undefined && tailLpos !== undefined ? (headLpos - tailLpos) & MASK64 : undefined;
  const inDataRing = (lpos: bigint): boolean => dataSpan === undefined || ((lpos - tailLpos!) & MASK64) <= dataSpan;

  for (let i = 0n, id = tailId; i < n; i++, id = (id + 1n) & DESC_ID_MASK) {
    const idx = Number(id & (countB - 1n));
    const d = idx * L.descSize;
    if (!descs.ok(d, L.descSize)) {
      warnings.push(`printk record id ${hex(id)}: descriptor ${idx} unreadable, skipped`);
      continue;
    }
    const sv = dv.getBigUint64(d + L.stateVar, true);
    if ((sv & DESC_ID_MASK) !== id) continue; // desc_miss: slot reused or not yet written
    const state = sv >> DESC_FLAGS_SHIFT;
    if (state !== DESC_COMMITTED && state !== DESC_FINALIZED) continue; // reserved / reusable
    const f = idx * L.infoSize;
    if (!infos.ok(f, L.infoSize)) {
      warnings.push(`printk record id ${hex(id)}: info ${idx} unreadable, skipped`);
      continue;
    }
    const seq = iv.getBigUint64(f + L.seq, true);
    if (clearSeq !== undefined && seq < clearSeq) continue;
    const levelByte = iv.getUint8(f + L.facility + 1);
    const rec: PrintkRecord = {
      seq,
      tsNsec: iv.getBigUint64(f + L.tsNsec, true),
      level: levelByte >> 5,
      facility: iv.getUint8(f + L.facility),
      flags: levelByte & 0x1f,
      callerId: L.callerId === undefined ? undefined : iv.getUint32(f + L.callerId, true),
      text: new Uint8Array(0),
    };
    if (L.subsystem) {
      const s = cString(infos.bytes, f + L.subsystem.off, L.subsystem.len);
      if (s) rec.subsystem = s;
    }
    if (L.device) {
      const s = cString(infos.bytes, f + L.device.off, L.device.len);
      if (s) rec.device = s;
    }

    const begin = dv.getBigUint64(d + L.lposBegin, true);
    const next = dv.getBigUint64(d + L.lposNext, true);
    const where = (): string => `printk record id ${hex(id)} (seq ${seq}, desc ${idx}, lpos ${hex(begin)}..${hex(next)})`;
    // Data-less: bit 0 set in both (FAILED_LPOS 0x1, EMPTY_LINE_LPOS/NO_LPOS 0x3).
    if ((begin & 1n) === 1n && (next & 1n) === 1n) {
      rec.dataless = true;
      records.push(rec);
      continue;
    }
    if ((begin & 7n) !== 0n || (next & 7n) !== 0n) {
      warnings.push(`${where()}: data block position not 8-byte aligned, skipped`);
      continue;
    }
    if (!inDataRing(begin) || !inDataRing(next)) {
      warnings.push(`${where()}: data block outside the text ring's ${hex(tailLpos!)}..${hex(headLpos!)}, skipped`);
      continue;
    }
    // A block wraps when its last byte (next - 1) lies in a later wrap than its first. Written
    // this way it also accepts blocks ending exactly at the ring's end (allowed since 2025).
    const beginWrap = begin >> sb;
    const lastWrap = ((next - 1n) & MASK64) >> sb;
    let blockOff: number;
    let blockSize: bigint;
    if (beginWrap === lastWrap && begin !== next) {
      // (Subtracting modulo 2^64: a block may end exactly where lpos overflows to 0.)
      blockOff = Number(begin & (sizeB - 1n));
      blockSize = (next - begin) & MASK64;
    } else if (((beginWrap + 1n) & (MASK64 >> sb)) === lastWrap) {
      // Wrapping block: its data is stored at the start of the ring.
      blockOff = 0;
      blockSize = ((next - 1n) & (sizeB - 1n)) + 1n;
    } else {
      warnings.push(`${where()}: invalid data block (begin and next more than one wrap apart), skipped`);
      continue;
    }
    if (blockSize < 8n || BigInt(blockOff) + blockSize > sizeB) {
      warnings.push(`${where()}: data block of ${blockSize} bytes does not fit the ${size}-byte ring, skipped`);
      continue;
    }
    const room = Number(blockSize) - 8;
    if (!data.ok(blockOff, Number(blockSize))) {
      warnings.push(`${where()}: text data unreadable, skipped`);
      continue;
    }
    const blkId = tv.getBigUint64(blockOff, true);
    if (blkId !== id) {
      warnings.push(`${where()}: data block holds id ${hex(blkId)}, not this record's, skipped`);
      continue;
    }
    let textLen = iv.getUint16(f + L.textLen, true);
    if (textLen > room) {
      // makedumpfile dump_record() truncates to the block ("handle truncated messages").
      warnings.push(`${where()}: text_len ${textLen} exceeds its ${room}-byte data block, truncated`);
      textLen = room;
    }
    rec.text = data.bytes.slice(blockOff + 8, blockOff + 8 + textLen);
    records.push(rec);
  }
  return { records, kind: 'lockless', warnings };
}

/**
 * clear_seq is a `struct latched_seq` since 5.13 (kernel/printk/printk.c latched_seq_read_nolock:
 * val[seqcount & 1]); a plain u64 before. makedumpfile printk.c reads it the same way.
 */
function readClearSeq(mem: VirtualMemory, info: Vmcoreinfo, warnings: string[]): bigint | undefined {
  const sym = info.symbol('clear_seq');
  if (sym === undefined) {
    warnings.push('VMCOREINFO has no SYMBOL(clear_seq): partial mode shows the whole log');
    return undefined;
  }
  const val = info.size('latched_seq') === undefined ? undefined : info.requireOffset('latched_seq', 'val');
  try {
    if (val === undefined) return readU64(mem, sym);
    const sequence = readU32(mem, sym);
    return readU64(mem, sym + BigInt(val) + BigInt(sequence & 1) * 8n);
  } catch (e) {
    if (!(e instanceof FaultError)) throw e;
    warnings.push(`clear_seq unreadable (${e.message}): partial mode shows the whole log`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Legacy variable-length records (Linux 3.5 – 5.9)

/**
 * makedumpfile.c dump_dmesg(): walk from log_first_idx (clear_idx for --partial-dmesg) to
 * log_next_idx; a record whose `len` is 0 is the end-of-buffer marker and means "the record is
 * at offset 0" (log_from_ptr/log_next). A revisited index (makedumpfile's cycle detector) or an
 * index outside the buffer ends the walk with a warning, keeping what was read before it.
 */
function readLegacy(mem: VirtualMemory, info: Vmcoreinfo, partial: boolean): PrintkLog {
  const warnings: string[] = [];
  const records: PrintkRecord[] = [];
  const firstSym = partial && info.symbol('clear_idx') !== undefined ? 'clear_idx' : 'log_first_idx';
  if (partial && firstSym === 'log_first_idx') warnings.push('VMCOREINFO has no SYMBOL(clear_idx): partial mode shows the whole log');
  const firstAddr = info.requireSymbol(firstSym);
  const nextAddr = info.requireSymbol('log_next_idx');
  const hdr = positiveSize(info, 'printk_log');
  const offTs = member(info, 'printk_log', 'ts_nsec', 8, hdr);
  const offLen = member(info, 'printk_log', 'len', 2, hdr);
  const offTextLen = member(info, 'printk_log', 'text_len', 2, hdr);
  const offDictLen = optMember(info, 'printk_log', 'dict_len', 2, hdr);
  // Not exported: `u8 facility; u8 flags:5, level:3;` follow dict_len in struct printk_log.
  const offFacility = (offDictLen ?? offTextLen + 2) + 2;
  if (offFacility + 2 > hdr) throw new ValidationError(`printk_log has no room for facility/level (SIZE ${hdr})`);
  const offCaller = optMember(info, 'printk_log', 'caller_id', 4, hdr);

  const logBuf = readU64(mem, info.requireSymbol('log_buf'));
  const len = readU32(mem, info.requireSymbol('log_buf_len'));
  if (len === 0 || len > MAX_RING_BYTES) throw new ValidationError(`log_buf_len=${len} is implausible`);
  const first = readU32(mem, firstAddr);
  const nextIdx = readU32(mem, nextAddr);
  const buf = Bulk.read(mem, logBuf, len, 'printk log_buf', info.pageSize ?? 4096, warnings);
  const v = buf.view;

  const seen = new Set<number>();
  let seq = 0n;
  for (let ptr = first; ptr !== nextIdx; ) {
    if (ptr > len - hdr) {
      warnings.push(`printk log_buf: record index ${hex(ptr)} outside the ${len}-byte buffer; log ends here`);
      break;
    }
    if (seen.has(ptr)) {
      warnings.push(`printk log_buf: record index ${hex(ptr)} visited twice (corrupted buffer); log ends here`);
      break;
    }
    seen.add(ptr);
    if (!buf.ok(ptr, hdr)) {
      warnings.push(`printk log_buf: record header at ${hex(ptr)} unreadable; log ends here`);
      break;
    }
    const msgLen = v.getUint16(ptr + offLen, true);
    const rec = msgLen === 0 ? 0 : ptr;
    const recLen = v.getUint16(rec + offLen, true);
    const textLen = v.getUint16(rec + offTextLen, true);
    const dictLen = offDictLen === undefined ? 0 : v.getUint16(rec + offDictLen, true);
    if (rec + hdr + textLen + dictLen > len || !buf.ok(rec, hdr + textLen + dictLen)) {
      warnings.push(`printk log_buf: record at ${hex(rec)} (text_len ${textLen}, dict_len ${dictLen}) overruns the buffer or is unreadable, skipped`);
    } else {
      const lv = v.getUint8(rec + offFacility + 1);
      const r: PrintkRecord = {
        seq: seq++,
        tsNsec: v.getBigUint64(rec + offTs, true),
        level: lv >> 5,
        facility: v.getUint8(rec + offFacility),
        flags: lv & 0x1f,
        callerId: offCaller === undefined ? undefined : v.getUint32(rec + offCaller, true),
        text: buf.bytes.slice(rec + hdr, rec + hdr + textLen),
      };
      if (dictLen > 0) parseDict(buf.bytes.subarray(rec + hdr + textLen, rec + hdr + textLen + dictLen), r);
      records.push(r);
    }
    ptr = msgLen === 0 ? recLen : ptr + msgLen;
  }
  return { records, kind: 'legacy', warnings };
}

const latin1 = new TextDecoder('latin1');

/** Legacy dictionaries are NUL-separated KEY=value pairs; dev_printk_info replaced them in 5.10. */
function parseDict(dict: Uint8Array, r: PrintkRecord): void {
  for (const entry of latin1.decode(dict).split('\0')) {
    if (entry.startsWith('SUBSYSTEM=')) r.subsystem = entry.slice(10);
    else if (entry.startsWith('DEVICE=')) r.device = entry.slice(7);
  }
}

// ---------------------------------------------------------------------------------------------
// Plain character buffer (Linux < 3.5)

/**
 * makedumpfile.c dump_dmesg() for kernels before 3.5: log_end is an `unsigned long` up to
 * 2.6.24 and an `unsigned` from 2.6.25. Before the buffer fills, [0, log_end) is the log;
 * after, the oldest byte is at log_end & (len - 1).
 */
function readPlain(mem: VirtualMemory, info: Vmcoreinfo): PrintkLog {
  const warnings: string[] = [];
  const logBuf = readU64(mem, info.requireSymbol('log_buf'));
  const len = readU32(mem, info.requireSymbol('log_buf_len'));
  if (len === 0 || len > MAX_RING_BYTES) throw new ValidationError(`log_buf_len=${len} is implausible`);
  const endAddr = info.requireSymbol('log_end');
  const logEnd = before2625(info.osrelease) ? readU64(mem, endAddr) : BigInt(readU32(mem, endAddr));
  const buf = Bulk.read(mem, logBuf, len, 'printk log_buf', info.pageSize ?? 4096, warnings).bytes;
  let plainText: Uint8Array;
  if (logEnd < BigInt(len)) {
    plainText = buf.slice(0, Number(logEnd));
  } else {
    const idx = Number(logEnd & BigInt(len - 1));
    plainText = new Uint8Array(len);
    plainText.set(buf.subarray(idx), 0);
    plainText.set(buf.subarray(0, idx), len - idx);
  }
  return { records: [], kind: 'plain', warnings, plainText };
}

function before2625(osrelease: string | undefined): boolean {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(osrelease ?? '');
  if (!m) return false;
  const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  return a < 2 || (a === 2 && (b < 6 || (b === 6 && c < 25)));
}

// ---------------------------------------------------------------------------------------------
// makedumpfile --dump-dmesg text

/**
 * Escapes per makedumpfile printk.c dump_record() / makedumpfile.c dump_log_entry(): bytes that
 * are isprint() or isspace() in the C locale are copied, everything else is printed with
 * `\x%02x` of a (signed) char, so bytes ≥ 0x80 become `\xffffffNN`. `\n` is handled apart.
 */
const ESCAPES: (Uint8Array | undefined)[] = Array.from({ length: 256 }, (_, b) => {
  if ((b >= 0x20 && b <= 0x7e) || (b >= 0x09 && b <= 0x0d)) return undefined;
  const h = b.toString(16).padStart(2, '0');
  return Buffer.from(b >= 0x80 ? `\\xffffff${h}` : `\\x${h}`, 'latin1');
});

class ByteSink {
  private buf: Uint8Array;
  length = 0;
  constructor(initial: number) {
    this.buf = new Uint8Array(Math.max(64, initial));
  }
  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  byte(v: number): void {
    this.room(1);
    this.buf[this.length++] = v;
  }
  ascii(s: string): void {
    this.room(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.length++] = s.charCodeAt(i);
  }
  spaces(n: number): void {
    this.room(n);
    this.buf.fill(0x20, this.length, this.length + n);
    this.length += n;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/**
 * The exact bytes `makedumpfile --dump-dmesg` writes. `callerId: false` is makedumpfile ≤ 1.7.4
 * (e.g. Debian's 1.7.2); `callerId: true` adds 1.7.5+'s `[%8s] ` caller column (`T<pid>` or
 * `C<cpu>`) whenever the dump exports caller_id. Data-less records are not printed (dump_record
 * skips them); a 'plain' log is its raw text.
 */
export function formatDmesgMakedumpfile(log: Pick<PrintkLog, 'records' | 'kind' | 'plainText'>, opts: { callerId: boolean }): Uint8Array {
  if (log.kind === 'plain') return Uint8Array.from(log.plainText ?? new Uint8Array(0));
  let estimate = 0;
  for (const r of log.records) estimate += r.text.length + 32;
  const out = new ByteSink(estimate + (estimate >> 3));
  for (const r of log.records) {
    if (r.dataless) continue;
    const start = out.length;
    const secs = r.tsNsec / 1_000_000_000n;
    const usec = (r.tsNsec % 1_000_000_000n) / 1000n;
    out.ascii(`[${secs.toString().padStart(5, ' ')}.${usec.toString().padStart(6, '0')}] `);
    if (opts.callerId && r.callerId !== undefined) {
      const cid = r.callerId >>> 0;
      const tag = (cid & 0x80000000 ? 'C' : 'T') + (cid & 0x7fffffff).toString();
      out.ascii(`[${tag.padStart(8, ' ')}] `);
    }
    const indent = out.length - start;
    const text = r.text;
    for (let i = 0; i < text.length; i++) {
      const b = text[i]!;
      if (b === 0x0a) {
        out.byte(0x0a);
        out.spaces(indent);
        continue;
      }
      const esc = ESCAPES[b];
      if (esc === undefined) out.byte(b);
      else out.bytes(esc);
    }
    out.byte(0x0a);
  }
  return out.result();
}
