import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ORC_LAYOUT_NEW,
  ORC_LAYOUT_OLD,
  ORC_REG_BP,
  ORC_REG_PREV_SP,
  ORC_REG_R10,
  ORC_REG_SP,
  ORC_REG_SP_INDIRECT,
  ORC_REG_UNDEFINED,
  OrcFinder,
  OrcTable,
  type OrcLayout,
} from '../../../src/kernel/unwind/orc.js';
import { PagedMemory } from '../../../src/kernel/unwind/paged.js';
import { IRET_FRAME_OFFSET, unwind, type StackRange, type UnwindEnv, type UnwindStart } from '../../../src/kernel/unwind/stack.js';
import { ptRegs, SparseMemory, writeOrcTables, writePtRegs, type OrcSpec } from './synthetic.js';

const TEXT = 0xffffffff81000000n;
const TEXT_END = TEXT + 0x10000n;
const IP_TABLE = 0xffffffff82000000n;
const ORC_TABLE = 0xffffffff82100000n;
const TASK_STACK: StackRange = { kind: 'task', start: 0xffffc90000010000n, end: 0xffffc90000014000n };
const IRQ_STACK: StackRange = { kind: 'irq', start: 0xffffc90000020000n, end: 0xffffc90000024000n };

/** Functions of the synthetic kernel: name → [start, size]. */
const FUNCS: Record<string, [bigint, bigint]> = {
  leaf: [TEXT + 0x100n, 0x40n],
  middle: [TEXT + 0x200n, 0x80n],
  outer: [TEXT + 0x300n, 0x100n],
  entry_SYSCALL_64: [TEXT + 0x400n, 0x80n],
  asm_sysvec: [TEXT + 0x500n, 0x20n],
  sysvec: [TEXT + 0x600n, 0x40n],
  irq_handler: [TEXT + 0x700n, 0x30n],
  ret_from_fork: [TEXT + 0x800n, 0x30n],
  kthread: [TEXT + 0x900n, 0x60n],
  no_orc: [TEXT + 0xa00n, 0x60n],
  panicky: [TEXT + 0xb00n, 0x90n],
  idle: [TEXT + 0xc00n, 0x20n],
  nothing: [TEXT + 0xd00n, 0x100n],
};

const fn = (name: string, off = 0n): bigint => FUNCS[name]![0] + off;

function symbolize(addr: bigint): { name: string; offset: bigint; size: bigint } | undefined {
  for (const [name, [start, size]] of Object.entries(FUNCS)) if (addr >= start && addr < start + size) return { name, offset: addr - start, size };
  return undefined;
}

/** ORC for the synthetic functions; each test adds what it needs. */
function kernel(orc: OrcSpec[], layout: OrcLayout = ORC_LAYOUT_NEW, extraStacks: StackRange[] = []): { mem: SparseMemory; env: UnwindEnv } {
  const mem = new SparseMemory();
  // 'nothing' ends the text ORC covers with an undefined (terminator-like) entry.
  const all: OrcSpec[] = [...orc, { ip: fn('nothing'), type: 'undefined' }];
  const n = writeOrcTables(mem, IP_TABLE, ORC_TABLE, all, layout);
  const pm = new PagedMemory(mem);
  const finder = new OrcFinder({ ranges: [{ start: TEXT, end: TEXT_END }], table: new OrcTable(pm, IP_TABLE, ORC_TABLE, n, layout, 'vmlinux') }, () => []);
  const env: UnwindEnv = {
    mem: pm,
    findOrc: (ip) => finder.find(ip),
    isKernelText: (ip) => ip >= TEXT && ip < TEXT_END,
    stacks: [TASK_STACK, IRQ_STACK, ...extraStacks],
    symbolize,
    forkEntries: [fn('ret_from_fork')],
  };
  return { mem, env };
}

const texts = (frames: readonly { text: string }[]): string[] => frames.map((f) => f.text);

