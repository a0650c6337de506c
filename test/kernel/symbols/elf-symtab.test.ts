import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readElfSymbols, readVmlinuxSymbols } from '../../../src/kernel/symbols/elf-symtab.js';
import { kaslrShift } from '../../../src/kernel/symbols/kaslr.js';
import { BufferSource } from '../../../src/util/file.js';
import { FormatError } from '../../../src/util/errors.js';
import { DATA, RODATA, TEXT, tinyVmlinux } from './fixtures/tiny-vmlinux.js';

test('vmlinux symtab: nm-style types from binding and section flags', () => {
  const { table, banner } = readElfSymbols(new BufferSource('vmlinux', tinyVmlinux()));
  const type = (n: string) => table.lookup(n)?.type;
  assert.equal(type('_stext'), 'T');
  assert.equal(type('do_one_initcall'), 'T');
  assert.equal(type('local_helper'), 't');
  assert.equal(type('weak_func'), 'W');
  assert.equal(type('weak_obj'), 'V');
  assert.equal(type('linux_banner'), 'R');
  assert.equal(type('local_const'), 'r');
  assert.equal(type('init_uts_ns'), 'D');
  assert.equal(type('prb'), 'd');
  assert.equal(type('fixed_percpu_data'), 'D');
  assert.equal(type('__bss_start'), 'B');
  assert.equal(type('local_bss'), 'b');
  assert.equal(type('phys_startup_64'), 'A');
  // Undefined, section and file symbols are not symbols of the image.
  assert.equal(table.lookup('printk'), undefined);
  assert.equal(table.lookup('vmlinux.o'), undefined);
  assert.equal(table.size, 15);
  assert.equal(banner, 'Linux version 6.12.117+deb12-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC\n');
  assert.equal(table.source, 'vmlinux vmlinux');
});

test('vmlinux symtab: the KASLR shift moves kernel-image addresses only', () => {
  const { table } = readElfSymbols(new BufferSource('vmlinux', tinyVmlinux()), kaslrShift(0x23a00000n));
  assert.equal(table.address('_stext'), TEXT + 0x23a00000n);
  assert.equal(table.address('init_uts_ns'), DATA + 0x23a00000n);
  assert.equal(table.address('linux_banner'), RODATA + 0x10n + 0x23a00000n);
  assert.equal(table.address('irq_stack_backing_store'), 0x2000n, 'percpu offsets stay');
  assert.equal(table.address('phys_startup_64'), 0x1000000n, 'absolute values below the image stay');
});

test('vmlinux symtab: a stripped image says so and points at the -dbg vmlinux', () => {
  assert.throws(
    () => readElfSymbols(new BufferSource('vmlinuz-extracted', tinyVmlinux({ stripped: true }))),
    (e: unknown) => e instanceof FormatError && /no \.symtab: the ELF file is stripped/.test(e.message) && /-dbg/.test(e.hint ?? ''),
  );
});

test('vmlinux symtab: damaged files are FormatErrors naming the file', () => {
  const good = tinyVmlinux();
  const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
    ['bad magic', (b) => (b[1] = 0), /not an ELF file/],
    ['32-bit', (b) => (b[4] = 1), /ELFCLASS64/],
    ['big-endian', (b) => (b[5] = 2), /little-endian/],
    ['no section headers', (b) => b.writeBigUInt64LE(0n, 0x28), /no section header table/],
    ['section table past EOF', (b) => b.writeBigUInt64LE(BigInt(b.length), 0x28), /extends past end of file/],
  ];
  for (const [what, mutate, re] of cases) {
    const b = Buffer.from(good);
    mutate(b);
    assert.throws(() => readElfSymbols(new BufferSource('bad.elf', b)), (e: unknown) => e instanceof FormatError && /^bad\.elf/.test(e.message) && re.test(e.message), what);
  }
  assert.throws(() => readElfSymbols(new BufferSource('tiny', new Uint8Array(10))), /too small/);
});

test('vmlinux symtab: read from a file by positional reads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-elfsym-'));
  try {
    const p = join(dir, 'vmlinux');
    writeFileSync(p, tinyVmlinux());
    const { table } = readVmlinuxSymbols(p);
    assert.equal(table.address('do_one_initcall'), TEXT + 0x2b80n);
    assert.throws(() => readVmlinuxSymbols(join(dir, 'absent')), (e: unknown) => e instanceof FormatError && /no such file/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
