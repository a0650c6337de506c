import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDump } from '../../src/formats/open.js';
import { sourceReadMethod } from '../../src/collect/mapped-source.js';
import { IN_CI, REPO, need, sharedDumps } from '../helpers/dumps.js';
import { reportLines, run, scratch } from './save-helpers.js';

/** kdumpkit save / reassemble through the CLI: files, modes, refusals, disk full. */

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');
const work = scratch('save-cli');

function cli(args: string[], opts: { input?: Buffer; uid?: number; binary?: boolean } = {}): { code: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { input: opts.input, maxBuffer: 512 << 20, timeout: 600000, ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}) });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** A known error: one `kdumpkit: error:` line (plus maybe a hint), no stack trace. */
function assertOneLineError(stderr: string, what: RegExp): void {
  const lines = stderr.trimEnd().split('\n').filter((l) => !/^(Excluding|Copying|Saving)/.test(l));
  const i = lines.findIndex((l) => l.startsWith('kdumpkit: error: '));
  assert.ok(i >= 0, stderr);
  assert.match(lines[i]!, what);
  assert.ok(lines.slice(i + 1).every((l) => l.startsWith('hint: ')), stderr);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

const d = sharedDumps().find((x) => x.name === '6.1-sysrq') ?? sharedDumps()[0];
const src = d ? join(d.cacheDir, 'vmcore.elf') : '';

test('help teaches: synopsis, DEST forms, levels, codec choice, examples', () => {
  const h = cli(['save', '--help']);
  assert.equal(h.code, 0);
  const text = h.stdout.toString();
  assert.match(text, /Usage:\n {2}kdumpkit save \[SRC\] DEST/);
  assert.match(text, /YYYY-MM-DD-HH:MM:SS/);
  assert.match(text, /Compression \(--compress, default zstd\)/);
  assert.match(text, /Examples:/);
  assert.match(cli(['reassemble', '--help']).stdout.toString(), /makedumpfile -R/);
  assert.match(cli(['--help']).stdout.toString(), /save\s+save a crash dump/);
});

test('usage errors exit 2', () => {
  for (const [args, what] of [
    [['save', src, join(work, 'x'), '--level', '32'], /--level 32: must be 0\.\.31/],
    [['save', src, join(work, 'x'), '--compress', 'bzip2'], /--compress bzip2: not one of/],
    [['save', src, join(work, 'x'), '--format', 'raw'], /--format raw: not one of/],
    [['save', src, join(work, 'x'), '--threads', 'many'], /--threads many: not a number/],
    [['save', src, join(work, 'x'), '--format', 'elf', '--compress', 'zlib'], /ELF output is not compressed/],
  ] as const) {
    const r = cli([...args]);
    assert.equal(r.code, 2, r.stderr);
    assertOneLineError(r.stderr, what);
  }
});

test('directory mode: DEST/<crash time>/{vmcore,dmesg.txt}, 0700/0600, report as makedumpfile prints it', (t) => {
  if (!d || !need(t, src)) return;
  const dest = join(work, 'crash');
  mkdirSync(dest);
  // Debian's makedumpfile 1.7.2 wrote the reference: compare with its rule set.
  const r = cli(['save', src, dest, '--compress', 'lzo', '--threads', '2', '--rules', '1.7.2']);
  assert.equal(r.code, 0, r.stderr);
  const dirs = readdirSync(dest);
  assert.equal(dirs.length, 1);
  assert.match(dirs[0]!, /^\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d$/);
  const dir = join(dest, dirs[0]!);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  // report.json: the analysis of the saved dump (src/catalog/report-file.ts).
  assert.deepEqual(readdirSync(dir).sort(), ['dmesg.txt', 'report.json', 'vmcore']);
  for (const f of ['vmcore', 'dmesg.txt', 'report.json']) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
  assert.ok(readFileSync(join(dir, 'dmesg.txt')).equals(readFileSync(join(d.dir, 'reference', 'makedumpfile-dmesg.txt'))));
  const ref = reportLines(readFileSync(join(d.dir, 'reference', 'makedumpfile-d31.log'), 'utf8')).filter((l) => !l.startsWith('Write bytes'));
  const out = r.stdout.toString();
  assert.deepEqual(reportLines(out).filter((l) => !l.startsWith('Write bytes')), ref);
  assert.match(out, /Write bytes {5}: \d+\n/);
  assert.match(out, new RegExp(`The dumpfile is saved to ${dir}/vmcore`));
  // Progress on a non-terminal: plain lines, percent, MB/s.
  assert.match(r.stderr, /^Copying data\s+: \[100\.0 %\]\s+[\d.]+ MB\/s/m);
  assert.doesNotMatch(r.stderr, /\r/);
  assert.match(r.stderr, /^Saving \d+ pages \(level 31 with lzo\): about [\d.]+ MB, worst case [\d.]+ MB; [\d.]+ [GMk]B free/m);

  // Saving the same crash again never overwrites it.
  const before = readFileSync(join(dir, 'vmcore'));
  const again = cli(['save', src, dest]);
  assert.equal(again.code, 1);
  assertOneLineError(again.stderr, /vmcore: already exists/);
  assert.ok(readFileSync(join(dir, 'vmcore')).equals(before));
  assert.deepEqual(readdirSync(dir).sort(), ['dmesg.txt', 'report.json', 'vmcore']);
});

test('file mode: an existing DEST file is refused; --json summary; --quiet prints nothing', async (t) => {
  if (!d || !need(t, src)) return;
  const existing = join(work, 'existing');
  writeFileSync(existing, 'precious');
  const r = cli(['save', src, existing]);
  assert.equal(r.code, 1);
  assertOneLineError(r.stderr, /existing: already exists/);
  assert.equal(readFileSync(existing, 'utf8'), 'precious');

  const file = join(work, 'one.zstd');
  const j = cli(['save', src, file, '--json', '--dmesg', join(work, 'one.dmesg')]);
  assert.equal(j.code, 0, j.stderr);
  const s = JSON.parse(j.stdout.toString()) as { file: string; format: string; codec: string; level: number; pages: { original: number; zero: number; remaining: number }; bytesWritten: number; incomplete: boolean; read: string; seconds: { total: number } };
  assert.equal(s.file, file);
  // The ELF source is read through memory maps where the helper is built (npm ci builds it).
  assert.equal(s.read, sourceReadMethod());
  if (IN_CI) assert.equal(s.read, 'mmap');
  assert.equal(s.codec, 'zstd', 'zstd is the default codec');
  assert.equal(s.level, 31, '31 is the default level');
  assert.equal(s.incomplete, false);
  assert.ok(s.pages.zero > 0 && s.pages.remaining > 0 && s.pages.original > s.pages.remaining);
  assert.ok(s.bytesWritten > 0 && s.seconds.total > 0);
  assert.ok(readFileSync(join(work, 'one.dmesg')).equals(readFileSync(join(d.dir, 'reference', 'makedumpfile-dmesg.txt'))));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.ok(!existsSync(file + '.incomplete'));

  const q = cli(['save', src, join(work, 'quiet.lzo'), '-c', 'lzo', '--quiet']);
  assert.equal(q.code, 0, q.stderr);
  assert.equal(q.stdout.length, 0);
  assert.equal(q.stderr, '');

  // 0 and 3 threads give the same bytes.
  cli(['save', src, join(work, 't0.zlib'), '-c', 'zlib', '-q', '--threads', '0']);
  cli(['save', src, join(work, 't3.zlib'), '-c', 'zlib', '-q', '--threads', '3']);
  assert.ok(readFileSync(join(work, 't0.zlib')).equals(readFileSync(join(work, 't3.zlib'))));
  // Pages read through memory maps (the default where the native helper is built) or with
  // read(2) only give the same file.
  const pread = cli(['save', src, join(work, 'pread.zlib'), '-c', 'zlib', '--json', '--threads', '2', '--no-mmap']);
  assert.equal((JSON.parse(pread.stdout.toString()) as { read: string }).read, 'pread');
  assert.ok(readFileSync(join(work, 'pread.zlib')).equals(readFileSync(join(work, 't3.zlib'))));
  const dump = await openDump(join(work, 't3.zlib'));
  assert.equal(dump.format, 'kdump');
  dump.close();
});

test('flat to standard output, reassembled from standard input, equals the plain file', (t) => {
  if (!d || !need(t, src)) return;
  const flat = cli(['save', src, '-', '--format', 'flat', '-c', 'zlib', '--json']);
  assert.equal(flat.code, 0, flat.stderr);
  assert.equal(flat.stdout.subarray(0, 12).toString(), 'makedumpfile');
  assert.match(flat.stderr, /"flattened": true/, 'the summary goes to stderr when the dump goes to stdout');
  const plain = join(work, 'plain.zlib');
  assert.equal(cli(['save', src, plain, '-c', 'zlib', '-q']).code, 0);
  const rebuilt = join(work, 'rebuilt.zlib');
  const r = cli(['reassemble', '-', rebuilt], { input: flat.stdout });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.toString(), /kdump-compressed, zlib, dump level 31/);
  assert.ok(readFileSync(rebuilt).equals(readFileSync(plain)));
  // Never overwrites, also here.
  const again = cli(['reassemble', '-', rebuilt], { input: Buffer.alloc(0) });
  assert.equal(again.code, 1);
  assertOneLineError(again.stderr, /rebuilt\.zlib: already exists/);
  // A stream cut short: what arrived is kept, flagged incomplete.
  const cut = join(work, 'cut.zlib');
  const c = cli(['reassemble', '-', cut], { input: flat.stdout.subarray(0, Math.floor(flat.stdout.length / 2)) });
  assert.equal(c.code, 1);
  assertOneLineError(c.stderr, /the stream is truncated; the [\d.]+ MB received are in .*cut\.zlib\.incomplete, flagged incomplete/);
  assert.equal(readFileSync(cut + '.incomplete').readUInt32LE(424) & 0x8, 0x8);
});

