/**
 * The crash catalog over a real crash directory built from the shared dumps: a dump saved by
 * `kdumpkit save` (with report.json), a dump copied in without report.json, a save that did not
 * finish (vmcore.incomplete), a truncated dump flagged incomplete in its kdump header, a corrupt
 * vmcore (random bytes), a pstore crash (dmesg.txt + pstore.json as `kdumpkit pstore` writes
 * them), a leftover of an interrupted prune and a directory that is no crash.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, openSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { REPO, need, sharedDumps } from '../helpers/dumps.js';
import { scratch } from '../collect/save-helpers.js';
import { fakeMachine } from '../helpers/fake-roots.js';
import { readCatalog, type CatalogEntry } from '../../src/catalog/entries.js';
import { groupBySignature } from '../../src/catalog/groups.js';
import { buildReportText, readReportFile } from '../../src/catalog/report-file.js';
import { logVerdict } from '../../src/catalog/log-signature.js';
import { renderCatalogList } from '../../src/report/catalog-text.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

function cli(args: string[], opts: { cwd?: string } = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', maxBuffer: 256 << 20, timeout: 600000, cwd: opts.cwd });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function oneLineError(r: { code: number | null; stderr: string }, what: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0]!, /^kdumpkit: error: /);
  assert.match(lines[0]!, what);
  assert.ok(lines.length <= 2, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

const dumps = sharedDumps();
const nullderef = dumps.find((d) => d.name === '6.12-nullderef');
const sysrq = dumps.find((d) => d.name === '6.1-sysrq');
const work = scratch('catalog');
const crash = join(work, 'crash');

const SAVED = '2026-11-25-08:04:37'; // the crash time of 6.12-nullderef: save names the directory after it
const PSTORE = '2026-11-25-08:04:38-pstore';
const COPIED = '2026-11-20-10:00:00';
const UNFINISHED = '2026-11-26-12:00:00';
const FLAGGED = '2026-11-28-09:00:00';
const CORRUPT = '2026-11-27-12:00:00';
const NULL_SIG = 'null-deref: crashme_recurse < do_one_initcall < do_init_module [crashme]';
const SYSRQ_SIG = 'sysrq: sysrq_handle_crash < __handle_sysrq < write_sysrq_trigger';

let ready = false;
let analyzeJson: { triage: { signature: string; kind: string }; sys: { nodename: string; release: string } } | undefined;

/** The dmesg.txt lines from the first crash report on, as a ramoops record holds them (fs/pstore/platform.c). */
function pstoreRecord(dmesg: string): string {
  const lines = dmesg.split('\n');
  const i = lines.findIndex((l) => l.includes('BUG: kernel NULL pointer dereference'));
  return ['Oops#1 Part1', ...lines.slice(Math.max(0, i - 2)).map((l) => (l === '' ? l : `<4>${l}`))].join('\n');
}

