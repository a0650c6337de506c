/**
 * Records a real kernel wrote: test/fixtures/pstore/ramoops-6.12/ was made by
 * test/fixtures/pstore/make-ramoops-records.sh (Debian 6.12 in QEMU with a ramoops region, an
 * Oops in a module turned into a panic by oops=panic, a reset, the second boot's
 * /sys/fs/pstore copied out). Git does not keep mtimes, so mtimes.json has them. The serial
 * console of the crashed boot is the ground truth for the log.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { initCodecs } from '../../src/formats/codecs/index.js';
import { collectPstore } from '../../src/host/pstore-collect.js';
import { REPO } from '../helpers/dumps.js';
import { fakePstoreRoot } from '../helpers/fake-pstore.js';

const FIX = join(REPO, 'test/fixtures/pstore/ramoops-6.12');

before(async () => {
  await initCodecs();
});

test('real ramoops records of Linux 6.12 (Oops#1, Panic#2): one entry, the log matches the serial console', () => {
  const mtimes = JSON.parse(readFileSync(join(FIX, 'mtimes.json'), 'utf8')) as Record<string, number>;
  const fake = fakePstoreRoot();
  try {
    for (const [name, secs] of Object.entries(mtimes)) {
      fake.add(name, readFileSync(join(FIX, name)), secs);
    }
    const r = collectPstore({ root: fake.root, crashDir: '/var/crash' });
    assert.deepEqual(r.errors, []);
    assert.equal(r.entries.length, 1);
    const e = r.entries[0]!;
    assert.equal(e.name, '2026-12-01-21:57:09-pstore');
    assert.deepEqual(
      e.dumps.map((d) => [d.reason, d.count, d.parts, d.log, d.headline]),
      [
        ['Oops', 1, [1], 'dmesg-Oops-1.txt', 'BUG: kernel NULL pointer dereference, address: 0000000000000008'],
        ['Panic', 2, [1], 'dmesg.txt', 'BUG: kernel NULL pointer dereference, address: 0000000000000008'],
      ],
    );
    const dmesg = readFileSync(join(e.path, 'dmesg.txt'), 'latin1');
    const lines = dmesg.split('\n').slice(0, -1);
    assert.match(lines.at(-2)!, /^\[ +\d+\.\d{6}\] Kernel panic - not syncing: Fatal exception$/);
    assert.match(lines.at(-1)!, /^\[ +\d+\.\d{6}\] Kernel Offset: 0x[0-9a-f]+ from 0xffffffff81000000/);
    // One dmesg.txt line per record line, the <level> prefix gone; every line the console
    // printed (loglevel=7 prints all but KERN_DEBUG) appears there in the same order.
    const raw = readFileSync(join(FIX, 'dmesg-ramoops-1'), 'latin1').split('\n').slice(1, -1);
    assert.equal(raw.length, lines.length);
    assert.deepEqual(
      raw.map((l) => l.replace(/^<\d+>/, '')),
      lines,
    );
    const consoleLines = gunzipSync(readFileSync(join(FIX, 'console-first-boot.log.gz'))).toString('latin1').replace(/\r/g, '').split('\n');
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
    assert.deepEqual(readdirSync(fake.pstore), []);
  } finally {
    fake.remove();
  }
});
