import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { deflateRawSync, deflateSync } from 'node:zlib';
import { initCodecs, initCompressors } from '../../src/formats/codecs/index.js';
import { lzo1xCompress } from '../../src/formats/codecs/lzo.js';
import { zstdCompress } from '../../src/formats/codecs/zstd.js';
import { decodeEfiId, decompressRecord, groupDumps, interpretRecord, parseDumpHeader, parseRecordName, readPstore, type PstoreRecord } from '../../src/host/pstore-records.js';
import { need } from '../helpers/dumps.js';
import { addEfiDump, efiId, fakePstoreRoot, pstoreDump, referenceLog, referenceLogPath } from '../helpers/fake-pstore.js';

before(async () => {
  await initCodecs();
  await initCompressors();
});

const T0 = Date.UTC(2026, 11, 1, 20, 14, 7) / 1000;

function record(file: string, data: Buffer, seconds: number): PstoreRecord {
  const name = parseRecordName(file);
  assert.ok(name, file);
  return interpretRecord(file, `/sys/fs/pstore/${file}`, name, data, new Date(seconds * 1000));
}

test('record names as fs/pstore/inode.c makes them', () => {
  assert.deepEqual(parseRecordName('dmesg-ramoops-0'), { type: 'dmesg', backend: 'ramoops', id: 0n, encZ: false });
  assert.deepEqual(parseRecordName('dmesg-efi_pstore-176462004701001.enc.z'), { type: 'dmesg', backend: 'efi_pstore', id: 176462004701001n, encZ: true });
  assert.deepEqual(parseRecordName('dmesg-efi-172955512001'), { type: 'dmesg', backend: 'efi', id: 172955512001n, encZ: false });
  assert.deepEqual(parseRecordName('console-ramoops-0'), { type: 'console', backend: 'ramoops', id: 0n, encZ: false });
  assert.deepEqual(parseRecordName('pmsg-ramoops-0'), { type: 'pmsg', backend: 'ramoops', id: 0n, encZ: false });
  assert.deepEqual(parseRecordName('powerpc-ofw-nvram-3'), { type: 'powerpc-ofw', backend: 'nvram', id: 3n, encZ: false });
  assert.equal(parseRecordName('lost+found'), undefined);
  assert.equal(parseRecordName('dmesg-ramoops-x'), undefined);
  // generic_id(sec, part, count) = (sec * 100 + part) * 1000 + count
  assert.deepEqual(decodeEfiId(efiId(1764620047, 12, 3)), { seconds: 1764620047n, part: 12, count: 3 });
  assert.deepEqual(parseDumpHeader(Buffer.from('Oops#2 Part11\n<4>[ 1.0] x\n')), { header: { reason: 'Oops', count: 2, part: 11 }, length: 14 });
  assert.equal(parseDumpHeader(Buffer.from('<4>[ 1.0] x\n')), undefined);
});

test('decompression: raw deflate (6.5+), zlib with 4K window (< 4.19), zstd, LZO1X; garbage is an error', () => {
  const plain = Buffer.from('Panic#1 Part1\n<0>[   12.345678] Kernel panic - not syncing: sysrq triggered crash\n'.repeat(8));
  const raw = decompressRecord(deflateRawSync(plain, { level: 6, windowBits: 15, memLevel: 8 }));
  assert.ok(!('error' in raw) && raw.codec === 'deflate-raw' && raw.data.equals(plain));
  // Linux 3.x/4.x pstore_compress: zlib_deflateInit2(.., WINDOW_BITS 12, MEM_LEVEL 4, ..)
  const z = deflateSync(plain, { level: 6, windowBits: 12, memLevel: 4 });
  assert.equal(z[0], 0x48);
  const zr = decompressRecord(z);
  assert.ok(!('error' in zr) && zr.codec === 'zlib' && zr.data.equals(plain));
  const zs = decompressRecord(Buffer.from(zstdCompress(plain, 3)));
  assert.ok(!('error' in zs) && zs.codec === 'zstd' && zs.data.equals(plain));
  const lz = decompressRecord(Buffer.from(lzo1xCompress(plain)));
  assert.ok(!('error' in lz) && lz.codec === 'lzo' && lz.data.equals(plain));
  const bad = decompressRecord(Buffer.from('this is not compressed at all, it is the wrong file'));
  assert.ok('error' in bad);
  assert.match(bad.error, /not raw deflate, zlib, zstd or LZO1X/);
});

test('efi_pstore: 10 KiB of a real log in compressed parts, read in any order, joins back to the log', (t) => {
  if (!need(t, referenceLogPath())) return;
  const lines = referenceLog();
  const d = pstoreDump(lines, { reason: 'Panic', count: 1, bufsize: 1024, compress: true });
  assert.ok(d.parts.length >= 6, `${d.parts.length} parts`);
  assert.ok(d.parts.every((p) => p.compressed));
  const fake = fakePstoreRoot();
  try {
    // Part 3 is left compressed (.enc.z), as when the reading kernel cannot decompress it; the
    // clock ticks while the parts are written (each EFI variable carries its own time).
    addEfiDump(fake, d, 1, T0, { encZ: (p) => p === 3, tick: (p) => (p >= 5 ? 1 : 0) });
    const scan = readPstore(fake.root);
    assert.equal(scan.records.length, d.parts.length);
    // Shuffle: the directory order says nothing about the part order.
    const shuffled = [...scan.records].sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
    const dumps = groupDumps(shuffled);
    assert.equal(dumps.length, 1);
    const dump = dumps[0]!;
    assert.equal(dump.reason, 'Panic');
    assert.equal(dump.count, 1);
    assert.equal(dump.backend, 'efi_pstore');
    assert.deepEqual(dump.parts, d.parts.map((p) => p.part));
    assert.deepEqual(dump.missingParts, []);
    assert.equal(dump.time.getTime(), T0 * 1000);
    assert.equal(dump.log.toString('utf8'), d.expectedLog);
    assert.ok(d.expectedLog.endsWith(lines.at(-1)! + '\n'));
    assert.match(dump.headline ?? '', /^BUG: kernel NULL pointer dereference/);
    const enc = dump.records.find((r) => r.file.endsWith('.enc.z'));
    assert.equal(enc?.decompression, 'deflate-raw');
    assert.deepEqual(dump.notes, []);
  } finally {
    fake.remove();
  }
});