before(() => {
  if (!nullderef || !sysrq) return;
  const nd = join(nullderef.dir, 'vmcore.d31.zstd');
  const sq = join(sysrq.dir, 'vmcore.d31.zstd');
  if (!existsSync(nd) || !existsSync(sq)) return;
  mkdirSync(crash);
  // 1. Saved by kdumpkit save: vmcore, dmesg.txt, report.json.
  const s = cli(['save', '-q', '--threads', '0', nd, crash]);
  assert.equal(s.code, 0, s.stderr);
  const a = cli(['analyze', '--json', nd]);
  assert.equal(a.code, 0, a.stderr);
  analyzeJson = JSON.parse(a.stdout) as typeof analyzeJson;
  // 2. A dump copied in by hand: no report.json (analyzed when listed).
  mkdirSync(join(crash, COPIED));
  copyFileSync(sq, join(crash, COPIED, 'vmcore'));
  // 3. A save that did not finish.
  mkdirSync(join(crash, UNFINISHED));
  copyFileSync(sq, join(crash, UNFINISHED, 'vmcore.incomplete'));
  // 4. A dump cut short with the kdump header's incomplete flag (status 0x8 at 424, as
  //    makedumpfile and kdumpkit leave a dump whose write failed).
  mkdirSync(join(crash, FLAGGED));
  const flagged = join(crash, FLAGGED, 'vmcore');
  copyFileSync(nd, flagged);
  truncateSync(flagged, Math.floor(statSync(flagged).size * 0.6));
  const fd = openSync(flagged, 'r+');
  const st = Buffer.alloc(4);
  const rd = readFileSync(flagged).subarray(424, 428);
  st.writeUInt32LE(rd.readUInt32LE(0) | 0x8);
  writeSync(fd, st, 0, 4, 424);
  closeSync(fd);
  copyFileSync(join(crash, SAVED, 'dmesg.txt'), join(crash, FLAGGED, 'dmesg.txt'));
  // 5. Corrupt: random bytes.
  mkdirSync(join(crash, CORRUPT));
  writeFileSync(join(crash, CORRUPT, 'vmcore'), randomBytes(64 * 1024));
  // 6. A pstore crash of the same bug: the log from the oops on, no vmcore.
  mkdirSync(join(crash, PSTORE));
  writeFileSync(join(crash, PSTORE, 'dmesg.txt'), pstoreRecord(readFileSync(join(crash, SAVED, 'dmesg.txt'), 'utf8')));
  writeFileSync(join(crash, PSTORE, 'pstore.json'), JSON.stringify({ backend: 'ramoops', records: [{ file: 'dmesg-ramoops-0', id: 0, part: 1, time: '2026-11-25T08:04:38Z', compressed: false }] }));
  // 7. Not entries: a prune leftover and a foreign directory.
  mkdirSync(join(crash, '.deleting-2026-01-01-00:00:00'));
  writeFileSync(join(crash, '.deleting-2026-01-01-00:00:00', 'vmcore'), Buffer.alloc(8192, 1));
  mkdirSync(join(crash, 'lost+found'));
  ready = true;
});

function needCatalog(t: import('node:test').TestContext): boolean {
  if (ready) return true;
  const p = nullderef ? join(nullderef.dir, 'vmcore.d31.zstd') : join(REPO, '..', 'shared', 'vmcores', '6.12-nullderef', 'vmcore.d31.zstd');
  if (need(t, p, 'the shared dumps (../shared/vmcores) are needed')) assert.fail('the test catalog was not built');
  return false;
}

test('save writes report.json beside the dump: the analysis as analyze --json, under a header', (t) => {
  if (!needCatalog(t)) return;
  const dir = join(crash, SAVED);
  assert.deepEqual(readdirSync(dir).sort(), ['dmesg.txt', 'report.json', 'vmcore']);
  assert.equal(statSync(join(dir, 'report.json')).mode & 0o777, 0o600);
  const j = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { header: { schema: number; tool: string; file: string; level: number; codec: string; sizes: { fileBytes: number } }; triage: { signature: string } };
  assert.equal(j.header.schema, 1);
  assert.match(j.header.tool, /^kdumpkit \d/);
  assert.equal(j.header.file, 'vmcore');
  assert.equal(j.header.level, 31);
  assert.equal(j.header.codec, 'zstd');
  assert.equal(j.header.sizes.fileBytes, statSync(join(dir, 'vmcore')).size);
  assert.equal(j.triage.signature, analyzeJson!.triage.signature);
  assert.equal(j.triage.signature, NULL_SIG);
});

