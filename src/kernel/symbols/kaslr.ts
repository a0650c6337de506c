import type { Vmcoreinfo } from '../../formats/vmcore/vmcoreinfo.js';
import { START_KERNEL_MAP } from '../../memory/arch/x86_64.js';

/** x86_64 KERNEL_IMAGE_SIZE with CONFIG_RANDOMIZE_BASE (arch/x86/include/asm/page_64_types.h). */
const DEFAULT_KERNEL_IMAGE_SIZE = 1n << 30n;

/**
 * The KASLR text slide applied to link-time addresses (System.map, vmlinux symtab). makedumpfile's
 * rule: only addresses inside the kernel image mapping [__START_KERNEL_map, +KERNEL_IMAGE_SIZE)
 * move; absolute-percpu symbols (small offsets near 0) and everything else stay.
 */
export interface KaslrShift {
  /** VMCOREINFO KERNELOFFSET (0 when absent: no KASLR, or a kernel too old to export it). */
  readonly offset: bigint;
  readonly imageStart: bigint;
  readonly imageEnd: bigint;
  apply(linkAddress: bigint): bigint;
}

export function kaslrShift(offset: bigint, kernelImageSize: bigint = DEFAULT_KERNEL_IMAGE_SIZE): KaslrShift {
  const imageStart = START_KERNEL_MAP;
  const imageEnd = START_KERNEL_MAP + kernelImageSize;
  return {
    offset,
    imageStart,
    imageEnd,
    apply: (a) => (offset !== 0n && a >= imageStart && a < imageEnd ? BigInt.asUintN(64, a + offset) : a),
  };
}

export function kaslrFromVmcoreinfo(info: Vmcoreinfo | undefined): KaslrShift {
  const size = info?.number('KERNEL_IMAGE_SIZE');
  return kaslrShift(info?.kernelOffset ?? 0n, size !== undefined && size > 0n ? size : DEFAULT_KERNEL_IMAGE_SIZE);
}
