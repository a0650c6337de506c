/** Child of bench/symbols.ts: open a dump and load its symbols and BTF types, as analyses do. */
import { openDump } from '../src/formats/open.js';
import { Kernel } from '../src/kernel/kernel.js';

const dump = await openDump(process.argv[2]!);
const k = Kernel.open(dump);
// Touch both: a symbol by name, a struct layout by name.
process.stdout.write(`${k.symbols.size} symbols; sizeof(struct task_struct) = ${k.types.sizeof('struct task_struct')}\n`);
dump.close();
