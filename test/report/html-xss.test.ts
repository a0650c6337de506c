import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { AnalysisContext, crashedTask, isUnavailable } from '../../src/analyze/analyze.js';
import { openDumpSource } from '../../src/formats/open.js';
import { PT_LOAD } from '../../src/formats/elf/elf64.js';
import { Kernel } from '../../src/kernel/kernel.js';
import { FileSource } from '../../src/util/file.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { crashReport } from '../../src/cli/commands/report.js';
import { REPO, need } from '../helpers/dumps.js';
import { PatchedSource } from '../helpers/patched-source.js';
import { artifactPath, CHROMIUM, launchChromium, needChromium, openFile } from '../helpers/browser.js';

/**
 * A real dump made hostile: three tasks renamed (comm is 16 bytes with its NUL, so the payloads
 * are at most 15 characters) and one kernel log record rewritten, in the dump file's bytes, and
 * then the whole pipeline (open → analysis → HTML) run on it. In Chromium no script may run, no
 * handler fire, no request leave, and the hostile text must be shown literally.
 */

const SRC = join(REPO, '.cache', 'vmcores', '6.12-nullderef', 'vmcore.elf');

const COMM_PAYLOADS = ['<svg onload=f>', '<script>f()//', '"><img src=x>'];
const LOG_PAYLOAD = `<script>window.__xss='script'</script>"><img src=x onerror="window.__xss='img'">`;
const INIT = `window.__xss = 0; window.f = function () { window.__xss = 'f'; }; window.alert = function () { window.__xss = 'alert'; };`;

/** File offsets where `needle` occurs in the file (chunks overlap so no match is cut). */
function findAll(path: string, needle: Buffer): bigint[] {
  const fd = openSync(path, 'r');
  const out: bigint[] = [];
  try {
    const chunk = Buffer.alloc(32 << 20);
    let pos = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n <= 0) break;
      const view = chunk.subarray(0, n);
      for (let i = view.indexOf(needle); i >= 0; i = view.indexOf(needle, i + 1)) if (i + needle.length <= n) out.push(BigInt(pos + i));
      if (n < chunk.length) break;
      pos += n - needle.length + 1;
    }
  } finally {
    closeSync(fd);
  }
  return [...new Set(out)];
}

interface Target {
  readonly pid: number;
  readonly comm: string;
  readonly payload: string;
  readonly kthread: boolean;
}

/** Patches the dump; returns what was changed. */
async function hostileDump(): Promise<{ source: PatchedSource; targets: Target[]; logLine: string }> {
  const ctx = await AnalysisContext.open(SRC);
  try {
    const d = ctx.dump;
    assert.equal(d.format, 'elf');
    if (d.format !== 'elf') throw new Error('unreachable');
    const fileOffset = (paddr: bigint): bigint => {
      const p = d.elf.phdrs.find((h) => h.type === PT_LOAD && paddr >= h.paddr && paddr < h.paddr + h.filesz);
      assert.ok(p, `physical 0x${paddr.toString(16)} is in the file`);
      return p.offset + (paddr - p.paddr);
    };
    const tl = ctx.tasks;
    assert.ok(!isUnavailable(tl));
    const crashedPid = crashedTask(ctx).pid;
    assert.ok(crashedPid !== undefined);
    const source = new PatchedSource(new FileSource(SRC));
    const targets: Target[] = [];
    [crashedPid, 1, 2].forEach((pid, i) => {
      const task = tl.tasks.find((t) => t.pid === pid && !t.idle)!;
      const payload = COMM_PAYLOADS[i]!;
      // task_struct.comm: the first place the task's name (NUL-terminated) occurs in the struct.
      const bytes = Buffer.from(ctx.kernel.mem.read(task.address, 8192));
      const at = bytes.indexOf(Buffer.from(task.comm + '\0', 'latin1'));
      assert.ok(at > 0, `comm of pid ${pid} found in its task_struct`);
      const paddr = ctx.kernel.mem.translate(task.address + BigInt(at));
      const comm = Buffer.alloc(16);
      comm.write(payload, 'latin1');
      assert.ok(payload.length <= 15);
      source.set(fileOffset(paddr), comm);
      targets.push({ pid, comm: task.comm, payload, kthread: task.kthread });
    });
    // A kernel log record: its text is overwritten in place (same length; padded with spaces).
    const log = ctx.log;
    assert.ok(!isUnavailable(log));
    const line = log.lines.find((l) => l.text.startsWith('Command line:') && l.text.length >= LOG_PAYLOAD.length);
    assert.ok(line, 'a log line long enough for the payload');
    const logLine = LOG_PAYLOAD.padEnd(line.text.length, ' ');
    const hits = findAll(SRC, Buffer.from(line.text, 'utf8'));
    assert.ok(hits.length >= 1);
    for (const off of hits) source.set(off, Buffer.from(logLine, 'utf8'));
    return { source, targets, logLine };
  } finally {
    ctx.close();
  }
}

