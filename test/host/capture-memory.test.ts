import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeMachine } from '../helpers/fake-roots.js';
import { bzImageInitSize, estimateCaptureMemory, RUNTIME_BYTES } from '../../src/host/capture-memory.js';

test('bzImage init_size from the setup header; the estimate adds 2 x initrd and the runtime', () => {
  const head = Buffer.alloc(0x1000);
  head.write('HdrS', 0x202, 'latin1');
  head.writeUInt16LE(0x020f, 0x206);
  head.writeUInt32LE(0x2b6b000, 0x260);
  assert.equal(bzImageInitSize(head), 0x2b6b000n);
  head.writeUInt16LE(0x0209, 0x206);
  assert.equal(bzImageInitSize(head), undefined, 'init_size exists since boot protocol 2.10');
  assert.equal(bzImageInitSize(Buffer.from('MZ fake bzImage')), undefined);
  const m = fakeMachine('debian-grub');
  try {
    head.writeUInt16LE(0x020f, 0x206);
    m.set('/boot/k', head);
    m.set('/boot/i', Buffer.alloc(1000));
    const e = estimateCaptureMemory(m.root.path('/boot/k'), m.root.path('/boot/i'));
    assert.equal(e.kernelInitSize, 0x2b6b000n);
    assert.equal(e.segmentBytes, 0x1000n + 1000n);
    assert.equal(e.estimatedBytes, 0x2b6b000n + 2000n + RUNTIME_BYTES);
  } finally {
    m.remove();
  }
});
