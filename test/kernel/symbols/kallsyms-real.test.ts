/**
 * kallsyms decoded from the real shared dumps, checked against what the kernel itself and the
 * reference tools say: VMCOREINFO SYMBOL() values, kallsyms_num_syms, the kernel's own
 * `name+off/size` call traces in the console log, crash's and drgn's backtraces, and (when the
 * -dbg package is installed) the System.map and vmlinux of the exact build.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDump, type Dump } from '../../../src/formats/open.js';
import { X86_64AddressSpace } from '../../../src/memory/arch/x86_64.js';
import { readU32 } from '../../../src/memory/address-space.js';
import { readKallsyms } from '../../../src/kernel/symbols/kallsyms.js';
import { loadSymbols } from '../../../src/kernel/symbols/discover.js';
import { kaslrFromVmcoreinfo } from '../../../src/kernel/symbols/kaslr.js';
import { readSystemMap, isSystemMapPlaceholder } from '../../../src/kernel/symbols/system-map.js';
import { readVmlinuxSymbols } from '../../../src/kernel/symbols/elf-symtab.js';
import { scanKallsyms } from '../../../src/kernel/symbols/scan.js';
import { Vmcoreinfo } from '../../../src/formats/vmcore/vmcoreinfo.js';
import type { SymbolTable } from '../../../src/kernel/symbols/symbol-table.js';
import { need, sharedDumps, type SharedDump } from '../../helpers/dumps.js';

interface Loaded {
  dump: Dump;
  mem: X86_64AddressSpace;
  table: SymbolTable;
  ms: number;
}

const opened: Dump[] = [];
after(() => {
  for (const d of opened) d.close();
});

const cache = new Map<string, Promise<Loaded>>();
function load(path: string): Promise<Loaded> {
  let p = cache.get(path);
  if (!p) {
    p = (async () => {
      const dump = await openDump(path);
      opened.push(dump);
      const mem = X86_64AddressSpace.fromDump(dump);
      const t0 = performance.now();
      const table = readKallsyms(mem, dump.vmcoreinfo!);
      return { dump, mem, table, ms: performance.now() - t0 };
    })();
    cache.set(path, p);
  }
  return p;
}

const elfOf = (s: SharedDump) => join(s.cacheDir, 'vmcore.elf');
const zstdOf = (s: SharedDump) => join(s.dir, 'vmcore.d31.zstd');

async function loadElf(t: TestContext, s: SharedDump): Promise<Loaded | undefined> {
  if (!need(t, elfOf(s))) return undefined;
  return load(elfOf(s));
}

/** Compiler suffixes that DWARF names (drgn) leave off: foo.cold, foo.isra.0, foo.constprop.0, foo.part.0. */
function baseName(n: string): string {
  return n.replace(/(\.(cold|isra|constprop|part|llvm)(\.\d+)?)+$/, '');
}

