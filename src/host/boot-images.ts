/**
 * Where a kernel release's files live on the common distribution layouts:
 *   Debian/Ubuntu  /boot/vmlinuz-R, /boot/initrd.img-R, /boot/config-R, /boot/System.map-R
 *   Fedora/RHEL    /boot/vmlinuz-R, /boot/initramfs-R.img (kdump-utils: initramfs-Rkdump.img),
 *                  /lib/modules/R/{vmlinuz,config,System.map}
 *   Arch           /boot/vmlinuz-PKGBASE, /boot/initramfs-PKGBASE.img, where PKGBASE (linux,
 *                  linux-lts, ...) is in /usr/lib/modules/R/pkgbase; kernel config only in
 *                  /proc/config.gz
 * Every lookup goes through a HostRoot, so a fake root describes a whole machine.
 */
import type { HostRoot } from './root.js';

/** The running kernel's release (uname -r), from the root's /proc. */
export function runningRelease(root: HostRoot): string | undefined {
  return root.read('/proc/sys/kernel/osrelease')?.trim() || undefined;
}

/** ID and ID_LIKE of /etc/os-release (or /usr/lib/os-release), lower-case. */
export function osIds(root: HostRoot): string[] {
  const text = root.read('/etc/os-release') ?? root.read('/usr/lib/os-release') ?? '';
  const ids: string[] = [];
  for (const m of text.matchAll(/^(ID|ID_LIKE)=("?)([^"\n]*)\2\s*$/gm)) ids.push(...m[3]!.toLowerCase().split(/\s+/).filter(Boolean));
  return ids;
}

/** Arch's package base name of a release (`linux`, `linux-lts`), if the layout has one. */
export function archPkgbase(root: HostRoot, release: string): string | undefined {
  for (const dir of ['/usr/lib/modules', '/lib/modules']) {
    const t = root.read(`${dir}/${release}/pkgbase`)?.trim();
    if (t) return t;
  }
  return undefined;
}

function first(root: HostRoot, candidates: readonly string[]): string | undefined {
  return candidates.find((c) => root.exists(c));
}

export interface KernelFiles {
  readonly release: string;
  /** Candidate paths in the order they are tried; `image` etc. are the first that exist. */
  readonly tried: { readonly image: readonly string[]; readonly initrd: readonly string[]; readonly config: readonly string[]; readonly systemMap: readonly string[] };
  readonly image: string | undefined;
  readonly initrd: string | undefined;
  /** Kernel build configuration (may be gzip-compressed: /proc/config.gz). */
  readonly config: string | undefined;
  readonly systemMap: string | undefined;
}

/**
 * The files of kernel `release`. `config` includes /proc/config.gz only for the running kernel,
 * because /proc describes the running kernel, not the one asked about.
 */
export function kernelFiles(root: HostRoot, release: string): KernelFiles {
  const pkgbase = archPkgbase(root, release);
  const mods = [`/lib/modules/${release}`, `/usr/lib/modules/${release}`];
  const image = [`/boot/vmlinuz-${release}`, ...(pkgbase ? [`/boot/vmlinuz-${pkgbase}`] : []), ...mods.map((m) => `${m}/vmlinuz`)];
  const initrd = [`/boot/initrd.img-${release}`, `/boot/initramfs-${release}.img`, ...(pkgbase ? [`/boot/initramfs-${pkgbase}.img`] : []), ...mods.map((m) => `${m}/initrd`)];
  const running = runningRelease(root) === release;
  const config = [...(running ? ['/proc/config.gz'] : []), `/boot/config-${release}`, ...mods.map((m) => `${m}/config`)];
  // Debian's /boot/System.map-R is a placeholder ("ffffffffffffffff B The real System.map is in
  // the linux-image-<version>-dbg package"); the real one is under /usr/lib/debug/boot.
  const systemMap = [`/boot/System.map-${release}`, ...mods.map((m) => `${m}/System.map`), `/usr/lib/debug/boot/System.map-${release}`];
  return {
    release,
    tried: { image, initrd, config, systemMap },
    image: first(root, image),
    initrd: first(root, initrd),
    config: first(root, config),
    systemMap: first(root, systemMap),
  };
}
