import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { tarHeader, writeTarGz } from '../../src/util/tar.js';

test('ustar header: fields, checksum, long names split into prefix, base-256 sizes past 8 GiB', () => {
  const h = tarHeader({ name: 'a/b.txt', type: 'file', size: 5, mode: 0o644, mtime: new Date(1_700_000_000_000) });
  assert.equal(h.length, 512);
  assert.equal(h.toString('ascii', 0, 7), 'a/b.txt');
  assert.equal(h.toString('ascii', 124, 135), '00000000005');
  assert.equal(h.toString('ascii', 257, 263), 'ustar\0');
  // Checksum: byte sum with the checksum field counted as spaces.
  const copy = Buffer.from(h);
  copy.fill(0x20, 148, 156);
  const sum = copy.reduce((s, b) => s + b, 0);
  assert.equal(parseInt(h.toString('ascii', 148, 154), 8), sum);

  const long = `${'d'.repeat(90)}/${'e'.repeat(60)}/file.txt`;
  const l = tarHeader({ name: long, type: 'file', size: 0, mode: 0o600, mtime: new Date(0) });
  assert.equal(l.toString('utf8', 345, 345 + 151), `${'d'.repeat(90)}/${'e'.repeat(60)}`);
  assert.equal(l.toString('utf8', 0, 8), 'file.txt');

  const big = tarHeader({ name: 'vmcore', type: 'file', size: 9 * 2 ** 30, mode: 0o600, mtime: new Date(0) });
  assert.equal(big[124], 0x80, 'GNU base-256 marker');
  assert.equal(big.readBigUInt64BE(128), 9n * 2n ** 30n);
});

test('GNU tar lists and extracts what writeTarGz writes (files, dirs, a streamed file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdumpkit-tar-'));
  try {
    const big = join(dir, 'big.bin');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    writeFileSync(big, data);
    const chunks: Buffer[] = [];
    const long = `top/${'x'.repeat(80)}/${'y'.repeat(60)}.txt`;
    await writeTarGz(
      [
        { name: 'top', type: 'dir' },
        { name: 'top/hello.txt', data: 'hello\n' },
        { name: 'top/empty', data: '' },
        { name: long, data: 'long name\n' },
        { name: 'top/big.bin', file: { path: big, size: data.length }, mode: 0o600 },
      ],
      (c) => {
        chunks.push(Buffer.from(c));
      },
    );
    const gz = Buffer.concat(chunks);
    assert.equal(gunzipSync(gz).length % 512, 0);
    const archive = join(dir, 'out.tar.gz');
    writeFileSync(archive, gz);
    const list = spawnSync('tar', ['-tzf', archive], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.deepEqual(list.stdout.trim().split('\n'), ['top/', 'top/hello.txt', 'top/empty', long, 'top/big.bin']);
    const out = join(dir, 'x');
    spawnSync('mkdir', [out]);
    const x = spawnSync('tar', ['-xzf', archive, '-C', out], { encoding: 'utf8' });
    assert.equal(x.status, 0, x.stderr);
    assert.equal(readFileSync(join(out, 'top/hello.txt'), 'utf8'), 'hello\n');
    assert.equal(readFileSync(join(out, long), 'utf8'), 'long name\n');
    assert.ok(readFileSync(join(out, 'top/big.bin')).equals(data));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
