import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrashkernelSyntaxError, formatSize, parseCrashkernel, parseSize, reservedFor } from '../../src/host/crashkernel.js';
import { KdumpkitError } from '../../src/util/errors.js';

const K = 1n << 10n;
const M = 1n << 20n;
const G = 1n << 30n;
const T = 1n << 40n;

/** Size reserved for `text` on `ram` bytes, or undefined. */
function size(text: string, ram: bigint): bigint | undefined {
  return reservedFor(parseCrashkernel(text), ram)?.size;
}

/** Asserts that parsing fails at `index` with a message matching `what`, and the caret is under it. */
function rejects(text: string, index: number, what: RegExp): CrashkernelSyntaxError {
  let err: unknown;
  try {
    parseCrashkernel(text);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof CrashkernelSyntaxError, `${text}: expected CrashkernelSyntaxError, got ${String(err)}`);
  assert.ok(err instanceof KdumpkitError);
  assert.equal(err.code, 'E_CRASHKERNEL_SYNTAX');
  assert.equal(err.index, index, `${text}: ${err.message}`);
  const lines = err.message.split('\n');
  assert.match(lines[0]!, what);
  assert.match(lines[0]!, new RegExp(`at index ${index}$`));
  assert.equal(lines[1], `  ${text}`);
  assert.equal(lines[2], `  ${' '.repeat(index)}^`);
  return err;
}

test('kdump.rst: crashkernel=64M@16M reserves 64M at physical 16M', () => {
  const spec = parseCrashkernel('crashkernel=64M@16M');
  assert.deepEqual(spec.entries, [{ kind: 'simple', size: 64n * M, offset: 16n * M }]);
  assert.deepEqual(reservedFor(spec, 4n * G), { size: 64n * M, offset: 16n * M });
  assert.deepEqual(reservedFor(parseCrashkernel('128M'), 4n * G), { size: 128n * M });
});

test('kdump.rst: crashkernel=512M-2G:64M,2G-:128M', () => {
  const text = 'crashkernel=512M-2G:64M,2G-:128M';
  assert.deepEqual(parseCrashkernel(text).entries, [
    {
      kind: 'ranges',
      ranges: [
        { start: 512n * M, end: 2n * G, size: 64n * M },
        { start: 2n * G, end: undefined, size: 128n * M },
      ],
      offset: undefined,
    },
  ]);
  // "If the RAM is smaller than 512M, then don't reserve anything"
  assert.equal(size(text, 256n * M), undefined);
  assert.equal(size(text, 384n * M), undefined);
  // "If the RAM size is between 512M and 2G (exclusive), then reserve 64M"
  assert.equal(size(text, 512n * M), 64n * M);
  assert.equal(size(text, 1n * G), 64n * M);
  assert.equal(size(text, 2n * G - 128n * M), 64n * M);
  // "If the RAM size is larger than 2G, then reserve 128M"
  assert.equal(size(text, 2n * G), 128n * M);
  assert.equal(size(text, 64n * G), 128n * M);
});

test('range boundaries: start inclusive, end exclusive, RAM rounded up to 128M like the kernel', () => {
  const text = '512M-2G:64M,2G-:128M';
  assert.equal(size(text, 2n * G), 128n * M, 'exactly at 2G: second range');
  // Firmware keeps some RAM, so the kernel rounds up to 128M: 2G minus a little still counts as 2G.
  assert.equal(size(text, 2n * G - 1n), 128n * M);
  assert.equal(size(text, 2n * G - 128n * M + 1n), 128n * M);
  assert.equal(size(text, 2n * G - 128n * M), 64n * M);
  assert.equal(size(text, 512n * M - 100n * M), 64n * M, '412M rounds up to 512M');
  assert.equal(size(text, 384n * M), undefined, 'exactly 384M: below the first range');
  // A list with an end and no open range: above it nothing is reserved.
  assert.equal(size('1G-4G:192M', 4n * G), undefined);
  assert.equal(size('1G-4G:192M', 4n * G - 128n * M), 192n * M);
});

