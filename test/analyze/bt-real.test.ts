/**
 * bt on real dumps, against the kernel's own printed backtrace of the crash (in the dump's log
 * and in the lab's console.log) and against drgn's crashed-thread frames (reference/drgn.json).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDump, type Dump } from '../../src/formats/open.js';
import { Kernel, type KernelOptions } from '../../src/kernel/kernel.js';
import { VmcoreinfoTypeInfo } from '../../src/kernel/types/type-info.js';
import { readDumpLog } from '../../src/analyze/dmesg.js';
import { btReport, type BtReport, type BtTrace } from '../../src/analyze/bt.js';
import { renderBtText } from '../../src/report/bt-text.js';
import { CACHE, need, sharedDumps, type SharedDump } from '../helpers/dumps.js';
import { align, crashedKernelConsole, functionOf, parseLastCallTrace, type KernelCallTrace } from '../kernel/unwind/call-trace.js';

interface DrgnFrame {
  readonly pc: string;
  readonly name: string | null;
  readonly inline: boolean;
}

async function withKernel<T>(path: string, opts: KernelOptions, f: (k: Kernel, dump: Dump) => T): Promise<T> {
  const dump = await openDump(path);
  try {
    return f(Kernel.open(dump, opts), dump);
  } finally {
    dump.close();
  }
}

function logLines(dump: Dump): string[] {
  return readDumpLog(dump).records.flatMap((r) => Buffer.from(r.text).toString('utf8').split('\n'));
}

/** Our crashed trace lines up with the kernel's printout: same strings from the crash point on. */
function assertMatchesKernel(ours: BtTrace, k: KernelCallTrace, what: string): void {
  const texts = ours.frames.map((f) => f.text);
  const a = align(texts.map(functionOf), k);
  assert.ok(a, `${what}: cannot line up our trace with the kernel's\n  ours:   ${texts.join(' | ')}\n  kernel: ${k.entries.join(' | ')}`);
  const got = texts.slice(a.ours);
  const want = [...a.kernel];
  if (a.firstByName) {
    assert.equal(functionOf(got[0]!), functionOf(want[0]!), `${what}: the panic frame`);
    got.shift();
    want.shift();
  }
  assert.deepEqual(got, want, `${what}: frames from the crash point on`);
  if (k.userRip !== undefined) {
    assert.ok(ours.userRegs, `${what}: the kernel printed user registers, we have none (${ours.end.detail})`);
    assert.equal(ours.userRegs.ip, k.userRip, `${what}: user RIP`);
    if (k.userRsp !== undefined) assert.equal(ours.userRegs.sp, k.userRsp, `${what}: user RSP`);
  }
}

const CLEAN_ENDS = new Set(['user-mode', 'stack-end', 'user-start']);

/** Every task's trace ends at user mode or the bottom of its stack; returns counts for the log. */
function assertAllClean(t: TestContext, r: BtReport, what: string): void {
  const counts: Record<string, number> = {};
  let kthreadEntry = 0;
  for (const tr of r.traces) {
    counts[tr.end.reason] = (counts[tr.end.reason] ?? 0) + 1;
    assert.ok(CLEAN_ENDS.has(tr.end.reason), `${what}: PID ${tr.pid} (${tr.comm}) ends badly: ${tr.end.detail}\n${renderBtText({ ...r, traces: [tr] })}`);
    assert.ok(tr.frames.every((f) => f.reliable), `${what}: PID ${tr.pid} has guessed frames`);
    const last = tr.frames[tr.frames.length - 1];
    if (tr.end.reason === 'stack-end' && last && /^ret_from_fork/.test(last.text)) kthreadEntry++;
    if (tr.end.reason === 'user-mode') assert.ok(tr.userRegs && (tr.userRegs.cs & 3n) === 3n);
  }
  t.diagnostic(`${what}: ${r.traces.length} tasks: ${counts['user-mode'] ?? 0} end at user mode, ${counts['stack-end'] ?? 0} at the bottom of the stack (${kthreadEntry} of them at kthread entry ret_from_fork), ${counts['user-start'] ?? 0} running in user mode`);
}

function drgnFrames(s: SharedDump): DrgnFrame[] {
  return (JSON.parse(readFileSync(join(s.dir, 'reference', 'drgn.json'), 'utf8')) as { crashed: { frames: DrgnFrame[] } }).crashed.frames;
}

