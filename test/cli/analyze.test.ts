import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, need, sharedDumps } from '../helpers/dumps.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

function run(...args: string[]): { code: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

const COMMANDS = ['analyze', 'sys', 'ps', 'mod', 'log'];

test('analysis commands: listed, and their help teaches (usage, examples, --json, symbol options)', () => {
  const top = run('--help');
  for (const c of COMMANDS) assert.match(top.stdout, new RegExp(`^  ${c}\\s+\\S`, 'm'), `${c} listed`);
  for (const c of COMMANDS) {
    const h = run(c, '--help');
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, new RegExp(`Usage:\\n  kdumpkit ${c} DUMP`));
    assert.match(h.stdout, /Examples:/);
    for (const o of ['--json', '--vmlinux', '--system-map', '--btf']) assert.ok(h.stdout.includes(o), `${c} --help mentions ${o}`);
  }
});

test('analysis commands: usage errors exit 2, a missing file exits 1 with one line', () => {
  for (const c of COMMANDS) {
    const r = run(c);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^kdumpkit: error: .*missing argument/);
  }
  const r = run('analyze', '/nonexistent/vmcore');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^kdumpkit: error: \/nonexistent\/vmcore: cannot open: no such file/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const bad = run('analyze', '--log-lines', 'x', '/nonexistent/vmcore');
  assert.equal(bad.code, 2);
});

for (const s of sharedDumps()) {
  test(`${s.name}: analyze, sys, ps, mod, log run on the dump with no other files; --json parses`, async (t) => {
    const path = join(s.dir, 'vmcore.d31.zstd');
    const refPath = join(s.dir, 'reference', 'drgn.json');
    if (!need(t, path) || !need(t, refPath)) return;
    const drgn = JSON.parse(readFileSync(refPath, 'utf8')) as { crashed: { tid: number }; uts: { release: string } };

    const a = run('analyze', path);
    assert.equal(a.code, 0, a.stderr);
    t.diagnostic(`kdumpkit analyze: ${a.ms.toFixed(0)} ms`);
    assert.match(a.stdout, /^VERDICT: .+\.\nSIGNATURE: \S+: /);
    assert.match(a.stdout, new RegExp(`^PID: ${drgn.crashed.tid}  TASK: [0-9a-f]{16}`, 'm'));

    const aj = JSON.parse(run('analyze', path, '--json').stdout) as { crashed: { pid: number; task: string }; triage: { kind: string }; sys: { release: string } };
    assert.equal(aj.crashed.pid, drgn.crashed.tid);
    assert.match(aj.crashed.task, /^0x[0-9a-f]+$/);
    assert.equal(aj.sys.release, drgn.uts.release);

    const sys = run('sys', path);
    assert.equal(sys.code, 0, sys.stderr);
    assert.match(sys.stdout, new RegExp(`^     RELEASE: ${drgn.uts.release.replace(/[+.]/g, '\\$&')}$`, 'm'));
    assert.match(sys.stdout, /^ {4}DUMPFILE: .* partial dump \(dump level 31/m);
    const sj = JSON.parse(run('sys', path, '--json').stdout) as { dumpKind: { dumpLevel: number }; loadAverage: string[] };
    assert.equal(sj.dumpKind.dumpLevel, 31);
    assert.equal(sj.loadAverage.length, 3);

    const ps = run('ps', path, String(drgn.crashed.tid));
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, new RegExp(`^\\*\\s+${drgn.crashed.tid}\\s`, 'm'));
    const pj = JSON.parse(run('ps', path, '--json').stdout) as { rows: { pid: number }[] };
    assert.ok(pj.rows.length > 50);

    const mod = run('mod', path);
    assert.equal(mod.code, 0, mod.stderr);
    assert.match(mod.stdout, /^kernel taint: /m);

    const log = run('log', path);
    assert.equal(log.code, 0, log.stderr);
    assert.match(log.stdout, /^\[\s+0\.000000\] Linux version /m);
    const logT = run('log', path, '-T');
    assert.equal(logT.code, 0, logT.stderr);
    assert.match(logT.stdout.split('\n')[0]!, /^\[(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \w{3} \d\d \d\d:\d\d:\d\d UTC \d{4}\] Linux version /);
    const lj = JSON.parse(run('log', path, '-T', '--json').stdout) as { lines: { text: string }[]; bootTime: number };
    assert.ok(lj.lines.length > 300 && lj.bootTime > 1.6e9);
  });
}