for (const s of sharedDumps()) {
  for (const [kind, pathOf] of [
    ['ELF', elfOf],
    ['kdump zstd', zstdOf],
  ] as const) {
    test(`kallsyms of ${s.name} (${kind}): count is kallsyms_num_syms; VMCOREINFO symbols, percpu offsets and _stext agree`, async (t) => {
      const path = pathOf(s);
      if (!need(t, path)) return;
      const { dump, mem, table, ms } = await load(path);
      const info = dump.vmcoreinfo!;
      t.diagnostic(`${table.size} symbols decoded in ${ms.toFixed(1)} ms (${table.notes.join('; ')})`);
      assert.equal(table.size, readU32(mem, info.requireSymbol('kallsyms_num_syms')));
      assert.equal(table.source, 'kallsyms (dump memory)');
      // (swapper_pg_dir is a macro for init_top_pgt on x86_64: VMCOREINFO has it, kallsyms does not.)
      const core = ['_stext', 'init_uts_ns', 'prb', 'init_top_pgt'];
      for (const name of [...core, 'node_data', 'clear_seq', 'printk_rb_static', 'node_online_map', 'vmap_area_list']) {
        const want = info.symbol(name);
        if (want === undefined || (!core.includes(name) && !table.has(name))) continue;
        assert.ok(
          table.lookupAll(name).some((x) => x.address === want),
          `${name}: kallsyms ${table.lookupAll(name).map((x) => x.address.toString(16))}, VMCOREINFO ${want.toString(16)}`,
        );
      }
      assert.equal(table.address('_text'), info.symbol('_stext'));
      // x86_64 SMP < 6.15: percpu symbols are offsets into the percpu area, not image addresses.
      const end = table.address('__per_cpu_end')!;
      assert.ok(end > 0n && end < 0x200000n, `__per_cpu_end ${end.toString(16)}`);
      assert.equal(table.address('__per_cpu_start'), 0n);
      assert.equal(table.address('fixed_percpu_data'), 0n);
      const irq = table.address('irq_stack_backing_store')!;
      assert.ok(irq > 0n && irq < end, `irq_stack_backing_store ${irq.toString(16)}`);
      if (s.release.startsWith('6.12')) assert.ok(table.address('pcpu_hot')! < end);
      // Text symbols sit in the KASLR-shifted image.
      const kaslr = kaslrFromVmcoreinfo(info);
      assert.equal(table.address('_stext')! - 0xffffffff81000000n, kaslr.offset);
      assert.match(table.notes[0]!, /absolute-percpu/);
    });
  }

  for (const [kind, pathOf] of [
    ['ELF', elfOf],
    ['kdump zstd', zstdOf],
  ] as const) {
    test(`kallsyms scan of ${s.name} (${kind}): with the VMCOREINFO kallsyms keys ignored, the tables found in the image give the same symbols`, async (t) => {
      const path = pathOf(s);
      if (!need(t, path)) return;
      const { dump, mem, table } = await load(path);
      // As on a kernel before 6.0: VMCOREINFO without the kallsyms keys.
      const info = new Vmcoreinfo(dump.vmcoreinfo!.text.split('\n').filter((l) => !l.startsWith('SYMBOL(kallsyms_')).join('\n'));
      assert.equal(info.symbol('kallsyms_names'), undefined);
      const t0 = performance.now();
      const scanned = scanKallsyms(X86_64AddressSpace.fromDump(dump), info);
      const ms = performance.now() - t0;
      t.diagnostic(`scan found ${scanned.size} symbols in ${ms.toFixed(0)} ms (${scanned.notes.join('; ')})`);
      assert.equal(scanned.size, readU32(mem, dump.vmcoreinfo!.requireSymbol('kallsyms_num_syms')));
      let agree = 0;
      for (const x of scanned.all()) if (table.lookupAll(x.name).some((y) => y.address === x.address && y.type === x.type)) agree++;
      t.diagnostic(`${agree} of ${scanned.size} scanned symbols agree with kallsyms located by VMCOREINFO`);
      assert.ok(agree >= scanned.size * 0.99, `${agree} of ${scanned.size}`);
      assert.equal(agree, scanned.size);
      const r = loadSymbols({ ...dump, vmcoreinfo: info } as Dump, mem, { root: '/nonexistent-root' });
      assert.equal(r.table.source, 'kallsyms scan (dump memory)');
    });
  }

  test(`kallsyms of ${s.name}: PRSTATUS rips symbolize to plausible functions`, async (t) => {
    const l = await loadElf(t, s);
    if (!l) return;
    const { dump, table } = l;
    const stext = table.address('_stext')!;
    const etext = table.address('_etext')!;
    let inText = 0;
    for (const p of dump.prstatus) {
      const rip = p.registers.rip;
      const r = table.symbolize(rip);
      t.diagnostic(`CPU ${p.index}: rip 0x${rip.toString(16)} = ${r ? `${r.symbol.name}+0x${r.offset.toString(16)}/0x${r.size?.toString(16)}` : '(not in the kernel image)'}`);
      if (rip < stext || rip >= etext) {
        // A module address (the 6.12 dump crashed in module crashme): not in vmlinux kallsyms.
        if (rip >= 0xffffffffc0000000n) assert.equal(r, undefined);
        continue;
      }
      inText++;
      assert.ok(r, `rip ${rip.toString(16)}`);
      assert.match(r.symbol.type, /^[tT]$/);
      assert.ok(r.size !== undefined && r.offset < r.size && r.size < 0x100000n, `offset ${r.offset} size ${r.size}`);
    }
    assert.ok(inText > 0, 'no CPU stopped in kernel text');
    // 6.1-sysrq: init crashed on CPU 1 inside __crash_kexec (drgn agrees: crash_setup_regs inlined there).
    if (s.name === '6.1-sysrq') assert.equal(table.symbolize(dump.prstatus[1]!.registers.rip)!.symbol.name, '__crash_kexec');
  });

  test(`kallsyms of ${s.name}: the kernel's own call traces (name+off/size in console.log) symbolize identically`, async (t) => {
    const consolePath = join(s.dir, 'console.log');
    if (!need(t, consolePath, 'the shared dump should carry its console log')) return;
    const l = await loadElf(t, s);
    if (!l) return;
    const re = /^\[[ \d.]+\]\s+(?:\? |RIP: 0010:)?([A-Za-z0-9_.$]+)\+0x([0-9a-f]+)\/0x([0-9a-f]+)\s*$/;
    let checked = 0;
    for (const line of readFileSync(consolePath, 'latin1').split('\n')) {
      const m = re.exec(line);
      if (!m) continue;
      const [, name, off, size] = m as unknown as [string, string, string, string];
      const cands = l.table.lookupAll(name);
      assert.ok(cands.length > 0, `${name} is not in kallsyms`);
      const hit = cands.some((c) => {
        const r = l.table.symbolize(c.address + BigInt('0x' + off));
        return r?.symbol.name === name && r.offset === BigInt('0x' + off) && r.size === BigInt('0x' + size);
      });
      assert.ok(hit, `${line.trim()}: ${cands.map((c) => JSON.stringify(l.table.symbolize(c.address + BigInt('0x' + off)), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))).join(' ')}`);
      checked++;
    }
    t.diagnostic(`${checked} kernel call-trace entries agree`);
    assert.ok(checked >= 10, `only ${checked} call-trace lines found`);
  });

  test(`kallsyms of ${s.name}: crash's and drgn's backtraces (from DWARF) name the same functions`, async (t) => {
    const drgnPath = join(s.dir, 'reference', 'drgn.json');
    if (!need(t, drgnPath, 'the shared dump should carry its reference outputs')) return;
    const l = await loadElf(t, s);
    if (!l) return;
    let checked = 0;
    const drgn = JSON.parse(readFileSync(drgnPath, 'utf8')) as { crashed: { frames: Array<{ pc: string; name: string | null; inline: boolean }> } };
    for (const f of drgn.crashed.frames) {
      if (f.name === null || f.inline) continue;
      const r = l.table.symbolize(BigInt(f.pc));
      assert.equal(r && baseName(r.symbol.name), f.name, `drgn frame ${f.pc}`);
      checked++;
    }
    const crashTxt = join(s.dir, 'reference', 'crash.txt');
    const crash = existsSync(crashTxt) ? readFileSync(crashTxt, 'latin1') : '';
    for (const m of crash.matchAll(/^\s*#\d+ \[[0-9a-f]+\] (\S+) at ([0-9a-f]{16})$/gm)) {
      const r = l.table.symbolize(BigInt('0x' + m[2]!));
      // crash prints clones without their suffix (finish_task_switch for finish_task_switch.isra.0).
      assert.equal(r && baseName(r.symbol.name), baseName(m[1]!), `crash frame ${m[0].trim()}`);
      checked++;
    }
    const swapper = /^\s+0\s+0\s+0\s+([0-9a-f]{16})\s+RU.*\[swapper\/0\]$/m.exec(crash);
    if (swapper) {
      assert.equal(l.table.address('init_task'), BigInt('0x' + swapper[1]!), 'crash: swapper/0 task is init_task');
      checked++;
    }
    t.diagnostic(`${checked} reference frames agree`);
    if (s.name === '6.1-sysrq') assert.ok(checked >= 25, `only ${checked} frames checked`);
  });

  test(`loadSymbols on ${s.name}: kallsyms from memory by default; a System.map written from it is accepted with --no-kallsyms, a shifted one rejected`, async (t) => {
    const l = await loadElf(t, s);
    if (!l) return;
    const r = loadSymbols(l.dump, l.mem, { root: '/nonexistent-root' });
    assert.equal(r.table.source, 'kallsyms (dump memory)');
    assert.deepEqual(r.tried, []);

    const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-sym-real-'));
    try {
      const off = kaslrFromVmcoreinfo(l.dump.vmcoreinfo).offset;
      const write = (name: string, extra: bigint): string => {
        const lines = l.table.all().map((x) => {
          const link = x.address >= 0xffffffff80000000n + off && x.address < 0xffffffffc0000000n + off ? x.address - off + extra : x.address;
          return `${link.toString(16).padStart(16, '0')} ${x.type} ${x.name}`;
        });
        const p = join(dir, name);
        writeFileSync(p, lines.join('\n') + '\n');
        return p;
      };
      const good = loadSymbols(l.dump, l.mem, { systemMap: write('System.map', 0n), noKallsyms: true, noScan: true, root: dir });
      assert.match(good.table.source, /^System\.map /);
      assert.equal(good.table.size, l.table.size);
      for (const x of l.table.all()) assert.ok(good.table.lookupAll(x.name).some((y) => y.address === x.address), x.name);

      const bad = write('System.map.other', 0x200000n);
      assert.throws(() => loadSymbols(l.dump, l.mem, { systemMap: bad, noKallsyms: true, noScan: true, root: dir }), /rejected: its symbols do not match the dump's kernel/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const dbgHow = `install linux-image-${s.release}-dbg (it provides /usr/lib/debug/boot/System.map-${s.release} and vmlinux-${s.release}; /boot/System.map-${s.release} of linux-image-${s.release} is only a placeholder)`;
  const debugMap = `/usr/lib/debug/boot/System.map-${s.release}`;
  const debugVmlinux = `/usr/lib/debug/boot/vmlinux-${s.release}`;

  const agree = (kallsyms: SymbolTable, file: SymbolTable): number => {
    let common = 0;
    const wrong: string[] = [];
    for (const x of kallsyms.all()) {
      const f = file.lookupAll(x.name);
      if (f.length === 0) continue;
      common++;
      if (!f.some((y) => y.address === x.address)) wrong.push(`${x.name}: kallsyms ${x.address.toString(16)}, file ${f.map((y) => y.address.toString(16)).join(',')}`);
    }
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} of ${common} common symbols differ`);
    return common;
  };

  test(`kallsyms of ${s.name} agrees with the System.map of ${s.release} (KASLR-shifted), and --system-map works without kallsyms`, async (t) => {
    if (!need(t, debugMap, dbgHow)) return;
    const l = await loadElf(t, s);
    if (!l) return;
    const map = readSystemMap(debugMap, kaslrFromVmcoreinfo(l.dump.vmcoreinfo));
    const common = agree(l.table, map);
    t.diagnostic(`${common} of ${l.table.size} kallsyms symbols are in System.map (${map.size} lines) and agree`);
    assert.ok(common > l.table.size * 0.95, `only ${common} common symbols`);
    const r = loadSymbols(l.dump, l.mem, { systemMap: debugMap, noKallsyms: true, noScan: true });
    assert.equal(r.table.source, `System.map ${debugMap}`);
    agree(l.table, r.table);
    // Auto-discovery by release (Debian's /boot copy is a placeholder and is passed over).
    const auto = loadSymbols(l.dump, l.mem, { noKallsyms: true, noScan: true });
    assert.match(auto.table.source, new RegExp(`^System\\.map /(boot|usr/lib/debug/boot)/System\\.map-${s.release.replace(/[+.]/g, '\\$&')}$`));
    t.diagnostic(`auto-discovery used ${auto.table.source}; tried: ${auto.tried.join(' | ')}`);
    agree(l.table, auto.table);
  });

  test(`kallsyms of ${s.name} agrees with the vmlinux symtab of ${s.release}, and --vmlinux works without kallsyms`, async (t) => {
    if (!need(t, debugVmlinux, dbgHow)) return;
    const l = await loadElf(t, s);
    if (!l) return;
    const { table, banner } = readVmlinuxSymbols(debugVmlinux, kaslrFromVmcoreinfo(l.dump.vmcoreinfo));
    assert.match(banner ?? '', new RegExp(`^Linux version ${s.release.replace(/[+.]/g, '\\$&')} `));
    const common = agree(l.table, table);
    assert.ok(common > l.table.size * 0.95, `only ${common} common symbols`);
    const r = loadSymbols(l.dump, l.mem, { vmlinux: debugVmlinux, noKallsyms: true, noScan: true });
    assert.equal(r.table.source, `vmlinux ${debugVmlinux}`);
  });

  test(`vmlinux symtab of ${s.release} gives every System.map line with the same address and nm type`, (t) => {
    if (!need(t, debugMap, dbgHow) || !need(t, debugVmlinux, dbgHow)) return;
    const map = readSystemMap(debugMap);
    const t0 = performance.now();
    const { table } = readVmlinuxSymbols(debugVmlinux);
    t.diagnostic(`${table.size} vmlinux symbols read in ${(performance.now() - t0).toFixed(0)} ms`);
    const wrong: string[] = [];
    for (const m of map.all()) {
      const v = table.lookupAll(m.name).filter((x) => x.address === m.address);
      if (!v.some((x) => x.type === m.type)) wrong.push(`${m.type} ${m.name} ${m.address.toString(16)}: vmlinux ${v.map((x) => x.type).join('') || 'has no such symbol at that address'}`);
    }
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} of ${map.size} System.map lines differ`);
  });

  test(`loadSymbols on ${s.name}: /boot/System.map-${s.release}, if it is Debian's placeholder, is skipped with the reason`, async (t) => {
    const bootMap = `/boot/System.map-${s.release}`;
    if (!existsSync(bootMap) || !isSystemMapPlaceholder(readFileSync(bootMap, 'latin1'))) {
      t.skip(`${bootMap} is absent or a real System.map (the placeholder comes with linux-image-${s.release})`);
      return;
    }
    const l = await loadElf(t, s);
    if (!l) return;
    let tried: string[];
    try {
      tried = loadSymbols(l.dump, l.mem, { noKallsyms: true, noScan: true }).tried;
    } catch (e) {
      tried = (e as Error).message.split('\n');
    }
    assert.ok(tried.some((x) => x.includes(bootMap) && /placeholder/.test(x)), tried.join('\n'));
  });
}
