import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSystemMapPlaceholder, parseSystemMap, readSystemMap } from '../../../src/kernel/symbols/system-map.js';
import { kaslrFromVmcoreinfo, kaslrShift } from '../../../src/kernel/symbols/kaslr.js';
import { Vmcoreinfo } from '../../../src/formats/vmcore/vmcoreinfo.js';
import { FormatError } from '../../../src/util/errors.js';

const MAP = [
  '0000000000000000 D __per_cpu_start',
  '0000000000000000 D fixed_percpu_data',
  '0000000000002000 D irq_stack_backing_store',
  '0000000000039000 D __per_cpu_end',
  'ffffffff81000000 T _text',
  'ffffffff81000000 T _stext',
  'ffffffff81002b80 T do_one_initcall',
  'ffffffff81002c00 t local_helper',
  'ffffffff81002d00 t local_helper',
  'ffffffff82e1f700 D init_uts_ns',
  'ffffffff83c30000 B _end',
  '',
].join('\n');

test('System.map: KASLR offset added only inside [__START_KERNEL_map, +KERNEL_IMAGE_SIZE); percpu offsets stay', () => {
  const info = new Vmcoreinfo('KERNELOFFSET=23a00000\nNUMBER(KERNEL_IMAGE_SIZE)=1073741824\n');
  const t = parseSystemMap(MAP + 'ffffffffc0000000 t beyond_image\n', { path: 'System.map', kaslr: kaslrFromVmcoreinfo(info) });
  assert.equal(t.size, 12);
  assert.equal(t.source, 'System.map System.map');
  assert.equal(t.address('fixed_percpu_data'), 0n);
  assert.equal(t.address('irq_stack_backing_store'), 0x2000n);
  assert.equal(t.address('_stext'), 0xffffffffa4a00000n);
  assert.equal(t.address('init_uts_ns'), 0xffffffffa681f700n);
  assert.equal(t.address('beyond_image'), 0xffffffffc0000000n, 'at +KERNEL_IMAGE_SIZE and above: not shifted');
  assert.deepEqual(t.lookupAll('local_helper').map((s) => s.address), [0xffffffffa4a02c00n, 0xffffffffa4a02d00n]);
  assert.equal(t.lookup('do_one_initcall')!.type, 'T');
  assert.match(t.notes[0]!, /KASLR offset 0x23a00000/);
});

test('System.map: no KASLR shift by default; /proc/kallsyms lines with a [module] column parse', () => {
  const t = parseSystemMap(MAP + 'ffffffffc041f090 t crashme_recurse\t[crashme]\r\n', { path: 'kallsyms' });
  assert.equal(t.address('_stext'), 0xffffffff81000000n);
  assert.equal(t.lookup('crashme_recurse')!.module, 'crashme');
  assert.equal(t.lookup('_stext')!.module, undefined);
});

test('KASLR shift: default image size 1 GiB, zero offset changes nothing', () => {
  const k = kaslrShift(0x1000000n);
  assert.equal(k.apply(0xffffffff80000000n), 0xffffffff81000000n);
  assert.equal(k.apply(0xffffffffbfffffffn), 0xffffffffc0ffffffn);
  assert.equal(k.apply(0xffffffffc0000000n), 0xffffffffc0000000n);
  assert.equal(k.apply(0x1000n), 0x1000n);
  assert.equal(kaslrShift(0n).apply(0xffffffff81000000n), 0xffffffff81000000n);
  assert.equal(kaslrFromVmcoreinfo(undefined).offset, 0n);
});

test('System.map: malformed lines are FormatErrors naming the byte offset', () => {
  const bad = MAP + 'ffffffff8100zzzz T broken\n';
  assert.throws(
    () => parseSystemMap(bad, { path: 'X.map' }),
    (e: unknown) => e instanceof FormatError && e.offset === BigInt(MAP.length) && /X\.map at offset 0x[0-9a-f]+: not a System\.map line/.test(e.message),
  );
  assert.throws(() => parseSystemMap('\n\n', { path: 'empty.map' }), /no symbols/);
});

test("System.map: Debian's /boot placeholder is recognised and rejected with the package to install", () => {
  const stub = 'ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n';
  assert.equal(isSystemMapPlaceholder(stub), true);
  assert.equal(isSystemMapPlaceholder(MAP), false);
  assert.throws(
    () => parseSystemMap(stub, { path: '/boot/System.map-6.1.0-56-amd64' }),
    (e: unknown) => e instanceof FormatError && /placeholder/.test(e.message) && /linux-image-RELEASE-dbg/.test(e.hint ?? ''),
  );
});

test('System.map: readSystemMap reads a file; a missing file is a FormatError', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-sysmap-'));
  try {
    const p = join(dir, 'System.map');
    writeFileSync(p, MAP);
    assert.equal(readSystemMap(p).address('do_one_initcall'), 0xffffffff81002b80n);
    assert.throws(() => readSystemMap(join(dir, 'absent')), (e: unknown) => e instanceof FormatError && /no such file/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
