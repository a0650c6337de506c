import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeReport, type Finding } from '../../src/host/findings.js';
import { renderCheckText } from '../../src/report/check-text.js';

const findings: Finding[] = [
  { id: 'a', status: 'ok', title: 'fine', why: 'because', evidence: ['/x'] },
  { id: 'b', status: 'warn', title: 'meh', why: 'it matters', fix: 'do this', evidence: ['/y'] },
  { id: 'c', status: 'fail', title: 'broken', why: 'no dump', fix: 'kdumpkit setup' },
];

test('renderCheckText: aligned status words, details only for warn/fail unless verbose, summary', () => {
  const r = makeReport('check', '/', '6.1.0', true, findings);
  assert.deepEqual(r.counts, { ok: 1, warn: 1, fail: 1 });
  assert.equal(r.worst, 'fail');
  assert.equal(
    renderCheckText(r),
    'kdumpkit check: kernel 6.1.0\n\nok    fine\nWARN  meh\n      why: it matters\n      fix: do this\n      from: /y\nFAIL  broken\n      why: no dump\n      fix: kdumpkit setup\n\n1 ok, 1 warning, 1 failure: a crash now would not be captured.\n',
  );
  assert.match(renderCheckText(r, { verbose: true }), /\nok {4}fine\n {6}why: because\n {6}from: \/x\n/);
});

test('renderCheckText: colours only when asked (the CLI asks on a TTY); doctor adds the diagnosis', () => {
  const r = makeReport('doctor', '/tmp/root', '6.1.0', false, findings, [{ problem: 'p', causes: ['c1'], remedy: ['r1', 'r2'] }]);
  const t = renderCheckText(r, { color: true });
  assert.ok(t.includes('\x1b[32mok  \x1b[0m  fine'));
  assert.ok(t.includes('\x1b[1;31mFAIL\x1b[0m  broken'));
  assert.ok(renderCheckText(r).startsWith('kdumpkit doctor: kernel 6.1.0 (not the running kernel), root /tmp/root\n'));
  assert.match(renderCheckText(r), /\n {2}1\. p\n {7}cause: c1\n {7}remedy: r1; then r2\n/);
  assert.match(renderCheckText(makeReport('doctor', '/', 'x', true, [], [])), /no broken link found\.\n\n0 ok, 0 warnings, 0 failures: a crash would be captured and analyzed\.\n$/);
});
