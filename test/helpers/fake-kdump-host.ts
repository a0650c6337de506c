/**
 * A fake machine set up for kdump the way `kdumpkit setup` leaves it (crashkernel reserved,
 * capture kernel loaded, /etc/kdumpkit.conf, both units installed and the load unit enabled,
 * /proc/mounts), plus fake executables on its PATH that record every call and never do
 * anything. check and doctor tests start from this healthy machine and break one thing.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_CONFIG, formatConfig } from '../../src/host/config.js';
import { HostRoot } from '../../src/host/root.js';
import { fakeMachine, type FakeMachine, type Layout, type MachineOptions } from './fake-roots.js';
import assert from 'node:assert/strict';
import type { CheckReport, Finding } from '../../src/host/findings.js';

export interface FakeTools {
  readonly dir: string;
  /** Lines `NAME ARGS...` of every call so far ('' when none). */
  calls(): string;
  remove(): void;
}

/** A directory of recording fake executables (`kexec`, `systemctl`, ...). */
export function fakeTools(names: readonly string[]): FakeTools {
  const dir = mkdtempSync(join(tmpdir(), 'kdk-bin-'));
  const log = join(dir, 'calls.log');
  for (const n of names) {
    const p = join(dir, n);
    writeFileSync(p, `#!/bin/sh\necho "${n} $*" >> '${log}'\nexit 0\n`);
    chmodSync(p, 0o755);
  }
  return {
    dir,
    calls: () => {
      try {
        return readFileSync(log, 'utf8');
      } catch {
        return '';
      }
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface KdumpHost extends FakeMachine {
  readonly tools: FakeTools;
  /** Creates (or replaces) a symlink at host path `abs` pointing to `target` (a host path). */
  link(abs: string, target: string): void;
  /** The root with a different PATH (e.g. '' for "no tools at all"). */
  rootWithPath(path: string): HostRoot;
}

export const UNIT_TEXT = '[Unit]\nDescription=fake unit for tests\n';

/** A healthy kdump host of `layout`: nothing check or doctor should fail on. */
export function kdumpHost(layout: Layout, o: MachineOptions = {}): KdumpHost {
  const tools = fakeTools(['kexec', 'systemctl']);
  const m = fakeMachine(layout, { crashkernel: { param: '256M', reservedBytes: 256n << 20n }, loaded: true, path: tools.dir, ...o });
  const link = (abs: string, target: string): void => {
    const p = join(m.dir, abs);
    mkdirSync(dirname(p), { recursive: true });
    rmSync(p, { force: true });
    symlinkSync(target, p);
  };
  m.set('/etc/kdumpkit.conf', formatConfig(DEFAULT_CONFIG));
  m.set('/etc/systemd/system/kdumpkit-load.service', UNIT_TEXT);
  m.set('/etc/systemd/system/kdumpkit-save.service', UNIT_TEXT);
  // What systemctl enable creates: an absolute link that only resolves inside the machine.
  link('/etc/systemd/system/multi-user.target.wants/kdumpkit-load.service', '/etc/systemd/system/kdumpkit-load.service');
  m.set('/proc/mounts', 'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n/dev/vda1 / ext4 rw,relatime,errors=remount-ro 0 0\ntmpfs /run tmpfs rw,nosuid,nodev,size=402116k,mode=755 0 0\n');
  return {
    ...m,
    tools,
    link,
    rootWithPath: (path) => new HostRoot(m.dir, { PATH: path }),
    remove: () => {
      m.remove();
      tools.remove();
    },
  };
}

/** The finding `id` of a check or doctor report (fails the test when there is none). */
export function finding(r: CheckReport, id: string): Finding {
  const f = r.findings.find((x) => x.id === id);
  assert.ok(f, `no finding ${id} in ${r.findings.map((x) => x.id).join(', ')}`);
  return f;
}

/** Runs `fn` on a fresh kdump host and removes it afterwards. */
export function withHost(layout: Layout, fn: (h: KdumpHost) => void, o: MachineOptions = {}): void {
  const h = kdumpHost(layout, o);
  try {
    fn(h);
  } finally {
    h.remove();
  }
}
