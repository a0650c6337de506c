import { sysReport } from '../../analyze/sys.js';
import { renderSysText } from '../../report/sys-text.js';
import { KERNEL_HELP_NOTE, reportCommand } from './analyze.js';

const sys = reportCommand(
  {
    name: 'sys',
    summary: "the crashed system at a glance, like crash's sys",
    usage: ['sys DUMP [--json] [--vmlinux FILE | --system-map FILE] [--btf FILE]'],
    help: `
Prints what crash's 'sys' prints, read from the crashed kernel's own variables:

  KERNEL, DUMPFILE  release, where symbols and types came from; the dump's format and whether
                    it is full or partial (makedumpfile dump level and what it excluded)
  CPUS              possible CPUs (online ones if fewer)
  DATE              the crash time (VMCOREINFO CRASHTIME), UTC
  UPTIME            (jiffies_64 - INITIAL_JIFFIES) / HZ, HZ from tick_nsec
  LOAD AVERAGE      avenrun, printed like /proc/loadavg
  TASKS             every task found: all threads plus each CPU's idle task
  NODENAME, RELEASE, VERSION, MACHINE   init_uts_ns (and the TSC clock in MHz)
  MEMORY            RAM present in the memory nodes; TOTALRAM: totalram_pages (what the
                    kernel could use after reservations such as crashkernel=)
  PANIC             the "Kernel panic - not syncing" line, or the headline of the oops/BUG
                    that stopped the kernel when it never reached panic()
${KERNEL_HELP_NOTE}

Examples:
  kdumpkit sys /var/crash/2026-11-25-08:30:00/vmcore
  kdumpkit sys vmcore --json | jq .panic`,
  },
  sysReport,
  renderSysText,
);

export default sys;
