import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanKallsyms } from '../../../src/kernel/symbols/scan.js';
import { decodeKallsyms } from '../../../src/kernel/symbols/kallsyms.js';
import { loadSymbols } from '../../../src/kernel/symbols/discover.js';
import { Vmcoreinfo } from '../../../src/formats/vmcore/vmcoreinfo.js';
import type { Dump } from '../../../src/formats/open.js';
import { MissingInfoError, ValidationError } from '../../../src/util/errors.js';
import { FakeVirtualMemory } from '../../helpers/fake-virtual-memory.js';
import { sampleSymbols, writeKallsyms, type SynthOptions, type SynthSymbol } from './fixtures/fake-kallsyms.js';

const STEXT = 0xffffffff81000000n;
const TABLES = 0xffffffff81100000n;

/** A kernel image: pseudo-random "text" from _stext up to the tables, with decoys. */
function image(): FakeVirtualMemory {
  const mem = new FakeVirtualMemory();
  let x = 0x12345678;
  const noise = new Uint8Array(Number(TABLES - STEXT));
  for (let i = 0; i < noise.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    noise[i] = x >>> 24;
  }
  // A decoy digit run that is not a token table, and a decoy count followed by zero.
  noise.set(Buffer.from('0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00', 'latin1'), 0x4000);
  Buffer.from(noise.buffer).writeUInt32LE(5000, 0xf0000);
  Buffer.from(noise.buffer).writeUInt32LE(0, 0xf0004);
  mem.write(STEXT, noise);
  return mem;
}

function same(a: ReturnType<typeof decodeKallsyms>, b: ReturnType<typeof decodeKallsyms>): void {
  assert.equal(a.size, b.size);
  const x = a.all();
  const y = b.all();
  for (let i = 0; i < x.length; i++) assert.deepEqual(x[i], y[i], `symbol #${i}`);
}

const layouts: Array<[string, SynthOptions, (s: SynthSymbol[]) => SynthSymbol[]]> = [
  ['Linux ≤ 6.1 layout, absolute percpu', { encoding: 'absolute-percpu', layout: 'tables-first', at: TABLES }, (s) => s],
  ['6.2–6.14 layout with seqs_of_names, absolute percpu', { encoding: 'absolute-percpu', layout: 'names-first', seqs: true, at: TABLES }, (s) => s],
  ['≥ 6.15 layout, base-relative', { encoding: 'base-relative', layout: 'names-first', seqs: true, at: TABLES }, (s) => s.filter((x) => !x.percpu)],
  ['place-relative offsets', { encoding: 'pc-relative', layout: 'names-first', at: TABLES }, (s) => s.filter((x) => !x.percpu)],
  ['absolute kallsyms_addresses', { encoding: 'absolute', layout: 'tables-first', at: TABLES }, (s) => s],
  ['old kernels: unsigned long kallsyms_num_syms and kallsyms_markers', { encoding: 'absolute-percpu', layout: 'tables-first', at: TABLES, longs: true }, (s) => s],
  ['big symbols, ≤ 6.1 layout', { encoding: 'absolute-percpu', layout: 'tables-first', at: TABLES, bigSymbols: true }, (s) => [...s, { name: 'rust_' + 'q'.repeat(200), type: 'T', address: STEXT + 0x90000n }]],
];

for (const [what, opts, pick] of layouts) {
  test(`scanKallsyms finds the tables without VMCOREINFO keys: ${what}`, () => {
    const mem = image();
    const syms = pick(sampleSymbols({ text: STEXT, count: 1500 }));
    const k = writeKallsyms(mem, syms, opts);
    const info = new Vmcoreinfo(`OSRELEASE=5.10.0\nSYMBOL(_stext)=${STEXT.toString(16)}\n`);
    const t = scanKallsyms(mem, info);
    same(t, decodeKallsyms(mem, k, { stext: STEXT }));
    assert.equal(t.source, 'kallsyms scan (dump memory)');
    assert.ok(t.notes.some((n) => n.includes(`names 0x${k.names.toString(16)}`)), t.notes.join('; '));
  });
}

test('scanKallsyms: without VMCOREINFO it starts at 0xffffffff81000000 + KERNELOFFSET and still decides the encoding', () => {
  const mem = image();
  const k = writeKallsyms(mem, sampleSymbols({ text: STEXT, count: 1000 }), { encoding: 'absolute-percpu', layout: 'tables-first', at: TABLES });
  const t = scanKallsyms(mem, undefined);
  same(t, decodeKallsyms(mem, k, { stext: STEXT }));
});

test('scanKallsyms: pages left out of the dump (dump level) and unmapped gaps in the image (PTI) are stepped over', () => {
  const mem = image();
  mem.exclude(STEXT + 0x8000n).exclude(STEXT + 0x9000n);
  for (let a = STEXT + 0x20000n; a < STEXT + 0x40000n; a += 0x1000n) mem.unmap(a);
  const k = writeKallsyms(mem, sampleSymbols({ text: STEXT, count: 1000 }), { encoding: 'absolute-percpu', layout: 'names-first', at: TABLES });
  same(scanKallsyms(mem, new Vmcoreinfo(`SYMBOL(_stext)=${STEXT.toString(16)}\n`)), decodeKallsyms(mem, k, {}));
});

test('scanKallsyms: no token table is a MissingInfoError saying how much was scanned; broken names a ValidationError', () => {
  assert.throws(() => scanKallsyms(image(), new Vmcoreinfo(`SYMBOL(_stext)=${STEXT.toString(16)}\n`)), (e: unknown) => e instanceof MissingInfoError && /no kallsyms token table in the kernel image 0xffffffff81000000\.\.0xffffffff81100000 \(1\.0 MiB scanned, 1 candidate digit runs\)/.test(e.message));
  const mem = image();
  const k = writeKallsyms(mem, sampleSymbols({ text: STEXT, count: 1000 }), { encoding: 'absolute-percpu', layout: 'tables-first', at: TABLES });
  mem.u32(k.markers + 4n, 12345);
  assert.throws(() => scanKallsyms(mem, undefined), (e: unknown) => e instanceof ValidationError && /found kallsyms_token_table at 0x[0-9a-f]+ but no kallsyms_names/.test(e.message));
});

test('loadSymbols falls back to the scan when VMCOREINFO has no kallsyms keys and no file is found', () => {
  const mem = image();
  writeKallsyms(mem, sampleSymbols({ text: STEXT, count: 1000 }), { encoding: 'absolute-percpu', layout: 'tables-first', at: TABLES });
  const dump = { path: 'old.vmcore', vmcoreinfo: new Vmcoreinfo(`OSRELEASE=5.10.0-30-amd64\nSYMBOL(_stext)=${STEXT.toString(16)}\nSYMBOL(init_uts_ns)=${(STEXT + 0x1800000n).toString(16)}\n`) } as unknown as Dump;
  const r = loadSymbols(dump, mem, { root: '/nonexistent-root' });
  assert.equal(r.table.source, 'kallsyms scan (dump memory)');
  assert.equal(r.tried.length, 4, r.tried.join('\n'));
  assert.match(r.tried[0]!, /kallsyms \(dump memory\): VMCOREINFO has no SYMBOL\(kallsyms_names\)/);
});
