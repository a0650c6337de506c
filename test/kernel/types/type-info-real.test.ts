import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BtfTypeInfo, chainTypeInfo, VmcoreinfoTypeInfo } from '../../../src/kernel/types/type-info.js';
import { TypedMemory } from '../../../src/kernel/types/object.js';
import { need, sharedDumps } from '../../helpers/dumps.js';
import { loadRealKernel } from './real-kernel.js';

/**
 * VMCOREINFO is written by the crashed kernel itself (kernel/vmcore_info.c, with sizeof() and
 * offsetof() compiled in): every SIZE/OFFSET/LENGTH entry, and the enum values it exports as
 * NUMBER, must equal what the same kernel's BTF says.
 */
for (const s of sharedDumps()) {
  test(`${s.name}: BTF from the dump agrees with every VMCOREINFO SIZE/OFFSET/LENGTH/enum NUMBER`, async (t) => {
    const path = join(s.cacheDir, 'vmcore.elf');
    if (!need(t, path)) return;
    const k = await loadRealKernel(path);
    try {
      const info = k.dump.vmcoreinfo!;
      const ti = new BtfTypeInfo(k.btf, 'BTF (dump memory)');
      const checked: string[] = [];
      const skipped: string[] = [];
      for (const key of info.keys()) {
        let m: RegExpExecArray | null;
        if ((m = /^SIZE\((.+)\)$/.exec(key))) {
          assert.equal(ti.sizeof(m[1]!), info.size(m[1]!), key);
          checked.push(key);
        } else if ((m = /^OFFSET\(([^.]+)\.(.+)\)$/.exec(key))) {
          assert.equal(ti.offsetof(m[1]!, m[2]!), info.offset(m[1]!, m[2]!), key);
          checked.push(key);
        } else if ((m = /^LENGTH\(([^.]+)\.(.+)\)$/.exec(key))) {
          const r = ti.resolve(ti.member(m[1]!, m[2]!).type);
          assert.ok(r.kind === 'array', `${key}: not an array`);
          assert.equal(r.length, info.length(`${m[1]}.${m[2]}`), key);
          checked.push(key);
        } else if ((m = /^LENGTH\(printk_info_(subsystem|device)\)$/.exec(key))) {
          // sizeof(((struct dev_printk_info *)0)->subsystem) and ->device
          assert.equal(ti.member('struct dev_printk_info', m[1]!).size, info.length(`printk_info_${m[1]}`), key);
          checked.push(key);
        } else if ((m = /^NUMBER\((PG_[a-z_]+)\)$/.exec(key)) && m[1] !== 'PG_head_mask') {
          assert.equal(ti.enumValue('pageflags', m[1]!), info.number(m[1]!), key);
          checked.push(key);
        } else if (key === 'NUMBER(PG_head_mask)') {
          assert.equal(1n << ti.enumValue('pageflags', 'PG_head'), info.number('PG_head_mask'), key);
          checked.push(key);
        } else if (key === 'NUMBER(NR_FREE_PAGES)') {
          assert.equal(ti.enumValue('zone_stat_item', 'NR_FREE_PAGES'), info.number('NR_FREE_PAGES'), key);
          checked.push(key);
        } else if (/^(SIZE|OFFSET|LENGTH)\(/.test(key)) {
          skipped.push(key);
        }
      }
      t.diagnostic(`${checked.length} VMCOREINFO entries agree with BTF; not type facts: ${skipped.join(', ')}`);
      assert.ok(checked.length >= 60, `only ${checked.length} entries checked`);
      // Symbol-array lengths are the only SIZE/OFFSET/LENGTH entries that are not type facts.
      assert.deepEqual(skipped.sort(), ['LENGTH(mem_section)', 'LENGTH(node_data)']);

      // The ones the brief names, explicitly.
      assert.equal(ti.sizeof('struct printk_ringbuffer'), info.requireSize('printk_ringbuffer'));
      for (const f of ['seq', 'ts_nsec', 'text_len', 'caller_id']) assert.equal(ti.offsetof('struct printk_info', f), info.requireOffset('printk_info', f), f);
      assert.equal(ti.offsetof('struct uts_namespace', 'name'), info.requireOffset('uts_namespace', 'name'));
      assert.equal(ti.offsetof('struct page', 'flags'), info.requireOffset('page', 'flags'));
      assert.equal(ti.member('struct page', 'flags').typeName, 'long unsigned int');
    } finally {
      k.dump.close();
    }
  });

  test(`${s.name}: task_struct, uts_namespace and enums read the kernel's own data correctly`, async (t) => {
    const path = join(s.cacheDir, 'vmcore.elf');
    const drgnPath = join(s.dir, 'reference', 'drgn.json');
    if (!need(t, path) || !need(t, drgnPath, 'the shared dump should carry its reference outputs')) return;
    const drgn = JSON.parse(readFileSync(drgnPath, 'utf8')) as { uts: Record<string, string> };
    const k = await loadRealKernel(path);
    try {
      const info = k.dump.vmcoreinfo!;
      const ti = new BtfTypeInfo(k.btf, 'BTF (dump memory)');
      const tm = new TypedMemory(k.mem, ti);
      const comm = ti.member('task_struct', 'comm');
      assert.equal(comm.typeName, 'char [16]');
      assert.equal(comm.size, 16);
      assert.equal(ti.offsetof('task_struct', 'comm'), comm.offsetBits / 8);
      t.diagnostic(`sizeof(struct task_struct) ${ti.sizeof('struct task_struct')}, offsetof comm ${comm.offsetBits / 8}, pid ${ti.offsetof('task_struct', 'pid')}, tasks ${ti.offsetof('task_struct', 'tasks')}`);
      const initTask = tm.object('struct task_struct', k.symbols.address('init_task')!);
      // init_idle() names the boot CPU's idle task "swapper/0" (INIT_TASK_COMM "/%d").
      assert.equal(initTask.member('comm').string(), 'swapper/0');
      assert.equal(initTask.member('pid').int(), 0);
      assert.equal(initTask.member('tasks.next->prev').ptr(), initTask.member('tasks').address);
      assert.equal(initTask.member('mm').ptr(), 0n);
      const uts = tm.object('struct uts_namespace', info.requireSymbol('init_uts_ns'));
      for (const f of ['sysname', 'nodename', 'release', 'version', 'machine']) assert.equal(uts.member(`name.${f}`).string(), drgn.uts[f], f);
      assert.equal(uts.member('name.release').string(), info.osrelease);
      assert.equal(ti.enumValue('pid_type', 'PIDTYPE_PID'), 0n);
      assert.equal(ti.enumValue(undefined, 'PIDTYPE_TGID'), 1n);
      // The printk ring buffer through typed objects: prb -> desc_ring.count_bits is sane.
      const prb = tm.object('struct printk_ringbuffer *', info.requireSymbol('prb'));
      const countBits = prb.member('->desc_ring.count_bits').u32();
      assert.ok(countBits >= 5 && countBits <= 30, `count_bits ${countBits}`);
      // Layouts render.
      const layout = ti.struct('struct list_head');
      assert.deepEqual(
        layout.members.map((m) => [m.name, m.offset, m.typeName]),
        [
          ['next', 0, 'struct list_head *'],
          ['prev', 8, 'struct list_head *'],
        ],
      );
      // VMCOREINFO as the fallback source: BTF answers first, VMCOREINFO only when BTF cannot.
      const chain = chainTypeInfo(ti, new VmcoreinfoTypeInfo(info));
      assert.equal(chain.sizeof('struct page'), info.requireSize('page'));
      assert.equal(chain.lastSource, 'BTF (dump memory)');
      const vmOnly = chainTypeInfo(new VmcoreinfoTypeInfo(info));
      assert.equal(vmOnly.offsetof('printk_info', 'caller_id'), ti.offsetof('printk_info', 'caller_id'));
      assert.equal(vmOnly.lastSource, 'VMCOREINFO');
    } finally {
      k.dump.close();
    }
  });
}