test('kernel-parameters.txt: crashkernel=0M-2G:128M,2G-6G:256M,6G-8G:512M,8G-:768M', () => {
  const text = 'crashkernel=0M-2G:128M,2G-6G:256M,6G-8G:512M,8G-:768M';
  assert.equal(size(text, 1n * G), 128n * M);
  assert.equal(size(text, 2n * G), 256n * M);
  assert.equal(size(text, 6n * G - 1n), 512n * M, 'rounded up to 6G');
  assert.equal(size(text, 6n * G), 512n * M);
  assert.equal(size(text, 8n * G), 768n * M);
  assert.equal(size(text, 1n * T), 768n * M);
  // The kernel rejects a size not below the (rounded) RAM: "crashkernel: invalid size".
  assert.equal(size(text, 128n * M), undefined);
});

test('kdump.rst: offset after a range list applies to whichever range matched', () => {
  const spec = parseCrashkernel('crashkernel=512M-2G:64M,2G-:128M@16M');
  const e = spec.entries[0];
  assert.equal(e?.kind, 'ranges');
  assert.equal(e.kind === 'ranges' ? e.offset : undefined, 16n * M);
  assert.deepEqual(reservedFor(spec, 1n * G), { size: 64n * M, offset: 16n * M });
  assert.deepEqual(reservedFor(spec, 4n * G), { size: 128n * M, offset: 16n * M });
  assert.equal(reservedFor(spec, 256n * M), undefined);
});

test('kdump.rst: crashkernel=size,high with and without ,low', () => {
  assert.deepEqual(parseCrashkernel('crashkernel=128M,high').entries, [{ kind: 'high', size: 128n * M }]);
  assert.deepEqual(reservedFor(parseCrashkernel('crashkernel=128M,high'), 16n * G), { size: 128n * M, high: true, low: 256n * M, lowIsDefault: true });
  assert.deepEqual(reservedFor(parseCrashkernel('crashkernel=128M,high'), 16n * G, { arch: 'aarch64' }), { size: 128n * M, high: true, low: 128n * M, lowIsDefault: true });
  assert.deepEqual(reservedFor(parseCrashkernel('crashkernel=1G,high crashkernel=72M,low'), 16n * G), { size: 1n * G, high: true, low: 72n * M });
  // "0: to disable low allocation"
  assert.deepEqual(reservedFor(parseCrashkernel('crashkernel=1G,high crashkernel=0,low'), 16n * G), { size: 1n * G, high: true, low: 0n });
  // ,low alone reserves nothing; a plain value wins over ,high (the kernel only looks at ,high without one).
  assert.equal(reservedFor(parseCrashkernel('crashkernel=72M,low'), 16n * G), undefined);
  assert.deepEqual(reservedFor(parseCrashkernel('crashkernel=1G,high crashkernel=256M'), 16n * G), { size: 256n * M });
});

test('crashkernel=size,cma adds a CMA reservation to the main one', () => {
  assert.deepEqual(parseCrashkernel('crashkernel=1G,cma').entries, [{ kind: 'cma', size: 1n * G }]);
  assert.deepEqual(reservedFor(parseCrashkernel('crashkernel=256M crashkernel=1G,cma'), 16n * G), { size: 256n * M, cma: 1n * G });
  assert.deepEqual(reservedFor(parseCrashkernel('crashkernel=1G,cma crashkernel=512M,high'), 16n * G), { size: 512n * M, high: true, low: 256n * M, lowIsDefault: true, cma: 1n * G });
  // "A standard crashkernel reservation ... is still needed": ,cma alone reserves nothing.
  assert.equal(reservedFor(parseCrashkernel('crashkernel=1G,cma'), 16n * G), undefined);
});

test('the last crashkernel= of a kind wins, as get_last_crashkernel()', () => {
  assert.equal(size('crashkernel=64M crashkernel=128M', 4n * G), 128n * M);
  assert.equal(size('crashkernel=128M crashkernel=1G-:64M', 4n * G), 64n * M);
  assert.deepEqual(reservedFor(parseCrashkernel('crashkernel=1G,high crashkernel=2G,high'), 16n * G)?.size, 2n * G);
});