test('list: newest first, the columns, statuses, JSON', async (t) => {
  if (!needCatalog(t)) return;
  const r = cli(['list', '--dir', crash]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[0]!, /^ID\s+HOST\s+KERNEL\s+KIND\s+PANIC\s+SIGNATURE\s+LEVEL\s+SIZE\s+STATUS$/);
  const ids = lines.slice(1, 7).map((l) => l.split(/\s+/)[0]);
  assert.deepEqual(ids, [FLAGGED, CORRUPT, UNFINISHED, PSTORE, SAVED, COPIED]);
  assert.ok(!r.stdout.includes('\x1b['), 'no colors when not a terminal');
  assert.doesNotMatch(r.stdout, /deleting|lost\+found/);
  const row = (id: string): string => lines.find((l) => l.startsWith(id + ' '))!;
  assert.match(row(SAVED), new RegExp(`lab-nullderef\\s+6\\.12\\.117\\+deb12-amd64\\s+vmcore\\s+null-deref\\s+${NULL_SIG.replace(/[[\]+.]/g, '\\$&')}\\s+31\\s+\\S+ MiB\\s+complete$`));
  assert.match(row(COPIED), /lab-sysrq\s+6\.1\.0-56-amd64\s+vmcore\s+sysrq\s+sysrq: sysrq_handle_crash.*31\s+\S+ MiB\s+complete$/);
  assert.match(row(PSTORE), /-\s+6\.12\.117\+deb12-amd64\s+pstore\s+null-deref\s+null-deref: crashme_recurse.*\s-\s+\S+ KiB\s+complete$/);
  assert.match(row(UNFINISHED), /incomplete$/);
  assert.match(row(FLAGGED), /incomplete$/);
  assert.match(row(CORRUPT), /-\s+-\s+vmcore\s+-\s+-\s+-\s+\S+ KiB\s+unreadable$/);
  assert.match(r.stdout, new RegExp(`${CORRUPT}: unreadable: .*${CORRUPT}/vmcore at offset 0x0: unknown dump format`));
  assert.match(r.stdout, new RegExp(`${FLAGGED}: incomplete: the dump is flagged incomplete \\(kdump header status 0x8\\)`));

  const j = JSON.parse(cli(['list', '--dir', crash, '--json']).stdout) as { dir: string; entries: (Omit<CatalogEntry, 'time'> & { time: string })[] };
  assert.equal(j.dir, crash);
  assert.deepEqual(j.entries.map((e) => e.id), ids);
  const saved = j.entries.find((e) => e.id === SAVED)!;
  assert.equal(saved.verdictFrom, 'report.json');
  assert.equal(saved.time, '2026-11-25T08:04:37.000Z');
  assert.equal(saved.host, analyzeJson!.sys.nodename);
  assert.equal(saved.release, analyzeJson!.sys.release);
  assert.equal(saved.panicKind, 'null-deref');
  assert.equal(saved.level, 31);
  assert.ok(saved.sizeBytes >= statSync(join(crash, SAVED, 'vmcore')).size);
  const copied = j.entries.find((e) => e.id === COPIED)!;
  assert.equal(copied.verdictFrom, 'analysis', 'no report.json: the dump is analyzed');
  assert.equal(copied.signature, SYSRQ_SIG);
  const ps = j.entries.find((e) => e.id === PSTORE)!;
  assert.equal(ps.kind, 'pstore');
  assert.equal(ps.verdictFrom, 'log');
  assert.equal(ps.signature, saved.signature, 'the pstore log of the crash gets the signature of its vmcore');
  assert.equal(j.entries.find((e) => e.id === UNFINISHED)!.error, 'the save did not finish (vmcore.incomplete)');
  assert.equal(j.entries.find((e) => e.id === CORRUPT)!.status, 'unreadable');
});

test('list through --root: the crash directory named in /etc/kdumpkit.conf', (t) => {
  if (!needCatalog(t)) return;
  const m = fakeMachine('debian-grub');
  try {
    m.set('/etc/kdumpkit.conf', 'dir = /srv/crash\n');
    mkdirSync(join(m.dir, 'srv', 'crash', SAVED), { recursive: true });
    for (const f of ['vmcore', 'dmesg.txt', 'report.json']) copyFileSync(join(crash, SAVED, f), join(m.dir, 'srv', 'crash', SAVED, f));
    const j = JSON.parse(cli(['list', '--root', m.dir, '--json']).stdout) as { dir: string; entries: { id: string }[] };
    assert.equal(j.dir, join(m.dir, 'srv', 'crash'));
    assert.deepEqual(j.entries.map((e) => e.id), [SAVED]);
    const none = cli(['list', '--root', m.dir, '--dir', join(m.dir, 'nowhere')]);
    assert.equal(none.code, 0);
    assert.match(none.stdout, /^No crashes in /);
  } finally {
    m.remove();
  }
});

