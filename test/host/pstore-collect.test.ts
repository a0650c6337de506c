import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initCodecs } from '../../src/formats/codecs/index.js';
import { collectPstore } from '../../src/host/pstore-collect.js';
import { REPO, need } from '../helpers/dumps.js';
import { addEfiDump, fakePstoreRoot, pstoreDump, referenceLog, referenceLogPath, type FakePstoreRoot } from '../helpers/fake-pstore.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');
const T0 = Date.UTC(2026, 11, 1, 20, 14, 7) / 1000;
const NAME = '2026-12-01-20:14:07-pstore';

before(async () => {
  await initCodecs();
});

/** A ramoops machine after an Oops and the Panic it led to (two slots), with console and pmsg. */
function ramoopsCrash(fake: FakePstoreRoot, lines: string[]): { oops: string; panic: string } {
  // ramoops stores Part1 only (ram.c ramoops_pstore_write refuses part != 1): with record_size
  // 16K that is the newest ~27 KB of log, compressed. The 6.x kernel decompressed the first.
  const oops = pstoreDump(lines.slice(0, -4), { reason: 'Oops', count: 1, bufsize: 16384, compress: true });
  const panic = pstoreDump(lines, { reason: 'Panic', count: 2, bufsize: 16384, compress: true });
  assert.ok(oops.parts[0]!.compressed && panic.parts[0]!.compressed);
  fake.add('dmesg-ramoops-0', oops.parts[0]!.plain, T0);
  // The second one left compressed, as when the reading kernel has no deflate.
  fake.add('dmesg-ramoops-1.enc.z', panic.parts[0]!.stored, T0);
  fake.add('console-ramoops-0', '[    0.000000] Linux version 6.12.117+deb12-amd64\n[  100.1] reboot: Restarting system\n', T0 + 40);
  fake.add('pmsg-ramoops-0', Buffer.from([1, 2, 3, 0, 0x41]), T0 + 40);
  return { oops: oops.parts[0]!.log, panic: panic.parts[0]!.log };
}

function modes(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string, rel: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      out.set(rel + n, statSync(p).mode & 0o777);
      if (statSync(p).isDirectory()) walk(p, rel + n + '/');
    }
  };
  out.set('.', statSync(dir).mode & 0o777);
  walk(dir, '');
  return out;
}

test('ramoops Oops + Panic + console + pmsg: one entry, the Panic log as dmesg.txt, raw copies, records cleared', (t) => {
  if (!need(t, referenceLogPath())) return;
  const fake = fakePstoreRoot();
  try {
    const want = ramoopsCrash(fake, referenceLog());
    const r = collectPstore({ root: fake.root, crashDir: fake.root.path('/var/crash') });
    assert.deepEqual(r.errors, []);
    assert.equal(r.entries.length, 1);
    const e = r.entries[0]!;
    assert.equal(e.status, 'saved');
    assert.equal(e.name, NAME);
    const dir = join(fake.dir, 'var/crash', NAME);
    assert.equal(e.path, dir);
    assert.equal(readFileSync(join(dir, 'dmesg.txt'), 'utf8'), want.panic);
    assert.equal(readFileSync(join(dir, 'dmesg-Oops-1.txt'), 'utf8'), want.oops);
    assert.match(readFileSync(join(dir, 'console-ramoops-0.txt'), 'utf8'), /reboot: Restarting system/);
    for (const f of ['dmesg-ramoops-0', 'dmesg-ramoops-1.enc.z', 'console-ramoops-0', 'pmsg-ramoops-0']) assert.ok(existsSync(join(dir, 'raw', f)), f);
    assert.deepEqual(readFileSync(join(dir, 'raw', 'pmsg-ramoops-0')), Buffer.from([1, 2, 3, 0, 0x41]));
    const meta = JSON.parse(readFileSync(join(dir, 'pstore.json'), 'utf8'));
    assert.equal(meta.kind, 'pstore');
    assert.deepEqual(meta.backends, ['ramoops']);
    assert.match(meta.contentHash, /^[0-9a-f]{64}$/);
    assert.deepEqual(
      meta.dumps.map((d: { reason: string; count: number; log: string; parts: number[] }) => [d.reason, d.count, d.log, d.parts]),
      [
        ['Oops', 1, 'dmesg-Oops-1.txt', [1]],
        ['Panic', 2, 'dmesg.txt', [1]],
      ],
    );
    assert.match(meta.dumps[1].headline, /^BUG: kernel NULL pointer dereference/);
    const enc = meta.records.find((x: { file: string }) => x.file === 'dmesg-ramoops-1.enc.z');
    assert.equal(enc.compressed, true);
    assert.equal(enc.decompression, 'deflate-raw');
    assert.equal(enc.id, '1');
    assert.equal(enc.time, new Date(T0 * 1000).toISOString());
    // Directories 0700, files 0600, nothing left as .incomplete.
    for (const [p, mode] of modes(dir)) assert.equal(mode, p === '.' || p === 'raw' ? 0o700 : 0o600, p);
    assert.ok(![...modes(dir).keys()].some((p) => p.includes('.incomplete')));
    assert.ok(!existsSync(dir + '.incomplete'));
    // Cleared only now, every record.
    assert.deepEqual(readdirSync(fake.pstore), []);
    assert.ok(e.records.every((x) => x.clear === 'cleared'));
  } finally {
    fake.remove();
  }
});

