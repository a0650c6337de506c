/**
 * Which crashkernel= to use, and why.
 *
 * The formula: a RAM-scaled range list (so the kernel itself picks the size at every boot and the
 * value stays right when RAM is added or removed), taken from Fedora/RHEL kdump-utils'
 * `kdumpctl get-default-crashkernel` (the per-architecture defaults it writes as the kernel's
 * crashkernel= and ships as crashkernel.default), because those tables are what a large fleet of
 * kernels has been tested against:
 *
 *   x86_64, s390x, riscv64   1G-4G:192M,4G-64G:256M,64G-:512M
 *   aarch64 (4K pages)       1G-4G:256M,4G-64G:320M,64G-:576M
 *   ppc64le                  2G-4G:384M,4G-16G:512M,16G-64G:1G,64G-128G:2G,128G-:4G
 *
 * aarch64 needs more than x86_64 because its capture kernel and initramfs are bigger (more drivers,
 * EFI runtime, larger page tables); ppc64le because of 64K pages and firmware-assisted dump layout.
 * Machines below the first range start get nothing reserved: kdump on under 1G (2G on ppc64le)
 * costs too large a share of RAM, which is also kdump-utils' choice.
 *
 * For a network dump target (NFS, SSH) we add 64M to every entry: the capture initramfs then also
 * carries NIC drivers and firmware and brings up networking (our addition; kdump-utils asks users
 * to raise the reservation themselves when network dumps fail with OOM in the capture kernel).
 *
 * For comparison we report Ubuntu's default (kdump-tools / linux-crashdump, Ubuntu 24.04+, all
 * architectures): 2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M, which is more
 * generous on big machines because Ubuntu's capture initramfs is the full distribution initramfs.
 */
import { UsageError } from '../util/errors.js';
import { formatSize, parseCrashkernel, reservedFor, type CrashkernelRange, type Reservation } from './crashkernel.js';
import { parseMemTotal } from './state.js';

export type Arch = 'x86_64' | 'aarch64' | 'ppc64le' | 's390x' | 'riscv64';
export const ARCHES: readonly Arch[] = ['x86_64', 'aarch64', 'ppc64le', 's390x', 'riscv64'];

export interface RecommendInput {
  readonly ramBytes: bigint;
  readonly arch: Arch;
  readonly dumpTarget?: 'local' | 'network';
}

export interface Recommendation {
  /** The value to put after `crashkernel=`. */
  readonly crashkernel: string;
  /** What that value reserves on this RAM size; undefined: nothing. */
  readonly reserves: Reservation | undefined;
  /** Why, one sentence a line. */
  readonly reasoning: readonly string[];
}

/** kdump-utils' default tables per architecture (see the file comment). */
export const KDUMP_UTILS_DEFAULTS: Readonly<Record<Arch, string>> = {
  x86_64: '1G-4G:192M,4G-64G:256M,64G-:512M',
  s390x: '1G-4G:192M,4G-64G:256M,64G-:512M',
  riscv64: '1G-4G:192M,4G-64G:256M,64G-:512M',
  aarch64: '1G-4G:256M,4G-64G:320M,64G-:576M',
  ppc64le: '2G-4G:384M,4G-16G:512M,16G-64G:1G,64G-128G:2G,128G-:4G',
};

/** Ubuntu's default (kdump-tools / linux-crashdump, 24.04 and later), for comparison. */
export const UBUNTU_DEFAULT = '2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M';

/** Extra per entry for network dump targets. */
export const NETWORK_EXTRA = 64n << 20n;

/** Maps Node's process.arch and common spellings to our architecture names. */
export function normalizeArch(arch: string): Arch | undefined {
  const a = arch.toLowerCase();
  const map: Record<string, Arch> = {
    x64: 'x86_64', x86_64: 'x86_64', amd64: 'x86_64',
    arm64: 'aarch64', aarch64: 'aarch64',
    ppc64: 'ppc64le', ppc64le: 'ppc64le',
    s390x: 's390x', riscv64: 'riscv64',
  };
  return map[a];
}