test('a syscall: start registers, call frames, entry pt_regs, stop at user mode', () => {
  for (const layout of [ORC_LAYOUT_NEW, ORC_LAYOUT_OLD]) {
    const { mem, env } = kernel(
      [
        { ip: fn('leaf'), type: 'call', spReg: ORC_REG_SP, spOffset: 8 },
        { ip: fn('leaf', 4n), type: 'call', spReg: ORC_REG_SP, spOffset: 24 },
        { ip: fn('middle'), type: 'call', spReg: ORC_REG_SP, spOffset: 8 },
        { ip: fn('middle', 1n), type: 'call', spReg: ORC_REG_SP, spOffset: 16, bpReg: ORC_REG_PREV_SP, bpOffset: -16 },
        { ip: fn('entry_SYSCALL_64'), type: 'regs', spReg: ORC_REG_SP, spOffset: 0 },
      ],
      layout,
    );
    const sp0 = TASK_STACK.end - 0x200n;
    // leaf frame: 16 bytes of locals, then the return address into middle.
    mem.u64(sp0 + 16n, fn('middle', 0x31n));
    // middle frame: saved rbp, return address into the syscall entry.
    mem.u64(sp0 + 24n, 0xbbbbn);
    mem.u64(sp0 + 32n, fn('entry_SYSCALL_64', 0x20n));
    const regsAt = sp0 + 40n;
    writePtRegs(mem, regsAt, ptRegs({ ip: 0x401000n, sp: 0x7ffc0000n, cs: 0x33n, ss: 0x2bn, ax: 1n, orig_ax: 1n }));
    const start: UnwindStart = { kind: 'regs', regs: ptRegs({ ip: fn('leaf', 0x10n), sp: sp0, bp: 0xaaaan, cs: 0x10n }) };
    const bt = unwind(env, start);
    assert.deepEqual(texts(bt.frames), ['leaf+0x10/0x40', 'middle+0x31/0x80', 'entry_SYSCALL_64+0x20/0x80'], layout.source);
    assert.equal(bt.end.reason, 'user-mode');
    assert.equal(bt.userRegs!.ip, 0x401000n);
    assert.equal(bt.userRegs!.orig_ax, 1n);
    assert.equal(bt.userRegsPartial, false);
    assert.deepEqual(
      bt.frames.map((f) => [f.source, f.exact, f.slot]),
      [
        ['start-regs', true, undefined],
        ['return-address', false, sp0 + 16n],
        ['return-address', false, sp0 + 32n],
      ],
    );
    assert.ok(bt.frames.every((f) => f.stack === 'task' && f.reliable));
  }
});

test('return addresses are symbolized at ip - 1: a call that ends a function names that function', () => {
  const { mem, env } = kernel([
    { ip: fn('leaf'), type: 'call', spReg: ORC_REG_SP, spOffset: 8 },
    { ip: fn('middle'), type: 'end-of-stack' },
  ]);
  const sp0 = TASK_STACK.end - 0x100n;
  // The return address is the first byte after middle (middle+0x80 = outer - 0x80 … is not middle's).
  mem.u64(sp0, fn('middle', 0x80n));
  const bt = unwind(env, { kind: 'regs', regs: ptRegs({ ip: fn('leaf', 1n), sp: sp0, cs: 0x10n }) });
  assert.equal(bt.frames[1]!.text, 'middle+0x80/0x80');
  assert.equal(bt.end.reason, 'stack-end');
});

