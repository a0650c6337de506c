import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BtfTypeInfo } from '../../../src/kernel/types/type-info.js';
import { TypedMemory } from '../../../src/kernel/types/object.js';
import { need, sharedDumps } from '../../helpers/dumps.js';
import { loadRealKernel } from './real-kernel.js';

interface DrgnTask {
  readonly pid: number;
  readonly tgid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly task: string;
}

/**
 * What the two walks cover:
 * - drgn's for_each_task (drgn 0.0.22, helpers/linux/pid.py) visits every struct pid in
 *   init_pid_ns's IDR and takes its PIDTYPE_PID task: every thread of every process, but not the
 *   per-CPU idle tasks (pid 0 has no struct pid in the IDR).
 * - init_task.tasks links thread-group leaders only (a thread joins its leader's
 *   signal->thread_head through task_struct.thread_node instead), and init_task itself — the
 *   idle task of CPU 0, pid 0 — is the list head, not an entry.
 * So: the leaders from init_task.tasks must be exactly drgn's tasks with pid == tgid, and the
 * leaders' thread lists together must be exactly drgn's whole list.
 */
for (const s of sharedDumps()) {
  test(`${s.name}: listForEachEntry over init_task.tasks finds the tasks drgn found`, async (t) => {
    const drgnPath = join(s.dir, 'reference', 'drgn.json');
    if (!need(t, drgnPath, 'the shared dump should carry its reference outputs')) return;
    const drgn = (JSON.parse(readFileSync(drgnPath, 'utf8')) as { tasks: DrgnTask[] }).tasks;
    const key = (x: { pid: number; tgid: number; ppid: number; comm: string; task: string }) => `${x.pid}/${x.tgid}/${x.ppid}/${x.comm}/${x.task}`;
    for (const [label, path] of [
      ['vmcore.elf', join(s.cacheDir, 'vmcore.elf')],
      ['vmcore.d31.zstd', join(s.dir, 'vmcore.d31.zstd')],
    ] as const) {
      await t.test(label, async (t2) => {
        if (!need(t2, path)) return;
        const k = await loadRealKernel(path);
        try {
          const tm = new TypedMemory(k.mem, new BtfTypeInfo(k.btf));
          const initTask = tm.object('struct task_struct', k.symbols.address('init_task')!);
          const t0 = performance.now();
          const read = (task: ReturnType<typeof tm.object>) => ({
            pid: task.member('pid').int() as number,
            tgid: task.member('tgid').int() as number,
            ppid: task.member('real_parent->pid').int() as number,
            comm: task.member('comm').string(),
            task: `0x${task.address.toString(16)}`,
          });
          const leaders = [...tm.listForEachEntry(initTask.member('tasks'), 'struct task_struct', 'tasks')].map(read);
          const threads = leaders.flatMap((l) => [...tm.listForEachEntry(tm.object('struct task_struct', BigInt(l.task)).member('signal->thread_head'), 'struct task_struct', 'thread_node')].map(read));
          t2.diagnostic(`${leaders.length} thread-group leaders, ${threads.length} threads in ${(performance.now() - t0).toFixed(1)} ms; drgn: ${drgn.length} tasks, ${drgn.filter((d) => d.pid !== d.tgid).length} of them non-leader threads`);
          assert.ok(leaders.length > 10);
          assert.deepEqual(leaders.map(key).sort(), drgn.filter((d) => d.pid === d.tgid).map(key).sort());
          assert.deepEqual(threads.map(key).sort(), drgn.map(key).sort());
          for (const l of leaders) assert.ok(threads.some((x) => x.task === l.task), `leader ${l.pid} is on its own thread list`);
          // The simple (pid, comm) view of the brief, for the record.
          assert.deepEqual(new Set(leaders.map((x) => `${x.pid} ${x.comm}`)), new Set(drgn.filter((d) => d.pid === d.tgid).map((d) => `${d.pid} ${d.comm}`)));
        } finally {
          k.dump.close();
        }
      });
    }
  });
}