let browser: Browser | undefined;
before(async () => {
  if (existsSync(CHROMIUM)) browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

test('XSS: a dump whose comms and kernel log hold markup renders it as text, and no script runs', async (t) => {
  if (!need(t, SRC)) return;
  const { source, targets, logLine } = await hostileDump();
  const dump = await openDumpSource(source);
  let html: string;
  try {
    const ctx = new AnalysisContext(dump, Kernel.open(dump));
    const r = crashReport(ctx, { pages: false, at: new Date(0) });
    // The hostile strings went through the real pipeline into the report object.
    assert.ok(!isUnavailable(r.analysis.tasks) && !isUnavailable(r.analysis.log));
    for (const x of targets) assert.equal(r.analysis.tasks.rows.find((row) => row.pid === x.pid && !row.idle)?.comm, x.payload, `pid ${x.pid} renamed`);
    assert.ok(r.analysis.log.lines.some((l) => l.text === logLine), 'log line rewritten');
    html = renderHtmlReport(r);
  } finally {
    dump.close();
  }
  const path = artifactPath('report-xss.html');
  writeFileSync(path, html);
  // Static check: the only script element is the report's own.
  assert.equal(html.match(/<script/gi)?.length, 1);
  assert.doesNotMatch(html, /<img|<svg onload/i);

  if (!needChromium(t)) return;
  const { page, problems } = await openFile(browser!, path, { init: INIT });
  try {
    assert.deepEqual(problems, [], 'no console error (a CSP violation would be one), no request, no dialog');
    assert.equal(await page.evaluate<unknown>('window.__xss'), 0, 'no injected script or handler ran');
    assert.equal(await page.locator('script').count(), 1);
    assert.equal(await page.locator('img, svg[onload], [onerror]').count(), 0);
    for (const x of targets) {
      const shown = x.kthread ? `[${x.payload}]` : x.payload;
      const cell = page.locator('#task-table td', { hasText: x.payload }).first();
      assert.ok(await cell.isVisible(), `${x.payload} visible in the task table`);
      assert.equal(await cell.textContent(), shown);
    }
    // The crashed task's name also shows in the CPU table and the crashed-task line.
    assert.ok(await page.locator('#cpus td', { hasText: targets[0]!.payload }).first().isVisible());
    const li = page.locator('#log li', { hasText: LOG_PAYLOAD }).first();
    assert.ok(await li.isVisible());
    assert.ok((await li.textContent())!.endsWith(logLine));
    // Filtering the log for the payload text works on the literal text.
    await page.locator('#log-q').fill('<script>');
    assert.equal(await page.locator('#log li:visible').count(), 1);
    await page.screenshot({ path: artifactPath('report-xss.png'), fullPage: false });
    assert.equal(await page.evaluate<unknown>('window.__xss'), 0);
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});
