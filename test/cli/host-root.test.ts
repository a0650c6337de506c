import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/dumps.js';

const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

test('every host command refuses a --root that is not a directory, before reading or writing anything', () => {
  const parent = mkdtempSync(join(tmpdir(), 'kdk-noroot-'));
  const missing = join(parent, 'sysimgae');
  try {
    const commands: string[][] = [['check'], ['doctor'], ['setup', '--dry-run'], ['load', '--dry-run'], ['unload', '--dry-run'], ['status'], ['test-crash'], ['pstore', '--dry-run'], ['list'], ['prune', '--dry-run'], ['show', 'latest'], ['bundle', 'latest'], ['rehearse']];
    for (const c of commands) {
      // An empty PATH: nothing real can run even if a command got past the check.
      const r = spawnSync(process.execPath, [MAIN, ...c, '--root', missing], { encoding: 'utf8', env: { ...process.env, PATH: '' } });
      assert.equal(r.status, 2, `${c.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^kdumpkit: error: ${c[0]}: --root ${missing} is not a directory\\n`), c.join(' '));
      assert.ok(!existsSync(missing), `${c.join(' ')} created ${missing}`);
    }
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
