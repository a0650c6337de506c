import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dumpDirName } from '../../src/collect/target.js';

test('dump directory names are the crash time in UTC, whatever TZ says (the catalog reads them as UTC)', () => {
  const saved = process.env.TZ;
  try {
    const when = new Date(Date.UTC(2026, 10, 25, 8, 4, 37));
    for (const tz of ['UTC', 'America/New_York', 'Asia/Kolkata']) {
      process.env.TZ = tz;
      assert.equal(dumpDirName(when), '2026-11-25-08:04:37', tz);
    }
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});
