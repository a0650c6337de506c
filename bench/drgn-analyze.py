# The work `kdumpkit analyze` does, done by drgn with the DWARF debug vmlinux: identity, every
# task, the crashed thread's and each CPU's stack, modules and the log. Used by bench/analyze.ts.
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_state_to_char, task_cpu
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.printk import get_dmesg
from drgn.helpers.linux.cpumask import for_each_online_cpu
from drgn.helpers.linux.percpu import per_cpu

n = 0
uts = prog["init_uts_ns"].name
n += len(uts.nodename.string_())
for t in for_each_task(prog):
    n += int(t.pid) + int(t.real_parent.pid) + len(t.comm.string_()) + len(task_state_to_char(t)) + int(task_cpu(t))
for f in prog.crashed_thread().stack_trace():
    n += len(f.name or "")
for cpu in for_each_online_cpu(prog):
    try:
        for f in prog.stack_trace(per_cpu(prog["runqueues"], cpu).curr):
            n += len(f.name or "")
    except Exception:
        pass
for m in list_for_each_entry("struct module", prog["modules"].address_of_(), "list"):
    n += len(m.name.string_())
n += len(get_dmesg(prog))
print(n)
