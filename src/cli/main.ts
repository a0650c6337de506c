#!/usr/bin/env node
import { KdumpkitError, UsageError } from '../util/errors.js';
import { parseCommandArgs, renderCommandHelp, type CommandSpec, type Io } from './command.js';
import { KDUMPKIT_VERSION as VERSION } from '../util/version.js';

/** Commands load lazily so `kdumpkit info` does not pay for analysis code. */
const COMMANDS: Readonly<Record<string, { summary: string; load: () => Promise<CommandSpec> }>> = {
  info: { summary: 'describe a dump file: format, pages, kernel, CPUs, layout', load: async () => (await import('./commands/info.js')).default as unknown as CommandSpec },
  dmesg: { summary: "print the crashed kernel's log (like makedumpfile --dump-dmesg)", load: async () => (await import('./commands/dmesg.js')).default as unknown as CommandSpec },
  save: { summary: 'save a crash dump filtered and compressed (like makedumpfile)', load: async () => (await import('./commands/save.js')).default as unknown as CommandSpec },
  reassemble: { summary: 'rebuild a dump file from a flattened stream (like makedumpfile -R)', load: async () => (await import('./commands/reassemble.js')).default as unknown as CommandSpec },
  analyze: { summary: 'why the kernel died: verdict, panic, crashing task, CPUs, tasks, modules, log', load: async () => (await import('./commands/analyze.js')).default as unknown as CommandSpec },
  sys: { summary: "the crashed system at a glance (like crash's sys)", load: async () => (await import('./commands/sys.js')).default as unknown as CommandSpec },
  ps: { summary: "every task of the crashed kernel (like crash's ps)", load: async () => (await import('./commands/ps.js')).default as unknown as CommandSpec },
  mod: { summary: "loaded modules and the kernel's taint (like crash's mod)", load: async () => (await import('./commands/mod.js')).default as unknown as CommandSpec },
  log: { summary: "the crashed kernel's log, -T for wall-clock times (like crash's log)", load: async () => (await import('./commands/log.js')).default as unknown as CommandSpec },
  bt: { summary: 'backtraces of the crashed task, every CPU, or any task (ORC unwinder, no debuginfo)', load: async () => (await import('./commands/bt.js')).default as unknown as CommandSpec },
  sym: { summary: "kernel and module symbols: name to address, address to name+off/size", load: async () => (await import('./commands/sym.js')).default as unknown as CommandSpec },
  struct: { summary: "a struct's layout, or its members' values at an address (like crash's struct -o)", load: async () => (await import('./commands/struct.js')).default as unknown as CommandSpec },
  report: { summary: 'a crash report as one self-contained HTML page (or text / JSON)', load: async () => (await import('./commands/report.js')).default as unknown as CommandSpec },
  recommend: { summary: 'which crashkernel= to reserve for this RAM size and architecture, and why', load: async () => (await import('./commands/recommend.js')).default as unknown as CommandSpec },
  pstore: { summary: 'move the crash logs the kernel left in /sys/fs/pstore into the crash directory', load: async () => (await import('./commands/pstore.js')).default as unknown as CommandSpec },
  load: { summary: 'load the capture kernel with kexec -p, so the next crash is saved', load: async () => (await import('./commands/load.js')).default as unknown as CommandSpec },
  unload: { summary: 'unload the capture kernel (kexec -p -u): crashes are no longer saved', load: async () => (await import('./commands/unload.js')).default as unknown as CommandSpec },
  status: { summary: 'is the machine armed? reservation, loaded capture kernel, what load would run', load: async () => (await import('./commands/status.js')).default as unknown as CommandSpec },
  'test-crash': { summary: 'crash the machine NOW (sysrq-c) to prove a dump is saved; needs --yes', load: async () => (await import('./commands/test-crash.js')).default as unknown as CommandSpec },
  check: { summary: 'will the next crash be captured? kernel config, crashkernel, kexec, lockdown, BTF', load: async () => (await import('./commands/check.js')).default as unknown as CommandSpec },
  doctor: { summary: 'why kdump does not work here, and what to do: check plus units, disk, diagnosis', load: async () => (await import('./commands/doctor.js')).default as unknown as CommandSpec },
  list: { summary: 'the crashes saved on this machine, newest first (like coredumpctl list)', load: async () => (await import('./commands/list.js')).default as unknown as CommandSpec },
  show: { summary: 'the report of one saved crash (from its report.json, or analyzed now)', load: async () => (await import('./commands/show.js')).default as unknown as CommandSpec },
  prune: { summary: 'delete the oldest crashes beyond --keep N, never the newest complete dump', load: async () => (await import('./commands/prune.js')).default as unknown as CommandSpec },
  bundle: { summary: 'one tar.gz of a crash to attach to a bug report (log, reports, system facts)', load: async () => (await import('./commands/bundle.js')).default as unknown as CommandSpec },
  setup: { summary: 'set this machine up for kdump: config, systemd units, crashkernel=, early-kdump hooks', load: async () => (await import('./commands/setup.js')).default as unknown as CommandSpec },
  rehearse: { summary: 'prove the kdump setup works: crash a throwaway VM with the same kernel and settings', load: async () => (await import('./commands/rehearse.js')).default as unknown as CommandSpec },
};

