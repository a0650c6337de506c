import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDump } from '../../src/formats/open.js';
import { PT_NOTE } from '../../src/formats/elf/elf64.js';
import { renderSaveReport } from '../../src/collect/summary.js';
import { BitCursor } from '../../src/collect/save.js';
import { SourceReader } from '../../src/collect/source-reader.js';
import type { CodecName } from '../../src/formats/codecs/index.js';
import { need, sharedDumps, type SharedDump } from '../helpers/dumps.js';
import { debugVmlinux, hasProgram, needTool, preparedSave, reportLines, run, saveTo, scratch } from './save-helpers.js';

/**
 * kdumpkit save on the real dumps, checked against the dumps themselves (every page read back),
 * against makedumpfile (byte-identical files where no compressor is involved, its page report,
 * --dump-dmesg and -R on our files) and against crash and drgn opening our files.
 */

const work = scratch('save-real');
const CODECS: (CodecName | undefined)[] = ['zlib', 'lzo', 'snappy', 'zstd', undefined];
const hasMakedumpfile = hasProgram('makedumpfile', ['-v']);
const hasCrash = hasProgram('crash', ['--version']);
const hasDrgn = run('/usr/bin/python3', ['-c', 'import drgn']).code === 0;
const crashVersion = (): string => (hasCrash ? (run('crash', ['--version']).stdout.match(/crash \S+/)?.[0] ?? 'crash') : 'crash');

function srcOf(d: SharedDump): string {
  return join(d.cacheDir, 'vmcore.elf');
}

function out(d: SharedDump, name: string): string {
  return join(work, `${d.name}.${name}`);
}

/** Compares every page our file holds with the source, and the page states with the bitmaps. */
async function checkPages(d: SharedDump, file: string, level: number): Promise<{ zero: number; pages: number }> {
  const { dump: source, prep } = await preparedSave(srcOf(d), level, 'kdump');
  const ours = await openDump(file);
  const reader = new SourceReader(source);
  try {
    assert.equal(ours.format, 'kdump');
    if (ours.format !== 'kdump') return { zero: 0, pages: 0 };
    const mem = ours.kdump.memory;
    assert.equal(mem.maxPfn, prep.filter.maxMapnr);
    const n = Number(prep.filter.maxMapnr);
    assert.ok(Buffer.from(mem.ram.bits.subarray(0, Math.ceil(n / 8))).equals(Buffer.from(prep.filter.ram.subarray(0, Math.ceil(n / 8)))), '1st bitmap = RAM bitmap');
    assert.ok(Buffer.from(mem.dumpable.bits.subarray(0, Math.ceil(n / 8))).equals(Buffer.from(prep.filter.dumpable.subarray(0, Math.ceil(n / 8)))), '2nd bitmap = dumpable bitmap');
    const cur = new BitCursor(prep.filter.dumpable, n);
    const pfns = new Float64Array(256);
    const buf = new Uint8Array(256 * 4096);
    let k: number;
    let zero = 0;
    let pages = 0;
    while ((k = cur.next(pfns)) > 0) {
      reader.readPages(pfns, k, buf);
      for (let i = 0; i < k; i++) {
        const pfn = BigInt(pfns[i]!);
        const got = mem.readPage(pfn);
        if (Buffer.compare(got, buf.subarray(i * 4096, (i + 1) * 4096)) !== 0) assert.fail(`${file}: pfn 0x${pfn.toString(16)} differs from the source`);
        if (mem.pageState(pfn) === 'zero') zero++;
        pages++;
      }
    }
    return { zero, pages };
  } finally {
    reader.close();
    ours.close();
  }
}

