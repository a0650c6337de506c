import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { CODEC_FLAGS, type CodecName } from '../formats/codecs/index.js';
import { createPageCompressor, type PageCompressor } from './fast-codecs.js';
import type { StoredBatch } from '../formats/kdump/writer.js';

/**
 * Compression of page batches for the kdump writer, on worker threads or inline.
 *
 * A job is one batch of pages (by default 256 pages = 1 MiB) read from the source. Each page is
 * checked for all zeros (when the dump level shares zero pages), compressed with the chosen
 * codec, and kept raw when compression does not make it smaller. The worker returns the stored
 * bytes packed back to back plus per-page sizes and flags: exactly what the writer needs.
 *
 * With an ELF source (/proc/vmcore) the workers also read the pages themselves (positioned
 * reads planned by the main thread), so copying the dump out of the kernel is spread over
 * the threads as well and the main thread only plans, orders and writes.
 *
 * Buffers travel by transfer (no copies) and come back to a pool, so memory is bounded by
 * the number of jobs in flight, whatever the dump size. Results are handed out in submission
 * order (the caller awaits the oldest), so the output is identical with 0, 1 or N threads.
 */

export interface CompressJob {
  /** Buffer for `count` x pageSize bytes of source pages (transferred and handed back). */
  readonly input: ArrayBuffer;
  readonly count: number;
  /**
   * When set, the pages are not in `input` yet: fill it first with these positioned reads from
   * settings.sourcePath, as quads (file offset, length, offset in input, physical address).
   */
  readonly reads?: Float64Array;
}

export interface CompressResult extends StoredBatch {
  /** The input buffer, back for reuse. */
  readonly input: ArrayBuffer;
  /** The output buffer (`data` is a view of it), back for reuse once written. */
  readonly output: ArrayBuffer;
  /** Pages that could not be read (saved as zeros), with the first address and error. */
  readonly unreadable: number;
  readonly unreadableNote?: string;
}

export interface CompressSettings {
  readonly codec: CodecName | undefined;
  readonly pageSize: number;
  /** dump_level bit 1: all-zero pages get size 0 (shared zero page) instead of being stored. */
  readonly shareZeroPages: boolean;
  /** The ELF source file, for jobs that carry reads. */
  readonly sourcePath?: string;
}

/** Message protocol between the pool and compress-worker.ts. */
export interface WorkerRequest {
  readonly id: number;
  readonly input: ArrayBuffer;
  readonly output: ArrayBuffer;
  readonly count: number;
  readonly reads?: Float64Array;
}
export interface WorkerResponse {
  readonly id: number;
  readonly input: ArrayBuffer;
  readonly output: ArrayBuffer;
  readonly sizes: Uint32Array;
  readonly flags: Uint8Array;
  readonly length: number;
  readonly unreadable: number;
  readonly unreadableNote?: string;
  readonly error?: string;
}

/**
 * Performs planned reads into `buf`. A range that fails (EIO from /proc/vmcore for memory the
 * capture kernel cannot read) is retried page by page; pages that still fail become zeros.
 */
