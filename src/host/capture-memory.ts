/**
 * Does the capture kernel fit in the crashkernel reservation? A rough, documented estimate.
 *
 * Two different limits, and we treat them differently:
 *
 * 1. The segments must fit (certain). `kexec -p` copies the kernel image, the initramfs and a
 *    few small pieces (purgatory, boot parameters, ELF core headers) into the reserved range;
 *    the kernel refuses segments outside it (kernel/kexec_core.c sanity_check_segment_list and
 *    kernel/kexec_file.c kexec_locate_mem_hole both return -EADDRNOTAVAIL, "Cannot assign
 *    requested address"; kexec-tools' own placement says "Could not find a free area of
 *    memory"). When kernel file + initrd file exceed the reservation, `load` refuses before
 *    running kexec.
 *
 * 2. The capture kernel must then *run* in it (estimated). The same memory holds the
 *    decompressed kernel, the unpacked initramfs and the userspace that saves the dump. The rule
 *    we use, modelled on Fedora kdump-utils' `kdumpctl estimate` (which sums "Kernel image
 *    size" (runtime, uncompressed), "Initramfs size" and a "Runtime reservation" of 64M):
 *
 *      kernel runtime   init_size from the bzImage header (Documentation/arch/x86/boot.rst:
 *                       "the amount of linear contiguous memory starting at the kernel runtime
 *                       start address that the kernel needs before it is capable of examining
 *                       its memory map"), else 4 x the image file (a bzImage decompresses to
 *                       roughly 3-4 times its size)
 *      initramfs        2 x the file: the loaded copy plus its unpacked contents in rootfs
 *                       (init/initramfs.c unpacks before the copy is freed)
 *      runtime          128M: kdump-utils' 64M for the capture userspace, plus 64M for Node.js
 *                       running `kdumpkit save` (V8 heap and code)
 *
 *    An estimate above the reservation is a warning, not a refusal: the real need depends on
 *    drivers and on the dump level.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

export const RUNTIME_BYTES = 128n << 20n;
/** Multiplier for an image whose header gives no init_size. */
export const KERNEL_EXPANSION = 4n;

export interface CaptureMemory {
  readonly kernelFileBytes: bigint;
  readonly initrdFileBytes: bigint;
  /** init_size of the bzImage header, when the image has one (boot protocol >= 2.10). */
  readonly kernelInitSize: bigint | undefined;
  /** Bytes the loaded segments take (kernel + initrd files). */
  readonly segmentBytes: bigint;
  /** The running estimate (see the module comment). */
  readonly estimatedBytes: bigint;
  /** How the estimate was made, one line per term. */
  readonly rule: readonly string[];
}

/**
 * init_size of an x86 bzImage: the setup header's "HdrS" magic at 0x202, protocol version at
 * 0x206 (init_size exists since 2.10), init_size (u32) at 0x260 (Documentation/arch/x86/boot.rst).
 */
export function bzImageInitSize(head: Uint8Array): bigint | undefined {
  if (head.length < 0x264) return undefined;
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
  if (b.readUInt16LE(0x206) < 0x020a) return undefined;
  const v = b.readUInt32LE(0x260);
  return v === 0 ? undefined : BigInt(v);
}

/** The estimate for two files given by their real paths (already mapped through a HostRoot). */
export function estimateCaptureMemory(kernelPath: string, initrdPath: string): CaptureMemory {
  const kernelFileBytes = BigInt(statSync(kernelPath).size);
  const initrdFileBytes = BigInt(statSync(initrdPath).size);
  // 4 KiB is the whole setup header; reading only that keeps `status` cheap.
  const head = Buffer.alloc(4096);
  let got: number;
  const fd = openSync(kernelPath, 'r');
  try {
    got = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const kernelInitSize = bzImageInitSize(head.subarray(0, got));
  const kernelRuntime = kernelInitSize !== undefined && kernelInitSize > kernelFileBytes ? kernelInitSize : kernelFileBytes * KERNEL_EXPANSION;
  const estimatedBytes = kernelRuntime + 2n * initrdFileBytes + RUNTIME_BYTES;
  return {
    kernelFileBytes,
    initrdFileBytes,
    kernelInitSize,
    segmentBytes: kernelFileBytes + initrdFileBytes,
    estimatedBytes,
    rule: [
      kernelInitSize !== undefined && kernelInitSize > kernelFileBytes ? `kernel runtime ${mib(kernelRuntime)} (bzImage init_size)` : `kernel runtime ${mib(kernelRuntime)} (${KERNEL_EXPANSION} x the ${mib(kernelFileBytes)} image: no init_size in its header)`,
      `initramfs ${mib(2n * initrdFileBytes)} (2 x ${mib(initrdFileBytes)}: loaded copy + unpacked)`,
      `runtime ${mib(RUNTIME_BYTES)} (capture userspace and kdumpkit save)`,
    ],
  };
}

/** Bytes as MiB (KiB below 1M) with one decimal, for the rule lines. */
export function mib(bytes: bigint): string {
  if (bytes < 1n << 20n) return `${(Number(bytes) / 1024).toFixed(1)}K`;
  return `${(Number(bytes) / 2 ** 20).toFixed(1)}M`;
}
