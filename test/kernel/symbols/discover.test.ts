import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkAgainstDump, loadSymbols } from '../../../src/kernel/symbols/discover.js';
import { SymbolTable } from '../../../src/kernel/symbols/symbol-table.js';
import { Vmcoreinfo } from '../../../src/formats/vmcore/vmcoreinfo.js';
import type { Dump } from '../../../src/formats/open.js';
import { MissingInfoError } from '../../../src/util/errors.js';
import { FakeVirtualMemory } from '../../helpers/fake-virtual-memory.js';
import { sampleSymbols, writeKallsyms, type SynthSymbol } from './fixtures/fake-kallsyms.js';
import { tinyVmlinux } from './fixtures/tiny-vmlinux.js';

const RELEASE = '6.12.117+deb12-amd64';
const KASLR = 0x23a00000n;
const BANNER = `Linux version ${RELEASE} (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC\n`;
const LINK_TEXT = 0xffffffff81000000n;
const RUN_TEXT = LINK_TEXT + KASLR;
/** tiny-vmlinux puts linux_banner at .rodata + 0x10. */
const RUN_BANNER = 0xffffffff82000010n + KASLR;

function toLink(a: bigint): bigint {
  return a >= 0xffffffff80000000n + KASLR && a < 0xffffffffc0000000n + KASLR ? a - KASLR : a;
}
function systemMapText(syms: readonly SynthSymbol[], shiftBy = 0n): string {
  return syms.map((s) => `${(toLink(s.address) + (s.address >= RUN_TEXT ? shiftBy : 0n)).toString(16).padStart(16, '0')} ${s.type === 'A' ? 'D' : s.type} ${s.name}\n`).join('');
}