export function performReads(fd: number, reads: Float64Array, buf: Uint8Array, pageSize: number): { unreadable: number; note?: string } {
  let unreadable = 0;
  let note: string | undefined;
  const readRange = (file: number, len: number, at: number): void => {
    let got = 0;
    while (got < len) {
      const n = readSync(fd, buf, at + got, len - got, file + got);
      if (n === 0) throw Object.assign(new Error('unexpected end of file'), { code: 'EOF' });
      got += n;
    }
  };
  for (let i = 0; i + 3 < reads.length; i += 4) {
    const file = reads[i]!;
    const len = reads[i + 1]!;
    const at = reads[i + 2]!;
    try {
      readRange(file, len, at);
    } catch {
      for (let o = 0; o < len; o += pageSize) {
        const n = Math.min(pageSize, len - o);
        try {
          readRange(file + o, n, at + o);
        } catch (e) {
          buf.fill(0, at + o, at + o + n);
          unreadable++;
          note ??= `physical 0x${(reads[i + 3]! + o).toString(16)}: unreadable, saved as zeros (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
        }
      }
    }
  }
  return { unreadable, note };
}

const zeroPages = new Map<number, Buffer>();

/** True when the page is all zeros (makedumpfile is_zero_page); a memcmp against a zero page. */
export function isAllZero(page: Uint8Array): boolean {
  let z = zeroPages.get(page.length);
  if (!z) zeroPages.set(page.length, (z = Buffer.alloc(page.length)));
  return Buffer.from(page.buffer, page.byteOffset, page.length).equals(z);
}

/**
 * Compresses batches of pages; one per worker thread (and one for the inline mode). Holds the
 * codec state so nothing is set up per page.
 */
export class BatchCompressor {
  private readonly zeroPage: Buffer;

  private constructor(
    readonly settings: CompressSettings,
    private readonly codec: PageCompressor | undefined,
  ) {
    this.zeroPage = Buffer.alloc(settings.pageSize);
  }

  static async create(settings: CompressSettings): Promise<BatchCompressor> {
    return new BatchCompressor(settings, settings.codec ? await createPageCompressor(settings.codec, settings.pageSize) : undefined);
  }

  /**
   * Runs the codec over synthetic pages so V8 has compiled its hot loops before real pages
   * arrive (a worker does this while the main thread is still classifying pages).
   */
  warmUp(rounds = 48): void {
    if (this.codec?.native) return;
    const ps = this.settings.pageSize;
    const input = new Uint8Array(4 * ps);
    let x = 1;
    for (let i = 0; i < ps; i++) input[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
    for (let i = 0; i < ps; i += 8) input[ps + i] = i & 0xff;
    for (let i = 0; i < ps; i++) input[2 * ps + i] = 97 + ((i * 7) % 13);
    input.copyWithin(3 * ps, 0, ps / 2);
    const output = new Uint8Array(input.length);
    for (let r = 0; r < rounds; r++) this.compress(input, 4, output);
  }

  /** Compresses `count` pages of `input` into `output` (room for count x pageSize bytes). */
  compress(input: Uint8Array, count: number, output: Uint8Array): { sizes: Uint32Array; flags: Uint8Array; length: number } {
    const ps = this.settings.pageSize;
    const sizes = new Uint32Array(count);
    const flags = new Uint8Array(count);
    const flag = this.settings.codec ? CODEC_FLAGS[this.settings.codec] : 0;
    const share = this.settings.shareZeroPages;
    const whole = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    let length = 0;
    for (let i = 0; i < count; i++) {
      const off = i * ps;
      // makedumpfile is_zero_page; Buffer.compare is a memcmp.
      if (share && whole.compare(this.zeroPage, 0, ps, off, off + ps) === 0) {
        sizes[i] = 0;
        continue;
      }
      const n = this.codec ? this.codec.compress(input, off, ps, output, length) : -1;
      if (n > 0) {
        sizes[i] = n;
        flags[i] = flag;
        length += n;
      } else {
        output.set(input.subarray(off, off + ps), length);
        sizes[i] = ps;
        length += ps;
      }
    }
    return { sizes, flags, length };
  }
}

interface Pending {
  resolve(r: CompressResult): void;
  reject(e: Error): void;
}

/**
 * How many batches the main thread compresses itself between two handed to each worker, when it
 * helps (see CompressPool.create): 1 = one batch in (workers + 1) on the main thread.
 */
const INLINE_SHARE = 1;

export class CompressPool {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  /** Round-robin position over (workers..., main thread) when the main thread helps. */
  private turn = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly freeOutputs: ArrayBuffer[] = [];
  private inline: BatchCompressor | undefined;
  private inlineFd = -1;
  private nextId = 0;
  private failure: Error | undefined;

  private constructor(
    readonly settings: CompressSettings,
    readonly threads: number,
  ) {}

  /**
   * `threads` compression threads. 0 compresses on the calling thread only; 1 uses one worker
   * thread; N >= 2 uses N - 1 workers and the calling thread as the N-th (mainHelps, the
   * default): in the collector the main thread only plans reads and writes results, so it has
   * time to compress every N-th batch itself, and each worker thread not started saves its
   * start-up (a Node isolate, its module graph: tens of milliseconds of CPU that a level-31
   * dump of a few hundred MB cannot win back). mainHelps false gives N workers.
   *
   * Workers load the codecs and warm them up themselves. With the main thread helping, the
   * promise settles at once: jobs queue in the workers' message ports until they are ready, and
   * the main thread compresses meanwhile. Otherwise it settles when every worker is ready.
   * Start it early (before classifying pages): the workers boot in parallel with that.
   */
  static async create(settings: CompressSettings, threads: number, mainHelps = true): Promise<CompressPool> {
    const helps = mainHelps && threads >= 2;
    const workers = helps ? threads - 1 : threads;
    const pool = new CompressPool(settings, threads);
    if (threads === 0 || helps) {
      pool.inline = await BatchCompressor.create(settings);
      if (settings.sourcePath) pool.inlineFd = openSync(settings.sourcePath, 'r');
    }
    const url = new URL('./compress-worker.js', import.meta.url);
    const ready: Promise<void>[] = [];
    for (let i = 0; i < workers; i++) {
      const worker = new Worker(url, { workerData: settings, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 48 } });
      const slot = { worker, busy: 0 };
      pool.workers.push(slot);
      ready.push(
        new Promise<void>((resolve, reject) => {
          const onFirst = (m: unknown): void => {
            if (m === 'ready') {
              worker.off('message', onFirst);
              worker.on('message', (r: WorkerResponse) => pool.onResult(slot, r));
              resolve();
            }
          };
          worker.on('message', onFirst);
          worker.once('error', reject);
        }),
      );
      worker.on('error', (e) => pool.fail(e));
      worker.on('exit', (code) => {
        if (code !== 0) pool.fail(new Error(`compression worker exited with code ${code}`));
      });
    }
    if (helps) {
      // Not awaited: a worker that fails to start fails the pool (fail() rejects its jobs).
      for (const r of ready) r.catch(() => undefined);
      return pool;
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** Worker threads started (threads - 1 when the main thread helps). */
  get workerCount(): number {
    return this.workers.length;
  }

  /** An output buffer for a job of `count` pages (reused when one is free). */
  private takeOutput(bytes: number): ArrayBuffer {
    const i = this.freeOutputs.findIndex((b) => b.byteLength >= bytes);
    if (i >= 0) return this.freeOutputs.splice(i, 1)[0]!;
    return new ArrayBuffer(bytes);
  }

  /** Gives a result's output buffer back once its data has been written. */
  recycle(output: ArrayBuffer): void {
    if (this.freeOutputs.length < 2 * Math.max(1, this.threads) + 4) this.freeOutputs.push(output);
  }

  submit(job: CompressJob): Promise<CompressResult> {
    if (this.failure) return Promise.reject(this.failure);
    const output = this.takeOutput(job.count * this.settings.pageSize);
    // With workers, the main thread takes its turn after each worker had one (INLINE_SHARE).
    let inline = this.workers.length === 0;
    if (!inline && this.inline) {
      const cycle = this.workers.length + INLINE_SHARE;
      inline = this.turn % cycle >= this.workers.length;
      this.turn++;
    }
    if (inline && this.inline) {
      try {
        const input = new Uint8Array(job.input, 0, job.count * this.settings.pageSize);
        const rd = job.reads ? performReads(this.inlineFd, job.reads, input, this.settings.pageSize) : { unreadable: 0 };
        const r = this.inline.compress(input, job.count, new Uint8Array(output));
        return Promise.resolve({ count: job.count, sizes: r.sizes, flags: r.flags, data: new Uint8Array(output, 0, r.length), input: job.input, output, unreadable: rd.unreadable, unreadableNote: rd.note });
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    let slot = this.workers[0]!;
    for (const w of this.workers) if (w.busy < slot.busy) slot = w;
    slot.busy++;
    const id = this.nextId++;
    const req: WorkerRequest = { id, input: job.input, output, count: job.count, reads: job.reads };
    return new Promise<CompressResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      slot.worker.postMessage(req, job.reads ? [job.input, output, job.reads.buffer as ArrayBuffer] : [job.input, output]);
    });
  }

  private onResult(slot: { busy: number }, r: WorkerResponse): void {
    slot.busy--;
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (r.error) p.reject(new Error(`compression worker: ${r.error}`));
    else p.resolve({ count: r.sizes.length, sizes: r.sizes, flags: r.flags, data: new Uint8Array(r.output, 0, r.length), input: r.input, output: r.output, unreadable: r.unreadable, unreadableNote: r.unreadableNote });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  async close(): Promise<void> {
    if (this.inlineFd >= 0) closeSync(this.inlineFd);
    this.inlineFd = -1;
    const ws = this.workers.splice(0);
    await Promise.all(ws.map((w) => w.worker.terminate()));
  }
}
