import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fdatasync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackgroundFlush } from '../../src/util/background-flush.js';
import { FileSink, SinkWriteError } from '../../src/formats/kdump/flattened-writer.js';

test('BackgroundFlush: one fdatasync per `every` bytes, never two at once; settle waits for it', async () => {
  const fd = openSync(join(mkdtempSync(join(tmpdir(), 'kdk-flush-')), 'f'), 'w');
  let calls = 0;
  let running = 0;
  let overlapped = false;
  const sync = (f: number, cb: (e: NodeJS.ErrnoException | null) => void) => {
    calls++;
    if (++running > 1) overlapped = true;
    fdatasync(f, (e) => {
      running--;
      cb(e);
    });
  };
  const flush = new BackgroundFlush(fd, 1000, sync);
  flush.wrote(999);
  assert.equal(calls, 0, 'below the threshold: no flush yet');
  flush.wrote(1);
  assert.equal(calls, 1);
  flush.wrote(5000);
  assert.equal(calls, 1, 'a flush is in flight: the next waits for it');
  await flush.settle();
  assert.equal(running, 0, 'settle returns only when no flush runs');
  flush.wrote(1000);
  assert.equal(calls, 2);
  await flush.settle();
  assert.equal(overlapped, false);
  closeSync(fd);
});

test('FileSink: a failed background write-back is reported by settle() as a write error naming the file', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'kdk-flush-')), 'vmcore.incomplete');
  const fd = openSync(path, 'w');
  const sink = new FileSink(path, fd, false, 4096);
  // The real sink with its flush swapped for one that fails like a dying disk.
  const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
  (sink as unknown as { flush: BackgroundFlush }).flush = new BackgroundFlush(fd, 4096, (_f, cb) => setImmediate(() => cb(eio)));
  sink.write(0n, new Uint8Array(8192).fill(7));
  await assert.rejects(sink.settle(), (e: unknown) => e instanceof SinkWriteError && e.errno === 'EIO' && e.message.includes(path) && /back to disk/.test(e.message));
  closeSync(fd);
  assert.equal(readFileSync(path).length, 8192, 'the bytes written stay in the file');
});

test('BackgroundFlush: a file that cannot be synced (EINVAL) is not an error and is not retried', async () => {
  let calls = 0;
  const einval = Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
  const flush = new BackgroundFlush(-1, 10, (_f, cb) => {
    calls++;
    setImmediate(() => cb(einval));
  });
  flush.wrote(10);
  await flush.settle();
  flush.wrote(1000);
  await flush.settle();
  assert.equal(calls, 1);
});