for (const d of sharedDumps()) {
  const src = srcOf(d);

  test(`${d.name}: kdump files in every codec read back page for page, headers as makedumpfile writes them`, async (t) => {
    if (!need(t, src)) return;
    const source = await openDump(src);
    const srcNotes = (() => {
      if (source.format !== 'elf') throw new Error('ELF source expected');
      const p = source.elf.phdrs.find((x) => x.type === PT_NOTE)!;
      const b = Buffer.alloc(Number(p.filesz));
      const fd = openSync(src, 'r');
      readSync(fd, b, 0, b.length, Number(p.offset));
      closeSync(fd);
      return b;
    })();
    for (const codec of CODECS) {
      for (const level of codec === 'zstd' ? [1, 31] : [31]) {
        const file = out(d, `d${level}.${codec ?? 'raw'}`);
        const summary = await saveTo(src, file, level, { codec, threads: 2 });
        const ours = await openDump(file);
        assert.ok(ours.format === 'kdump');
        const h = ours.kdump.header;
        assert.equal(h.headerVersion, 6);
        assert.equal(h.status, codec ? { zlib: 1, lzo: 2, snappy: 4, zstd: 0x20 }[codec] : 0);
        assert.equal(h.nrCpus, source.prstatus.length);
        assert.equal(h.timestampSec, source.vmcoreinfo!.crashTime);
        assert.equal(h.utsname.release, d.release);
        assert.equal(ours.kdump.sub.dumpLevel, level);
        assert.equal(ours.kdump.sub.physBase, BigInt.asUintN(64, source.vmcoreinfo!.physBase!));
        assert.equal(ours.vmcoreinfo!.text, source.vmcoreinfo!.text);
        const fd = openSync(file, 'r');
        const notes = Buffer.alloc(Number(ours.kdump.sub.sizeNote));
        readSync(fd, notes, 0, notes.length, Number(ours.kdump.sub.offsetNote));
        closeSync(fd);
        assert.equal(ours.kdump.sub.offsetNote, 4200n);
        assert.ok(notes.equals(srcNotes), 'notes copied verbatim');
        ours.close();
        const { zero, pages } = await checkPages(d, file, level);
        assert.equal(pages, summary.stored!.compressed + summary.stored!.raw + summary.stored!.zero);
        assert.equal(zero, summary.pages.zero);
        if (codec) assert.ok(summary.stored!.compressed > summary.stored!.raw, `${codec}: most pages compressed`);
      }
    }
    source.close();
  });

  test(`${d.name}: the page report equals makedumpfile's for levels 0, 1 and 31`, async (t) => {
    if (!need(t, src)) return;
    for (const level of [0, 1, 31]) {
      const ref = join(d.dir, 'reference', `makedumpfile-d${level}.log`);
      if (!need(t, ref, 'the shared dump references')) return;
      const file = out(d, `report-d${level}.lzo`);
      const summary = await saveTo(src, file, level, { codec: 'lzo', threads: 1 });
      const expected = reportLines(readFileSync(ref, 'utf8')).filter((l) => !l.startsWith('Write bytes'));
      const ours = reportLines(renderSaveReport(summary)).filter((l) => !l.startsWith('Write bytes'));
      assert.deepEqual(ours, expected, `level ${level}`);
    }
  });

  test(`${d.name}: uncompressed kdump and ELF output are byte-identical to makedumpfile's`, async (t) => {
    if (!need(t, src) || !needTool(t, hasMakedumpfile, 'makedumpfile (apt package makedumpfile)')) return;
    for (const level of [1, 31]) {
      const ref = out(d, `mdf-d${level}.raw`);
      const r = run('makedumpfile', ['-d', String(level), src, ref]);
      assert.equal(r.code, 0, r.stderr);
      const ours = out(d, `ours-d${level}.raw`);
      await saveTo(src, ours, level, { threads: 0 });
      assert.ok(readFileSync(ours).equals(readFileSync(ref)), `kdump -d ${level}: byte-identical`);

      const refElf = out(d, `mdf-d${level}.elf`);
      const e = run('makedumpfile', ['-E', '-d', String(level), src, refElf]);
      assert.equal(e.code, 0, e.stderr);
      const oursElf = out(d, `ours-d${level}.elf`);
      const s = await saveTo(src, oursElf, level, { format: 'elf' });
      assert.ok(readFileSync(oursElf).equals(readFileSync(refElf)), `ELF -E -d ${level}: byte-identical`);
      const log = run('makedumpfile', ['-E', '-d', String(level), '--message-level', '31', src, out(d, `mdf2-d${level}.elf`)]);
      assert.deepEqual(
        reportLines(renderSaveReport(s)).filter((l) => !l.startsWith('Write bytes')),
        reportLines(log.stdout + log.stderr).filter((l) => !l.startsWith('Write bytes')),
        'ELF report ("in ELF format" lines) as makedumpfile prints it',
      );
    }
    // With a compressor, everything before the page descriptors is the same as makedumpfile's.
    const ref = out(d, 'mdf-d31.zlib');
    assert.equal(run('makedumpfile', ['-c', '-d', '31', src, ref]).code, 0);
    const ours = out(d, 'd31.zlib');
    const a = readFileSync(ours);
    const b = readFileSync(ref);
    const dump = await openDump(ours);
    assert.ok(dump.format === 'kdump');
    const descs = Number(dump.kdump.memory.descsOffset);
    dump.close();
    assert.ok(a.subarray(0, descs).equals(b.subarray(0, descs)), 'headers, notes and bitmaps identical to makedumpfile -c');
  });

  test(`${d.name}: makedumpfile --dump-dmesg reads our zlib, lzo and uncompressed files`, async (t) => {
    if (!need(t, src) || !needTool(t, hasMakedumpfile, 'makedumpfile (apt package makedumpfile)')) return;
    const expected = readFileSync(join(d.dir, 'reference', 'makedumpfile-dmesg.txt'));
    for (const name of ['d31.zlib', 'd31.lzo', 'd31.raw']) {
      const file = out(d, name);
      if (!need(t, file, 'the codec test above writes it')) return;
      const txt = out(d, `${name}.dmesg`);
      const r = run('makedumpfile', ['--dump-dmesg', file, txt]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok(readFileSync(txt).equals(expected), `${name}: dmesg equals the reference`);
    }
  });

  test(`${d.name}: flattened streams (kdump and ELF) rebuild with makedumpfile -R into our plain files`, async (t) => {
    if (!need(t, src)) return;
    const flat = out(d, 'd31.zlib.flat');
    await saveTo(src, flat, 31, { codec: 'zlib', flat: true, threads: 2 });
    const plain = out(d, 'd31.zlib.plain');
    await saveTo(src, plain, 31, { codec: 'zlib', threads: 0 });
    // Our reader reads the stream in place.
    const inPlace = await openDump(flat);
    assert.ok(inPlace.flattened && inPlace.format === 'kdump');
    inPlace.close();
    await checkPages(d, flat, 31);
    const flatElf = out(d, 'd31.elf.flat');
    await saveTo(src, flatElf, 31, { format: 'elf', flat: true });
    const plainElf = out(d, 'd31.elf.plain');
    await saveTo(src, plainElf, 31, { format: 'elf' });
    if (!needTool(t, hasMakedumpfile, 'makedumpfile (apt package makedumpfile)')) return;
    for (const [stream, expect] of [
      [flat, plain],
      [flatElf, plainElf],
    ] as const) {
      const rebuilt = `${stream}.R`;
      const r = run('makedumpfile', ['-R', rebuilt], { input: readFileSync(stream) });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok(readFileSync(rebuilt).equals(readFileSync(expect)), `makedumpfile -R ${stream} = our plain file`);
    }
    await checkPages(d, `${flat}.R`, 31);
  });

  test(`${d.name}: crash opens our files (sys, log)`, async (t) => {
    if (!need(t, src)) return;
    const vmlinux = debugVmlinux(d.release);
    if (!needTool(t, hasCrash, 'crash (apt package crash)') || !needTool(t, vmlinux !== undefined, `the debug kernel /usr/lib/debug/boot/vmlinux-${d.release} (apt package linux-image-${d.release}-dbg)`)) return;
    const refSys = readFileSync(join(d.dir, 'reference', 'crash.txt'), 'utf8');
    const refLog = readFileSync(join(d.dir, 'reference', 'makedumpfile-dmesg.txt'), 'utf8');
    const sysKeys = ['CPUS', 'DATE', 'NODENAME', 'RELEASE', 'VERSION', 'MEMORY', 'PANIC'];
    const sysLines = (text: string): string[] => text.split('\n').filter((l) => sysKeys.some((k) => l.trimStart().startsWith(`${k}:`)));
    const cmds = join(work, 'crash.cmds');
    writeFileSync(cmds, 'sys\nlog\nquit\n');
    // crash 8.0.2 (Debian 12) predates some of these kernels: what it cannot do with the
    // original ELF vmcore it cannot be expected to do with ours.
    const onSource = run('crash', ['-s', vmlinux!, src, '-i', cmds], { timeout: 300000 });
    if (onSource.code !== 0 || !onSource.stdout.includes('RELEASE:')) {
      t.skip(`crash cannot open ${d.name}'s own ELF vmcore either (exit ${onSource.code}; ${crashVersion()} is older than Linux ${d.release}), so there is nothing to compare`);
      return;
    }
    const files = [out(d, 'd31.zstd'), out(d, 'd31.lzo'), out(d, 'd31.zlib.flat.R'), out(d, 'ours-d31.elf')];
    for (const file of files) {
      if (!need(t, file, 'the tests above write it')) return;
      const r = run('crash', ['-s', vmlinux!, file, '-i', cmds], { timeout: 300000 });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(sysLines(r.stdout), sysLines(refSys), `${file}: crash sys`);
      const log = r.stdout.slice(r.stdout.indexOf('[    0.000000] Linux version'));
      assert.equal(log, refLog, `${file}: crash log = makedumpfile --dump-dmesg reference`);
    }
  });

  test(`${d.name}: drgn (libkdumpfile) opens our files`, async (t) => {
    if (!need(t, src) || !needTool(t, hasDrgn, 'drgn for /usr/bin/python3 (apt package python3-drgn)')) return;
    const { dump: source, prep } = await preparedSave(src, 31, 'kdump');
    // A spread of kept pages, hashed from the source.
    const picks: number[] = [];
    const cur = new BitCursor(prep.filter.dumpable, Number(prep.filter.maxMapnr));
    const all = new Float64Array(1 << 20);
    const n = cur.next(all);
    for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 64))) picks.push(all[i]!);
    const reader = new SourceReader(source);
    const page = new Uint8Array(4096);
    const expected = picks.map((p) => {
      reader.readPages(Float64Array.of(p), 1, page);
      return createHash('sha256').update(page).digest('hex');
    });
    reader.close();
    const vmlinux = debugVmlinux(d.release);
    const script = [
      'import drgn, hashlib, json, sys',
      'prog = drgn.Program()',
      'prog.set_core_dump(sys.argv[1])',
      `pfns = ${JSON.stringify(picks)}`,
      'out = {"pages": [hashlib.sha256(prog.read(p * 4096, 4096, True)).hexdigest() for p in pfns]}',
      'if len(sys.argv) > 2:',
      '    prog.load_debug_info([sys.argv[2]])',
      '    u = prog["init_uts_ns"].name',
      '    out["release"] = u.release.string_().decode()',
      '    out["nodename"] = u.nodename.string_().decode()',
      '    out["tid"] = prog.crashed_thread().tid',
      'print(json.dumps(out))',
    ].join('\n');
    const py = join(work, 'drgn-check.py');
    writeFileSync(py, script);
    const refDrgn = JSON.parse(readFileSync(join(d.dir, 'reference', 'drgn.json'), 'utf8')) as { uts: { release: string; nodename: string }; crashed: { tid: number } };
    for (const file of [out(d, 'd31.zstd'), out(d, 'd31.zlib'), out(d, 'd31.lzo'), out(d, 'd31.snappy'), out(d, 'ours-d31.elf')]) {
      if (!need(t, file, 'the tests above write it')) return;
      const r = run('/usr/bin/python3', [py, file, ...(vmlinux ? [vmlinux] : [])]);
      assert.equal(r.code, 0, r.stderr);
      const got = JSON.parse(r.stdout) as { pages: string[]; release?: string; nodename?: string; tid?: number };
      assert.deepEqual(got.pages, expected, `${file}: pages read by drgn equal the source`);
      if (vmlinux) {
        assert.equal(got.release, refDrgn.uts.release);
        assert.equal(got.nodename, refDrgn.uts.nodename);
        assert.equal(got.tid, refDrgn.crashed.tid);
      }
    }
    if (!vmlinux) needTool(t, false, `the debug kernel for drgn's symbol checks (apt package linux-image-${d.release}-dbg)`);
  });
}
