import { test } from 'node:test';
import assert from 'node:assert/strict';
import { symlinkSync } from 'node:fs';
import { fakeMachine } from '../helpers/fake-roots.js';
import { kexecMachine, RESERVED } from '../helpers/fake-kexec.js';
import { DEFAULT_CONFIG } from '../../src/host/config.js';
import { isLiveProcFile, sysrqWriteDecision, testCrash } from '../../src/host/test-crash.js';

test('test-crash: refuses without --yes, when not loaded, and writes c to the fake trigger with --yes', () => {
  const { m, fk, root, done } = kexecMachine('debian-grub', { ...RESERVED, loaded: false });
  try {
    m.set('/proc/sysrq-trigger', '');
    m.set('/proc/sys/kernel/sysrq', '176\n');
    const no = testCrash(root, { yes: false });
    assert.equal(no.ok, false);
    assert.match(no.summary, /add --yes/);
    assert.match(no.explanation.join('\n'), /crashes the machine NOW/);
    assert.equal(m.read('/proc/sysrq-trigger'), '');
    const notLoaded = testCrash(root, { yes: true });
    assert.equal(notLoaded.ok, false);
    assert.match(notLoaded.summary, /no capture kernel is loaded/);
    assert.equal(m.read('/proc/sysrq-trigger'), '');
    assert.equal(fk.syncs(), 0);
    m.set('/sys/kernel/kexec_crash_loaded', '1\n');
    m.set('/var/crash', undefined);
    assert.match(testCrash(root, { yes: true }).summary, /crash directory .*\/var\/crash does not exist/);
    m.set('/var/crash/.keep', '');
    const yes = testCrash(root, { yes: true });
    assert.equal(yes.ok, true, yes.summary);
    assert.equal(m.read('/proc/sysrq-trigger'), 'c');
    assert.equal(fk.syncs(), 1);
    assert.equal(yes.sysrq, '176');
    assert.equal(m.read('/proc/sys/kernel/sysrq'), '176\n', 'the sysrq mask is left alone');
    // a trigger that cannot be written is one error naming the file (a directory: EISDIR even for root)
    m.set('/proc/sysrq-trigger', undefined);
    m.set('/proc/sysrq-trigger/x', '');
    assert.throws(() => testCrash(root, { yes: true }), (e: Error) => e.message === `${m.root.path('/proc/sysrq-trigger')}: cannot write: EISDIR`);
  } finally {
    done();
  }
});

test('sysrq guard: the live trigger only with root / and --yes; never from a fake root', () => {
  assert.equal(sysrqWriteDecision({ fakeRoot: true, yes: true, targetIsLiveProc: false }).allowed, true);
  assert.equal(sysrqWriteDecision({ fakeRoot: true, yes: false, targetIsLiveProc: false }).allowed, false);
  assert.equal(sysrqWriteDecision({ fakeRoot: true, yes: true, targetIsLiveProc: true }).allowed, false);
  assert.equal(sysrqWriteDecision({ fakeRoot: false, yes: false, targetIsLiveProc: true }).allowed, false);
  assert.equal(sysrqWriteDecision({ fakeRoot: false, yes: true, targetIsLiveProc: false }).allowed, false);
  assert.equal(sysrqWriteDecision({ fakeRoot: false, yes: true, targetIsLiveProc: true }).allowed, true);
  // A plain file in a temp dir is not procfs; /proc/self/status is (read-only look, nothing written).
  const m = fakeMachine('debian-grub');
  try {
    m.set('/proc/sysrq-trigger', '');
    assert.equal(isLiveProcFile(m.root.path('/proc/sysrq-trigger')), false);
    assert.equal(isLiveProcFile('/proc/self/status'), true);
    // A fake root whose proc leads to the real procfs is recognised (only stat/realpath: nothing
    // is written, and testCrash is never called on such a root).
    m.set('/proc', undefined);
    symlinkSync('/proc', m.root.path('/proc'));
    assert.equal(isLiveProcFile(m.root.path('/proc/sysrq-trigger')), true);
  } finally {
    m.remove();
  }
  assert.equal(DEFAULT_CONFIG.dir, '/var/crash');
});
