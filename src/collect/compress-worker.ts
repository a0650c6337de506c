import { openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { BatchCompressor, performReads, type CompressSettings, type ReadOutcome, type WorkerRequest, type WorkerResponse } from './compress-pool.js';
import { MappedFile } from './mapped-source.js';

/** Worker side of CompressPool: compresses page batches and sends them back (by transfer). */
const settings = workerData as CompressSettings;
const port = parentPort!;

const compressor = await BatchCompressor.create(settings);
const fd = settings.sourcePath ? openSync(settings.sourcePath, 'r') : -1;
const mapped = fd >= 0 && settings.mmap !== false ? MappedFile.open(fd) : undefined;
compressor.warmUp();
port.on('message', (req: WorkerRequest) => {
  let res: WorkerResponse;
  try {
    const input = new Uint8Array(req.input, 0, req.count * settings.pageSize);
    const rd: ReadOutcome = req.reads ? performReads(fd, req.reads, input, settings.pageSize, mapped) : { unreadable: 0 };
    const r = compressor.compress(input, req.count, new Uint8Array(req.output), rd.refs);
    mapped?.release();
    res = { id: req.id, input: req.input, output: req.output, sizes: r.sizes, flags: r.flags, length: r.length, unreadable: rd.unreadable, unreadableNote: rd.note };
  } catch (e) {
    res = { id: req.id, input: req.input, output: req.output, sizes: new Uint32Array(0), flags: new Uint8Array(0), length: 0, unreadable: 0, error: (e as Error).message };
  }
  port.postMessage(res, [res.input, res.output, res.sizes.buffer as ArrayBuffer, res.flags.buffer as ArrayBuffer]);
});
port.postMessage('ready');