test('--dry-run writes and clears nothing; --keep-records saves and keeps; a second run makes no duplicate', (t) => {
  if (!need(t, referenceLogPath())) return;
  const fake = fakePstoreRoot();
  try {
    const d = pstoreDump(referenceLog('6.1-sysrq'), { reason: 'Panic', count: 1, bufsize: 1024, compress: true });
    const names = addEfiDump(fake, d, 1, T0, { encZ: (p) => p % 2 === 0 });
    const dry = collectPstore({ root: fake.root, crashDir: fake.root.path('/var/crash'), dryRun: true });
    assert.equal(dry.entries[0]!.status, 'would-save');
    assert.ok(dry.entries[0]!.records.every((x) => x.clear === 'would-clear'));
    assert.deepEqual(readdirSync(join(fake.dir, 'var/crash')), []);
    assert.deepEqual(readdirSync(fake.pstore).sort(), [...names].sort());

    const kept = collectPstore({ root: fake.root, crashDir: fake.root.path('/var/crash'), keepRecords: true });
    assert.equal(kept.entries[0]!.status, 'saved');
    assert.ok(kept.entries[0]!.records.every((x) => x.clear === 'kept'));
    assert.equal(readdirSync(fake.pstore).length, names.length);
    const dir = join(fake.dir, 'var/crash', NAME);
    assert.equal(readFileSync(join(dir, 'dmesg.txt'), 'utf8'), d.expectedLog);
    assert.match(readFileSync(join(dir, 'dmesg.txt'), 'utf8'), /Kernel panic - not syncing: sysrq triggered crash/);

    // As after a boot where clearing failed: the same records again.
    const again = collectPstore({ root: fake.root, crashDir: fake.root.path('/var/crash') });
    assert.deepEqual(again.errors, []);
    assert.equal(again.entries[0]!.status, 'already-saved');
    assert.equal(again.entries[0]!.savedIn, dir);
    assert.deepEqual(readdirSync(join(fake.dir, 'var/crash')), [NAME]);
    assert.deepEqual(readdirSync(fake.pstore), []);
    const empty = collectPstore({ root: fake.root, crashDir: fake.root.path('/var/crash') });
    assert.deepEqual(empty.entries, []);
  } finally {
    fake.remove();
  }
});

test('part of a crash cleared, the rest left behind: the rest is recognized as saved, not a new crash', (t) => {
  if (!need(t, referenceLogPath())) return;
  const fake = fakePstoreRoot();
  try {
    const d = pstoreDump(referenceLog(), { reason: 'Panic', count: 1, bufsize: 1024, compress: true });
    const names = addEfiDump(fake, d, 1, T0);
    collectPstore({ root: fake.root, crashDir: fake.root.path('/var/crash'), keepRecords: true });
    // Part1 was erased, the others were not (say, the EFI call failed).
    rmSync(join(fake.pstore, names[0]!));
    const r = collectPstore({ root: fake.root, crashDir: fake.root.path('/var/crash') });
    assert.equal(r.entries.length, 1);
    assert.equal(r.entries[0]!.status, 'already-saved');
    assert.deepEqual(readdirSync(join(fake.dir, 'var/crash')), [NAME]);
    assert.deepEqual(readdirSync(fake.pstore), []);
  } finally {
    fake.remove();
  }
});

