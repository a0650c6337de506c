import { i32, u64 } from '../../util/bytes.js';

/**
 * x86_64 `struct elf_prstatus` from an NT_PRSTATUS note (include/linux/elfcore.h,
 * arch/x86/include/asm/user_64.h): one per CPU the crashing kernel saved in crash_save_cpu().
 */
export interface PrStatus {
  /** Index among the dump's PRSTATUS notes (kernel order is by CPU number). */
  readonly index: number;
  /** pid of the task running on that CPU (0 = idle task). */
  readonly pid: number;
  readonly registers: X86Registers;
}

/** user_regs_struct order; every value bigint. */
export const X86_64_REGISTER_NAMES = [
  'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi',
  'rdi', 'orig_rax', 'rip', 'cs', 'eflags', 'rsp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs',
] as const;

export type X86RegisterName = (typeof X86_64_REGISTER_NAMES)[number];
export type X86Registers = Readonly<Record<X86RegisterName, bigint>>;

const PR_PID = 32;
const PR_REG = 112;
export const PRSTATUS_SIZE_X86_64 = 336;

/** Decodes one x86_64 prstatus descriptor; returns undefined if it is too short. */
export function parsePrStatus(desc: Uint8Array, index: number): PrStatus | undefined {
  if (desc.length < PR_REG + X86_64_REGISTER_NAMES.length * 8) return undefined;
  const regs = {} as Record<X86RegisterName, bigint>;
  X86_64_REGISTER_NAMES.forEach((name, i) => {
    regs[name] = u64(desc, PR_REG + i * 8);
  });
  return { index, pid: i32(desc, PR_PID), registers: regs };
}
