import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unifiedDiff } from '../../src/util/diff.js';
import { IN_CI } from '../helpers/dumps.js';

test('unifiedDiff: equal texts give no diff; a created and a removed file diff against /dev/null', () => {
  assert.equal(unifiedDiff('/etc/x', 'a\n', 'a\n'), '');
  assert.equal(unifiedDiff('/etc/x', undefined, 'a\nb\n'), '--- /dev/null\n+++ b/etc/x\n@@ -0,0 +1,2 @@\n+a\n+b\n');
  assert.equal(unifiedDiff('/etc/x', 'a\n', undefined), '--- a/etc/x\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n');
  assert.equal(unifiedDiff('/etc/x', 'a', 'a\n'), '--- a/etc/x\n+++ b/etc/x\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n');
});

/** Deterministic pseudo-random edits of a numbered file (xorshift, fixed seed). */
function cases(): Array<[string, string]> {
  let s = 0x2545f491;
  const rnd = (n: number): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
  const out: Array<[string, string]> = [];
  for (let k = 0; k < 40; k++) {
    const a = Array.from({ length: 1 + rnd(30) }, (_, i) => `line ${i} ${rnd(3) === 0 ? 'x' : ''}`);
    const b = [...a];
    for (let e = 0; e < 1 + rnd(5); e++) {
      const at = rnd(b.length + 1);
      const op = rnd(3);
      if (op === 0) b.splice(at, 1);
      else if (op === 1) b.splice(at, 0, `new ${k}.${e}`);
      else b[Math.min(at, b.length - 1)] = `changed ${k}.${e}`;
    }
    out.push([a.join('\n') + '\n', b.join('\n') + (rnd(4) === 0 ? '' : '\n')]);
  }
  return out;
}

test('unifiedDiff: hunks agree with GNU diff -u where the edit is unambiguous', (t) => {
  const probe = spawnSync('diff', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    if (IN_CI) assert.fail('diff (diffutils) missing');
    return t.skip('diff not installed');
  }
  const dir = mkdtempSync(join(tmpdir(), 'kdk-diff-'));
  let compared = 0;
  for (const [a, b] of cases()) {
    writeFileSync(join(dir, 'a'), a);
    writeFileSync(join(dir, 'b'), b);
    const ref = spawnSync('diff', ['-u', join(dir, 'a'), join(dir, 'b')], { encoding: 'utf8' }).stdout;
    const ours = unifiedDiff('/f', a, b);
    const body = (d: string): string => d.split('\n').slice(2).join('\n');
    // Several shortest edit scripts can exist; GNU diff and an LCS may pick different ones.
    // Both must then at least apply: check ours reproduces b from a, and count exact matches.
    assert.equal(applyUnified(a, ours), b, ours);
    if (body(ours) === body(ref)) compared++;
  }
  assert.ok(compared >= 30, `only ${compared}/40 diffs identical to GNU diff`);
});

/** Applies a unified diff (as patch does) to check it is a correct description of the change. */
function applyUnified(a: string, diff: string): string {
  const src = a.endsWith('\n') ? a.slice(0, -1).split('\n') : a.split('\n');
  const out: string[] = [];
  let pos = 0;
  let noEol = false;
  const lines = diff.split('\n').slice(2);
  let last: string | undefined;
  for (const l of lines) {
    const h = /^@@ -(\d+)(?:,(\d+))? \+/.exec(l);
    if (h) {
      const start = Number(h[1]) - (h[2] === '0' ? 0 : 1);
      while (pos < start) out.push(src[pos++]!);
      continue;
    }
    if (l.startsWith('\\')) {
      if (last === '+' || last === ' ') noEol = true;
      continue;
    }
    if (l.startsWith(' ')) {
      out.push(src[pos++]!);
      noEol = false;
    } else if (l.startsWith('-')) pos++;
    else if (l.startsWith('+')) {
      out.push(l.slice(1));
      noEol = false;
    }
    last = l[0];
  }
  while (pos < src.length) out.push(src[pos++]!);
  return out.join('\n') + (noEol || out.length === 0 ? '' : '\n');
}

test('unifiedDiff: very large inputs still give a correct diff, without the quadratic table', () => {
  const a = Array.from({ length: 3000 }, (_, i) => `a${i}`).join('\n') + '\n';
  const b = a.replace('a1500\n', 'b1500\n');
  const d = unifiedDiff('/big', a, b);
  assert.equal(applyUnified(a, d), b);
});
