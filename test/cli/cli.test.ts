import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, need, sharedDumps } from '../helpers/dumps.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A known error is one `kdumpkit: error:` line, maybe a hint line, and no stack trace. */
function assertCleanError(r: ReturnType<typeof run>, code: number, what: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0]!, /^kdumpkit: error: /);
  assert.match(lines[0]!, what);
  assert.ok(lines.length <= 2 && (lines.length === 1 || lines[1]!.startsWith('hint: ')), r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

test('help teaches: top level lists commands, each command has usage and examples', () => {
  const top = run('--help');
  assert.equal(top.code, 0);
  assert.match(top.stdout, /info\s+describe a dump/);
  assert.match(top.stdout, /dmesg\s+print the crashed kernel's log/);
  for (const cmd of ['info', 'dmesg']) {
    const h = run(cmd, '--help');
    assert.equal(h.code, 0);
    assert.match(h.stdout, new RegExp(`Usage:\\n  kdumpkit ${cmd} DUMP`));
    assert.match(h.stdout, /Examples:/);
    assert.match(h.stdout, /--json/);
  }
});

test('usage errors exit 2 with one line and a hint', () => {
  assertCleanError(run('frobnicate'), 2, /unknown command 'frobnicate'/);
  assertCleanError(run('info'), 2, /missing argument/);
  assertCleanError(run('info', 'a', 'b'), 2, /unexpected argument 'b'/);
  assertCleanError(run('dmesg', '--nope', 'x'), 2, /Unknown option '--nope'/);
});

test('bad files exit 1 with a one-line error naming file and offset', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-cli-'));
  const junk = join(dir, 'junk');
  writeFileSync(junk, Buffer.alloc(8192, 0x5a));
  assertCleanError(run('info', junk), 1, new RegExp(`${junk} at offset 0x0: unknown dump format`));
  assertCleanError(run('dmesg', join(dir, 'missing')), 1, /missing: cannot open: no such file/);
  const d = sharedDumps()[0];
  if (!d) return assert.fail('no shared dumps');
  const src = join(d.dir, 'vmcore.d31.zstd');
  if (!need(t, src)) return;
  // The first 64 KiB: header and bitmaps survive, the descriptor table does not.
  const cut = join(dir, 'cut.kdump');
  const buf = Buffer.alloc(65536);
  const fd = openSync(src, 'r');
  readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  writeFileSync(cut, buf);
  assertCleanError(run('info', cut), 1, new RegExp(`${cut} at offset 0x[0-9a-f]+: .*(past end of file|truncated)`));
});

for (const d of sharedDumps()) {
  test(`info and dmesg on ${d.name}`, (t) => {
    const file = join(d.dir, 'vmcore.d31.zstd');
    if (!need(t, file)) return;
    const info = run('info', '--json', file);
    assert.equal(info.code, 0, info.stderr);
    const j = JSON.parse(info.stdout) as { format: string; codec: string; dumpLevel: number; kernel: { release: string; nodename: string; source: string }; cpus: { pid: number }[]; pages: { present: number; excluded: number; zero: number } };
    const drgn = JSON.parse(readFileSync(join(d.dir, 'reference', 'drgn.json'), 'utf8')) as { uts: { nodename: string; release: string }; crashed: { tid: number } };
    assert.match(j.format, /^kdump-compressed/);
    assert.equal(j.codec, 'zstd');
    assert.equal(j.dumpLevel, 31);
    assert.equal(j.kernel.source, 'memory');
    assert.equal(j.kernel.release, drgn.uts.release);
    assert.equal(j.kernel.nodename, drgn.uts.nodename);
    assert.ok(j.cpus.some((c) => c.pid === drgn.crashed.tid), 'the crashed task runs on one of the CPUs');
    assert.ok(j.pages.excluded > 0 && j.pages.zero > 0 && j.pages.present > j.pages.zero);
    const text = run('info', file);
    assert.equal(text.code, 0);
    assert.match(text.stdout, new RegExp(`nodename:\\s+${drgn.uts.nodename}`));

    const log = run('dmesg', file);
    assert.equal(log.code, 0, log.stderr);
    assert.equal(log.stdout, readFileSync(join(d.dir, 'reference', 'makedumpfile-dmesg.txt'), 'utf8'));
    const json = JSON.parse(run('dmesg', '--json', file).stdout) as { kind: string; entries: { seq: number; text: string; caller: string }[] };
    assert.equal(json.kind, 'lockless');
    assert.equal(json.entries.length, log.stdout.split('\n').filter((l) => l.startsWith('[')).length);
    assert.ok(json.entries.every((e, i) => i === 0 || e.seq > json.entries[i - 1]!.seq));
    assert.match(json.entries[0]!.text, /^Linux version /);
  });
}