test('an interrupt: IRQ stack, indirect switch back to the task stack, pt_regs, interrupted frame', () => {
  const { mem, env } = kernel([
    { ip: fn('irq_handler'), type: 'call', spReg: ORC_REG_SP, spOffset: 8 },
    // sysvec runs on the IRQ stack after call_on_irqstack: the previous sp is saved at the top.
    { ip: fn('sysvec'), type: 'call', spReg: ORC_REG_SP_INDIRECT, spOffset: 8 },
    { ip: fn('asm_sysvec'), type: 'regs', spReg: ORC_REG_SP, spOffset: 0, bpReg: ORC_REG_UNDEFINED },
    { ip: fn('outer'), type: 'call', spReg: ORC_REG_BP, spOffset: 16, bpReg: ORC_REG_PREV_SP, bpOffset: -16 },
    { ip: fn('kthread'), type: 'call', spReg: ORC_REG_SP, spOffset: 8 },
    { ip: fn('ret_from_fork'), type: 'end-of-stack' },
  ]);
  const irqSp = IRQ_STACK.end - 0x40n;
  mem.u64(irqSp, fn('sysvec', 0x11n));
  // top of the IRQ stack: the task stack pointer saved by call_on_irqstack
  const taskSp = TASK_STACK.end - 0x300n;
  mem.u64(irqSp + 8n, taskSp - 8n);
  mem.u64(taskSp - 8n, fn('asm_sysvec', 0x1an));
  const regsAt = taskSp;
  // interrupted in 'outer' with a frame pointer: bp points at saved rbp / return address
  const outerSp = regsAt + 0xa8n;
  const outerBp = outerSp + 0x20n;
  writePtRegs(mem, regsAt, ptRegs({ ip: fn('outer', 0x42n), sp: outerSp, bp: outerBp, cs: 0x10n, ss: 0x18n, flags: 0x246n }));
  mem.u64(outerBp, 0xdeadn);
  mem.u64(outerBp + 8n, fn('kthread', 0x25n));
  mem.u64(outerBp + 16n, fn('ret_from_fork', 0x10n));
  const bt = unwind(env, { kind: 'regs', regs: ptRegs({ ip: fn('irq_handler', 3n), sp: irqSp, cs: 0x10n }) });
  assert.deepEqual(texts(bt.frames), ['irq_handler+0x3/0x30', 'sysvec+0x11/0x40', 'asm_sysvec+0x1a/0x20', 'outer+0x42/0x100', 'kthread+0x25/0x60', 'ret_from_fork+0x10/0x30']);
  assert.deepEqual(
    bt.frames.map((f) => f.stack),
    ['irq', 'irq', 'task', 'task', 'task', 'task'],
  );
  const interrupted = bt.frames[3]!;
  assert.equal(interrupted.source, 'pt-regs');
  assert.equal(interrupted.exact, true);
  assert.equal(interrupted.regs!.address, regsAt);
  assert.equal(interrupted.regs!.values.flags, 0x246n);
  assert.equal(interrupted.slot, regsAt + BigInt(IRET_FRAME_OFFSET));
  assert.equal(bt.end.reason, 'stack-end');
});

test('ORC registers from pt_regs (R10) and the iret frame of an entry from user mode', () => {
  const { mem, env } = kernel([
    // after an exception entry: sp comes from r10 of the full pt_regs of the start registers
    { ip: fn('leaf'), type: 'regs-partial', spReg: ORC_REG_R10, spOffset: 0 },
  ]);
  const iret = TASK_STACK.end - 40n;
  mem.u64(iret, 0x400123n); // ip
  mem.u64(iret + 8n, 0x33n); // cs
  mem.u64(iret + 16n, 0x202n); // flags
  mem.u64(iret + 24n, 0x7ffd0000n); // sp
  mem.u64(iret + 32n, 0x2bn); // ss
  const bt = unwind(env, { kind: 'regs', regs: ptRegs({ ip: fn('leaf', 2n), sp: TASK_STACK.end - 0x400n, r10: iret, cs: 0x10n }) });
  assert.deepEqual(texts(bt.frames), ['leaf+0x2/0x40']);
  assert.equal(bt.end.reason, 'user-mode');
  assert.equal(bt.userRegs!.ip, 0x400123n);
  assert.equal(bt.userRegs!.sp, 0x7ffd0000n);
  assert.equal(bt.userRegsPartial, true);

  // Without full pt_regs to take R10 from, the step fails with a reason.
  const { mem: m2, env: env2 } = kernel([
    { ip: fn('leaf'), type: 'call', spReg: ORC_REG_SP, spOffset: 8 },
    { ip: fn('middle'), type: 'regs-partial', spReg: ORC_REG_R10, spOffset: 0 },
  ]);
  m2.u64(TASK_STACK.end - 0x100n, fn('middle', 5n));
  const bt2 = unwind(env2, { kind: 'regs', regs: ptRegs({ ip: fn('leaf', 1n), sp: TASK_STACK.end - 0x100n, cs: 0x10n }) });
  assert.equal(bt2.end.reason, 'bad-orc');
  assert.match(bt2.end.detail, /r10/);
});

