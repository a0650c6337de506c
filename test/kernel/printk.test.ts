import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDmesgMakedumpfile, readPrintkLog, type PrintkLog } from '../../src/kernel/printk.js';
import { FakeVirtualMemory } from '../helpers/fake-virtual-memory.js';
import { Vmcoreinfo } from '../../src/formats/vmcore/vmcoreinfo.js';
import { MissingInfoError } from '../../src/util/errors.js';

const text = (s: string | Uint8Array): Uint8Array => (typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
const str = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const fmt = (log: PrintkLog, callerId: boolean): string => str(formatDmesgMakedumpfile(log, { callerId }));

// ---------------------------------------------------------------------------------------------
// Synthetic lockless ring buffer (layout of Linux 6.1 on x86_64, as its VMCOREINFO says).

const U64 = (1n << 64n) - 1n;
const ID_MASK = (1n << 62n) - 1n;
const PRB_VAR = 0xffffffff82000000n;
const RB = 0xffffffff82001000n;
const CLEAR_SEQ = 0xffffffff82002000n;
const DESCS = 0xffff888001000000n;
const INFOS = 0xffff888001100000n;
const DATA = 0xffff888001200000n;

const LOCKLESS_INFO = [
  'OSRELEASE=6.1.0-test',
  'PAGESIZE=4096',
  `SYMBOL(prb)=${PRB_VAR.toString(16)}`,
  `SYMBOL(clear_seq)=${CLEAR_SEQ.toString(16)}`,
  'SIZE(printk_ringbuffer)=88',
  'OFFSET(printk_ringbuffer.desc_ring)=0',
  'OFFSET(printk_ringbuffer.text_data_ring)=48',
  'OFFSET(printk_ringbuffer.fail)=80',
  'SIZE(prb_desc_ring)=48',
  'OFFSET(prb_desc_ring.count_bits)=0',
  'OFFSET(prb_desc_ring.descs)=8',
  'OFFSET(prb_desc_ring.infos)=16',
  'OFFSET(prb_desc_ring.head_id)=24',
  'OFFSET(prb_desc_ring.tail_id)=32',
  'SIZE(prb_desc)=24',
  'OFFSET(prb_desc.state_var)=0',
  'OFFSET(prb_desc.text_blk_lpos)=8',
  'SIZE(prb_data_blk_lpos)=16',
  'OFFSET(prb_data_blk_lpos.begin)=0',
  'OFFSET(prb_data_blk_lpos.next)=8',
  'SIZE(printk_info)=88',
  'OFFSET(printk_info.seq)=0',
  'OFFSET(printk_info.ts_nsec)=8',
  'OFFSET(printk_info.text_len)=16',
  'OFFSET(printk_info.caller_id)=20',
  'OFFSET(printk_info.dev_info)=24',
  'SIZE(dev_printk_info)=64',
  'OFFSET(dev_printk_info.subsystem)=0',
  'LENGTH(printk_info_subsystem)=16',
  'OFFSET(dev_printk_info.device)=16',
  'LENGTH(printk_info_device)=48',
  'SIZE(prb_data_ring)=32',
  'OFFSET(prb_data_ring.size_bits)=0',
  'OFFSET(prb_data_ring.data)=8',
  'OFFSET(prb_data_ring.head_lpos)=16',
  'OFFSET(prb_data_ring.tail_lpos)=24',
  'SIZE(atomic_long_t)=8',
  'OFFSET(atomic_long_t.counter)=0',
  'SIZE(latched_seq)=24',
  'OFFSET(latched_seq.val)=8',
  'CRASHTIME=1764057877',
  '',
].join('\n');

interface AddOpts {
  ts?: bigint;
  caller?: number;
  level?: number;
  facility?: number;
  flags?: number;
  dataless?: 'failed' | 'empty';
  subsystem?: string;
  device?: string;
  state?: bigint;
}

interface Rec {
  id: bigint;
  seq: bigint;
  idx: number;
  begin: bigint;
  next: bigint;
}

/**
 * Writes records the way kernel/printk/printk_ringbuffer.c does: ids start at DESC0_ID + 1 (so
 * they cross 2^62 after `count` records), lpos starts at BLK0_LPOS = -size (so it crosses 2^64
 * on the first wrap), a block that does not fit before the end of the ring is stored at offset
 * 0 with its id also written at `begin`, and the oldest records are made reusable when the
 * descriptor ring or the data ring is full. `exactFit` selects the 2025 rule that lets a
 * block end exactly at the end of the ring.
 */
class Ring {
  readonly count: number;
  readonly size: number;
  readonly descs: Uint8Array;
  readonly infos: Uint8Array;
  readonly data: Uint8Array;
  headId: bigint;
  tailId: bigint;
  headLpos: bigint;
  tailLpos: bigint;
  private seq = 0n;
  readonly live: Rec[] = [];
  readonly all = new Map<bigint, Rec>();

  constructor(
    readonly countBits: number,
    readonly sizeBits: number,
    readonly exactFit = false,
  ) {
    this.count = 2 ** countBits;
    this.size = 2 ** sizeBits;
    this.descs = new Uint8Array(this.count * 24);
    this.infos = new Uint8Array(this.count * 88);
    this.data = new Uint8Array(this.size);
    this.headLpos = this.tailLpos = BigInt.asUintN(64, -BigInt(this.size));
    this.headId = this.tailId = BigInt(-(this.count + 1)) & ID_MASK;
    // The bootstrap descriptor (printk_ringbuffer.h _DEFINE_PRINTKRB): reusable, data-less.
    this.setDesc(this.count - 1, (3n << 62n) | this.headId, 1n, 1n);
  }

  private wrap(lpos: bigint): bigint {
    return lpos >> BigInt(this.sizeBits);
  }

  setDesc(idx: number, sv: bigint, begin: bigint, next: bigint): void {
    const v = new DataView(this.descs.buffer, idx * 24, 24);
    v.setBigUint64(0, sv, true);
    v.setBigUint64(8, BigInt.asUintN(64, begin), true);
    v.setBigUint64(16, BigInt.asUintN(64, next), true);
  }

  private dropOldest(): void {
    const r = this.live.shift()!;
    const v = new DataView(this.descs.buffer, r.idx * 24, 24);
    v.setBigUint64(0, (3n << 62n) | r.id, true); // desc_reusable
    const oldestWithData = this.live.find((x) => (x.begin & 1n) === 0n);
    if (oldestWithData) this.tailLpos = oldestWithData.begin;
  }

  add(msg: string | Uint8Array, o: AddOpts = {}): Rec {
    const bytes = text(msg);
    const id = (this.headId + 1n) & ID_MASK;
    const idx = Number(id % BigInt(this.count));
    if (this.live.length === this.count) this.dropOldest();
    let begin: bigint;
    let next: bigint;
    if (o.dataless) {
      begin = next = o.dataless === 'failed' ? 1n : 3n;
    } else {
      const blk = BigInt((8 + bytes.length + 7) & ~7);
      begin = this.headLpos;
      next = (begin + blk) & U64;
      const last = this.exactFit ? (next - 1n) & U64 : next;
      let at = Number(begin % BigInt(this.size));
      if (this.wrap(begin) !== this.wrap(last)) {
        next = ((this.wrap(next) << BigInt(this.sizeBits)) + blk) & U64;
        new DataView(this.data.buffer).setBigUint64(at, id, true);
        at = 0;
      }
      // Push the data tail past whatever the new block overwrites.
      while (((next - this.tailLpos) & U64) > BigInt(this.size)) {
        if (this.live.length === 0) {
          this.tailLpos = begin;
          break;
        }
        this.dropOldest();
        if (this.live.every((x) => (x.begin & 1n) === 1n)) this.tailLpos = begin;
      }
      if (this.live.length === 0) this.tailLpos = begin;
      new DataView(this.data.buffer).setBigUint64(at, id, true);
      this.data.set(bytes, at + 8);
      this.headLpos = next;
    }
    const seq = this.seq++;
    this.setDesc(idx, ((o.state ?? 2n) << 62n) | id, begin, next);
    const iv = new DataView(this.infos.buffer, idx * 88, 88);
    this.infos.fill(0, idx * 88, idx * 88 + 88);
    iv.setBigUint64(0, seq, true);
    iv.setBigUint64(8, o.ts ?? seq * 1_000_000_000n, true);
    iv.setUint16(16, bytes.length, true);
    iv.setUint8(18, o.facility ?? 0);
    iv.setUint8(19, ((o.level ?? 6) << 5) | (o.flags ?? 2));
    iv.setUint32(20, o.caller ?? 1, true);
    if (o.subsystem) this.infos.set(Buffer.from(o.subsystem), idx * 88 + 24);
    if (o.device) this.infos.set(Buffer.from(o.device), idx * 88 + 24 + 16);
    const rec = { id, seq, idx, begin, next };
    this.live.push(rec);
    this.all.set(seq, rec);
    this.headId = id;
    this.tailId = this.live[0]!.id;
    return rec;
  }

  rec(seq: number): Rec {
    return this.all.get(BigInt(seq))!;
  }

  state(seq: number, state: bigint): void {
    const r = this.rec(seq);
    new DataView(this.descs.buffer, r.idx * 24, 8).setBigUint64(0, (state << 62n) | r.id, true);
  }

  install(mem = new FakeVirtualMemory()): FakeVirtualMemory {
    const rb = new DataView(new ArrayBuffer(88));
    rb.setUint32(0, this.countBits, true);
    rb.setBigUint64(8, DESCS, true);
    rb.setBigUint64(16, INFOS, true);
    rb.setBigUint64(24, this.headId, true);
    rb.setBigUint64(32, this.tailId, true);
    rb.setUint32(48, this.sizeBits, true);
    rb.setBigUint64(56, DATA, true);
    rb.setBigUint64(64, this.headLpos, true);
    rb.setBigUint64(72, this.tailLpos, true);
    mem.u64(PRB_VAR, RB);
    mem.write(RB, new Uint8Array(rb.buffer));
    mem.write(DESCS, this.descs);
    mem.write(INFOS, this.infos);
    mem.write(DATA, this.data);
    mem.write(CLEAR_SEQ, new Uint8Array(24));
    return mem;
  }
}

const info = (extra = '', drop: string[] = []): Vmcoreinfo =>
  new Vmcoreinfo(
    LOCKLESS_INFO.split('\n')
      .filter((l) => !drop.some((d) => l.startsWith(d)))
      .join('\n') + extra,
  );

// ---------------------------------------------------------------------------------------------
// Lockless

test('lockless: ordinary records, fields and both makedumpfile formats', () => {
  const ring = new Ring(4, 12);
  ring.add('Linux version 6.1.0-test', { ts: 0n, caller: 0, level: 5 });
  ring.add('Command line: console=ttyS0', { ts: 8_933_329_000n, caller: 1, facility: 3, flags: 0x8 });
  ring.add('virtio_net virtio1 enp1s0: renamed', { ts: 1500n, caller: 0x80000001, subsystem: 'virtio', device: '+virtio:virtio1' });
  ring.add('uptime wide', { ts: 123_456_000_001_999n, caller: 1234567890 });
  const mem = ring.install();
  const log = readPrintkLog(mem, info());
  assert.equal(log.kind, 'lockless');
  assert.deepEqual(log.warnings, []);
  assert.equal(log.records.length, 4);
  const [r0, r1, r2, r3] = log.records;
  assert.equal(r0!.seq, 0n);
  assert.equal(r0!.level, 5);
  assert.equal(r0!.flags, 2);
  assert.equal(r0!.callerId, 0);
  assert.equal(str(r0!.text), 'Linux version 6.1.0-test');
  assert.equal(r1!.tsNsec, 8_933_329_000n);
  assert.equal(r1!.facility, 3);
  assert.equal(r1!.flags, 8);
  assert.equal(r2!.subsystem, 'virtio');
  assert.equal(r2!.device, '+virtio:virtio1');
  assert.equal(r0!.subsystem, undefined);
  assert.equal(r3!.seq, 3n);
  assert.ok(mem.reads <= 6, `bulk reads expected, got ${mem.reads} reads`);

  assert.equal(
    fmt(log, false),
    '[    0.000000] Linux version 6.1.0-test\n' +
      '[    8.933329] Command line: console=ttyS0\n' +
      '[    0.000001] virtio_net virtio1 enp1s0: renamed\n' +
      '[123456.000001] uptime wide\n',
  );
  assert.equal(
    fmt(log, true),
    '[    0.000000] [      T0] Linux version 6.1.0-test\n' +
      '[    8.933329] [      T1] Command line: console=ttyS0\n' +
      '[    0.000001] [      C1] virtio_net virtio1 enp1s0: renamed\n' +
      '[123456.000001] [T1234567890] uptime wide\n',
  );
});

test('lockless: without OFFSET(printk_info.caller_id) there is no caller column', () => {
  const ring = new Ring(3, 10);
  ring.add('hello', { ts: 2_000_000n });
  const log = readPrintkLog(ring.install(), info('', ['OFFSET(printk_info.caller_id)']));
  assert.equal(log.records[0]!.callerId, undefined);
  assert.equal(fmt(log, true), '[    0.002000] hello\n');
});

test('lockless: escaping of control characters and bytes >= 0x80', () => {
  const ring = new Ring(3, 10);
  ring.add(Uint8Array.from([0x01, 0x61, 0x7f, 0x09, 0x0d, 0x0b, 0x0c, 0x20, 0xc3, 0xa9, 0x00, 0x1b, 0x80, 0xff, 0x7e]), { ts: 1_000_000_000n, caller: 7 });
  const log = readPrintkLog(ring.install(), info());
  const esc = '\\x01a\\x7f\t\r\v\f \\xffffffc3\\xffffffa9\\x00\\x1b\\xffffff80\\xffffffff~';
  assert.equal(fmt(log, false), `[    1.000000] ${esc}\n`);
  assert.equal(fmt(log, true), `[    1.000000] [      T7] ${esc}\n`);
});

test('lockless: embedded newlines are indented by the prefix length', () => {
  const ring = new Ring(3, 10);
  ring.add('first\nsecond\n', { ts: 1_000_000_000n, caller: 1 });
  ring.add('\n', { ts: 2_000_000_000n, caller: 1 });
  const log = readPrintkLog(ring.install(), info());
  const i15 = ' '.repeat(15);
  const i26 = ' '.repeat(26);
  assert.equal(fmt(log, false), `[    1.000000] first\n${i15}second\n${i15}\n[    2.000000] \n${i15}\n`);
  assert.equal(fmt(log, true), `[    1.000000] [      T1] first\n${i26}second\n${i26}\n[    2.000000] [      T1] \n${i26}\n`);
});

test('lockless: wrapped data block, ids crossing 2^62 and lpos crossing 2^64', () => {
  // 8 descriptors, 128-byte text ring, 48-byte blocks: the third block wraps to offset 0
  // and pushes the first record out of the ring.
  const ring = new Ring(3, 7);
  const t = (n: number) => `record-${n}-`.padEnd(40, String(n));
  const r0 = ring.add(t(0));
  ring.add(t(1));
  const r2 = ring.add(t(2));
  assert.ok(r2.next < r2.begin, 'the wrapping block crosses 2^64 in lpos');
  assert.equal(r2.next, 48n);
  assert.equal(r0.id, (1n << 62n) - 8n, 'first id is DESC0_ID + 1');
  const log = readPrintkLog(ring.install(), info());
  assert.deepEqual(log.warnings, []);
  assert.deepEqual(
    log.records.map((r) => str(r.text)),
    [t(1), t(2)],
  );
  assert.equal(fmt(log, false), `[    1.000000] ${t(1)}\n[    2.000000] ${t(2)}\n`);

  // Keep going until descriptor ids wrap past 2^62 and the data ring has wrapped many times.
  const ring2 = new Ring(3, 9);
  for (let i = 0; i < 30; i++) ring2.add(`m${i}`.padEnd(10 + (i % 5) * 9, '.'));
  assert.equal(ring2.headId, 21n, 'ids crossed 2^62');
  const log2 = readPrintkLog(ring2.install(), info());
  assert.deepEqual(log2.warnings, []);
  const want = ring2.live.map((r) => `m${r.seq}`.padEnd(10 + (Number(r.seq) % 5) * 9, '.'));
  assert.deepEqual(
    log2.records.map((r) => str(r.text)),
    want,
  );
  assert.ok(log2.records.length >= 5, `${log2.records.length} records survive`);
});

test('lockless: a block ending exactly at the ring end (2025 kernels) is not mistaken for a wrapped one', () => {
  const ring = new Ring(3, 7, true);
  ring.add('a'.repeat(40)); // 0..48
  ring.add('b'.repeat(40)); // 48..96
  const r = ring.add('c'.repeat(24)); // 96..128: ends exactly at the ring's end
  assert.equal(r.next & 127n, 0n);
  const log = readPrintkLog(ring.install(), info());
  assert.deepEqual(log.warnings, []);
  assert.deepEqual(
    log.records.map((x) => str(x.text)),
    ['a'.repeat(40), 'b'.repeat(40), 'c'.repeat(24)],
  );
});

test('lockless: data-less records are returned but not printed', () => {
  const ring = new Ring(3, 10);
  ring.add('before');
  ring.add('', { dataless: 'failed' });
  ring.add('', { dataless: 'empty' });
  ring.add('after');
  const log = readPrintkLog(ring.install(), info());
  assert.deepEqual(log.warnings, []);
  assert.deepEqual(
    log.records.map((r) => [r.seq, r.dataless ?? false, r.text.length]),
    [
      [0n, false, 6],
      [1n, true, 0],
      [2n, true, 0],
      [3n, false, 5],
    ],
  );
  assert.equal(fmt(log, false), '[    0.000000] before\n[    3.000000] after\n');
});

test('lockless: reserved and reusable descriptors are skipped, committed and finalized kept', () => {
  const ring = new Ring(3, 10);
  ring.add('finalized');
  ring.add('reusable');
  ring.add('committed', { state: 1n });
  ring.add('reserved (being written)', { state: 0n });
  ring.state(1, 3n);
  const log = readPrintkLog(ring.install(), info());
  assert.deepEqual(log.warnings, []);
  assert.deepEqual(
    log.records.map((r) => str(r.text)),
    ['finalized', 'committed'],
  );
});

test('lockless: a descriptor whose state_var id does not match is skipped silently', () => {
  const ring = new Ring(3, 10);
  ring.add('one');
  const r = ring.add('two');
  ring.add('three');
  ring.setDesc(r.idx, (2n << 62n) | ((r.id + 8n) & ID_MASK), r.begin, r.next);
  const log = readPrintkLog(ring.install(), info());
  assert.deepEqual(log.warnings, []);
  assert.deepEqual(
    log.records.map((x) => str(x.text)),
    ['one', 'three'],
  );
});

test('lockless: partial mode starts at clear_seq (latched_seq, and a plain u64 before 5.13)', () => {
  const ring = new Ring(3, 10);
  for (let i = 0; i < 5; i++) ring.add(`line ${i}`);
  const mem = ring.install();
  // latched_seq: seqcount odd → val[1] is the current copy.
  mem.u32(CLEAR_SEQ, 3);
  mem.u64(CLEAR_SEQ + 8n, 1n);
  mem.u64(CLEAR_SEQ + 16n, 3n);
  let log = readPrintkLog(mem, info(), { partial: true });
  assert.deepEqual(
    log.records.map((r) => str(r.text)),
    ['line 3', 'line 4'],
  );
  mem.u32(CLEAR_SEQ, 4);
  log = readPrintkLog(mem, info(), { partial: true });
  assert.deepEqual(
    log.records.map((r) => str(r.text)),
    ['line 1', 'line 2', 'line 3', 'line 4'],
  );
  assert.equal(readPrintkLog(mem, info()).records.length, 5, 'without partial the whole log');
  // Before latched_seq, clear_seq is a plain u64.
  mem.u64(CLEAR_SEQ, 2n);
  log = readPrintkLog(mem, info('', ['SIZE(latched_seq)', 'OFFSET(latched_seq.val)']), { partial: true });
  assert.deepEqual(
    log.records.map((r) => str(r.text)),
    ['line 2', 'line 3', 'line 4'],
  );
  // Everything cleared: nothing left (makedumpfile's index arithmetic would loop here).
  mem.u64(CLEAR_SEQ, 5n);
  log = readPrintkLog(mem, info('', ['SIZE(latched_seq)', 'OFFSET(latched_seq.val)']), { partial: true });
  assert.deepEqual(log.records, []);
  // No SYMBOL(clear_seq): the whole log, with a warning.
  log = readPrintkLog(mem, info('', ['SYMBOL(clear_seq)']), { partial: true });
  assert.equal(log.records.length, 5);
  assert.match(log.warnings.join('\n'), /clear_seq/);
});

test('lockless: corrupt descriptors are skipped with a warning naming the record', () => {
  const ring = new Ring(3, 10);
  ring.add('good 0');
  const bad = ring.add('bad lpos');
  const mis = ring.add('misaligned');
  const far = ring.add('too far apart');
  const idm = ring.add('wrong block id');
  const long = ring.add('text_len too long');
  ring.add('good 6');
  // lpos beyond the data ring's head
  ring.setDesc(bad.idx, (2n << 62n) | bad.id, ring.headLpos + 4096n, ring.headLpos + 4160n);
  ring.setDesc(mis.idx, (2n << 62n) | mis.id, mis.begin + 4n, mis.next);
  ring.setDesc(far.idx, (2n << 62n) | far.id, far.begin, far.begin - 8n);
  new DataView(ring.data.buffer).setBigUint64(Number(idm.begin & 1023n), 12345n, true);
  new DataView(ring.infos.buffer).setUint16(long.idx * 88 + 16, 500, true);
  const log = readPrintkLog(ring.install(), info());
  assert.deepEqual(
    log.records.map((r) => str(r.text)),
    ['good 0', 'text_len too long' + '\0'.repeat(7), 'good 6'],
  );
  const w = log.warnings.join('\n');
  assert.equal(log.warnings.length, 5, w);
  for (const r of [bad, mis, far, idm, long]) assert.ok(w.includes(`id 0x${r.id.toString(16)}`), `warning for id ${r.id}: ${w}`);
  assert.match(w, /outside the text ring/);
  assert.match(w, /aligned/);
  assert.match(w, /truncated/);
});

test('lockless: a corrupted tail_id cannot make the walk run away', () => {
  const ring = new Ring(3, 10);
  for (let i = 0; i < 4; i++) ring.add(`r${i}`);
  ring.tailId = (ring.headId + 1n) & ID_MASK; // 2^62 - 1 ids behind head
  const start = Date.now();
  const log = readPrintkLog(ring.install(), info());
  assert.ok(Date.now() - start < 1000);
  assert.deepEqual(
    log.records.map((r) => str(r.text)),
    ['r0', 'r1', 'r2', 'r3'],
  );
  assert.match(log.warnings.join('\n'), /behind head_id/);
});

test('lockless: unreadable text pages skip only the records on them', () => {
  const ring = new Ring(6, 13); // 8 KiB text ring: two pages
  for (let i = 0; i < 50; i++) ring.add(`record ${i} `.padEnd(200, '-'));
  const mem = ring.install();
  mem.unmap(DATA + 4096n);
  const log = readPrintkLog(mem, info());
  const recs = ring.live;
  const lost = recs.filter((r) => {
    const wrapped = r.begin >> 13n !== r.next >> 13n;
    const off = wrapped ? 0 : Number(r.begin & 8191n);
    const len = wrapped ? Number(r.next & 8191n) : Number(r.next - r.begin);
    return off + len > 4096;
  });
  assert.ok(lost.length > 0 && lost.length < recs.length);
  assert.equal(log.records.length, recs.length - lost.length);
  assert.match(log.warnings[0]!, /unreadable/);
  assert.equal(log.warnings.length, 1 + lost.length);
});

test('lockless: a missing VMCOREINFO key throws MissingInfoError naming it', () => {
  const mem = new Ring(3, 10).install();
  assert.throws(
    () => readPrintkLog(mem, info('', ['OFFSET(prb_desc.state_var)'])),
    (e: unknown) => e instanceof MissingInfoError && e.message.includes('OFFSET(prb_desc.state_var)'),
  );
  assert.throws(
    () => readPrintkLog(mem, info('', ['SIZE(printk_info)'])),
    (e: unknown) => e instanceof MissingInfoError && e.message.includes('SIZE(printk_info)'),
  );
  assert.throws(
    () => readPrintkLog(mem, new Vmcoreinfo('OSRELEASE=6.1.0\n')),
    (e: unknown) => e instanceof MissingInfoError && e.message.includes('SYMBOL(log_buf)'),
  );
});

// ---------------------------------------------------------------------------------------------
// Legacy struct printk_log (3.5 – 5.9)

const LOG_BUF_VAR = 0xffffffff83000000n;
const LOG_BUF_LEN = 0xffffffff83000008n;
const FIRST_IDX = 0xffffffff83000010n;
const NEXT_IDX = 0xffffffff83000014n;
const CLEAR_IDX = 0xffffffff83000018n;
const LOG_BUF = 0xffff888002000000n;

function legacyInfo(caller: boolean): Vmcoreinfo {
  return new Vmcoreinfo(
    [
      'OSRELEASE=5.4.0-test',
      'PAGESIZE=4096',
      `SYMBOL(log_buf)=${LOG_BUF_VAR.toString(16)}`,
      `SYMBOL(log_buf_len)=${LOG_BUF_LEN.toString(16)}`,
      `SYMBOL(log_first_idx)=${FIRST_IDX.toString(16)}`,
      `SYMBOL(clear_idx)=${CLEAR_IDX.toString(16)}`,
      `SYMBOL(log_next_idx)=${NEXT_IDX.toString(16)}`,
      `SIZE(printk_log)=${caller ? 20 : 16}`,
      'OFFSET(printk_log.ts_nsec)=0',
      'OFFSET(printk_log.len)=8',
      'OFFSET(printk_log.text_len)=10',
      'OFFSET(printk_log.dict_len)=12',
      ...(caller ? ['OFFSET(printk_log.caller_id)=16'] : []),
      '',
    ].join('\n'),
  );
}

/** Writes one record at `at`; returns its length (header + text + dict, 4-aligned). */
function putLog(buf: Uint8Array, at: number, hdr: number, msg: string, o: { ts?: bigint; dict?: string; caller?: number; level?: number; len?: number } = {}): number {
  const t = Buffer.from(msg, 'latin1');
  const d = Buffer.from(o.dict ?? '', 'latin1');
  const len = o.len ?? (hdr + t.length + d.length + 3) & ~3;
  const v = new DataView(buf.buffer, at);
  v.setBigUint64(0, o.ts ?? 0n, true);
  v.setUint16(8, len, true);
  v.setUint16(10, t.length, true);
  v.setUint16(12, d.length, true);
  v.setUint8(14, 0);
  v.setUint8(15, ((o.level ?? 6) << 5) | 2);
  if (hdr >= 20) v.setUint32(16, o.caller ?? 1, true);
  buf.set(t, at + hdr);
  buf.set(d, at + hdr + t.length);
  return len;
}

function installLegacy(buf: Uint8Array, first: number, next: number, clear = first): FakeVirtualMemory {
  const mem = new FakeVirtualMemory();
  mem.u64(LOG_BUF_VAR, LOG_BUF);
  mem.u32(LOG_BUF_LEN, buf.length);
  mem.u32(FIRST_IDX, first);
  mem.u32(NEXT_IDX, next);
  mem.u32(CLEAR_IDX, clear);
  mem.write(LOG_BUF, buf);
  return mem;
}

test('legacy printk_log: wrap marker (len 0), dict, partial via clear_idx', () => {
  const buf = new Uint8Array(256);
  // Newest records at the start; the oldest at 150, followed at 210 by the end-of-buffer
  // marker (a header with len 0) meaning "continue at offset 0".
  const a = putLog(buf, 0, 16, 'new one', { ts: 5_000_000_000n });
  const b = putLog(buf, a, 16, 'new\ttwo\x01', { ts: 6_000_001_000n, level: 3 });
  const first = 150;
  const oldLen = putLog(buf, first, 16, 'oldest', { ts: 4_000_000_000n, dict: 'SUBSYSTEM=pci\0DEVICE=+pci:0000:00:01.0' });
  assert.equal(first + oldLen, 210);
  const log = readPrintkLog(installLegacy(buf, first, a + b), legacyInfo(false));
  assert.equal(log.kind, 'legacy');
  assert.deepEqual(log.warnings, []);
  assert.deepEqual(
    log.records.map((r) => [r.seq, str(r.text), r.level, r.callerId]),
    [
      [0n, 'oldest', 6, undefined],
      [1n, 'new one', 6, undefined],
      [2n, 'new\ttwo\x01', 3, undefined],
    ],
  );
  assert.equal(log.records[0]!.subsystem, 'pci');
  assert.equal(log.records[0]!.device, '+pci:0000:00:01.0');
  const out = '[    4.000000] oldest\n[    5.000000] new one\n[    6.000001] new\ttwo\\x01\n';
  assert.equal(fmt(log, false), out);
  assert.equal(fmt(log, true), out, 'no caller_id in printk_log: no column');

  const part = readPrintkLog(installLegacy(buf, first, a + b, a), legacyInfo(false), { partial: true });
  assert.deepEqual(
    part.records.map((r) => str(r.text)),
    ['new\ttwo\x01'],
  );
});

test('legacy printk_log with caller_id (CONFIG_PRINTK_CALLER)', () => {
  const buf = new Uint8Array(256);
  const a = putLog(buf, 0, 20, 'from a task', { ts: 1_000_000n, caller: 42 });
  const b = putLog(buf, a, 20, 'from a cpu\nsecond line', { ts: 99_999_999_999_000n, caller: 0x80000003 });
  const log = readPrintkLog(installLegacy(buf, 0, a + b), legacyInfo(true));
  assert.deepEqual(log.warnings, []);
  assert.equal(
    fmt(log, true),
    '[    0.001000] [     T42] from a task\n' + '[99999.999999] [      C3] from a cpu\n' + ' '.repeat(26) + 'second line\n',
  );
  assert.equal(fmt(log, false), '[    0.001000] from a task\n[99999.999999] from a cpu\n' + ' '.repeat(15) + 'second line\n');
});

test('legacy printk_log: cycles, out-of-range indexes and overlong records end or skip safely', () => {
  // A chain that never reaches log_next_idx: 0 → 24 → marker at 48 → record 0 again → 24 …
  const buf = new Uint8Array(128);
  const a = putLog(buf, 0, 16, 'AAAA');
  putLog(buf, a, 16, 'BBBB');
  let log = readPrintkLog(installLegacy(buf, 0, 100), legacyInfo(false));
  assert.deepEqual(
    log.records.map((r) => str(r.text)),
    ['AAAA', 'BBBB', 'AAAA'],
  );
  assert.match(log.warnings.join('\n'), /visited twice/);

  // A record length that jumps outside the buffer.
  const buf2 = new Uint8Array(128);
  putLog(buf2, 0, 16, 'ok', { len: 120 });
  log = readPrintkLog(installLegacy(buf2, 0, 64), legacyInfo(false));
  assert.deepEqual(
    log.records.map((r) => str(r.text)),
    ['ok'],
  );
  assert.match(log.warnings.join('\n'), /outside the 128-byte buffer/);

  // text_len past the end of the buffer: skipped, the walk continues.
  const buf3 = new Uint8Array(128);
  const l1 = putLog(buf3, 0, 16, 'first');
  const l2 = putLog(buf3, l1, 16, 'broken');
  new DataView(buf3.buffer).setUint16(l1 + 10, 4000, true);
  const l3 = putLog(buf3, l1 + l2, 16, 'third');
  log = readPrintkLog(installLegacy(buf3, 0, l1 + l2 + l3), legacyInfo(false));
  assert.deepEqual(
    log.records.map((r) => str(r.text)),
    ['first', 'third'],
  );
  assert.match(log.warnings.join('\n'), /overruns/);
});

// ---------------------------------------------------------------------------------------------
// Plain character buffer (< 3.5)

function plainSetup(release: string, buf: string, logEnd: bigint, wide: boolean): { mem: FakeVirtualMemory; info: Vmcoreinfo } {
  const mem = new FakeVirtualMemory();
  const LOG_END = 0xffffffff83000020n;
  mem.u64(LOG_BUF_VAR, LOG_BUF);
  mem.u32(LOG_BUF_LEN, buf.length);
  mem.write(LOG_BUF, Buffer.from(buf, 'latin1'));
  if (wide) mem.u64(LOG_END, logEnd);
  else {
    mem.u32(LOG_END, Number(logEnd));
    mem.u32(LOG_END + 4n, 0xdeadbeef); // not part of an `unsigned` log_end
  }
  const vi = new Vmcoreinfo(
    [`OSRELEASE=${release}`, `SYMBOL(log_buf)=${LOG_BUF_VAR.toString(16)}`, `SYMBOL(log_buf_len)=${LOG_BUF_LEN.toString(16)}`, `SYMBOL(log_end)=${LOG_END.toString(16)}`, ''].join('\n'),
  );
  return { mem, info: vi };
}

test('plain log_buf (< 3.5): raw text in log order, 32- and 64-bit log_end', () => {
  let s = plainSetup('2.6.32-5-amd64', '<6>hello\n<4>world\n\0\0\0\0\0\0\0\0\0\0\0\0\0\0', 18n, false);
  let log = readPrintkLog(s.mem, s.info);
  assert.equal(log.kind, 'plain');
  assert.deepEqual(log.records, []);
  assert.equal(fmt(log, false), '<6>hello\n<4>world\n');
  assert.equal(fmt(log, true), '<6>hello\n<4>world\n');

  // Wrapped: 16-byte buffer, log_end 20 → the oldest byte is at 20 & 15 = 4.
  s = plainSetup('2.6.32', 'fgh\n<6>ab\n<4>cde', 20n, false);
  log = readPrintkLog(s.mem, s.info);
  assert.equal(str(log.plainText!), '<6>ab\n<4>cdefgh\n');
  // ≤ 2.6.24: log_end is an unsigned long (read as 32 bits it would look like 2, unwrapped).
  s = plainSetup('2.6.18-1', 'abcdefgh', (1n << 32n) + 2n, true);
  log = readPrintkLog(s.mem, s.info);
  assert.equal(str(log.plainText!), 'cdefghab');
});
