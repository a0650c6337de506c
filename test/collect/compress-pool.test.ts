import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompressPool, type CompressResult } from '../../src/collect/compress-pool.js';
import type { CodecName } from '../../src/formats/codecs/index.js';

const PS = 4096;

/** Batch `b` of `n` pages: zero pages, text-like pages, random (incompressible) pages. */
function batch(b: number, n: number): ArrayBuffer {
  const buf = new Uint8Array(n * PS);
  let x = (b + 1) * 2654435761;
  for (let i = 0; i < n; i++) {
    const kind = (b + i) % 3;
    const page = buf.subarray(i * PS, (i + 1) * PS);
    if (kind === 1) for (let j = 0; j < PS; j++) page[j] = 97 + ((j * (b + 3)) % 11);
    else if (kind === 2) for (let j = 0; j < PS; j++) page[j] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  }
  return buf.buffer;
}

async function runPool(codec: CodecName, threads: number, mainHelps: boolean): Promise<{ results: Buffer[]; workers: number; inline: number }> {
  const pool = await CompressPool.create({ codec, pageSize: PS, shareZeroPages: true }, threads, mainHelps);
  try {
    for (let b = 0; b < 12; b++) pool.submit({ input: batch(b, 16), count: 16 });
    assert.equal(pool.outstanding, 12);
    const results: Buffer[] = [];
    // Handed out in submission order, as the writer takes them.
    let r: CompressResult | undefined;
    while ((r = await pool.next())) results.push(Buffer.concat([Buffer.from(r.sizes.buffer, r.sizes.byteOffset, r.sizes.byteLength), Buffer.from(r.flags), Buffer.from(r.data)]));
    assert.equal(pool.outstanding, 0);
    return { results, workers: pool.workerCount, inline: pool.inlineBatches };
  } finally {
    await pool.close();
  }
}

for (const codec of ['zlib', 'lzo'] as CodecName[]) {
  test(`${codec}: the main thread helping N-1 workers gives the bytes of 0 and N workers, in order`, async () => {
    const inline = await runPool(codec, 0, true);
    assert.equal(inline.workers, 0);
    assert.equal(inline.inline, 12);
    for (const [threads, helps, workers] of [
      [1, true, 1],
      [2, true, 1],
      [3, true, 2],
      [2, false, 2],
    ] as const) {
      const r = await runPool(codec, threads, helps);
      assert.equal(r.workers, workers, `${threads} threads, main helps ${helps}: worker threads started`);
      // The main thread takes what no worker holds: each worker got its first two batches
      // (WORKER_DEPTH) at submit, even while booting; without mainHelps it takes none.
      if (helps && threads >= 2) assert.ok(r.inline > 0 && r.inline <= 12 - 2 * workers, `${threads} threads: main compressed ${r.inline} of 12`);
      else assert.equal(r.inline, 0, `${threads} threads, main helps ${helps}: nothing inline`);
      assert.equal(r.results.length, inline.results.length);
      r.results.forEach((b, i) => assert.ok(b.equals(inline.results[i]!), `${threads} threads, main helps ${helps}: batch ${i} as compressed inline`));
    }
  });
}