test('groups: the dump and the pstore log of the same bug count together', async (t) => {
  if (!needCatalog(t)) return;
  const cat = await readCatalog(crash);
  const groups = groupBySignature(cat.entries);
  const nd = groups.find((g) => g.signature === NULL_SIG)!;
  // The saved dump, its pstore log, and the truncated copy (analyzed, or its log).
  assert.equal(nd.count, 3);
  assert.deepEqual(nd.kinds, { vmcore: 2, pstore: 1 });
  assert.equal(nd.firstSeen.toISOString(), '2026-11-25T08:04:37.000Z');
  assert.equal(nd.lastSeen.toISOString(), '2026-11-28T09:00:00.000Z');
  const sq = groups.find((g) => g.signature === SYSRQ_SIG)!;
  assert.equal(sq.count, 2);
  assert.deepEqual(sq.ids, [UNFINISHED, COPIED]);
  assert.ok(!groups.some((g) => g.ids.includes(CORRUPT)), 'an unreadable entry has no signature');
  assert.equal(groups.reduce((s, g) => s + g.count, 0), 5);
  // On a terminal the status is colored, and the columns stay aligned (colors after padding).
  const colored = renderCatalogList(crash, cat.entries, { color: true }).split('\n');
  const plain = renderCatalogList(crash, cat.entries).split('\n');
  assert.ok(colored[5]!.endsWith('\x1b[32mcomplete\x1b[0m') && colored[3]!.endsWith('\x1b[33mincomplete\x1b[0m') && colored[2]!.endsWith('\x1b[31munreadable\x1b[0m'), colored.join('\n'));
  const strip = (l: string): string => ['\x1b[32m', '\x1b[33m', '\x1b[31m', '\x1b[0m'].reduce((a, c) => a.replaceAll(c, ''), l);
  assert.deepEqual(colored.map(strip), plain);

  const r = cli(['list', '--dir', crash, '--by-signature']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^COUNT\s+FIRST SEEN\s+LAST SEEN\s+DUMPS\/LOGS\s+SIGNATURE\n/);
  assert.match(r.stdout, /\n\s+3\s+2026-11-25 08:04:37\s+2026-11-28 09:00:00\s+2\/1\s+null-deref: crashme_recurse/);
  const j = JSON.parse(cli(['list', '--dir', crash, '--group', '--json']).stdout) as { groups: { signature: string; count: number }[] };
  assert.deepEqual(j.groups.map((g) => [g.signature, g.count]), [[NULL_SIG, 3], [SYSRQ_SIG, 2]]);
});

test('show: the stored report renders as analyze does; pstore from its log; corrupt is one error line', (t) => {
  if (!needCatalog(t)) return;
  const shown = cli(['show', '--dir', crash, SAVED]);
  assert.equal(shown.code, 0, shown.stderr);
  const fresh = cli(['analyze', join(crash, SAVED, 'vmcore')]);
  assert.equal(shown.stdout, fresh.stdout, 'report.json read back renders exactly like a fresh analysis');
  const byPath = cli(['show', join(crash, COPIED)]);
  assert.equal(byPath.code, 0, byPath.stderr);
  assert.match(byPath.stdout, /^VERDICT: Deliberate crash: SysRq 'c'/);
  assert.equal(readdirSync(join(crash, COPIED)).join(','), 'vmcore', 'show writes nothing');
  const j = JSON.parse(cli(['show', '--dir', crash, SAVED, '--json']).stdout) as { source: string; report: { triage: { signature: string } } };
  assert.equal(j.source, 'report.json');
  assert.equal(j.report.triage.signature, NULL_SIG);

  const ps = cli(['show', '--dir', crash, PSTORE]);
  assert.equal(ps.code, 0, ps.stderr);
  assert.match(ps.stdout, /^== VERDICT \(from the log; no vmcore\) ==\nNULL pointer dereference at address 0x8 in crashme_recurse\+0x47\/0x80 \[crashme\]/);
  assert.match(ps.stdout, new RegExp(`signature: ${NULL_SIG.replace(/[[\]+.]/g, '\\$&')}`));
  assert.match(ps.stdout, /KERNEL: 6\.12\.117\+deb12-amd64/);
  assert.match(ps.stdout, /SOURCE: pstore \(ramoops, 1 record\)/);

  oneLineError(cli(['show', '--dir', crash, CORRUPT]), new RegExp(`${CORRUPT}/vmcore at offset 0x0: unknown dump format`));
  oneLineError(cli(['show', '--dir', crash, '2020-01-01-00:00:00']), /no such crash/);
  const bad = cli(['show', '--dir', crash, 'yesterday']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /'yesterday' is not a crash id/);
});