test('permission denied: one clear line, exit 1', (t) => {
  if (!d || !need(t, src)) return;
  const locked = join(work, 'locked');
  mkdirSync(locked, { mode: 0o755 });
  const asRoot = process.getuid?.() === 0;
  if (!asRoot) chmodSync(locked, 0o555);
  // As root, permissions do not apply: run the CLI as 'nobody' against a root-owned directory.
  const r = cli(['save', src, join(locked, 'vmcore'), '-q'], asRoot ? { uid: 65534 } : {});
  if (r.code === null || /EACCES.*(main\.js|vmcore\.elf)|Cannot find module/.test(r.stderr)) {
    // 'nobody' cannot even read the program or the source here.
    if (IN_CI) assert.fail(r.stderr);
    t.skip(`cannot run as another user here: ${r.stderr.split('\n')[0]}`);
    return;
  }
  assert.equal(r.code, 1, r.stderr);
  assertOneLineError(r.stderr, /locked\/vmcore\.incomplete: cannot create: permission denied \(EACCES\)/);
  assert.deepEqual(readdirSync(locked), []);
});

test('disk full: the space check refuses up front; with --no-space-check the partial dump is kept and flagged', (t) => {
  if (!d || !need(t, src)) return;
  const mnt = join(work, 'tiny');
  mkdirSync(mnt);
  const m = run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
  if (m.code !== 0) {
    if (IN_CI) assert.fail(`cannot mount a tmpfs for the ENOSPC test: ${m.stderr}`);
    t.skip(`cannot mount a tmpfs (needs root): ${m.stderr.trim()}`);
    return;
  }
  try {
    const refused = cli(['save', src, mnt]);
    assert.equal(refused.code, 1, refused.stderr);
    assertOneLineError(refused.stderr, /not enough free space for the dump: it needs about [\d.]+ MB at level 31 with zstd \(worst case [\d.]+ MB\), [\d.]+ MB are free; the log was saved to/);
    const dir = join(mnt, readdirSync(mnt)[0]!);
    assert.deepEqual(readdirSync(dir), ['dmesg.txt']);

    const full = cli(['save', src, mnt, '--no-space-check', '-c', 'lzo']);
    assert.equal(full.code, 1, full.stderr);
    assertOneLineError(full.stderr, /vmcore\.incomplete: cannot write \d+ bytes at offset 0x[0-9a-f]+: no space left on device \(ENOSPC\); the [\d.]+ MB written \(\d+ of \d+ pages\) are kept, flagged incomplete \(header status 0x8/);
    assert.deepEqual(readdirSync(dir).sort(), ['dmesg.txt', 'vmcore.incomplete']);
    const f = join(dir, 'vmcore.incomplete');
    assert.equal(readFileSync(f).readUInt32LE(424), 0x2 | 0x8, 'lzo + DUMP_DH_COMPRESSED_INCOMPLETE');
    const info = cli(['info', '--json', f]);
    assert.equal(info.code, 0, info.stderr);
    assert.equal((JSON.parse(info.stdout.toString()) as { incomplete: boolean }).incomplete, true);
    run('rm', ['-rf', dir]);

    const elf = cli(['save', src, join(mnt, 'vmcore.elf'), '--format', 'elf', '--no-space-check', '-q']);
    assert.equal(elf.code, 1, elf.stderr);
    assertOneLineError(elf.stderr, /no space left on device \(ENOSPC\).*flagged incomplete \(ELF e_flags bit 0x1/);
    assert.equal(readFileSync(join(mnt, 'vmcore.elf.incomplete')).readUInt32LE(48) & 1, 1);
  } finally {
    run('umount', [mnt]);
  }
});
