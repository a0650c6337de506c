import { formatSize, parseSize, type Reservation } from '../../host/crashkernel.js';
import { approxSize, ARCHES, normalizeArch, readRamBytes, recommend, UBUNTU_DEFAULT, KDUMP_UTILS_DEFAULTS } from '../../host/recommend.js';
import { UsageError } from '../../util/errors.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';

const options = {
  ...COMMON_OPTIONS,
  ram: { type: 'string' },
  arch: { type: 'string' },
  network: { type: 'boolean' },
  root: { type: 'string' },
} as const;

function reservationJson(r: Reservation | undefined): Record<string, unknown> | null {
  if (!r) return null;
  const out: Record<string, unknown> = { size: formatSize(r.size), sizeBytes: Number(r.size) };
  if (r.offset !== undefined) out.offset = formatSize(r.offset);
  if (r.high) out.high = true;
  if (r.low !== undefined) out.low = formatSize(r.low);
  if (r.cma !== undefined) out.cma = formatSize(r.cma);
  return out;
}

const recommendCommand: CommandSpec<typeof options> = {
  name: 'recommend',
  summary: 'which crashkernel= to reserve for this RAM size and architecture, and why',
  usage: ['recommend [--ram SIZE] [--arch ARCH] [--network] [--root DIR] [--json]'],
  help: `
Recommends the crashkernel= kernel parameter: how much memory the running kernel sets aside at
boot for the capture kernel that saves the dump after a crash. Too little and the capture kernel
runs out of memory before the dump is saved; too much is RAM the system never gets to use.

The answer is a range list, start-[end]:size,... : the kernel compares its RAM size (rounded up
to a multiple of 128M; start inclusive, end exclusive) with each range and reserves that size, so
one value is right for every machine it is copied to. The ranges are the defaults of Fedora/RHEL
kdump-utils ('kdumpctl get-default-crashkernel'):
  x86_64, s390x, riscv64  ${KDUMP_UTILS_DEFAULTS.x86_64}
  aarch64                 ${KDUMP_UTILS_DEFAULTS.aarch64}
  ppc64le                 ${KDUMP_UTILS_DEFAULTS.ppc64le}
With --network (dumps over NFS/SSH) each size gets 64M more for network drivers and setup in the
capture initramfs. Ubuntu's default (kdump-tools, 24.04+) is shown for comparison:
  ${UBUNTU_DEFAULT}

The output is the value, what it reserves on this RAM size, and the reasons. RAM comes from
/proc/meminfo (MemTotal) unless --ram is given; the architecture is this machine's unless
--arch is given (${ARCHES.join(', ')}).

Examples:
  kdumpkit recommend
  kdumpkit recommend --ram 64G --arch aarch64
  kdumpkit recommend --network --json | jq -r .crashkernel`,
  options,
  optionHelp: {
    ram: 'RAM size instead of /proc/meminfo (512M, 16G, 0x40000000)',
    arch: `architecture instead of this machine's (${ARCHES.join(', ')})`,
    network: 'the dump is saved over the network (NFS, SSH): reserve 64M more',
    root: "read proc/meminfo under DIR instead of '/'",
    json: 'print { crashkernel, ramBytes, arch, reserves, reasoning } as JSON',
    help: 'show this help',
  },
  maxPositionals: 0,
  async run(args, io) {
    let ramBytes: bigint;
    if (args.values.ram !== undefined) {
      try {
        ramBytes = parseSize(args.values.ram);
      } catch (e) {
        throw new UsageError(`recommend: bad --ram '${args.values.ram}': ${(e as Error).message.split('\n')[0]}`, 'Give a size like 512M, 16G or 1T.');
      }
      if (ramBytes === 0n) throw new UsageError('recommend: --ram must be more than 0');
    } else {
      ramBytes = await readRamBytes(args.values.root ?? '/');
    }
    const archText = args.values.arch ?? process.arch;
    const arch = normalizeArch(archText);
    if (!arch) throw new UsageError(`recommend: unknown architecture '${archText}'`, `Use --arch with one of: ${ARCHES.join(', ')}.`);
    const rec = recommend({ ramBytes, arch, dumpTarget: args.values.network ? 'network' : 'local' });
    if (args.values.json) {
      const json = { crashkernel: rec.crashkernel, ramBytes: Number(ramBytes), arch, reserves: reservationJson(rec.reserves), reasoning: rec.reasoning };
      io.out(JSON.stringify(json, null, 2) + '\n');
      return 0;
    }
    const lines = [
      `crashkernel=${rec.crashkernel}`,
      '',
      `RAM ${approxSize(ramBytes)} (${arch}): reserves ${rec.reserves ? formatSize(rec.reserves.size) : 'nothing'}`,
      '',
      'Why:',
      ...rec.reasoning.map((r) => `  - ${r}`),
    ];
    io.out(lines.join('\n') + '\n');
    return 0;
  },
};

export default recommendCommand;