function formatRanges(ranges: readonly CrashkernelRange[]): string {
  return ranges.map((r) => `${formatSize(r.start)}-${r.end === undefined ? '' : formatSize(r.end)}:${formatSize(r.size)}`).join(',');
}

/** A RAM size for people: exact kernel notation when it is one (`16G`), else `15.6G`. */
export function approxSize(bytes: bigint): string {
  const exact = formatSize(bytes);
  if (/[KMGTPE]$/.test(exact) && !exact.endsWith('K')) return exact;
  const units = ['E', 'P', 'T', 'G', 'M'] as const;
  for (const [i, u] of units.entries()) {
    const unit = 2 ** (60 - 10 * i);
    if (Number(bytes) >= unit) return `${(Number(bytes) / unit).toFixed(1)}${u}`;
  }
  return exact;
}

function describe(r: Reservation | undefined): string {
  return r === undefined ? 'nothing' : formatSize(r.size);
}

export function recommend(input: RecommendInput): Recommendation {
  const { ramBytes, arch } = input;
  const network = input.dumpTarget === 'network';
  const base = parseCrashkernel(KDUMP_UTILS_DEFAULTS[arch]).entries[0];
  if (base?.kind !== 'ranges') throw new Error('bad built-in table');
  const ranges = network ? base.ranges.map((r) => ({ ...r, size: r.size + NETWORK_EXTRA })) : base.ranges;
  const crashkernel = formatRanges(ranges);
  const reserves = reservedFor(parseCrashkernel(crashkernel), ramBytes, { arch });
  const ubuntu = reservedFor(parseCrashkernel(UBUNTU_DEFAULT), ramBytes, { arch });
  const ram = approxSize(ramBytes);
  const reasoning = [
    `A range list lets the kernel pick the size from the RAM it finds at boot, so the value stays right when RAM changes.`,
    `The ranges are Fedora/RHEL kdump-utils' default for ${arch} (kdumpctl get-default-crashkernel): ${KDUMP_UTILS_DEFAULTS[arch]}.`,
  ];
  if (arch === 'aarch64') reasoning.push('aarch64 reserves more than x86_64: its capture kernel and initramfs are larger (more drivers, EFI runtime).');
  if (arch === 'ppc64le') reasoning.push('ppc64le reserves more: 64K pages make the capture kernel and its page tables larger.');
  if (network) reasoning.push(`The dump goes over the network, so each entry gets ${formatSize(NETWORK_EXTRA)} more for NIC drivers, firmware and network setup in the capture initramfs.`);
  if (reserves) {
    reasoning.push(`With ${ram} of RAM this reserves ${describe(reserves)} (the kernel rounds RAM up to a multiple of 128M before matching a range).`);
  } else {
    reasoning.push(`With ${ram} of RAM no range matches, so nothing is reserved: below ${formatSize(ranges[0]!.start)} kdump would take too large a share of memory.`);
  }
  reasoning.push(`For comparison, Ubuntu's default (${UBUNTU_DEFAULT}) would reserve ${describe(ubuntu)} here.`);
  reasoning.push('If the capture kernel runs out of memory (OOM or a hang while saving), raise the sizes; then test again with a deliberate crash on a machine you can reboot.');
  return { crashkernel, reserves, reasoning };
}

/**
 * RAM size from `<root>/proc/meminfo` MemTotal (kB). MemTotal is a little below the installed RAM
 * (the kernel image and firmware areas are not counted); the kernel's own comparison uses the
 * larger memblock total rounded up to 128M, which the rounding in reservedFor() approximates.
 */
export async function readRamBytes(root: string): Promise<bigint> {
  const { readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const path = join(root, 'proc', 'meminfo');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'Give the RAM size with --ram SIZE (e.g. --ram 16G).');
  }
  const bytes = parseMemTotal(text);
  if (bytes === undefined) throw new UsageError(`${path}: no 'MemTotal: N kB' line`, 'Give the RAM size with --ram SIZE (e.g. --ram 16G).');
  return bytes;
}
