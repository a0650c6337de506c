/**
 * A pstore record and the vmcore of the same crash get the same signature: on every real dump
 * (the shared ones and the lab dumps of each crashme mode on both kernels), the triage of the
 * dump equals the triage of its log alone, both as the dump's log text (what save writes to
 * dmesg.txt) and as the serial console captured it (what ramoops/efi-pstore keep: the console
 * output of the oops), which is what `kdumpkit list` groups by.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnalysisContext, triageOf } from '../../src/analyze/analyze.js';
import { readDumpLog } from '../../src/analyze/dmesg.js';
import { formatDmesgMakedumpfile } from '../../src/kernel/printk.js';
import { logVerdict } from '../../src/catalog/log-signature.js';
import { CACHE, need, sharedDumps } from '../helpers/dumps.js';

interface Case {
  readonly name: string;
  readonly dump: string;
  readonly console: string;
}

function cases(): Case[] {
  const out: Case[] = sharedDumps().map((d) => ({ name: d.name, dump: join(d.dir, 'vmcore.d31.zstd'), console: join(d.dir, 'console.log') }));
  const lab = join(CACHE, 'lab');
  if (existsSync(lab)) {
    for (const n of readdirSync(lab).sort()) {
      const dump = ['vmcore.d31.lzo', 'vmcore.elf'].map((f) => join(lab, n, f)).find((p) => existsSync(p));
      if (dump) out.push({ name: `lab ${n}`, dump, console: join(lab, n, 'console.log') });
    }
  }
  return out;
}

for (const c of cases()) {
  test(`${c.name}: the log alone gives the dump's signature`, async (t) => {
    if (!need(t, c.dump)) return;
    const ctx = await AnalysisContext.open(c.dump);
    let fromDump: string;
    let text: string;
    try {
      fromDump = triageOf(ctx).signature;
      text = Buffer.from(formatDmesgMakedumpfile(readDumpLog(ctx.dump), { callerId: false })).toString('utf8');
    } finally {
      ctx.close();
    }
    assert.notEqual(fromDump, 'unknown');
    const v = logVerdict(text);
    assert.equal(v.triage.signature, fromDump, 'dmesg.txt');
    if (existsSync(c.console)) assert.equal(logVerdict(readFileSync(c.console, 'utf8')).triage.signature, fromDump, 'serial console');
  });
}