function setup(opts: { kallsymsKeys?: boolean } = {}) {
  const mem = new FakeVirtualMemory();
  const syms: SynthSymbol[] = [...sampleSymbols({ text: RUN_TEXT }), { name: 'linux_banner', type: 'D', address: RUN_BANNER }];
  const k = writeKallsyms(mem, syms, { encoding: 'absolute-percpu' });
  mem.write(RUN_BANNER, Buffer.from(BANNER + '\0', 'latin1'));
  const text =
    `OSRELEASE=${RELEASE}\nSYMBOL(init_uts_ns)=${(RUN_TEXT + 0x1800000n).toString(16)}\n` +
    (opts.kallsymsKeys === false ? `SYMBOL(_stext)=${RUN_TEXT.toString(16)}\n` : k.vmcoreinfo) +
    `SYMBOL(mem_section)=ff3e5a0e9ada0680\nKERNELOFFSET=${KASLR.toString(16)}\nNUMBER(KERNEL_IMAGE_SIZE)=1073741824\n`;
  const dump = { path: 'test.vmcore', vmcoreinfo: new Vmcoreinfo(text) } as unknown as Dump;
  const root = mkdtempSync(join(tmpdir(), 'kdumpkit-discover-'));
  return { mem, syms, dump, root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

test('loadSymbols: kallsyms from the dump first when no file is given', () => {
  const s = setup();
  try {
    const r = loadSymbols(s.dump, s.mem, { root: s.root });
    assert.equal(r.table.source, 'kallsyms (dump memory)');
    assert.deepEqual(r.tried, []);
    assert.equal(r.table.address('_stext'), RUN_TEXT);
  } finally {
    s.cleanup();
  }
});

test("loadSymbols: without kallsyms, auto-discovery skips Debian's /boot placeholder and takes /usr/lib/debug/boot/System.map", () => {
  const s = setup();
  try {
    mkdirSync(join(s.root, 'boot'), { recursive: true });
    mkdirSync(join(s.root, 'usr/lib/debug/boot'), { recursive: true });
    writeFileSync(join(s.root, 'boot', `System.map-${RELEASE}`), 'ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n');
    writeFileSync(join(s.root, 'usr/lib/debug/boot', `System.map-${RELEASE}`), systemMapText(s.syms));
    const r = loadSymbols(s.dump, s.mem, { root: s.root, noKallsyms: true });
    assert.equal(r.table.source, `System.map ${join(s.root, 'usr/lib/debug/boot', `System.map-${RELEASE}`)}`);
    assert.equal(r.tried.length, 2, r.tried.join('\n'));
    assert.match(r.tried[0]!, /kallsyms \(dump memory\): skipped/);
    assert.match(r.tried[1]!, /boot\/System\.map-6\.12\.117\+deb12-amd64 at offset 0x0: a placeholder/);
    // Same addresses as kallsyms, percpu symbols included.
    const k = loadSymbols(s.dump, s.mem, { root: s.root }).table;
    for (const sym of k.all()) assert.ok(r.table.lookupAll(sym.name).some((m) => m.address === sym.address), sym.name);
  } finally {
    s.cleanup();
  }
});

test('loadSymbols: an explicit System.map of another build is rejected with the mismatch, and the next source is used', () => {
  const s = setup();
  try {
    const wrong = join(s.root, 'wrong.map');
    writeFileSync(wrong, systemMapText(s.syms, 0x1000n));
    const r = loadSymbols(s.dump, s.mem, { root: s.root, systemMap: wrong });
    assert.equal(r.table.source, 'kallsyms (dump memory)');
    assert.equal(r.tried.length, 1);
    assert.match(r.tried[0]!, /^--system-map .*wrong\.map: rejected: its symbols do not match the dump's kernel \(after adding KASLR offset 0x23a00000\): /);
    assert.match(r.tried[0]!, /_stext is 0xffffffffa4a01000, VMCOREINFO SYMBOL\(_stext\) is 0xffffffffa4a00000/);
  } finally {
    s.cleanup();
  }
});

test('loadSymbols: an explicit vmlinux is checked by VMCOREINFO symbols and by its linux_banner', () => {
  const s = setup();
  try {
    const good = join(s.root, 'vmlinux');
    writeFileSync(good, tinyVmlinux({ banner: BANNER }));
    // tiny-vmlinux has init_uts_ns at .data (0xffffffff82800000): make VMCOREINFO agree.
    const info = new Vmcoreinfo(s.dump.vmcoreinfo!.text.replace(/SYMBOL\(init_uts_ns\)=\w+/, `SYMBOL(init_uts_ns)=${(0xffffffff82800000n + KASLR).toString(16)}`));
    const dump = { path: 'test.vmcore', vmcoreinfo: info } as unknown as Dump;
    const r = loadSymbols(dump, s.mem, { vmlinux: good, root: s.root });
    assert.equal(r.table.source, `vmlinux ${good}`);
    assert.deepEqual(r.tried, []);
    assert.equal(r.table.address('_stext'), RUN_TEXT);

    const other = join(s.root, 'vmlinux-other');
    writeFileSync(other, tinyVmlinux({ banner: 'Linux version 6.1.0-56-amd64 (x) #1\n' }));
    const r2 = loadSymbols(dump, s.mem, { vmlinux: other, root: s.root });
    assert.equal(r2.table.source, 'kallsyms (dump memory)');
    assert.match(r2.tried[0]!, /rejected: its linux_banner says "6\.1\.0-56-amd64", the dump's OSRELEASE is "6\.12\.117\+deb12-amd64"/);

    const stripped = join(s.root, 'vmlinux-stripped');
    writeFileSync(stripped, tinyVmlinux({ stripped: true }));
    const r3 = loadSymbols(dump, s.mem, { vmlinux: stripped, root: s.root });
    assert.match(r3.tried[0]!, /stripped/);
  } finally {
    s.cleanup();
  }
});

test('loadSymbols: nothing usable is a MissingInfoError listing every source tried and naming the -dbg package', () => {
  const s = setup({ kallsymsKeys: false });
  try {
    assert.throws(
      () => loadSymbols(s.dump, s.mem, { root: s.root, noScan: true }),
      (e: unknown) =>
        e instanceof MissingInfoError &&
        /kallsyms \(dump memory\): VMCOREINFO has no SYMBOL\(kallsyms_names\)/.test(e.message) &&
        /System\.map-6\.12\.117\+deb12-amd64: not found/.test(e.message) &&
        /vmlinux-6\.12\.117\+deb12-amd64: not found/.test(e.message) &&
        /kallsyms scan \(dump memory\): skipped/.test(e.message) &&
        /linux-image-6\.12\.117\+deb12-amd64-dbg/.test(e.hint ?? ''),
    );
  } finally {
    s.cleanup();
  }
});

test('checkAgainstDump: a table naming none of the VMCOREINFO symbols and no banner cannot be verified', () => {
  const info = new Vmcoreinfo(`OSRELEASE=${RELEASE}\nSYMBOL(_stext)=${RUN_TEXT.toString(16)}\n`);
  const t = new SymbolTable([{ name: 'something', address: RUN_TEXT, type: 'T' }], 'x');
  assert.match(checkAgainstDump(t, info, new FakeVirtualMemory())!, /cannot be checked against the dump/);
  // linux_banner in the dump's memory decides when present.
  const mem = new FakeVirtualMemory().write(RUN_BANNER, Buffer.from(BANNER + '\0'));
  const withBanner = new SymbolTable([{ name: 'linux_banner', address: RUN_BANNER, type: 'D' }], 'x');
  assert.equal(checkAgainstDump(withBanner, info, mem), undefined);
  const otherInfo = new Vmcoreinfo('OSRELEASE=6.1.0-56-amd64\n');
  assert.match(checkAgainstDump(withBanner, otherInfo, mem)!, /holds "Linux version 6\.12\.117\+deb12-amd64 .*not the banner of 6\.1\.0-56-amd64/);
  // Pointer values (SYMBOL(mem_section) is the pointer's value, in the direct map) are not compared.
  const ms = new Vmcoreinfo(`OSRELEASE=${RELEASE}\nSYMBOL(mem_section)=ff3e5a0e9ada0680\nSYMBOL(_stext)=${RUN_TEXT.toString(16)}\n`);
  const t2 = new SymbolTable([{ name: 'mem_section', address: RUN_TEXT + 0x100000n, type: 'B' }, { name: '_stext', address: RUN_TEXT, type: 'T' }], 'x');
  assert.equal(checkAgainstDump(t2, ms, undefined), undefined);
});
