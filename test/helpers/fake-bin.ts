/**
 * Recording fakes of the programs host commands run (grub-mkconfig, systemctl, mkinitcpio, ...)
 * and a snapshot of a whole directory tree, for "nothing else was touched" assertions.
 *
 * Each fake appends one line per call to LOG: the program name and its argv, tab-separated. The
 * systemctl fake does what `systemctl --root=DIR enable UNIT` does offline (the [Install]
 * WantedBy= symlink under DIR), so a second `setup` sees the unit enabled, as on a real system.
 */
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeBin {
  readonly dir: string;
  readonly log: string;
  /** Calls so far: [program, ...args] each. */
  calls(): string[][];
}

const RECORD = `printf '%s' "\${0##*/}" >> "$FAKE_LOG"; for a in "$@"; do printf '\\t%s' "$a" >> "$FAKE_LOG"; done; printf '\\n' >> "$FAKE_LOG"\n`;

const SYSTEMCTL = `root=
enable=
for a in "$@"; do
  case "$a" in
    --root=*) root="\${a#--root=}" ;;
    enable) enable=1 ;;
    -*) ;;
    *) if [ -n "$enable" ] && [ -n "$root" ]; then
         wb=$(sed -n 's/^WantedBy=//p' "$root/etc/systemd/system/$a")
         mkdir -p "$root/etc/systemd/system/$wb.wants"
         ln -sf "/etc/systemd/system/$a" "$root/etc/systemd/system/$wb.wants/$a"
       fi ;;
  esac
done
`;

/** Fakes of `names` in a fresh directory; `fail` names programs that exit 1 after recording. */
export function fakeBin(names: readonly string[], fail: readonly string[] = []): FakeBin {
  const dir = mkdtempSync(join(tmpdir(), 'kdk-bin-'));
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  for (const n of names) {
    // The caller's PATH may hold only fakes; the fake's own helpers (sed, ln) come from the system.
    const body = `#!/bin/sh\nPATH=/usr/bin:/bin\nFAKE_LOG=${JSON.stringify(log)}\n${RECORD}${n === 'systemctl' ? SYSTEMCTL : ''}${fail.includes(n) ? 'echo "fake failure" >&2\nexit 1\n' : 'exit 0\n'}`;
    writeFileSync(join(dir, n), body);
    chmodSync(join(dir, n), 0o755);
  }
  return {
    dir,
    log,
    calls: () =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')),
  };
}

export type TreeSnapshot = Record<string, string>;

/** Every entry under `dir`: type, mode and content (files), target (symlinks). */
export function snapshotTree(dir: string): TreeSnapshot {
  const out: TreeSnapshot = {};
  const walk = (rel: string): void => {
    const p = join(dir, rel);
    const st = lstatSync(p);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(p)}`;
    else if (st.isDirectory()) {
      out[rel] = `dir ${mode}`;
      for (const n of readdirSync(p).sort()) walk(join(rel, n));
    } else out[rel] = `file ${mode} ${readFileSync(p).toString('base64')}`;
  };
  walk('/');
  return out;
}
