import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDump } from '../../src/formats/open.js';
import { Kernel, type KernelOptions } from '../../src/kernel/kernel.js';
import { readTasks, taskStateChar } from '../../src/kernel/tasks.js';
import { need, sharedDumps } from '../helpers/dumps.js';

test('taskStateChar: task_state_index() of Linux >= 4.14', () => {
  const c = 'RSDTtXZPI';
  assert.equal(taskStateChar(0, 0, c), 'R');
  assert.equal(taskStateChar(0x1, 0, c), 'S');
  assert.equal(taskStateChar(0x2, 0, c), 'D');
  assert.equal(taskStateChar(0x4, 0, c), 'T');
  assert.equal(taskStateChar(0x8, 0, c), 't');
  assert.equal(taskStateChar(0, 0x10, c), 'X');
  assert.equal(taskStateChar(0, 0x20, c), 'Z');
  assert.equal(taskStateChar(0x40, 0, c), 'P');
  // TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD
  assert.equal(taskStateChar(0x402, 0, c), 'I');
  // TASK_NOLOAD alone with interruptible sleep is still S; TASK_WAKEKILL bits beyond TASK_REPORT are ignored
  assert.equal(taskStateChar(0x401, 0, c), 'S');
  assert.equal(taskStateChar(0x102, 0, c), 'D');
  // TASK_FROZEN and TASK_RTLOCK_WAIT report as D
  assert.equal(taskStateChar(0x8000, 0, c), 'D');
  assert.equal(taskStateChar(0x1000, 0, c), 'D');
  // a dead task with an exit_state: the highest bit wins
  assert.equal(taskStateChar(0x80, 0x20, c), 'Z');
});

interface DrgnTask {
  readonly pid: number;
  readonly tgid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly state: string;
  readonly cpu: number;
  readonly task: string;
}

/** The dumps and ways to read them every real test below runs on. */
function variants(s: { dir: string; cacheDir: string; release: string }): { label: string; path: string; opts: KernelOptions; needs: string[] }[] {
  const map = `/usr/lib/debug/boot/System.map-${s.release}`;
  return [
    { label: 'vmcore.elf', path: join(s.cacheDir, 'vmcore.elf'), opts: {}, needs: [] },
    { label: 'vmcore.d31.zstd (makedumpfile 1.7.9)', path: join(s.dir, 'vmcore.d31.zstd'), opts: {}, needs: [] },
    { label: 'vmcore.elf, VMCOREINFO kallsyms ignored, System.map', path: join(s.cacheDir, 'vmcore.elf'), opts: { noKallsyms: true, systemMap: map }, needs: [map] },
    { label: 'vmcore.d31.zstd, VMCOREINFO kallsyms ignored, System.map', path: join(s.dir, 'vmcore.d31.zstd'), opts: { noKallsyms: true, systemMap: map }, needs: [map] },
  ];
}