for (const s of sharedDumps()) {
  const elf = join(s.cacheDir, 'vmcore.elf');

  test(`bt of the crashed task on ${s.name} equals the kernel's Call Trace and drgn's frames`, async (t) => {
    if (!need(t, elf)) return;
    const { report, log } = await withKernel(elf, {}, (k, dump) => ({ report: btReport(k), log: logLines(dump) }));
    assert.equal(report.traces.length, 1);
    const crashed = report.traces[0]!;
    assert.ok(crashed.crashed);
    t.diagnostic(`\n${renderBtText(report)}`);

    // The kernel's own trace: from the dump's log, and the same from the serial console.
    const fromLog = parseLastCallTrace(log);
    assert.ok(fromLog, 'the dump log has a Call Trace');
    assertMatchesKernel(crashed, fromLog, `${s.name} (dump log)`);
    const consolePath = join(s.dir, 'console.log');
    if (existsSync(consolePath)) {
      const fromConsole = parseLastCallTrace(crashedKernelConsole(readFileSync(consolePath, 'utf8')));
      assert.deepEqual(fromConsole, fromLog, 'console.log and the dump log print the same trace');
    }

    // drgn: same pcs for its (non-inline) frames, as far as drgn gets; names before the crash point.
    const drgn = drgnFrames(s).filter((f) => !f.inline);
    const ourPcs = [...crashed.frames.map((f) => f.ip), ...(crashed.userRegs ? [crashed.userRegs.ip] : [])];
    assert.deepEqual(ourPcs.slice(0, drgn.length), drgn.map((f) => BigInt(f.pc)), 'pcs equal to drgn');
    const a = align(crashed.frames.map((f) => functionOf(f.text)), fromLog)!;
    const drgnBefore = drgn.slice(0, a.ours).map((f) => f.name);
    assert.deepEqual(crashed.frames.slice(0, a.ours).map((f) => f.function), drgnBefore, 'frames before the crash point: drgn names');
    // drgn 0.0.22 stops at the first module frame; we continue through it to user mode.
    assert.equal(crashed.end.reason, 'user-mode');
    assert.ok(ourPcs.length >= drgn.length);
  });

  test(`bt -A on ${s.name}: every task's trace ends cleanly`, async (t) => {
    if (!need(t, elf)) return;
    await withKernel(elf, {}, (k) => {
      // The first type lookup builds the BTF name index once for every analysis: not bt's cost.
      k.types.sizeof('struct task_struct');
      // Timing is reported, not asserted (bench/analyze.ts measures speed): a shared CI machine
      // under load would turn a time limit into a flaky test.
      const t0 = performance.now();
      const r = btReport(k, { allTasks: true });
      t.diagnostic(`bt of all ${r.traces.length} tasks: ${(performance.now() - t0).toFixed(1)} ms after Kernel.open`);
      assertAllClean(t, r, s.name);
      const all = btReport(k, { all: true });
      assert.equal(all.traces.length, k.dump.prstatus.length, 'one trace per CPU with saved registers');
      for (const tr of all.traces) assert.ok(tr.active);
      assert.deepEqual(r.notes, []);
    });
  });

  test(`bt on ${s.name} with only /boot/System.map (VMCOREINFO kallsyms ignored) is the same`, async (t) => {
    const map = `/boot/System.map-${s.release}`;
    if (!need(t, elf) || !need(t, map, `install linux-image-${s.release} (it ships ${map})`)) return;
    const want = await withKernel(elf, {}, (k) => btReport(k));
    const got = await withKernel(elf, { systemMap: map, noKallsyms: true }, (k) => {
      assert.match(k.symbols.source, /System\.map/);
      return btReport(k);
    });
    assert.deepEqual(got.traces, want.traces);
  });

  test(`bt on ${s.name} with --vmlinux (VMCOREINFO kallsyms ignored) is the same`, async (t) => {
    const vmlinux = `/usr/lib/debug/boot/vmlinux-${s.release}`;
    if (!need(t, elf) || !need(t, vmlinux, `install linux-image-${s.release}-dbg (.ci/run does)`)) return;
    const want = await withKernel(elf, {}, (k) => btReport(k));
    const got = await withKernel(elf, { vmlinux, noKallsyms: true }, (k) => btReport(k));
    assert.deepEqual(got.traces, want.traces);
  });

  test(`bt on the makedumpfile -d 31 dump of ${s.name} is the same as on the full ELF`, async (t) => {
    const d31 = join(s.dir, 'vmcore.d31.zstd');
    if (!need(t, elf) || !need(t, d31, 'the shared dump should carry its -d 31 file')) return;
    const want = await withKernel(elf, {}, (k) => btReport(k, { all: true }));
    const got = await withKernel(d31, {}, (k) => {
      const all = btReport(k, { allTasks: true });
      for (const tr of all.traces) assert.ok(CLEAN_ENDS.has(tr.end.reason), `PID ${tr.pid}: ${tr.end.detail}`);
      if (all.notes.length > 0) t.diagnostic(`-d 31: ${all.notes.join('; ')}`);
      return btReport(k, { all: true });
    });
    assert.deepEqual(got.traces, want.traces);
  });
}