/** The command list in the order a user meets them: set up, capture, look at one dump, keep many. */
const GROUPS: readonly (readonly [string, readonly string[]])[] = [
  ['Set up a machine (host paths under --root DIR for a fake or mounted root)', ['check', 'recommend', 'setup', 'load', 'unload', 'status', 'doctor', 'rehearse', 'test-crash']],
  ['Capture (in the capture kernel, or on any dump)', ['save', 'reassemble', 'pstore']],
  ['Analyze one dump (no debuginfo needed)', ['analyze', 'report', 'sys', 'ps', 'bt', 'log', 'dmesg', 'mod', 'sym', 'struct', 'info']],
  ['The crash catalog (/var/crash)', ['list', 'show', 'prune', 'bundle']],
];

function topHelp(): string {
  const names = Object.keys(COMMANDS);
  const w = Math.max(...names.map((n) => n.length));
  // A command missing from GROUPS still shows, so the list can never hide one.
  const grouped = new Set(GROUPS.flatMap(([, g]) => g));
  const groups = [...GROUPS, ...(names.some((n) => !grouped.has(n)) ? [['Other', names.filter((n) => !grouped.has(n))] as const] : [])];
  return [
    'kdumpkit — set up kdump, capture and analyze Linux kernel crash dumps.',
    '',
    'Usage: kdumpkit COMMAND [OPTIONS] [ARGS]',
    '',
    ...groups.flatMap(([title, g]) => [`${title}:`, ...g.filter((n) => COMMANDS[n]).map((n) => `  ${n.padEnd(w)}  ${COMMANDS[n]!.summary}`), '']),
    "Every command takes --json for machine-readable output and --help for details.",
    'Dumps are recognized by content: ELF vmcores (/proc/vmcore, QEMU dump-guest-memory),',
    'kdump-compressed files (makedumpfile -c/-l/-p/-z, zlib/lzo/snappy/zstd) and flattened',
    'streams (makedumpfile -F) are all read directly.',
    '',
  ].join('\n');
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const sub = name === 'help' ? rest[0] : undefined;
    if (sub && COMMANDS[sub]) {
      io.out(renderCommandHelp(await COMMANDS[sub].load()));
      return 0;
    }
    io.out(topHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    io.out(`kdumpkit ${VERSION}\n`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) throw new UsageError(`unknown command '${name}'`, "Run 'kdumpkit --help' for the list of commands.");
  const spec = await entry.load();
  const args = parseCommandArgs(spec, rest);
  if ((args.values as { help?: boolean }).help) {
    io.out(renderCommandHelp(spec));
    return 0;
  }
  return spec.run(args, io);
}

function processIo(): Io {
  return {
    out: (t) => {
      process.stdout.write(t);
    },
    err: (t) => {
      process.stderr.write(t);
    },
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
  };
}

/** Exit codes: 0 ok, 1 known error, 2 usage, 70 internal error (a bug: stack printed). */
async function run(): Promise<void> {
  const io = processIo();
  // A closed pipe (kdumpkit dmesg x | head) is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  try {
    process.exitCode = await main(process.argv.slice(2), io);
  } catch (e) {
    if (e instanceof KdumpkitError) {
      io.err(`kdumpkit: error: ${e.message}\n`);
      if (e.hint) io.err(`hint: ${e.hint}\n`);
      process.exitCode = e instanceof UsageError ? 2 : 1;
    } else {
      io.err(`kdumpkit: internal error (this is a bug, please report it):\n${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 70;
    }
  }
}

await run();
