/**
 * Records real kernels wrote, made by the scripts in test/fixtures/pstore/ (Debian 6.12 in
 * QEMU; an Oops in a module, turned into a panic by oops=panic; a reset; the second boot's
 * /sys/fs/pstore copied out):
 *   ramoops-6.12/  ramoops region in RAM (memmap=): one record per dump, Part1 only
 *   efi-6.12/      efi_pstore under OVMF: 1 KiB EFI variables, 15 compressed parts per dump,
 *                  the clock ticking between parts
 * Git does not keep mtimes, so mtimes.json has them. The serial console of the crashed boot is
 * the ground truth for the log.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { initCodecs } from '../../src/formats/codecs/index.js';
import { collectPstore, type PstoreEntryReport } from '../../src/host/pstore-collect.js';
import { REPO } from '../helpers/dumps.js';
import { fakePstoreRoot } from '../helpers/fake-pstore.js';

const FIXTURES = join(REPO, 'test/fixtures/pstore');
const BUG = 'BUG: kernel NULL pointer dereference, address: 0000000000000008';

before(async () => {
  await initCodecs();
});

/** The record lines of one dump as the kernel stored them, oldest part first, headers dropped. */
function recordLines(dir: string, files: string[], ordered: (a: string, b: string) => number): string[] {
  return [...files].sort(ordered).flatMap((f) => readFileSync(join(dir, f), 'latin1').split('\n').slice(1, -1));
}

function collectFixture(name: string): { entry: PstoreEntryReport & { dmesg: string }; entries: number; dir: string; consoleLines: string[] } {
  const dir = join(FIXTURES, name);
  const mtimes = JSON.parse(readFileSync(join(dir, 'mtimes.json'), 'utf8')) as Record<string, number>;
  const fake = fakePstoreRoot();
  try {
    for (const [file, secs] of Object.entries(mtimes)) fake.add(file, readFileSync(join(dir, file)), secs);
    const r = collectPstore({ root: fake.root, crashDir: fake.root.path('/var/crash') });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(readdirSync(fake.pstore), []);
    const entry = r.entries[0]!;
    // Read the entry's files before the fake root goes away.
    const copy = { ...entry, dmesg: readFileSync(join(entry.path, 'dmesg.txt'), 'latin1') };
    const consoleLines = gunzipSync(readFileSync(join(dir, 'console-first-boot.log.gz'))).toString('latin1').replace(/\r/g, '').split('\n');
    return { entry: copy, entries: r.entries.length, dir, consoleLines };
  } finally {
    fake.remove();
  }
}

/**
 * dmesg.txt is the record lines without their `<level>`, and every line the console printed
 * (loglevel=7 prints all but KERN_DEBUG) is there in the console's order.
 */
function checkLog(dmesg: string, raw: string[], consoleLines: string[]): void {
  const lines = dmesg.split('\n').slice(0, -1);
  assert.deepEqual(
    raw.map((l) => l.replace(/^<\d+>/, '')),
    lines,
  );
  assert.match(lines.at(-2)!, /^\[ +\d+\.\d{6}\] Kernel panic - not syncing: Fatal exception$/);
  assert.match(lines.at(-1)!, /^\[ +\d+\.\d{6}\] Kernel Offset: 0x[0-9a-f]+ from 0xffffffff81000000/);
  let at = 0;
  let compared = 0;
  raw.forEach((l, i) => {
    if (l.startsWith('<7>')) return;
    const j = consoleLines.indexOf(lines[i]!, at);
    assert.ok(j >= 0, `not on the console (in order): ${lines[i]}`);
    at = j + 1;
    compared++;
  });
  assert.ok(compared > 300, `${compared} lines compared`);
}

test('real ramoops records of Linux 6.12 (Oops#1, Panic#2): one entry, the log matches the serial console', () => {
  const { entry: e, entries, dir, consoleLines } = collectFixture('ramoops-6.12');
  assert.equal(entries, 1);
  assert.equal(e.name, '2026-12-01-21:57:09-pstore');
  assert.deepEqual(
    e.dumps.map((d) => [d.reason, d.count, d.parts, d.log, d.headline]),
    [
      ['Oops', 1, [1], 'dmesg-Oops-1.txt', BUG],
      ['Panic', 2, [1], 'dmesg.txt', BUG],
    ],
  );
  checkLog(e.dmesg, recordLines(dir, ['dmesg-ramoops-1'], () => 0), consoleLines);
});

test('real efi_pstore records of Linux 6.12: 2 x 15 parts over 4 seconds make one crash, the log matches the console', () => {
  const { entry: e, entries, dir, consoleLines } = collectFixture('efi-6.12');
  assert.equal(entries, 1);
  assert.equal(e.name, '2026-12-01-22:02:10-pstore');
  const fifteen = Array.from({ length: 15 }, (_, i) => i + 1);
  assert.deepEqual(
    e.dumps.map((d) => [d.reason, d.count, d.parts, d.missingParts, d.log, d.headline]),
    [
      ['Oops', 1, fifteen, [], 'dmesg-Oops-1.txt', BUG],
      ['Panic', 2, fifteen, [], 'dmesg.txt', BUG],
    ],
  );
  assert.equal(e.records.length, 30);
  // Panic#2's parts: generic_id count 2, oldest (highest part) first.
  const files = readdirSync(dir).filter((f) => /^dmesg-efi_pstore-\d+$/.test(f) && BigInt(f.split('-')[2]!) % 1000n === 2n);
  const part = (f: string): bigint => (BigInt(f.split('-')[2]!) / 1000n) % 100n;
  checkLog(e.dmesg, recordLines(dir, files, (a, b) => Number(part(b) - part(a))), consoleLines);
});
