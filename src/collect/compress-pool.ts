import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { CODEC_FLAGS, type CodecName } from '../formats/codecs/index.js';
import { createPageCompressor, type PageCompressor } from './fast-codecs.js';
import type { StoredBatch } from '../formats/kdump/writer.js';
import { MappedFile } from './mapped-source.js';

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
 * order (next()), so the output is identical with 0, 1 or N threads.
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
  /** Read the source through memory maps when the native helper is there (default true). */
  readonly mmap?: boolean;
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
 * Where each page of a batch is: page i is `bytes[i]` from `offsets[i]` (a mapped window of the
 * source, or the job's input buffer for pages that were read into it).
 */
export interface PageRefs {
  readonly bytes: Buffer[];
  readonly offsets: Float64Array;
}

export interface ReadOutcome {
  unreadable: number;
  note?: string;
  /** Set when pages were left in place in a mapped window (see MappedFile). */
  refs?: PageRefs;
}

/**
 * Performs planned reads (quads: file offset, length, offset in buf, physical address). With
 * `mapped`, whole pages are not copied: they are referenced where the map has them, and only
 * what cannot be mapped (pages split over two file ranges, a truncated file) is read into
 * `buf`. A range that fails (EIO from /proc/vmcore for memory the capture kernel cannot read)
 * is retried page by page; pages that still fail become zeros.
 */
export function performReads(fd: number, reads: Float64Array, buf: Uint8Array, pageSize: number, mapped?: MappedFile): ReadOutcome {
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
  let refs: PageRefs | undefined;
  for (let i = 0; i + 3 < reads.length; i += 4) {
    const file = reads[i]!;
    const len = reads[i + 1]!;
    const at = reads[i + 2]!;
    if (mapped && at % pageSize === 0 && len % pageSize === 0) {
      const v = mapped.view(file, len);
      if (v) {
        if (!refs) {
          const whole = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
          const pages = buf.byteLength / pageSize;
          refs = { bytes: new Array<Buffer>(pages).fill(whole), offsets: new Float64Array(pages) };
          for (let k = 0; k < pages; k++) refs.offsets[k] = k * pageSize;
        }
        for (let o = 0, k = at / pageSize; o < len; o += pageSize, k++) {
          refs.bytes[k] = v.bytes;
          refs.offsets[k] = v.offset + o;
        }
        continue;
      }
    }
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
    // Pages read here stay in buf (refs already point there unless a view replaced them; a
    // page a view covers wholly is never touched by a read).
  }
  return refs ? { unreadable, note, refs } : { unreadable, note };
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

  /**
   * Compresses `count` pages into `output` (room for count x pageSize bytes): page i is at
   * i x pageSize in `input`, or where `refs` says (pages left in a mapped window).
   */
  compress(input: Uint8Array, count: number, output: Uint8Array, refs?: PageRefs): { sizes: Uint32Array; flags: Uint8Array; length: number } {
    const ps = this.settings.pageSize;
    const sizes = new Uint32Array(count);
    const flags = new Uint8Array(count);
    const flag = this.settings.codec ? CODEC_FLAGS[this.settings.codec] : 0;
    const share = this.settings.shareZeroPages;
    const whole = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    let length = 0;
    for (let i = 0; i < count; i++) {
      const src = refs ? refs.bytes[i]! : whole;
      const off = refs ? refs.offsets[i]! : i * ps;
      // makedumpfile is_zero_page; Buffer.compare is a memcmp.
      if (share && src.compare(this.zeroPage, 0, ps, off, off + ps) === 0) {
        sizes[i] = 0;
        continue;
      }
      const n = this.codec ? this.codec.compress(src, off, ps, output, length) : -1;
      if (n > 0) {
        sizes[i] = n;
        flags[i] = flag;
        length += n;
      } else {
        output.set(src.subarray(off, off + ps), length);
        sizes[i] = ps;
        length += ps;
      }
    }
    return { sizes, flags, length };
  }
}

/** A submitted batch: waiting in the pool's queue (`queued`), at a worker (`posted`), or done. */
interface Task {
  readonly job: CompressJob;
  readonly output: ArrayBuffer;
  result?: CompressResult;
  error?: Error;
  /** Wakes next() waiting for this task's result from a worker. */
  wake?: () => void;
}

/**
 * Batches a worker holds at most (its port's queue included). Two: when it finishes one, the
 * next is already there, even while the main thread is busy compressing and cannot post.
 * The rest wait in the pool, where the main thread can take them.
 */
const WORKER_DEPTH = 2;

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class CompressPool {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  /** Every task not yet handed out by next(), in submission order. */
  private readonly order: Task[] = [];
  /** Tasks no worker has, in submission order (a subsequence of `order`). */
  private readonly queued: Task[] = [];
  private readonly posted = new Map<number, Task>();
  private readonly freeOutputs: ArrayBuffer[] = [];
  private inline: BatchCompressor | undefined;
  private inlineFd = -1;
  private inlineMap: MappedFile | undefined;
  private nextId = 0;
  private failure: Error | undefined;
  /** Batches compressed on the calling thread (tests check the split with it). */
  inlineBatches = 0;

  private constructor(
    readonly settings: CompressSettings,
    readonly threads: number,
  ) {}

  /**
   * `threads` compression threads. 0 compresses on the calling thread only; 1 uses one worker
   * thread; N >= 2 uses N - 1 workers and the calling thread as the N-th (mainHelps, the
   * default): in the collector the main thread only plans reads and writes results, so it has
   * time to compress whatever the workers have not taken when it would otherwise wait (see
   * next()), and each worker thread not started saves its start-up (a Node isolate, its module
   * graph: tens of milliseconds of CPU that a level-31 dump of a few hundred MB cannot win
   * back). mainHelps false gives N workers.
   *
   * Workers load the codecs and warm them up themselves. With the main thread helping, the
   * promise settles at once: a worker's first batches wait in its message port until it is
   * ready, and the main thread compresses the others meanwhile. Otherwise it settles when every
   * worker is ready. Start it early (before classifying pages): the workers boot meanwhile.
   */
  static async create(settings: CompressSettings, threads: number, mainHelps = true): Promise<CompressPool> {
    const helps = mainHelps && threads >= 2;
    const workers = helps ? threads - 1 : threads;
    const pool = new CompressPool(settings, threads);
    // The workers are spawned before anything here awaits: the caller goes on classifying pages
    // synchronously, and a spawn queued behind an await would wait for all of that.
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
    if (threads === 0 || helps) {
      try {
        pool.inline = await BatchCompressor.create(settings);
        if (settings.sourcePath) {
          pool.inlineFd = openSync(settings.sourcePath, 'r');
          if (settings.mmap !== false) pool.inlineMap = MappedFile.open(pool.inlineFd);
        }
      } catch (e) {
        await pool.close();
        throw e;
      }
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

  /** Tasks submitted and not yet handed out by next(). */
  get outstanding(): number {
    return this.order.length;
  }

  /**
   * Queues a batch. Workers get the oldest queued batches, at most WORKER_DEPTH each; the rest
   * wait for a worker to finish one, or for the calling thread to take them in next().
   */
  submit(job: CompressJob): void {
    const task: Task = { job, output: this.takeOutput(job.count * this.settings.pageSize) };
    this.order.push(task);
    this.queued.push(task);
    this.pump();
  }

  /**
   * The oldest submitted batch's result (undefined when none is left): results come out in
   * submission order, so the output does not depend on the threads. While that batch is still
   * at a worker, the calling thread (when it helps) compresses queued batches itself instead of
   * waiting, so it takes a larger share when the workers are slow to start or the dump has many
   * pages that compress well, and a smaller one when writing the output keeps it busy: neither
   * the workers nor the main thread wait while there is work.
   */
  async next(): Promise<CompressResult | undefined> {
    const task = this.order[0];
    if (!task) return undefined;
    while (!task.result && !task.error) {
      if (this.failure) throw this.failure;
      const help = this.inline ? this.queued[0] : undefined;
      if (help) {
        this.queued.shift();
        this.runInline(help);
        // Let worker results in (and new batches out to the workers) before helping again.
        await immediate();
      } else {
        await new Promise<void>((resolve) => (task.wake = resolve));
      }
    }
    this.order.shift();
    if (task.error) throw task.error;
    return task.result;
  }

  private runInline(task: Task): void {
    const { job, output } = task;
    try {
      const input = new Uint8Array(job.input, 0, job.count * this.settings.pageSize);
      const rd: ReadOutcome = job.reads ? performReads(this.inlineFd, job.reads, input, this.settings.pageSize, this.inlineMap) : { unreadable: 0 };
      const r = this.inline!.compress(input, job.count, new Uint8Array(output), rd.refs);
      this.inlineMap?.release();
      task.result = { count: job.count, sizes: r.sizes, flags: r.flags, data: new Uint8Array(output, 0, r.length), input: job.input, output, unreadable: rd.unreadable, unreadableNote: rd.note };
    } catch (e) {
      task.error = e as Error;
    }
    this.inlineBatches++;
  }

  /** Hands queued batches to workers with room, the oldest first. */
  private pump(): void {
    if (this.failure) return;
    for (const slot of this.workers) {
      while (slot.busy < WORKER_DEPTH && this.queued.length > 0) {
        const task = this.queued.shift()!;
        slot.busy++;
        const id = this.nextId++;
        this.posted.set(id, task);
        const { job, output } = task;
        const req: WorkerRequest = { id, input: job.input, output, count: job.count, reads: job.reads };
        slot.worker.postMessage(req, job.reads ? [job.input, output, job.reads.buffer as ArrayBuffer] : [job.input, output]);
      }
    }
  }

  private onResult(slot: { busy: number }, r: WorkerResponse): void {
    slot.busy--;
    const task = this.posted.get(r.id);
    if (task) {
      this.posted.delete(r.id);
      if (r.error) task.error = new Error(`compression worker: ${r.error}`);
      else task.result = { count: r.sizes.length, sizes: r.sizes, flags: r.flags, data: new Uint8Array(r.output, 0, r.length), input: r.input, output: r.output, unreadable: r.unreadable, unreadableNote: r.unreadableNote };
      task.wake?.();
    }
    this.pump();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.posted.clear();
    // next() waits only for the oldest task; it throws the failure once woken.
    this.order[0]?.wake?.();
  }

  async close(): Promise<void> {
    this.inlineMap?.close();
    this.inlineMap = undefined;
    if (this.inlineFd >= 0) closeSync(this.inlineFd);
    this.inlineFd = -1;
    const ws = this.workers.splice(0);
    await Promise.all(ws.map((w) => w.worker.terminate()));
  }
}
