import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import spec from '../../src/cli/commands/bt.js';
import { parseCommandArgs, renderCommandHelp, type CommandSpec, type Io } from '../../src/cli/command.js';
import { UsageError } from '../../src/util/errors.js';
import { need, sharedDumps } from '../helpers/dumps.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = {
    out: (t) => {
      out += typeof t === 'string' ? t : Buffer.from(t).toString('utf8');
    },
    err: (t) => {
      err += t;
    },
    stdoutIsTTY: false,
    stderrIsTTY: false,
  };
  const s = spec as unknown as CommandSpec;
  const code = await s.run(parseCommandArgs(s, argv), io);
  return { code, out, err };
}

test('bt --help teaches what the output means', () => {
  const h = renderCommandHelp(spec as unknown as CommandSpec);
  assert.match(h, /Usage:\n {2}kdumpkit bt DUMP/);
  assert.match(h, /ORC/);
  assert.match(h, /Examples:/);
  for (const o of ['--json', '--all', '--all-tasks', '--system-map', '--vmlinux', '--btf']) assert.ok(h.includes(o), o);
});

const nullderef = sharedDumps().find((d) => d.name === '6.12-nullderef');

test('kdumpkit bt: crash-style text, JSON, PIDs and task addresses', async (t) => {
  if (!nullderef) {
    t.skip('no 6.12-nullderef shared dump');
    return;
  }
  const elf = join(nullderef.cacheDir, 'vmcore.elf');
  if (!need(t, elf)) return;

  const text = await run(elf);
  assert.equal(text.code, 0);
  const lines = text.out.split('\n');
  assert.match(lines[0]!, /^PID: 155 {6}TASK: [0-9a-f]{16} {2}CPU: 0 {4}COMMAND: "insmod" {2}\(crashed\)$/);
  assert.match(lines[1]!, /^ #0 \[[0-9a-f]{16}\] crashme_recurse\+0x47\/0x80 \[crashme\] at ffffffffc041f0d7$/);
  assert.match(text.out, /#10 \[[0-9a-f]{16}\] do_init_module\+0x60\/0x270 at /);
  assert.match(text.out, /\n {4}RIP: 000000000047fbe9 {2}RSP: 00007ffe3143c2e8 {2}RFLAGS: 00000246\n/);
  assert.match(text.out, /\n {4}ORIG_RAX: 0000000000000139 {2}CS: 0033 {2}SS: 002b\n/);

  const json = await run(elf, '--json');
  const r = JSON.parse(json.out) as { crashedCpu: number; traces: Array<{ pid: number; task: string; frames: Array<{ text: string; ip: string; module?: string }>; userRegs: { ip: string } }> };
  assert.equal(r.crashedCpu, 0);
  assert.equal(r.traces[0]!.frames[0]!.ip, '0xffffffffc041f0d7');
  assert.equal(r.traces[0]!.frames[0]!.module, 'crashme');
  assert.equal(r.traces[0]!.userRegs.ip, '0x47fbe9');

  const byPid = await run(elf, '155', '--json');
  assert.deepEqual(JSON.parse(byPid.out).traces, r.traces);
  const byTask = await run(elf, r.traces[0]!.task, '--json');
  assert.deepEqual(JSON.parse(byTask.out).traces, r.traces);
  const byBareHex = await run(elf, r.traces[0]!.task.slice(2), '--json');
  assert.deepEqual(JSON.parse(byBareHex.out).traces, r.traces);

  const idle = await run(elf, '0');
  assert.equal(idle.out.match(/^PID: 0 /gm)?.length, 2, 'PID 0: the idle task of each CPU');

  const all = await run(elf, '-a');
  assert.equal(all.out.match(/^PID: /gm)?.length, 2);
  assert.match(all.out, /COMMAND: "swapper\/1"\n #0 \[[0-9a-f]+\] pv_native_safe_halt\+0xf\/0x20 at /);

  const every = await run(elf, '-A');
  assert.ok((every.out.match(/^PID: /gm)?.length ?? 0) >= 60);
  assert.doesNotMatch(every.out, /trace ends/);

  await assert.rejects(run(elf, '99999'), UsageError);
  await assert.rejects(run(elf, 'init'), UsageError);
  await assert.rejects(run(elf, 'face'), /not a kernel address/);
});
