import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDump } from '../../src/formats/open.js';
import { dumpInfo } from '../../src/analyze/dump-info.js';
import { readDumpLog } from '../../src/analyze/dmesg.js';
import { formatDmesgMakedumpfile } from '../../src/kernel/printk.js';
import { labDir, need } from '../helpers/dumps.js';

/**
 * Hypervisor-side dumps (QEMU dump-guest-memory with -device vmcoreinfo, made by
 * scripts/lab/make-qemu-dump.sh): makedumpfile 1.7.2 cannot read QEMU's ELF at all, so the
 * ground truth for the log is the guest's serial console.
 */
const DIR = labDir('qemu');
const FILES = ['qemu.elf', 'qemu.kdump-zlib', 'qemu.kdump-zlib.reassembled'];

async function logAndInfo(path: string) {
  const dump = await openDump(path);
  try {
    return { info: dumpInfo(dump), dmesg: Buffer.from(formatDmesgMakedumpfile(readDumpLog(dump), { callerId: false })).toString('latin1') };
  } finally {
    dump.close();
  }
}

test('QEMU dumps: identity from memory and the same log from ELF, flattened and plain kdump', async (t) => {
  for (const f of FILES) if (!need(t, join(DIR, f))) return;
  const release = readFileSync(join(DIR, 'kernel-release'), 'utf8').trim();
  const results = await Promise.all(FILES.map((f) => logAndInfo(join(DIR, f))));
  for (const [i, r] of results.entries()) {
    assert.equal(r.info.kernel.source, 'memory', FILES[i]);
    assert.equal(r.info.kernel.release, release);
    assert.equal(r.info.kernel.nodename, 'lab-qemu-dump');
    assert.ok(r.info.warnings.some((w) => /QEMU/.test(w)), 'PRSTATUS pids of QEMU dumps are flagged');
    assert.equal(r.dmesg, results[0]!.dmesg, `${FILES[i]} log differs from qemu.elf's`);
  }
  // Every line the guest printed on its serial console is in the log we read from memory. A
  // record with embedded newlines is one record: makedumpfile's format indents its continuation
  // lines, while the console repeats the record's prefix on each line (kernel/printk/printk.c,
  // record_print_text), so continuation lines are compared with the prefix put back.
  const ours = new Set<string>();
  let prefix = '';
  for (const line of results[0]!.dmesg.split('\n')) {
    const m = /^\[\s*\d+\.\d{6}\] /.exec(line);
    if (m) prefix = m[0];
    else if (prefix && line.startsWith(' '.repeat(prefix.length))) {
      ours.add(prefix + line.slice(prefix.length));
      continue;
    }
    ours.add(line);
  }
  const consoleLines = readFileSync(join(DIR, 'console.log'), 'latin1')
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => /^\[\s*\d+\.\d{6}\] /.test(l));
  assert.ok(consoleLines.length > 100);
  const missing = consoleLines.filter((l) => !ours.has(l));
  assert.deepEqual(missing, [], 'console lines missing from the dump log');
  assert.match(results[0]!.dmesg, /Kernel panic - not syncing: sysrq triggered crash/);
});