test('nothing reserved: zero size, size not below RAM, no matching range', () => {
  assert.equal(size('0M', 4n * G), undefined);
  assert.equal(size('4G', 4n * G), undefined);
  assert.equal(size('4G', 4n * G + 1n), 4n * G);
  assert.equal(size('1G-2G:64M', 8n * G), undefined);
  assert.equal(size('1G-2G:0M,2G-:64M', 1n * G), undefined);
});

test('sizes: memparse suffixes K M G T P E in either case, hex and octal like strtoull base 0', () => {
  assert.equal(parseSize('4096'), 4096n);
  assert.equal(parseSize('4k'), 4n * K);
  assert.equal(parseSize('4K'), 4n * K);
  assert.equal(parseSize('64m'), 64n * M);
  assert.equal(parseSize('2g'), 2n * G);
  assert.equal(parseSize('1T'), T);
  assert.equal(parseSize('1P'), 1n << 50n);
  assert.equal(parseSize('1e'), 1n << 60n);
  assert.equal(parseSize('0x4000000'), 64n * M);
  assert.equal(parseSize('0x10M'), 16n * M);
  assert.equal(parseSize('010M'), 8n * M, 'leading 0 is octal, as in the kernel');
  assert.equal(parseSize('0'), 0n);
  assert.equal(size('crashkernel=0x8000000@0x1000000', 4n * G), 128n * M);
  assert.equal(reservedFor(parseCrashkernel('128m@16m'), 4n * G)?.offset, 16n * M);
  assert.throws(() => parseSize('16E'), /does not fit in 64 bits/);
});

test('formatSize uses the largest exact suffix', () => {
  assert.equal(formatSize(128n * M), '128M');
  assert.equal(formatSize(1536n * M), '1536M');
  assert.equal(formatSize(4n * G), '4G');
  assert.equal(formatSize(2n * T), '2T');
  assert.equal(formatSize(1n << 60n), '1E');
  assert.equal(formatSize(4n * K), '4K');
  assert.equal(formatSize(1000n), '1000');
  assert.equal(formatSize(0n), '0');
  // Round trip through the parser.
  for (const v of [64n * M, 1536n * M, 3n * G, 12345n]) assert.equal(parseSize(formatSize(v)), v);
});

test('bad syntax: the message names the character and puts a caret under it', () => {
  rejects('512M-2G:64M;2G-:128M', 11, /unrecognized character ';' \(expected ',' or '@'\)/);
  rejects('crashkernel=512M2G:64M', 16, /'-' expected/);
  rejects('512M-2G64M', 4, /unrecognized character '-'/); // no ':' at all: the classic syntax
  rejects('512M-2G;64M:1', 7, /':' expected/);
  rejects('2G-1G:64M', 3, /end <= start/);
  rejects('2G-2G:64M', 3, /end <= start/);
  rejects('64M@', 4, /memory value expected after '@'/);
  rejects('1G-:64M@x', 8, /memory value expected after '@'/);
  rejects('64Q', 2, /unrecognized character 'Q'/);
  rejects('128M,hgih', 4, /unrecognized character ','/);
  rejects('128M ,high', 5, /memory value expected/);
  rejects('128MB,high', 4, /unrecognized character 'B' \(expected ',high'\)/);
  rejects('1G-:', 4, /memory value expected/);
  rejects('-1G:64M', 0, /memory value expected/);
  rejects('512M-2G:64M,', 12, /memory value expected/);
  rejects('512M-2G:64M,,2G-:128M', 12, /memory value expected/);
  rejects('0-2G:64M,1G-:128M', 9, /overlaps/);
  rejects('crashkernel=', 12, /memory value expected/);
  rejects('', 0, /memory value expected/);
  rejects('crashkernel=64M quiet=1', 21, /'quiet=' is not crashkernel=/);
  rejects('crashkernel=64M 1G-2G:x', 22, /memory value expected/);
  const auto = rejects('crashkernel=auto', 12, /memory value expected/);
  assert.match(auto.hint ?? '', /RHEL/);
});