test('the same Panic#1 from two boots are two dumps; an Oops and the Panic after it are two dumps', (t) => {
  if (!need(t, referenceLogPath())) return;
  const lines = referenceLog();
  const a = pstoreDump(lines.slice(0, 200), { reason: 'Panic', count: 1, bufsize: 1024, compress: true });
  const b = pstoreDump(lines, { reason: 'Panic', count: 1, bufsize: 1024, compress: true });
  const oops = pstoreDump(lines.slice(0, -3), { reason: 'Oops', count: 1, bufsize: 1024, compress: true });
  const panic = pstoreDump(lines, { reason: 'Panic', count: 2, bufsize: 1024, compress: true });
  const fake = fakePstoreRoot();
  try {
    addEfiDump(fake, a, 1, T0 - 86400);
    addEfiDump(fake, b, 1, T0);
    addEfiDump(fake, oops, 1, T0 + 3600);
    addEfiDump(fake, panic, 2, T0 + 3600);
    const dumps = groupDumps(readPstore(fake.root).records);
    assert.deepEqual(
      dumps.map((x) => [x.reason, x.count, x.time.getTime() / 1000, x.parts.length]),
      [
        ['Panic', 1, T0 - 86400, a.parts.length],
        ['Panic', 1, T0, b.parts.length],
        ['Oops', 1, T0 + 3600, oops.parts.length],
        ['Panic', 2, T0 + 3600, panic.parts.length],
      ],
    );
    assert.equal(dumps[0]!.log.toString(), a.expectedLog);
    assert.equal(dumps[3]!.log.toString(), panic.expectedLog);
  } finally {
    fake.remove();
  }
});

test('a corrupt compressed part: kept raw, placed by its efi id, its lines missing and said so', (t) => {
  if (!need(t, referenceLogPath())) return;
  const d = pstoreDump(referenceLog(), { reason: 'Panic', count: 1, bufsize: 1024, compress: true });
  const fake = fakePstoreRoot();
  try {
    addEfiDump(fake, d, 1, T0);
    // Part 2 replaced by damaged deflate data, left .enc.z as the kernel leaves it.
    const p2 = d.parts[1]!;
    const bad = Buffer.from(p2.stored);
    bad.fill(0xff, 2, 40);
    rmSync(join(fake.pstore, `dmesg-efi_pstore-${efiId(T0, 2, 1)}`));
    fake.add(`dmesg-efi_pstore-${efiId(T0, 2, 1)}.enc.z`, bad, T0);
    const dumps = groupDumps(readPstore(fake.root).records);
    assert.equal(dumps.length, 1);
    const dump = dumps[0]!;
    const broken = dump.records.find((r) => r.decodeError);
    assert.ok(broken);
    assert.equal(broken.header?.part, 2);
    assert.equal(broken.headerFromId, true);
    assert.match(dump.notes.join('\n'), /could not be decompressed .* kept in raw\/ only/);
    const without2 = d.parts
      .filter((p) => p.part !== 2)
      .reverse()
      .map((p) => p.plain.toString('latin1').replace(/^.*\n/, '').replace(/^<\d+>/gm, ''))
      .join('');
    assert.equal(dump.log.toString('latin1'), without2);
  } finally {
    fake.remove();
  }
});

test('ramoops: the ==== header of a zone copy, the ECC notice, an uncompressed part cut short', () => {
  const text = 'Oops#1 Part1\n<4>[    5.000001] BUG: unable to handle page fault for address: ffff\n<4>[    5.000002] Oops: 0000 [#1] PREEMPT SMP NOPTI\n';
  const withHdr = record('dmesg-ramoops-0', Buffer.from(`====1764620047.123456-D\n${text}\nECC: No errors detected\n`), 0);
  assert.equal(withHdr.time.getTime(), 1764620047123);
  assert.equal(withHdr.ecc, 'ECC: No errors detected');
  assert.deepEqual(withHdr.header, { reason: 'Oops', count: 1, part: 1 });
  const [dump] = groupDumps([withHdr]);
  assert.equal(dump!.log.toString(), '[    5.000001] BUG: unable to handle page fault for address: ffff\n[    5.000002] Oops: 0000 [#1] PREEMPT SMP NOPTI\n');
  assert.equal(dump!.headline, 'BUG: unable to handle page fault for address: ffff');
  // Compressed data with the ECC notice after it (ram.c appends it to undecompressed records too).
  const z = deflateRawSync(Buffer.from(text));
  const enc = record('dmesg-ramoops-1.enc.z', Buffer.concat([z, Buffer.from('\nECC: 2 Corrected bytes, 0 unrecoverable blocks\n')]), 1764620047);
  assert.equal(enc.decompression, 'deflate-raw');
  assert.equal(enc.ecc, 'ECC: 2 Corrected bytes, 0 unrecoverable blocks');
  const cut = record('dmesg-ramoops-2', Buffer.from(text.slice(0, 60)), 1764620047);
  const [cd] = groupDumps([cut]);
  assert.match(cd!.notes.join(), /ends in the middle of a line/);
  assert.ok(cd!.log.toString().endsWith('\n'));
});

