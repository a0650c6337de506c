import type { CrashReport } from '../../src/report/html.js';
import type { AnalyzeReport } from '../../src/analyze/analyze.js';

/**
 * A CrashReport whose every string comes from `s(field)`: for the HTML reporter's escaping tests
 * (each field gets the hostile payload plus its own name, so a failure says which field leaked).
 * The numbers are small and plausible; no dump is needed.
 */
export function syntheticCrashReport(s: (field: string) => string): CrashReport {
  const regs = {
    r15: 1n, r14: 2n, r13: 3n, r12: 4n, rbp: 5n, rbx: 6n, r11: 7n, r10: 8n, r9: 9n, r8: 10n, rax: 11n, rcx: 12n, rdx: 13n, rsi: 14n, rdi: 15n,
    orig_rax: 16n, rip: 0xffffffffc041f0d7n, cs: 0x10n, eflags: 0x246n, rsp: 0xff7361818042b9d0n, ss: 0x18n, fs_base: 0n, gs_base: 0n, ds: 0n, es: 0n, fs: 0n, gs: 0n,
  };
  const frames = [
    { text: s('frame.text'), name: s('frame.name'), module: s('frame.module'), pc: 0xffffffffc041f0d7n },
    { text: s('frame2.text'), name: s('frame2.name'), module: undefined, pc: 0xffffffffa4a02bdbn, unreliable: true },
  ];
  const analysis: AnalyzeReport = {
    sys: {
      kernelSymbols: s('sys.kernelSymbols'),
      kernelTypes: s('sys.kernelTypes'),
      dumpFile: s('sys.dumpFile'),
      dumpKind: { format: s('dumpKind.format'), dumpLevel: 31, partial: true, flattened: false, incomplete: false, description: s('dumpKind.description') },
      cpus: 2,
      cpusOnline: 1,
      crashTime: new Date(Date.UTC(2026, 10, 25, 8, 4, 37)),
      uptimeSeconds: 7,
      uptime: s('sys.uptime'),
      uptimeTimekeeper: 7,
      hz: 250,
      jiffies: 4294669041n,
      loadAverage: [s('load1'), s('load5'), s('load15')],
      avenrun: [1, 2, 3],
      tasks: 2,
      nrThreads: 1,
      sysname: s('sys.sysname'),
      nodename: s('sys.nodename'),
      release: s('sys.release'),
      version: s('sys.version'),
      machine: s('sys.machine'),
      domainname: s('sys.domainname'),
      cpuMhz: 2445,
      memoryBytes: 1 << 30,
      totalRamPages: 1000,
      totalRamBytes: 4096000,
      pageSize: 4096,
      panic: s('sys.panic'),
      warnings: [s('sys.warning')],
    },
    panic: {
      panicString: s('panic.panicString'),
      panicMessageInMemory: s('panic.panicMessageInMemory'),
      cause: {
        kind: 'null-deref',
        headline: s('cause.headline'),
        oopsLine: s('cause.oopsLine'),
        rip: s('cause.rip'),
        time: 7.5,
        cpu: 0,
        pid: 155,
        comm: s('cause.comm'),
        workqueue: s('cause.workqueue'),
      },
      sysrq: true,
      panicCpu: 0,
      crashingCpu: 0,
      tainted: s('panic.tainted'),
    },
    crashed: {
      cpu: 0,
      cpuSource: s('crashed.cpuSource'),
      pid: 155,
      comm: s('crashed.comm'),
      task: 0xff3e5a0e9beba100n,
      state: s('crashed.state'),
      kthread: true,
      registers: regs,
      rip: s('crashed.rip'),
      backtrace: { frames, notes: [s('bt.note')] },
    },
    cpus: [
      { cpu: 0, pid: 155, comm: s('cpu0.comm'), task: 0xff3e5a0e9beba100n, idle: false, crashed: true, rip: 1n, where: s('cpu0.where'), backtrace: undefined },
      { cpu: 1, pid: 0, comm: s('cpu1.comm'), task: 0xff3e5a0e812d4200n, idle: true, crashed: false, rip: 2n, where: s('cpu1.where'), backtrace: { unavailable: s('cpu1.bt.unavailable') } },
    ],
    tasks: {
      rows: [
        { pid: 1, tgid: 1, ppid: 0, cpu: 1, task: 0x1000n, state: s('row1.state'), memPercent: 0.8, vszKiB: 2260, rssKiB: 1792, comm: s('row1.comm'), kthread: false, idle: false, activeOn: undefined, crashed: false },
        { pid: 155, tgid: 155, ppid: 1, cpu: 0, task: 0x2000n, state: 'R', memPercent: undefined, vszKiB: undefined, rssKiB: undefined, comm: s('row155.comm'), kthread: true, idle: false, activeOn: 0, crashed: true },
      ],
      total: 2,
      states: { R: 1, [s('states.key')]: 1 },
      nrThreads: 1,
      warnings: [s('tasks.warning')],
    },
    modules: {
      modules: [{ name: s('mod.name'), module: 0xffffffffc0425000n, base: 0xffffffffc041f000n, size: 20480, state: s('mod.state'), taints: s('mod.taints'), flags: s('mod.flags'), refcount: 2, regions: [] }],
      taint: { mask: 0x3000n, text: s('taint.text'), flags: [{ bit: 12, letter: s('taint.letter'), clear: ' ', module: true, name: s('taint.name') }] },
      linkedIn: s('mod.linkedIn'),
      warnings: [s('mod.warning')],
    },
    log: {
      lines: [0, 1, 3, 4, 5, 6, 7].map((level, i) => ({ seq: i, time: i * 0.5, level, caller: s(`log${i}.caller`), text: s(`log${i}.text`) })),
      total: 9,
    },
    triage: {
      kind: 'null-deref',
      sentence: s('triage.sentence'),
      signature: s('triage.signature'),
      location: s('triage.location'),
      function: s('triage.function'),
      module: s('triage.module'),
      context: s('triage.context'),
      frames: [s('triage.frame')],
      evidence: [s('triage.evidence')],
    },
    backtraces: true,
    warnings: [s('warning')],
  };
  return {
    analysis,
    pages: {
      level: 31,
      rules: 'latest',
      pageSize: 4096,
      ramPages: 1000,
      keptPages: 400,
      excluded: { zero: 100, cache: 100, cachePrivate: 50, user: 50, free: 290, hwpoison: 5, offline: 5 },
      alreadyFiltered: { dumpLevel: 31, presentPages: 400, absentPages: 600 },
      unreadablePages: 0,
      seconds: 0.1,
      warnings: [s('pages.warning')],
    },
    generator: { tool: s('generator.tool'), at: new Date(Date.UTC(2026, 10, 25, 9, 0, 0)) },
  };
}