test('an Oops and its Panic seconds apart are one entry; the same Panic#1 a boot later is another', (t) => {
  if (!need(t, referenceLogPath())) return;
  const fake = fakePstoreRoot();
  try {
    const lines = referenceLog();
    addEfiDump(fake, pstoreDump(lines.slice(0, -3), { reason: 'Oops', count: 1, bufsize: 1024, compress: true }), 1, T0);
    addEfiDump(fake, pstoreDump(lines, { reason: 'Panic', count: 2, bufsize: 1024, compress: true }), 2, T0 + 2);
    // After the reboot the count starts over: Panic#1, much later.
    const later = pstoreDump(referenceLog('6.1-sysrq'), { reason: 'Panic', count: 1, bufsize: 1024, compress: true });
    addEfiDump(fake, later, 1, T0 + 600);
    const r = collectPstore({ root: fake.root, crashDir: fake.root.path('/var/crash') });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(
      r.entries.map((e) => [e.name, e.dumps.map((d) => `${d.reason}#${d.count}:${d.log}`)]),
      [
        [NAME, ['Oops#1:dmesg-Oops-1.txt', 'Panic#2:dmesg.txt']],
        ['2026-12-01-20:24:07-pstore', ['Panic#1:dmesg.txt']],
      ],
    );
    assert.equal(readFileSync(join(fake.dir, 'var/crash/2026-12-01-20:24:07-pstore/dmesg.txt'), 'utf8'), later.expectedLog);
  } finally {
    fake.remove();
  }
});

test('console records alone are no crash: left in place, nothing written; unknown files are never touched', () => {
  const fake = fakePstoreRoot();
  try {
    fake.add('console-ramoops-0', '[    0.000000] Linux version 6.12\n', T0);
    fake.add('README', 'not a record\n', T0);
    const r = collectPstore({ root: fake.root, crashDir: fake.root.path('/var/crash') });
    assert.deepEqual(r.entries, []);
    assert.deepEqual(
      r.left.map((l) => l.file),
      ['README', 'console-ramoops-0'],
    );
    assert.deepEqual(readdirSync(fake.pstore).sort(), ['README', 'console-ramoops-0']);
    assert.deepEqual(readdirSync(join(fake.dir, 'var/crash')), []);
  } finally {
    fake.remove();
  }
});

test('a stale NAME.incomplete from a failed run is replaced; an existing entry with other records is not overwritten', (t) => {
  if (!need(t, referenceLogPath())) return;
  const fake = fakePstoreRoot();
  try {
    const d = pstoreDump(referenceLog(), { reason: 'Oops', count: 1, bufsize: 1024, compress: true });
    addEfiDump(fake, d, 1, T0);
    const crash = join(fake.dir, 'var/crash');
    mkdirSync(join(crash, NAME + '.incomplete', 'raw'), { recursive: true });
    writeFileSync(join(crash, NAME + '.incomplete', 'dmesg.txt.incomplete'), 'half');
    const r = collectPstore({ root: fake.root, crashDir: fake.root.path('/var/crash'), keepRecords: true });
    assert.equal(r.entries[0]!.status, 'saved');
    assert.deepEqual(readdirSync(crash), [NAME]);
    assert.equal(readFileSync(join(crash, NAME, 'dmesg.txt'), 'utf8'), d.expectedLog);

    // A different crash that maps to the same directory name: refused, records kept.
    const other = fakePstoreRoot();
    try {
      addEfiDump(other, pstoreDump(referenceLog('6.1-sysrq'), { reason: 'Panic', count: 1, bufsize: 1024, compress: true }), 1, T0);
      mkdirSync(join(other.dir, 'var/crash', NAME), { recursive: true });
      writeFileSync(join(other.dir, 'var/crash', NAME, 'pstore.json'), '{"records":[]}');
      const c = collectPstore({ root: other.root, crashDir: other.root.path('/var/crash') });
      assert.equal(c.entries[0]!.status, 'failed');
      assert.match(c.errors[0]!, /exists already and holds other records/);
      assert.ok(readdirSync(other.pstore).length > 0);
      assert.ok(c.entries[0]!.records.every((x) => x.clear === 'not-cleared'));
      assert.ok(!existsSync(join(other.dir, 'var/crash', NAME + '.incomplete')));
    } finally {
      other.remove();
    }
  } finally {
    fake.remove();
  }
});

