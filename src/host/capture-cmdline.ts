/**
 * The capture kernel's command line: what `kdumpkit load` passes to `kexec -p --append`, and
 * what `rehearse` boots the capture kernel of its VM with.
 *
 * It starts from the running kernel's command line (so root=, console= and the like still hold
 * in the capture kernel), drops what must not be repeated there, and adds what makes a kernel
 * booting on a crashed machine's hardware in a small reservation come up:
 *   nr_cpus=1 reset_devices irqpoll   Documentation/admin-guide/kdump/kdump.rst ("Load the
 *                                     dump-capture kernel"): one CPU saves memory, devices left
 *                                     mid-DMA by the dead kernel are reset, interrupts polled
 *   systemd.unit=kdumpkit-save.service  boot straight into the save unit instead of
 *                                     default.target (Debian's kdump-tools does the same with
 *                                     kdump-tools-dump.service)
 *   systemd.mask=kdumpkit-load.service  the load unit must not run again in the capture kernel
 *   panic=10                          a capture kernel that itself panics reboots instead of hanging
 * Dropped (the removal list of Fedora's kdump-utils, KDUMP_COMMANDLINE_REMOVE, and the
 * parameters above): crashkernel= (nothing to reserve inside the reservation), hugepages and
 * CMA reservations that would not fit, quiet (the capture kernel's console is the only record
 * when it fails), log_buf_len, swiotlb, slub_debug, and earlier values of the parameters added.
 */
import { paramName, splitCmdline } from './state.js';

export const SAVE_UNIT = 'kdumpkit-save.service';
export const LOAD_UNIT = 'kdumpkit-load.service';

/** Parameters kdumpkit always appends to the capture kernel's command line. */
export const CAPTURE_PARAMS: readonly string[] = ['nr_cpus=1', 'reset_devices', 'irqpoll', `systemd.unit=${SAVE_UNIT}`, `systemd.mask=${LOAD_UNIT}`, 'panic=10'];

/** Parameter names removed from the running command line. */
export const REMOVED_PARAMS: ReadonlySet<string> = new Set([
  'crashkernel',
  'hugepages',
  'hugepagesz',
  'default_hugepagesz',
  'hugetlb_cma',
  'cma',
  'quiet',
  'log_buf_len',
  'swiotlb',
  'slub_debug',
  'BOOT_IMAGE',
  'initrd',
  'maxcpus',
  ...CAPTURE_PARAMS.map(paramName),
]);

/**
 * `running`: the running kernel's /proc/cmdline; `extra`: kdumpkit.conf's `cmdline`, appended
 * last so the user can override any default (the kernel takes the last value of a parameter).
 */
export function captureCmdline(running: string, extra = ''): string {
  // Everything after a bare `--` is handed to init, not parsed by the kernel
  // (init/main.c, parse_args stops there), so kernel parameters go before it.
  const [kernel, init] = splitAtInitArgs(splitCmdline(running));
  const [extraKernel, extraInit] = splitAtInitArgs(splitCmdline(extra));
  const kept = kernel.filter((p) => !REMOVED_PARAMS.has(paramName(p)));
  const initArgs = [...init, ...extraInit];
  return [...kept, ...CAPTURE_PARAMS, ...extraKernel, ...(initArgs.length ? ['--', ...initArgs] : [])].join(' ');
}

function splitAtInitArgs(params: readonly string[]): [string[], string[]] {
  const i = params.indexOf('--');
  return i < 0 ? [[...params], []] : [params.slice(0, i), params.slice(i + 1)];
}
