# Child of bench/symbols.ts: drgn loading the DWARF debug vmlinux for a dump and answering the
# same two questions as bench/load-kernel.ts.
print(prog["init_task"].address_, prog.type("struct task_struct").size)