test('a sleeping task starts from its inactive_task_frame; a new kthread from ret_from_fork', () => {
  const { mem, env } = kernel([
    { ip: fn('middle'), type: 'call', spReg: ORC_REG_SP, spOffset: 16, bpReg: ORC_REG_PREV_SP, bpOffset: -16 },
    { ip: fn('kthread'), type: 'call', spReg: ORC_REG_SP, spOffset: 8 },
    { ip: fn('ret_from_fork'), type: 'end-of-stack' },
  ]);
  const threadSp = TASK_STACK.end - 0x200n;
  mem.u64(threadSp + 40n, 0x1234n); // bp
  mem.u64(threadSp + 48n, fn('middle', 0x20n)); // ret_addr
  mem.u64(threadSp + 56n, 0x5678n); // middle's saved rbp
  mem.u64(threadSp + 64n, fn('kthread', 0x30n));
  mem.u64(threadSp + 72n, fn('ret_from_fork', 0x10n));
  // Never scheduled yet: ret_addr is ret_from_fork itself, an exact ip.
  const fresh = TASK_STACK.end - 0x100n;
  mem.u64(fresh + 48n, fn('ret_from_fork'));
  const start: UnwindStart = { kind: 'inactive', threadSp, bpOffset: 40, retAddrOffset: 48 };
  const bt = unwind(env, start);
  assert.deepEqual(texts(bt.frames), ['middle+0x20/0x80', 'kthread+0x30/0x60', 'ret_from_fork+0x10/0x30']);
  assert.equal(bt.frames[0]!.source, 'switch-frame');
  assert.equal(bt.frames[0]!.slot, threadSp + 48n);
  assert.equal(bt.end.reason, 'stack-end');

  const bt2 = unwind(env, { ...start, threadSp: fresh });
  assert.deepEqual(texts(bt2.frames), ['ret_from_fork+0x0/0x30']);
  assert.equal(bt2.frames[0]!.exact, true);
  assert.equal(bt2.end.reason, 'stack-end');
});

function scanKernel(withCaller: boolean): { env: UnwindEnv; sp0: bigint; callSite: bigint } {
  // 'panicky' has an undefined ORC entry (as __crash_kexec in kexec_core.o); 'outer' called it.
  const { mem, env } = kernel([
    { ip: fn('panicky'), type: 'undefined' },
    { ip: fn('outer'), type: 'call', spReg: ORC_REG_SP, spOffset: 8 },
    { ip: fn('kthread'), type: 'end-of-stack' },
  ]);
  const callSite = fn('outer', 0x20n);
  // e8 rel32 at outer+0x20 calling panicky; return address outer+0x25
  const rel = Number(fn('panicky') - (callSite + 5n));
  const code = new Uint8Array(5);
  code[0] = 0xe8;
  new DataView(code.buffer).setInt32(1, rel, true);
  mem.write(callSite, code);
  // a decoy: a call to another function, and a text address not preceded by a call
  const decoy = fn('middle', 0x10n);
  mem.write(decoy - 5n, Uint8Array.from([0xe8, 0, 0, 0, 0]));
  const sp0 = TASK_STACK.end - 0x400n;
  mem.u64(sp0, fn('leaf', 3n));
  mem.u64(sp0 + 8n, decoy);
  if (withCaller) mem.u64(sp0 + 0xc8n, callSite + 5n);
  mem.u64(sp0 + 0xd0n, fn('kthread', 0x10n));
  return { env, sp0, callSite };
}