function run(args: string[], wrap?: string): { code: number | null; stdout: string; stderr: string } {
  const r = wrap
    ? spawnSync('unshare', ['-r', '-m', 'sh', '-c', `${wrap} && exec "$0" "$@"`, process.execPath, MAIN, ...args], { encoding: 'utf8' })
    : spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Can this machine mount a private tmpfs (user + mount namespace)? */
function canUnshare(): boolean {
  return spawnSync('unshare', ['-r', '-m', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /mnt || mount -t tmpfs -o size=64k tmpfs /tmp'], { encoding: 'utf8' }).status === 0;
}

for (const [what, opts, errRe] of [
  ['a full disk (ENOSPC)', 'size=12k', /no space left on device \(ENOSPC\)/],
  ['a read-only file system (EROFS)', 'ro', /read-only file system \(EROFS\)/],
] as const) {
  test(`CLI: ${what} under the crash directory: exit 1, one clear line, every record kept`, (t) => {
    if (!need(t, referenceLogPath())) return;
    if (!canUnshare()) return t.skip('needs unshare -r -m to mount a small tmpfs');
    const fake = fakePstoreRoot();
    try {
      const d = pstoreDump(referenceLog(), { reason: 'Panic', count: 1, bufsize: 1024, compress: true });
      const names = addEfiDump(fake, d, 1, T0);
      const crash = join(fake.dir, 'var/crash');
      const r = run(['pstore', '--root', fake.dir, '--dir', crash], `mount -t tmpfs -o ${opts},mode=0700 tmpfs '${crash}'`);
      assert.equal(r.code, 1, r.stderr);
      const errLines = r.stderr.trimEnd().split('\n');
      assert.match(errLines[0]!, /^kdumpkit: error: /);
      assert.match(errLines[0]!, errRe);
      assert.match(errLines[0]!, /the records of .* were kept in/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      assert.match(r.stdout, /FAILED/);
      assert.deepEqual(readdirSync(fake.pstore).sort(), [...names].sort());
    } finally {
      fake.remove();
    }
  });
}

test('CLI: --json report, --dir from /etc/kdumpkit.conf, text output, --help, usage errors', (t) => {
  if (!need(t, referenceLogPath())) return;
  const fake = fakePstoreRoot();
  try {
    ramoopsCrash(fake, referenceLog());
    mkdirSync(join(fake.dir, 'etc'));
    mkdirSync(join(fake.dir, 'srv/crash'), { recursive: true });
    writeFileSync(join(fake.dir, 'etc/kdumpkit.conf'), 'dir = /srv/crash\n');
    const dry = run(['pstore', '--root', fake.dir, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /4 records, 1 crash \(dry run/);
    assert.match(dry.stdout, new RegExp(`Would save ${fake.dir}/srv/crash/${NAME}`));
    assert.match(dry.stdout, /Panic#2 from ramoops at 2026-12-01T20:14:07.000Z: 1 part, .* of log in dmesg.txt/);
    assert.match(dry.stdout, /BUG: kernel NULL pointer dereference/);
    assert.match(dry.stdout, /dmesg-ramoops-1.enc.z .*deflate-raw: would be cleared/);
    const j = run(['pstore', '--root', fake.dir, '--json']);
    assert.equal(j.code, 0, j.stderr);
    const rep = JSON.parse(j.stdout);
    assert.equal(rep.entries[0].status, 'saved');
    assert.equal(rep.entries[0].path, join(fake.dir, 'srv/crash', NAME));
    assert.equal(rep.entries[0].records.length, 4);
    assert.ok(existsSync(join(fake.dir, 'srv/crash', NAME, 'dmesg.txt')));
    const none = run(['pstore', '--root', fake.dir]);
    assert.equal(none.code, 0);
    assert.match(none.stdout, /no records: nothing to collect/);
    const h = run(['pstore', '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /Usage:\n {2}kdumpkit pstore /);
    assert.match(h.stdout, /Examples:/);
    assert.match(h.stdout, /--keep-records/);
    const bad = run(['pstore', '--root', fake.dir, '--bogus']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^kdumpkit: error: pstore: /);
  } finally {
    fake.remove();
  }
});
