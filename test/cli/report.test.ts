import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/cli/commands/report.js';
import { KdumpkitError } from '../../src/util/errors.js';
import { REPO, need } from '../helpers/dumps.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');
const ELF = join(REPO, '.cache', 'vmcores', '6.12-nullderef', 'vmcore.elf');
const D31 = join(REPO, '.cache', 'vmcores', '6.12-nullderef', 'vmcore.d31.zlib');

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface PagesJson {
  level: number;
  ramPages: number;
  keptPages: number;
  excluded: Record<string, number>;
  alreadyFiltered?: { dumpLevel: number; presentPages: number; absentPages: number };
}

test('report: listed, and its help teaches (what the page shows, --html, -, --json, examples)', () => {
  assert.match(run('--help').stdout, /^ {2}report\s+\S/m);
  const h = run('report', '--help');
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Usage:\n {2}kdumpkit report DUMP --html FILE\|-/);
  for (const s of ['--html', '--json', '--no-pages', '--vmlinux', 'Examples:', 'self-contained', 'escaped', 'makedumpfile -d 31']) assert.ok(h.stdout.includes(s), s);
});

test('report: usage errors exit 2, an unwritable target fails before the analysis with one line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-report-'));
  try {
    assert.equal(run('report').code, 2);
    const both = run('report', '/nonexistent/vmcore', '--html', '-', '--json');
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--html - and --json both want standard output/);
    const isDir = run('report', '/nonexistent/vmcore', '--html', dir);
    assert.equal(isDir.code, 2);
    assert.match(isDir.stderr, /is a directory/);
    const noDir = run('report', '/nonexistent/vmcore', '--html', join(dir, 'missing', 'r.html'));
    assert.equal(noDir.code, 1);
    assert.match(noDir.stderr, /^kdumpkit: error: .*missing: cannot write the report into: no such directory/);
    const noDump = run('report', '/nonexistent/vmcore', '--html', join(dir, 'r.html'));
    assert.equal(noDump.code, 1);
    assert.match(noDump.stderr, /^kdumpkit: error: \/nonexistent\/vmcore: cannot open: no such file/);
    assert.doesNotMatch(noDump.stderr + noDir.stderr, /\n\s+at /);
    assert.deepEqual(readdirSync(dir), [], 'nothing written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFileAtomic: replaces the file whole, and leaves the old one and no temporary file when it fails', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-report-'));
  try {
    const p = join(dir, 'r.html');
    writeFileSync(p, 'old');
    writeFileAtomic(p, 'new report ✓');
    assert.equal(readFileSync(p, 'utf8'), 'new report ✓');
    assert.deepEqual(readdirSync(dir), ['r.html']);
    // A non-empty directory in the way: the rename fails, the directory and its file are kept.
    const blocked = join(dir, 'blocked');
    mkdirSync(blocked);
    writeFileSync(join(blocked, 'keep'), 'data');
    assert.throws(() => writeFileAtomic(blocked, 'x'), (e) => e instanceof KdumpkitError && /cannot write/.test(e.message));
    assert.equal(readFileSync(join(blocked, 'keep'), 'utf8'), 'data');
    assert.deepEqual(readdirSync(dir).sort(), ['blocked', 'r.html']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('report of a real ELF dump: --html FILE, --html -, --json and text agree', (t) => {
  if (!need(t, ELF)) return;
  const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-report-'));
  try {
    const out = join(dir, 'crash.html');
    writeFileSync(out, 'an older report');
    const w = run('report', ELF, '--html', out);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout, '');
    assert.match(w.stderr, /report written to .*crash\.html \(\d+ KiB\)/);
    assert.deepEqual(readdirSync(dir), ['crash.html'], 'replaced in place, no temporary file left');
    const page = readFileSync(out, 'utf8');
    assert.match(page, /^<!DOCTYPE html>/);

    const j = run('report', ELF, '--json');
    assert.equal(j.code, 0, j.stderr);
    const r = JSON.parse(j.stdout) as { analysis: { panic: { panicString: string }; tasks: { total: number } }; pages: PagesJson; generator: { tool: string } };
    assert.ok(page.includes(r.analysis.panic.panicString.replace(/&/g, '&amp;').replace(/</g, '&lt;')), 'the panic string is in the page');
    assert.ok(page.includes(`<span id="task-count">${r.analysis.tasks.total}</span>`));
    assert.match(r.generator.tool, /^kdumpkit /);
    // An ELF vmcore of the whole RAM: every RAM page is either kept or in one category.
    const p = r.pages;
    assert.equal(p.level, 31);
    assert.equal(p.alreadyFiltered, undefined);
    const excluded = Object.values(p.excluded).reduce((a, b) => a + b, 0);
    assert.equal(p.keptPages + excluded, p.ramPages);
    assert.ok(p.excluded.free! > 0 && p.excluded.zero! > 0 && p.keptPages > 0);

    const s = run('report', ELF, '--html', '-', '--no-pages');
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^<!DOCTYPE html>/);
    assert.ok(s.stdout.includes('not computed (--no-pages)'));

    const text = run('report', ELF);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^VERDICT: /);
    assert.match(text.stdout, /== PAGES \(dump level 31\) ==\nRAM pages: (\d+) {2}kept: (\d+)/);
    assert.ok(text.stdout.includes(`RAM pages: ${p.ramPages}  kept: ${p.keptPages}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('report of a dump saved with dump level 31: says so, and charts what the file holds', (t) => {
  if (!need(t, D31)) return;
  const j = run('report', D31, '--json');
  assert.equal(j.code, 0, j.stderr);
  const p = (JSON.parse(j.stdout) as { pages: PagesJson }).pages;
  assert.ok(p.alreadyFiltered, 'already filtered');
  assert.equal(p.alreadyFiltered.dumpLevel, 31);
  assert.equal(p.alreadyFiltered.presentPages + p.alreadyFiltered.absentPages, p.ramPages);
  // Whatever a level-31 dump keeps (and the zero pages, which kdump files keep as references) is in the file.
  assert.ok(p.keptPages + p.excluded.zero! <= p.alreadyFiltered.presentPages);
  const h = run('report', D31, '--html', '-');
  assert.equal(h.code, 0, h.stderr);
  assert.ok(h.stdout.includes('This dump was already filtered when it was saved (dump level 31)'));
  assert.ok(h.stdout.includes('left out when saved'));
});