test('no ORC for the ip: a verified return address is found by scanning the stack', () => {
  const { env, sp0 } = scanKernel(true);
  const bt = unwind(env, { kind: 'regs', regs: ptRegs({ ip: fn('panicky', 0x80n), sp: sp0, cs: 0x10n }) });
  assert.deepEqual(texts(bt.frames), ['panicky+0x80/0x90', 'outer+0x25/0x100', 'kthread+0x10/0x60']);
  assert.equal(bt.frames[1]!.source, 'scanned');
  assert.equal(bt.frames[1]!.slot, sp0 + 0xc8n);
  assert.equal(bt.end.reason, 'stack-end');

  // Nothing verifiable on the stack: the trace ends with the reason.
  const k2 = scanKernel(false);
  const bt2 = unwind(k2.env, { kind: 'regs', regs: ptRegs({ ip: fn('panicky', 0x80n), sp: k2.sp0, cs: 0x10n }) });
  assert.equal(bt2.frames.length, 1);
  assert.equal(bt2.end.reason, 'orc-undefined');
});

test('code without ORC data: frame-pointer guess, marked unreliable; non-text ends the trace', () => {
  const { mem, env } = kernel([
    { ip: fn('outer'), type: 'call', spReg: ORC_REG_SP, spOffset: 8 },
    { ip: fn('kthread'), type: 'end-of-stack' },
  ]);
  // An ip in text below the first ORC entry: no entry covers it.
  const bp = TASK_STACK.end - 0x100n;
  mem.u64(bp, 0x9999n);
  mem.u64(bp + 8n, fn('outer', 0x10n));
  mem.u64(bp + 16n, fn('kthread', 0x8n));
  const bt = unwind(env, { kind: 'regs', regs: ptRegs({ ip: TEXT + 0x10n, sp: bp - 0x40n, bp, cs: 0x10n }) });
  assert.deepEqual(texts(bt.frames), ['0xffffffff81000010', 'outer+0x10/0x100', 'kthread+0x8/0x60']);
  assert.equal(bt.frames[0]!.reliable, true);
  assert.equal(bt.frames[1]!.reliable, false);
  assert.equal(bt.frames[2]!.reliable, false);
  assert.equal(bt.end.reason, 'stack-end');

  const bt2 = unwind(env, { kind: 'regs', regs: ptRegs({ ip: 0xffff888000001000n, sp: bp, cs: 0x10n }) });
  assert.equal(bt2.end.reason, 'no-orc');
});