interface BundleJson {
  file: string;
  contents: { name: string }[];
  missing: { name: string; why: string }[];
}

function tarList(file: string): string[] {
  const r = spawnSync('tar', ['-tzf', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

test('bundle: log, reports, crashed-kernel and host facts; GNU tar lists and extracts it', (t) => {
  if (!needCatalog(t)) return;
  const m = fakeMachine('debian-grub');
  try {
    const out = join(work, 'bundles');
    mkdirSync(out, { recursive: true });
    const r = cli(['bundle', '--dir', crash, '--root', m.dir, SAVED, '--json'], { cwd: out });
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as BundleJson;
    assert.equal(j.file, 'kdumpkit-2026-11-25-080437.tar.gz', 'no colons: GNU tar would take them for host:file');
    const file = join(out, j.file);
    const top = 'kdumpkit-2026-11-25-080437';
    assert.deepEqual(tarList(file), [
      `${top}/`,
      `${top}/README.txt`,
      `${top}/summary.txt`,
      `${top}/dmesg.txt`,
      `${top}/report.json`,
      `${top}/report.html`,
      `${top}/crashed-kernel/`,
      `${top}/crashed-kernel/uname.txt`,
      `${top}/crashed-kernel/cmdline.txt`,
      `${top}/crashed-kernel/modules.txt`,
      `${top}/host/`,
      `${top}/host/os-release`,
      `${top}/host/uname.txt`,
      `${top}/host/cmdline.txt`,
    ]);
    const x = join(out, 'x');
    mkdirSync(x);
    const ex = spawnSync('tar', ['-xzf', file, '-C', x], { encoding: 'utf8' });
    assert.equal(ex.status, 0, ex.stderr);
    const f = (n: string): string => readFileSync(join(x, top, n), 'utf8');
    assert.equal(f('dmesg.txt'), readFileSync(join(crash, SAVED, 'dmesg.txt'), 'utf8'));
    assert.equal(f('report.json'), readFileSync(join(crash, SAVED, 'report.json'), 'utf8'));
    assert.match(f('report.html'), /^<!DOCTYPE html>/);
    assert.match(f('report.html'), /null-deref: crashme_recurse/);
    assert.match(f('summary.txt'), new RegExp(`signature:  ${NULL_SIG.replace(/[[\]+.]/g, '\\$&')}`));
    assert.match(f('crashed-kernel/uname.txt'), /nodename: lab-nullderef\nrelease: {2}6\.12\.117\+deb12-amd64/);
    assert.equal(f('crashed-kernel/cmdline.txt'), 'console=ttyS0 crashkernel=192M loglevel=7 panic=0 oops=panic softlockup_panic=1\n');
    assert.match(f('crashed-kernel/modules.txt'), /crashme\s+ffffffffc041f000\s+20480\s+coming/);
    assert.match(f('host/os-release'), /Debian GNU\/Linux 12/);
    assert.equal(f('host/cmdline.txt'), m.read('/proc/cmdline'));
    assert.match(f('host/uname.txt'), new RegExp(`release:  ${m.release.replace(/[.+]/g, '\\$&')}`));
    assert.match(f('README.txt'), /The vmcore is not included/);
    // Never overwrites.
    const again = cli(['bundle', '--dir', crash, '--root', m.dir, SAVED], { cwd: out });
    oneLineError(again, /kdumpkit-2026-11-25-080437\.tar\.gz: already exists/);
  } finally {
    m.remove();
  }
});

test('bundle of a pstore crash and --with-vmcore', (t) => {
  if (!needCatalog(t)) return;
  const m = fakeMachine('fedora-bls');
  try {
    const file = join(work, 'pstore.tar.gz');
    const r = cli(['bundle', '--dir', crash, '--root', m.dir, PSTORE, '-o', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as BundleJson;
    const top = 'kdumpkit-2026-11-25-080438-pstore';
    const names = tarList(file);
    for (const n of ['dmesg.txt', 'pstore.json', 'summary.txt', 'crashed-kernel/uname.txt', 'crashed-kernel/modules.txt', 'host/os-release']) assert.ok(names.includes(`${top}/${n}`), n);
    assert.ok(!names.some((n) => /report\.(json|html)$/.test(n)));
    assert.match(j.missing.find((mi) => mi.name === 'report.json')!.why, /pstore crash has no vmcore/);
    const x = join(work, 'px');
    mkdirSync(x);
    assert.equal(spawnSync('tar', ['-xzf', file, '-C', x]).status, 0);
    assert.match(readFileSync(join(x, top, 'crashed-kernel/modules.txt'), 'utf8'), /^Modules linked in: .*crashme\(OE\+?\)/);
    assert.match(readFileSync(join(x, top, 'host/os-release'), 'utf8'), /Fedora/);

    // -o -: the archive on standard output, for a pipe.
    const piped = spawnSync(process.execPath, [MAIN, 'bundle', '--dir', crash, '--root', m.dir, PSTORE, '-o', '-'], { maxBuffer: 64 << 20 });
    assert.equal(piped.status, 0, piped.stderr.toString());
    assert.match(piped.stderr.toString(), /^Bundle of 2026-11-25-08:04:38-pstore written to -/);
    const listed = spawnSync('tar', ['-tz'], { input: piped.stdout, encoding: 'utf8' });
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(listed.stdout.trim().split('\n'), names);

    const withCore = join(work, 'core.tar.gz');
    const w = cli(['bundle', '--dir', crash, '--root', m.dir, COPIED, '-o', withCore, '--with-vmcore', '--no-pages']);
    assert.equal(w.code, 0, w.stderr);
    const y = join(work, 'cx');
    mkdirSync(y);
    assert.equal(spawnSync('tar', ['-xzf', withCore, '-C', y]).status, 0);
    assert.ok(readFileSync(join(y, 'kdumpkit-2026-11-20-100000', 'vmcore')).equals(readFileSync(join(crash, COPIED, 'vmcore'))));
    // No report.json in the entry: one is made for the bundle (and the entry is left as it was).
    const rep = JSON.parse(readFileSync(join(y, 'kdumpkit-2026-11-20-100000', 'report.json'), 'utf8')) as { triage: { signature: string } };
    assert.equal(rep.triage.signature, SYSRQ_SIG);
    assert.deepEqual(readdirSync(join(crash, COPIED)), ['vmcore']);
    // No dmesg.txt in this entry: the command line comes from saved_command_line in the dump.
    assert.equal(readFileSync(join(y, 'kdumpkit-2026-11-20-100000', 'crashed-kernel', 'cmdline.txt'), 'utf8'), 'console=ttyS0 crashkernel=192M loglevel=7 panic=0 oops=panic softlockup_panic=1\n');
    oneLineError(cli(['bundle', '--dir', crash, CORRUPT, '-o', join(work, 'c.tar.gz')]), /nothing to bundle: .*unknown dump format/);
    assert.ok(!existsSync(join(work, 'c.tar.gz')) && !existsSync(join(work, 'c.tar.gz.incomplete')), 'a failed bundle leaves no file');
  } finally {
    m.remove();
  }
});

test('report.json when the analysis fails: the error is recorded, nothing thrown', async () => {
  const bad = join(work, 'junk');
  writeFileSync(bad, randomBytes(8192));
  const r = await buildReportText(bad, { fileBytes: 8192, level: 31, codec: 'zstd' });
  assert.match(r.error!, /junk at offset 0x0: unknown dump format/);
  const path = join(work, 'report.json');
  writeFileSync(path, r.text);
  const back = readReportFile(path);
  assert.equal(back.analysis, undefined);
  assert.equal(back.header.error, r.error);
  writeFileSync(path, '{"header": 1');
  assert.throws(() => readReportFile(path), /report\.json.*not valid JSON/);
});

test('the log-only signature of each shared dump equals its analyzed signature', (t) => {
  if (!needCatalog(t)) return;
  assert.equal(logVerdict(readFileSync(join(crash, SAVED, 'dmesg.txt'), 'utf8')).triage.signature, NULL_SIG);
  const s = cli(['dmesg', join(crash, COPIED, 'vmcore')]);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(logVerdict(s.stdout).triage.signature, SYSRQ_SIG);
});

test('prune: --dry-run deletes nothing; the newest complete dump survives --keep 0', (t) => {
  if (!needCatalog(t)) return;
  const before = readdirSync(crash).sort();
  const dry = cli(['prune', '--dir', crash, '--keep', '2', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(readdirSync(crash).sort(), before);
  assert.match(dry.stdout, new RegExp(`would delete ${UNFINISHED} `));
  assert.match(dry.stdout, new RegExp(`would delete ${PSTORE} `));
  assert.match(dry.stdout, new RegExp(`would delete ${COPIED} `));
  assert.match(dry.stdout, /would delete \.deleting-2026-01-01-00:00:00 +\(left by an interrupted prune/);
  assert.match(dry.stdout, new RegExp(`kept ${SAVED}: the newest complete dump is never deleted`));
  assert.doesNotMatch(dry.stdout, new RegExp(`delete (${FLAGGED}|${CORRUPT}|${SAVED})`));
  assert.match(dry.stdout, /Would free \S+ MiB; 3 crashes kept .*dry run: nothing was deleted/);

  // keep in the configuration (under --root) is the default; 0 there means keep all.
  const m = fakeMachine('arch-grub');
  try {
    m.set('/etc/kdumpkit.conf', 'keep = 0\n');
    const all = cli(['prune', '--root', m.dir, '--dir', crash, '--dry-run', '--json']);
    assert.equal(all.code, 0, all.stderr);
    const pj = JSON.parse(all.stdout) as { keep: string; deleted: unknown[] };
    assert.equal(pj.keep, 'all');
    assert.deepEqual(pj.deleted, []);
  } finally {
    m.remove();
  }

  const real = cli(['prune', '--dir', crash, '--keep', '0', '--json']);
  assert.equal(real.code, 0, real.stderr);
  const j = JSON.parse(real.stdout) as { deleted: { id: string }[]; kept: string[]; protected: string; freedBytes: number };
  assert.deepEqual(j.kept, [SAVED]);
  assert.equal(j.protected, SAVED);
  assert.deepEqual(j.deleted.map((d) => d.id), [FLAGGED, CORRUPT, UNFINISHED, PSTORE, COPIED]);
  assert.ok(j.freedBytes > 30e6);
  assert.deepEqual(readdirSync(crash).sort(), [SAVED, 'lost+found'], 'entries and the leftover are gone, the foreign directory stays');
  const again = cli(['prune', '--dir', crash, '--keep', '0']);
  assert.match(again.stdout, /^Nothing to delete in .*: 1 crash, keeping 0\.$/m);
  assert.equal(cli(['prune', '--dir', crash, '--keep', 'x']).code, 2);
});

test('help teaches each catalog command; usage errors exit 2', () => {
  for (const cmd of ['list', 'show', 'prune', 'bundle']) {
    const h = cli([cmd, '--help']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, new RegExp(`^Usage:\\n  kdumpkit ${cmd}`));
    assert.match(h.stdout, /Examples:/);
    assert.match(h.stdout, /--json/);
    assert.match(h.stdout, /--dir VALUE/);
    assert.match(h.stdout, /--root VALUE/);
  }
  const top = cli(['--help']);
  for (const cmd of ['list', 'show', 'prune', 'bundle']) assert.match(top.stdout, new RegExp(`\\n  ${cmd} +\\S`));
  assert.equal(cli(['show']).code, 2);
  assert.equal(cli(['bundle']).code, 2);
  assert.equal(cli(['list', 'extra']).code, 2);
});