test('without BTF, bt still unwinds each CPU from its PRSTATUS registers (ORC and symbols only)', async (t) => {
  const s = sharedDumps().find((d) => d.name === '6.1-sysrq');
  if (!s) {
    t.skip('no 6.1-sysrq shared dump');
    return;
  }
  const elf = join(s.cacheDir, 'vmcore.elf');
  if (!need(t, elf)) return;
  const want = await withKernel(elf, {}, (k) => btReport(k, { all: true }));
  const got = await withKernel(elf, {}, (k) => {
    // As on a kernel built without BTF: VMCOREINFO's few SIZE/OFFSET entries only.
    Object.defineProperty(k, 'btf', { value: undefined });
    Object.defineProperty(k, 'types', { value: new VmcoreinfoTypeInfo(k.info) });
    return btReport(k);
  });
  assert.equal(got.traces.length, want.traces.length, 'one trace per CPU: no task list, so what each CPU ran');
  got.traces.forEach((tr, i) => {
    const w = want.traces[i]!;
    assert.equal(tr.pid, w.pid);
    assert.equal(tr.comm, '?');
    assert.deepEqual(
      tr.frames.map((f) => f.text),
      w.frames.map((f) => f.text),
    );
    assert.equal(tr.userRegs?.ip, w.userRegs?.ip);
  });
  assert.equal(got.traces.filter((tr) => tr.crashed).length, 1);
  assert.ok(got.notes.some((n) => /runqueues/.test(n)));
});

test('6.12-nullderef: through all 8 nested crashme module frames to user mode', async (t) => {
  const s = sharedDumps().find((d) => d.name === '6.12-nullderef');
  if (!s) {
    t.skip('no 6.12-nullderef shared dump');
    return;
  }
  const elf = join(s.cacheDir, 'vmcore.elf');
  if (!need(t, elf)) return;
  const r = await withKernel(elf, {}, (k) => btReport(k));
  const f = r.traces[0]!.frames;
  assert.equal(f[0]!.text, 'crashme_recurse+0x47/0x80 [crashme]');
  assert.equal(f[0]!.module, 'crashme');
  const nested = f.filter((x) => x.text === 'crashme_recurse+0x59/0x80 [crashme]');
  assert.equal(nested.length, 8);
  assert.deepEqual(
    f.slice(1, 9).map((x) => x.source),
    Array(8).fill('return-address'),
  );
  assert.equal(f[9]!.text, 'do_one_initcall+0x5b/0x320');
});

/** Lab dumps of other crash modes (made by ../shared/lab): the crashed trace vs console.log. */
const labRoot = join(CACHE, 'lab');
const labs = existsSync(labRoot)
  ? readdirSync(labRoot, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.endsWith('.tmp'))
      .map((d) => join(labRoot, d.name))
      .filter((d) => existsSync(join(d, 'console.log')) && (existsSync(join(d, 'vmcore.elf')) || existsSync(join(d, 'qemu.elf'))))
  : [];

for (const dir of labs) {
  const name = dir.split('/').pop()!;
  test(`bt on lab dump ${name} equals the kernel's Call Trace; every task ends cleanly`, async (t) => {
    const path = existsSync(join(dir, 'vmcore.elf')) ? join(dir, 'vmcore.elf') : join(dir, 'qemu.elf');
    const kernelTrace = parseLastCallTrace(crashedKernelConsole(readFileSync(join(dir, 'console.log'), 'utf8')));
    if (!kernelTrace) {
      t.skip(`${name}: no Call Trace in console.log`);
      return;
    }
    await withKernel(path, {}, (k) => {
      const r = btReport(k);
      t.diagnostic(`\n${renderBtText(r)}`);
      assert.equal(r.traces.length, 1);
      assertMatchesKernel(r.traces[0]!, kernelTrace, name);
      assertAllClean(t, btReport(k, { allTasks: true }), name);
    });
  });
}