for (const s of sharedDumps()) {
  test(`${s.name}: every task equals drgn's (pid, tgid, ppid, comm, state, cpu, task address)`, async (t) => {
    const refPath = join(s.dir, 'reference', 'drgn.json');
    if (!need(t, refPath)) return;
    const drgn = (JSON.parse(readFileSync(refPath, 'utf8')) as { tasks: DrgnTask[] }).tasks;
    for (const v of variants(s)) {
      await t.test(v.label, async (t2) => {
        if (!need(t2, v.path)) return;
        for (const n of v.needs) if (!need(t2, n, `install linux-image-${s.release}-dbg for the real System.map (/boot has only a placeholder)`)) return;
        const dump = await openDump(v.path);
        try {
          const k = Kernel.open(dump, v.opts);
          const t0 = performance.now();
          const tl = readTasks(k);
          t2.diagnostic(`${tl.tasks.length} tasks in ${(performance.now() - t0).toFixed(1)} ms (symbols: ${k.sources.symbols})`);
          assert.deepEqual(tl.warnings, []);
          // drgn walks the PID IDR: no idle tasks (pid 0). We list one per CPU in addition.
          const mine = tl.tasks.filter((x) => !x.idle);
          const key = (x: { pid: number; tgid: number; ppid: number; comm: string; state: string; cpu: number; task: string }): string => `${x.pid}/${x.tgid}/${x.ppid}/${x.comm}/${x.state}/${x.cpu}/${x.task}`;
          assert.deepEqual(
            mine.map((x) => key({ ...x, ppid: x.parentPid, task: '0x' + x.address.toString(16) })).sort(),
            drgn.map(key).sort(),
          );
          // ps's PPID (real_parent->tgid) equals drgn's real_parent->pid when no parent is a non-leader thread.
          for (const x of mine) assert.equal(x.ppid, drgn.find((d) => d.pid === x.pid)!.ppid);
          const idle = tl.tasks.filter((x) => x.idle);
          assert.deepEqual(idle.map((x) => [x.pid, x.comm, x.cpu]), tl.cpus.possible.map((c) => [0, `swapper/${c}`, c]));
          // Each CPU's rq->curr is marked, and it is the task the PRSTATUS note names.
          for (const rq of tl.runqueues) {
            const cur = tl.tasks.find((x) => x.address === rq.curr);
            assert.ok(cur, `CPU ${rq.cpu}: rq->curr is in the list`);
            assert.equal(cur.activeOn, rq.cpu);
          }
          const prPids = dump.prstatus.map((p) => p.pid).sort();
          assert.deepEqual(tl.runqueues.map((rq) => tl.tasks.find((x) => x.address === rq.curr)!.pid).sort(), prPids);
          // Memory: user processes have VSZ/RSS; kernel threads none.
          for (const x of mine) {
            if (x.kthread) assert.equal(x.memory, undefined);
            else {
              assert.ok(x.memory && x.memory.vszKiB > 0 && x.memory.rssKiB > 0, `pid ${x.pid} ${x.comm} has memory figures`);
              assert.ok(x.memory.rssKiB <= x.memory.vszKiB);
            }
          }
        } finally {
          dump.close();
        }
      });
    }
  });
}

test('6.1-sysrq: VSZ and RSS of init agree with crash (VSZ) and the kernel counters (RSS = file + anon + shmem)', async (t) => {
  const s = sharedDumps().find((d) => d.name === '6.1-sysrq');
  if (!s) return t.skip('no 6.1-sysrq dump');
  const path = join(s.cacheDir, 'vmcore.elf');
  if (!need(t, path)) return;
  const dump = await openDump(path);
  try {
    const k = Kernel.open(dump);
    const tl = readTasks(k, { totalRamPages: 50997 });
    const init = tl.tasks.find((x) => x.pid === 1)!;
    // crash 8.0.2: "1  0  1  ff493f84811e0000  RU  0.0  2260  68  init" — its RSS leaves out
    // MM_SHMEMPAGES (busybox lives on the initramfs, i.e. shmem: 432 pages).
    assert.equal(init.memory?.vszKiB, 2260);
    assert.equal(init.memory?.rssKiB, (1 + 16 + 432) * 4);
    assert.ok(Math.abs(init.memory!.memPercent! - (100 * 449) / 50997) < 1e-9);
  } finally {
    dump.close();
  }
});

test('makedumpfile 1.7.2 -d 31 of 6.12 drops a task_struct page: the list walk recovers backwards and names the loss', async (t) => {
  const s = sharedDumps().find((d) => d.name === '6.12-nullderef');
  if (!s) return t.skip('no 6.12-nullderef dump');
  const path = join(s.cacheDir, 'vmcore.d31.lzo');
  if (!need(t, path)) return;
  const refPath = join(s.dir, 'reference', 'drgn.json');
  const drgn = (JSON.parse(readFileSync(refPath, 'utf8')) as { tasks: DrgnTask[] }).tasks;
  const dump = await openDump(path);
  try {
    const tl = readTasks(Kernel.open(dump));
    const pids = new Set(tl.tasks.map((x) => x.pid));
    const missing = drgn.filter((d) => !pids.has(d.pid));
    for (const m of missing) assert.ok(tl.warnings.some((w) => w.includes(m.task.slice(2))), `the loss of pid ${m.pid} is named: ${tl.warnings.join(' | ')}`);
    assert.ok(missing.length <= 2, `at most the tasks on excluded pages are lost (lost ${missing.map((m) => m.pid).join(', ')})`);
    assert.ok(existsSync(path));
  } finally {
    dump.close();
  }
});
