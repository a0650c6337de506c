import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BtfTypeInfo, type LayoutMember } from '../../../src/kernel/types/type-info.js';
import { IN_CI, need, sharedDumps } from '../../helpers/dumps.js';
import { debugVmlinux, loadRealKernel } from './real-kernel.js';

const run = promisify(execFile);

/** Types whose size and every member's bit offset / bitfield width are compared with DWARF. */
const TYPES = [
  'struct task_struct',
  'struct mm_struct',
  'struct module',
  'struct page',
  'struct printk_ringbuffer',
  'struct printk_info',
  'struct prb_desc_ring',
  'struct uts_namespace',
  'struct new_utsname',
  'struct pid',
  'struct upid',
  'struct pid_namespace',
  'struct rq',
  'struct cfs_rq',
  'struct sched_entity',
  'struct list_head',
  'struct hlist_node',
  'struct signal_struct',
  'struct cred',
  'struct files_struct',
  'struct fdtable',
  'struct file',
  'struct dentry',
  'struct inode',
  'struct super_block',
  'struct vm_area_struct',
  'struct kmem_cache',
  'struct zone',
  'struct pglist_data',
  'struct free_area',
  'struct mem_section',
  'struct thread_struct',
  'struct pt_regs',
  'struct irq_desc',
  'struct timer_list',
  'struct hrtimer',
  'struct kobject',
  'struct mutex',
  'spinlock_t',
  'atomic_t',
];

/** drgn script: sizeof and, per member name, [bit_offset, bit_field_size] from DWARF. */
const SCRIPT = `
import json, sys
from drgn import TypeKind, sizeof
req = json.load(open(sys.argv[1]))
out = {}
for name, members in req.items():
    t = prog.type(name)
    r = {"size": sizeof(t), "members": {}}
    while t.kind == TypeKind.TYPEDEF:
        t = t.type
    for m in members:
        try:
            tm = t.member(m)
            r["members"][m] = [tm.bit_offset, tm.bit_field_size]
        except LookupError:
            r["members"][m] = None
    out[name] = r
print(json.dumps(out))
`;

/** Member names reachable from the struct, through anonymous members, first occurrence only. */
function flatten(members: readonly LayoutMember[], out = new Map<string, LayoutMember>()): Map<string, LayoutMember> {
  for (const m of members) {
    if (m.name === '') flatten(m.members ?? [], out);
    else if (!out.has(m.name)) out.set(m.name, m);
  }
  return out;
}

function haveDrgn(): boolean {
  return spawnSync('drgn', ['--version'], { stdio: 'ignore' }).status === 0;
}

for (const s of sharedDumps()) {
  test(`${s.name}: sizes and member offsets of ${TYPES.length} types from BTF agree with drgn reading the DWARF debug vmlinux`, async (t) => {
    const { path: vmlinux, how } = debugVmlinux(s.release);
    const dumpPath = join(s.cacheDir, 'vmcore.elf');
    if (!need(t, vmlinux, how) || !need(t, dumpPath)) return;
    if (!haveDrgn()) {
      if (IN_CI) assert.fail('drgn is not installed: apt-get install python3-drgn');
      t.skip('drgn is not installed (apt-get install python3-drgn)');
      return;
    }
    const k = await loadRealKernel(dumpPath);
    const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-drgn-'));
    try {
      const ti = new BtfTypeInfo(k.btf);
      const ours = new Map(TYPES.map((name) => [name, { size: ti.sizeof(name), members: flatten(ti.struct(name).members) }]));
      const req = Object.fromEntries([...ours].map(([name, v]) => [name, [...v.members.keys()]]));
      writeFileSync(join(dir, 'req.json'), JSON.stringify(req));
      writeFileSync(join(dir, 'layout.py'), SCRIPT);
      const t0 = performance.now();
      const { stdout } = await run('drgn', ['-q', '-c', dumpPath, '-s', vmlinux, '--main-symbols', join(dir, 'layout.py'), join(dir, 'req.json')], { maxBuffer: 64 << 20 });
      t.diagnostic(`drgn with DWARF: ${(performance.now() - t0).toFixed(0)} ms; BTF from the dump: ${k.btfMs.toFixed(0)} ms`);
      const theirs = JSON.parse(stdout) as Record<string, { size: number; members: Record<string, [number, number | null] | null> }>;
      let compared = 0;
      for (const [name, o] of ours) {
        const d = theirs[name];
        assert.ok(d, `drgn did not answer for ${name}`);
        assert.equal(o.size, d.size, `sizeof(${name})`);
        for (const [m, lm] of o.members) {
          const dm: [number, number | null] | null | undefined = d.members[m];
          assert.ok(dm, `${name}.${m}: drgn finds no such member`);
          assert.deepEqual([lm.offsetBits, lm.bitSize ?? null], dm, `${name}.${m}: [bit offset, bitfield size]`);
          compared++;
        }
      }
      t.diagnostic(`${ours.size} sizes and ${compared} member offsets agree`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      k.dump.close();
    }
  });
}