test('never loops: sp must move up within a stack; at most maxFrames; unreadable memory ends the trace', () => {
  // A CALL entry with sp_offset 0 reads its return address below sp: the sp does not move.
  const { mem, env } = kernel([{ ip: fn('leaf'), type: 'call', spReg: ORC_REG_SP, spOffset: 0 }]);
  const sp0 = TASK_STACK.end - 0x100n;
  mem.u64(sp0 - 8n, fn('leaf', 0x11n));
  const bt = unwind(env, { kind: 'regs', regs: ptRegs({ ip: fn('leaf', 1n), sp: sp0, cs: 0x10n }) });
  assert.equal(bt.end.reason, 'bad-stack');
  assert.equal(bt.frames.length, 1);

  // Recursion that really moves up: bounded by maxFrames.
  const { mem: m2, env: env2 } = kernel([{ ip: fn('leaf'), type: 'call', spReg: ORC_REG_SP, spOffset: 8 }]);
  for (let a = TASK_STACK.start; a < TASK_STACK.end; a += 8n) m2.u64(a, fn('leaf', 0x11n));
  const bt2 = unwind(env2, { kind: 'regs', regs: ptRegs({ ip: fn('leaf', 1n), sp: TASK_STACK.start, cs: 0x10n }) }, { maxFrames: 5 });
  assert.equal(bt2.frames.length, 5);
  assert.equal(bt2.end.reason, 'frame-limit');
  // Past the end of the stack the memory is unreadable (not in the "dump").
  const bt3 = unwind(env2, { kind: 'regs', regs: ptRegs({ ip: fn('leaf', 1n), sp: TASK_STACK.end - 0x20n, cs: 0x10n }) });
  assert.equal(bt3.end.reason, 'unreadable');
  assert.match(bt3.end.detail, /cannot read a return address at 0xffffc90000014000/);
  assert.equal(bt3.frames.length, 5);

  // Going back to a stack already left is refused.
  const { mem: m4, env: env4 } = kernel([
    { ip: fn('leaf'), type: 'call', spReg: ORC_REG_SP_INDIRECT, spOffset: 8 },
    { ip: fn('middle'), type: 'call', spReg: ORC_REG_SP_INDIRECT, spOffset: 8 },
  ]);
  const irqSp = IRQ_STACK.end - 0x100n;
  const taskSp = TASK_STACK.end - 0x100n;
  m4.u64(irqSp, taskSp - 8n);
  m4.u64(taskSp - 8n, fn('middle', 0x10n));
  m4.u64(taskSp, irqSp + 0x10n);
  m4.u64(irqSp + 0x10n, fn('leaf', 0x10n));
  const bt4 = unwind(env4, { kind: 'regs', regs: ptRegs({ ip: fn('leaf', 1n), sp: irqSp, cs: 0x10n }) });
  assert.equal(bt4.end.reason, 'bad-stack');
  assert.match(bt4.end.detail, /already left/);
});

test('a CPU in user mode: no kernel frames, the registers are the user state', () => {
  const { env } = kernel([]);
  const bt = unwind(env, { kind: 'regs', regs: ptRegs({ ip: 0x401000n, sp: 0x7ff0n, cs: 0x33n }) });
  assert.equal(bt.frames.length, 0);
  assert.equal(bt.end.reason, 'user-start');
  assert.equal(bt.userRegs!.ip, 0x401000n);
});

test('an unreadable switch frame ends the trace before any frame', () => {
  const { env } = kernel([]);
  const bt = unwind(env, { kind: 'inactive', threadSp: 0xffffc90000100000n, bpOffset: 40, retAddrOffset: 48 });
  assert.equal(bt.frames.length, 0);
  assert.equal(bt.end.reason, 'unreadable');
});

test('idle entry: pt_regs frames at the NMI stack are followed back to the task stack', () => {
  const NMI: StackRange = { kind: 'nmi', start: 0xfffffe0000010000n, end: 0xfffffe0000012000n };
  const { mem, env } = kernel(
    [
      { ip: fn('irq_handler'), type: 'regs', spReg: ORC_REG_SP, spOffset: 0 },
      { ip: fn('idle'), type: 'call', spReg: ORC_REG_SP, spOffset: 8 },
      { ip: fn('kthread'), type: 'end-of-stack' },
    ],
    ORC_LAYOUT_NEW,
    [NMI],
  );
  const nmiSp = NMI.end - 0x100n;
  const taskSp = TASK_STACK.end - 0x80n;
  writePtRegs(mem, nmiSp, ptRegs({ ip: fn('idle', 0xfn), sp: taskSp, cs: 0x10n }));
  mem.u64(taskSp, fn('kthread', 0x20n));
  const bt = unwind(env, { kind: 'regs', regs: ptRegs({ ip: fn('irq_handler', 4n), sp: nmiSp, cs: 0x10n }) });
  assert.deepEqual(texts(bt.frames), ['irq_handler+0x4/0x30', 'idle+0xf/0x20', 'kthread+0x20/0x60']);
  assert.deepEqual(
    bt.frames.map((f) => f.stack),
    ['nmi', 'task', 'task'],
  );
});
