import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bisect, findMinCrashkernel, safetyMargin, searchRange } from '../../src/rehearse/find-min.js';
import type { RehearsalReport, RehearseOptions } from '../../src/rehearse/rehearse.js';
import { parseSize } from '../../src/host/crashkernel.js';
import { HostRoot } from '../../src/host/root.js';

const M = 1n << 20n;

test('bisect finds the smallest passing size on the grid with few probes', async () => {
  for (const threshold of [64n, 80n, 176n, 192n, 500n, 512n]) {
    const tried: bigint[] = [];
    const min = await bisect(64n * M, 512n * M, 16n * M, async (s) => {
      tried.push(s / M);
      return s >= threshold * M;
    });
    const expected = threshold <= 64n ? 64n : ((threshold - 64n + 15n) / 16n) * 16n + 64n;
    assert.equal(min, expected * M, `threshold ${threshold}`);
    assert.ok(tried.length <= 7, `threshold ${threshold}: ${tried.join(',')}`);
    assert.equal(tried[0], 512n, 'the top of the range first: if it fails nothing smaller will pass');
  }
  assert.equal(await bisect(64n * M, 512n * M, 16n * M, async () => false), undefined);
});

test('the safety margin is max(64M, 25%) rounded up to the step', () => {
  assert.equal(safetyMargin(160n * M, 16n * M), 224n * M);
  assert.equal(safetyMargin(400n * M, 16n * M), 512n * M);
  assert.equal(safetyMargin(100n * M, 16n * M), 176n * M);
});

function fakeReport(ck: string, passed: boolean): RehearsalReport {
  const stage = (id: string, ok: boolean) => ({ id, title: id, status: ok ? 'ok' : 'fail', seconds: 1, detail: '' });
  return {
    passed,
    verdict: passed ? 'passed' : 'failed',
    hint: undefined,
    reservationSuspect: !passed,
    release: 'r',
    kernelImage: '/boot/vmlinuz-r',
    mode: 'sysrq',
    accel: 'tcg',
    memoryMb: 1024,
    crashkernel: ck,
    crashkernelSource: 'option',
    firstCmdline: '',
    captureCmdline: '',
    stages: [stage('first-boot', true), stage('capture-load', passed)],
    kept: undefined,
    analysis: undefined,
    totalSeconds: passed ? 100 : 40,
  } as unknown as RehearsalReport;
}

test('findMinCrashkernel rehearses each probe with its crashkernel and recommends min + margin', async () => {
  const seen: string[] = [];
  const lines: string[] = [];
  const opts: RehearseOptions = { root: new HostRoot('/nonexistent'), progress: (l) => lines.push(l) };
  const r = await findMinCrashkernel(opts, async (o) => {
    seen.push(o.crashkernel!);
    return fakeReport(o.crashkernel!, parseSize(o.crashkernel!) >= 160n * M);
  });
  assert.equal(r.minimum, '160M');
  assert.equal(r.recommended, '224M');
  assert.equal(seen[0], '512M');
  assert.equal(r.probes.length, seen.length);
  assert.equal(r.probes.find((p) => !p.passed)?.failedStage, 'capture-load');
  assert.match(r.verdict, /smallest reservation that yields a dump is crashkernel=160M; use crashkernel=224M/);
  assert.equal(r.atMinimum?.crashkernel, '160M');
  assert.ok(lines.some((l) => /trying crashkernel=512M/.test(l)));
  const none = await findMinCrashkernel(opts, async (o) => fakeReport(o.crashkernel!, false));
  assert.equal(none.minimum, null);
  assert.match(none.verdict, /even crashkernel=512M did not yield a dump/);
});

test('the search range stops at half the VM RAM (a bigger reservation is refused or starves the first kernel)', () => {
  assert.deepEqual(searchRange(1024), { low: 64n * M, high: 512n * M, step: 16n * M });
  assert.deepEqual(searchRange(768), { low: 64n * M, high: 384n * M, step: 16n * M });
  assert.deepEqual(searchRange(4096).high, 512n * M);
});
