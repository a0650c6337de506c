import { CRASH_MODES, type CrashMode } from '../../rehearse/initramfs.js';
import { DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, rehearse, type RehearseOptions } from '../../rehearse/rehearse.js';
import { findMinCrashkernel } from '../../rehearse/find-min.js';
import { renderFindMinText, renderRehearsalText } from '../../report/rehearse-text.js';
import { renderJson } from '../../report/json.js';
import { UsageError } from '../../util/errors.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';
import { hostRootOf } from '../host-root.js';

const options = {
  ...COMMON_OPTIONS,
  kernel: { type: 'string' },
  crashkernel: { type: 'string' },
  mode: { type: 'string' },
  memory: { type: 'string' },
  timeout: { type: 'string' },
  keep: { type: 'string' },
  'find-min-crashkernel': { type: 'boolean' },
  kvm: { type: 'boolean' },
  root: { type: 'string' },
} as const;

function intOption(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`rehearse: --${name} '${text}': not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`rehearse: --${name} ${n}: must be ${min}..${max}`);
  return n;
}

const rehearseCommand: CommandSpec<typeof options> = {
  name: 'rehearse',
  summary: 'prove the kdump setup works: crash a throwaway VM with the same kernel and settings',
  usage: ['rehearse [--kernel RELEASE] [--crashkernel SIZE] [--mode sysrq|panic] [--memory MB] [--timeout S] [--keep DIR] [--kvm] [--root DIR] [--json]', 'rehearse --find-min-crashkernel [options]'],
  help: `
Tests the whole kdump path without crashing this machine: boots the kernel (/boot/vmlinuz-RELEASE)
in a QEMU virtual machine with a crashkernel= reservation, loads the same kernel as capture kernel
with 'kexec -p' and the capture command line 'kdumpkit load' would use (from /etc/kdumpkit.conf),
crashes it, lets the capture kernel copy /proc/vmcore to a virtual disk, then saves that dump with
'kdumpkit save' (the configured level and codec) and analyzes it. The VM boots a throwaway
initramfs (busybox, kexec, the virtio disk modules from modules.dep); nothing of the host's boot
setup is changed and the host's kernel is never touched.

Output: one line per stage, with its result and the time (seconds since QEMU started) it was
reached:
  first kernel booted     the kernel came up and ran the rehearsal's /init
  reservation made        the kernel reserved crashkernel= memory (its log line, kexec_crash_size)
  capture kernel loaded   kexec -p succeeded (kexec_crash_loaded=1)
  crash triggered         the first kernel panicked (--mode)
  capture kernel booted   the capture kernel came up and has /proc/vmcore
  dump saved              the capture kernel copied /proc/vmcore out
  dump collected          kdumpkit save turned it into DIR/<YYYY-MM-DD-HH:MM:SS>/vmcore
  dump analyzed           kdumpkit's analysis names the crash that was triggered
After the first failure the remaining stages are not reached. When the capture kernel does not
come up (kexec finds no room in the reservation, the capture kernel panics or runs out of memory,
or prints nothing after the crash), the report says the reservation is the likely cause. Exit
status: 0 passed, 1 failed (or an error), 2 usage.

The reservation: --crashkernel, else 'crashkernel' of /etc/kdumpkit.conf, else what
'kdumpkit recommend' reserves for the VM's RAM (--memory, default ${DEFAULT_MEMORY_MB}M).
--find-min-crashkernel bisects 64M..512M (at most half the VM's RAM) in 16M steps, one
rehearsal per probe (about 6-7 rehearsals), and recommends the smallest size that worked plus a
margin of max(64M, 25%), since the VM's tiny initramfs and single disk are the best case for
memory use.

Crash modes (--mode): sysrq (echo c > /proc/sysrq-trigger, the default) or panic (the VM's init
process exits: "Attempted to kill init!"). Both need no extra kernel module.

QEMU uses software emulation (TCG) by default: a rehearsal takes one to a few minutes. --kvm
uses /dev/kvm when it is usable (nested KVM hangs on some cloud machines, hence not the default).
Progress goes to standard error. Needs qemu-system-x86_64 (package qemu-system-x86), a static
busybox (busybox-static), kexec (kexec-tools) and the kernel package (linux-image-RELEASE).

Examples:
  kdumpkit rehearse
  kdumpkit rehearse --kernel 6.1.0-56-amd64 --crashkernel 192M --keep /tmp/rehearsal
  kdumpkit rehearse --crashkernel 64M          # fails: the capture kernel does not come up
  kdumpkit rehearse --find-min-crashkernel --json | jq -r .recommended`,
  options,
  optionHelp: {
    kernel: 'kernel release to rehearse (default: the running one if installed, else the newest in /boot)',
    crashkernel: 'reservation for the VM, as crashkernel= (default: kdumpkit.conf, else recommend)',
    mode: `how to crash: ${CRASH_MODES.join(' | ')} (default sysrq)`,
    memory: `VM RAM in MB (default ${DEFAULT_MEMORY_MB})`,
    timeout: `give up after S seconds per rehearsal (default ${DEFAULT_TIMEOUT_S})`,
    keep: 'keep the console log and the saved dump (DIR/<time>/vmcore, dmesg.txt) in DIR',
    'find-min-crashkernel': 'bisect the smallest reservation that still yields a dump; recommend it with a margin',
    kvm: 'use KVM instead of TCG (only when /dev/kvm works)',
    root: "read /boot, /lib/modules and /etc/kdumpkit.conf under DIR instead of '/'",
    json: 'print the report (stages, verdict, hint) as JSON',
    help: 'show this help',
  },
  maxPositionals: 0,
  async run(args, io) {
    const v = args.values;
    const mode = (v.mode ?? 'sysrq') as CrashMode;
    if (!(CRASH_MODES as readonly string[]).includes(mode)) throw new UsageError(`rehearse: --mode ${v.mode}: not one of ${CRASH_MODES.join(', ')}`);
    const memoryMb = v.memory === undefined ? DEFAULT_MEMORY_MB : intOption('memory', v.memory, 256, 65536);
    const timeoutSeconds = v.timeout === undefined ? DEFAULT_TIMEOUT_S : intOption('timeout', v.timeout, 10, 86400);
    if (v.crashkernel !== undefined && v['find-min-crashkernel']) throw new UsageError('rehearse: --crashkernel and --find-min-crashkernel exclude each other');
    const o: RehearseOptions = {
      root: hostRootOf(v.root, 'rehearse'),
      ...(v.kernel !== undefined ? { release: v.kernel } : {}),
      ...(v.crashkernel !== undefined ? { crashkernel: v.crashkernel } : {}),
      mode,
      memoryMb,
      timeoutSeconds,
      ...(v.keep !== undefined ? { keep: v.keep } : {}),
      kvm: v.kvm === true,
      progress: (line) => io.err(`rehearse: ${line}\n`),
    };
    if (v['find-min-crashkernel']) {
      let n = 0;
      const r = await findMinCrashkernel(o, (p) => rehearse({ ...p, ...(p.keep !== undefined ? { keep: `${p.keep}/${String(++n).padStart(2, '0')}-${p.crashkernel ?? ''}` } : {}) }));
      io.out(v.json ? renderJson(r) : renderFindMinText(r));
      return r.minimum !== null ? 0 : 1;
    }
    const r = await rehearse(o);
    io.out(v.json ? renderJson(r) : renderRehearsalText(r));
    return r.passed ? 0 : 1;
  },
};

export default rehearseCommand;
