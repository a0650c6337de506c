import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEXEC_FAILURES } from '../helpers/fake-kexec.js';
import { explainKexecFailure } from '../../src/host/kexec-errors.js';

test('each kexec failure message is explained (unit)', () => {
  for (const f of KEXEC_FAILURES) {
    const e = explainKexecFailure(f.stderr, { fileSyscall: f.stderr.includes('kexec_file_load'), lockdown: f.lockdown ?? 'none', secureBoot: undefined });
    assert.equal(e[0]!.id, f.id, f.stderr);
    assert.match(e[0]!.cause, f.cause, f.stderr);
    assert.ok(e[0]!.fix.length > 10);
  }
});
