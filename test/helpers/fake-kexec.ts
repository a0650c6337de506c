/**
 * A recording fake `kexec` (and `sync`) for the load/unload/test-crash tests, put in a bin
 * directory that the tests use as the whole PATH, so the real kexec is never found.
 *
 * Each call appends its argv to a log (one argument per line, then `--end--`). By default it
 * simulates the kernel of the fake root: `-p` writes 1 to ROOT/sys/kernel/kexec_crash_loaded,
 * `-p -u` writes 0, and it exits 0. `fail(stderr, code)` makes the next calls print stderr (the
 * real kexec-tools message text) and exit with the code, changing nothing; `quiet()` makes them
 * exit 0 without loading (a kexec that "succeeds" but leaves nothing loaded).
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostRoot } from '../../src/host/root.js';
import { fakeMachine, type FakeMachine, type Layout, type MachineOptions } from './fake-roots.js';

export interface FakeKexec {
  /** Directory holding `kexec` and `sync`: use it as PATH. */
  readonly bin: string;
  /** The argv of every kexec call so far (without argv[0]). */
  calls(): string[][];
  /** How many times `sync` ran. */
  syncs(): number;
  /** Next calls print `stderr` and exit `code`; with `freesLoaded`, like the kernel failing a
   * reload after freeing the old image (kernel/kexec.c do_kexec_load), kexec_crash_loaded becomes 0. */
  fail(stderr: string, code?: number, freesLoaded?: boolean): void;
  quiet(): void;
  remove(): void;
}

function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A fake kexec that simulates the kernel under `rootDir`. */
export function fakeKexec(rootDir: string): FakeKexec {
  const bin = mkdtempSync(join(tmpdir(), 'kdk-bin-'));
  const log = join(bin, 'kexec.log');
  const failFile = join(bin, 'kexec.fail');
  const codeFile = join(bin, 'kexec.code');
  const quietFile = join(bin, 'kexec.quiet');
  const freesFile = join(bin, 'kexec.frees');
  const syncLog = join(bin, 'sync.log');
  const loaded = join(rootDir, 'sys/kernel/kexec_crash_loaded');
  // Only shell built-ins and absolute paths: PATH holds nothing but this directory.
  const script = `#!/bin/sh
for a in "$@"; do printf '%s\\n' "$a" >> ${sq(log)}; done
printf -- '--end--\\n' >> ${sq(log)}
if [ -f ${sq(failFile)} ]; then
  while IFS= read -r line || [ -n "$line" ]; do printf '%s\\n' "$line" >&2; done < ${sq(failFile)}
  read -r code < ${sq(codeFile)}
  [ -f ${sq(freesFile)} ] && echo 0 > ${sq(loaded)}
  exit "$code"
fi
[ -f ${sq(quietFile)} ] && exit 0
panic=0; unload=0
for a in "$@"; do
  case "$a" in
    -p|--load-panic) panic=1 ;;
    -u|--unload) unload=1 ;;
  esac
done
if [ "$panic" = 1 ]; then
  if [ "$unload" = 1 ]; then echo 0 > ${sq(loaded)}; else echo 1 > ${sq(loaded)}; fi
fi
exit 0
`;
  writeFileSync(join(bin, 'kexec'), script);
  chmodSync(join(bin, 'kexec'), 0o755);
  writeFileSync(join(bin, 'sync'), `#!/bin/sh\nprintf 'sync\\n' >> ${sq(syncLog)}\nexit 0\n`);
  chmodSync(join(bin, 'sync'), 0o755);
  return {
    bin,
    calls() {
      if (!existsSync(log)) return [];
      const out: string[][] = [];
      let cur: string[] = [];
      for (const line of readFileSync(log, 'utf8').split('\n')) {
        if (line === '--end--') {
          out.push(cur);
          cur = [];
        } else if (line !== '') cur.push(line);
      }
      return out;
    },
    syncs: () => (existsSync(syncLog) ? readFileSync(syncLog, 'utf8').split('\n').filter(Boolean).length : 0),
    fail(stderr, code = 1, freesLoaded = false) {
      writeFileSync(failFile, stderr);
      writeFileSync(codeFile, `${code}\n`);
      if (freesLoaded) writeFileSync(freesFile, '');
    },
    quiet() {
      writeFileSync(quietFile, '');
    },
    remove: () => rmSync(bin, { recursive: true, force: true }),
  };
}

/** 256M reserved, as `crashkernel=256M` gives. */
export const RESERVED: MachineOptions = { crashkernel: { param: '256M', reservedBytes: 256n << 20n } };

/** A fake machine with a fake kexec as the whole PATH of its HostRoot. */
export function kexecMachine(layout: Layout, o: MachineOptions = RESERVED): { m: FakeMachine; fk: FakeKexec; root: HostRoot; done: () => void } {
  const m = fakeMachine(layout, o);
  const fk = fakeKexec(m.dir);
  return { m, fk, root: new HostRoot(m.dir, { PATH: fk.bin }), done: () => (m.remove(), fk.remove()) };
}

// The texts are kexec-tools' own (kexec/kexec.c; errno texts are glibc's strerror).
export const KEXEC_FAILURES: readonly { stderr: string; id: string; cause: RegExp; lockdown?: 'integrity' }[] = [
  { stderr: 'Memory for crashkernel is not reserved\nPlease reserve memory by passing"crashkernel=Y@X" parameter to kernel\nThen try to loading kdump kernel\n', id: 'no-reservation', cause: /no memory is reserved/ },
  { stderr: 'Could not find a free area of memory of 0x1c1f000 bytes...\nlocate_hole failed\n', id: 'too-big', cause: /do not fit in the crashkernel reservation \(kexec needed a free area of 28\.1M, 0x1c1f000 bytes\)/ },
  { stderr: 'kexec_file_load failed: Cannot assign requested address\n', id: 'too-big', cause: /do not fit/ },
  { stderr: 'kexec_load failed: Cannot assign requested address\nentry       = 0x9f7a55c0 flags = 0x3e0001\nnr_segments = 7\n', id: 'too-big', cause: /do not fit/ },
  { stderr: 'kexec_load failed: Operation not permitted\nentry       = 0x9f7a55c0 flags = 0x3e0001\n', id: 'not-permitted', cause: /kexec_load is refused under kernel lockdown \(integrity\)/, lockdown: 'integrity' },
  { stderr: 'kexec_load failed: Operation not permitted\n', id: 'not-permitted', cause: /not running as root/ },
  { stderr: 'kexec_file_load failed: Operation not permitted\n', id: 'not-permitted', cause: /under lockdown \(integrity\) the kernel only loads images whose signature/, lockdown: 'integrity' },
  { stderr: 'kexec_load failed: Permission denied\n', id: 'ima-refused', cause: /IMA appraisal/ },
  { stderr: 'kexec_file_load failed: Key was rejected by service\n', id: 'signature', cause: /signature and rejected it/ },
  { stderr: 'kexec_file_load failed: Required key not available\n', id: 'signature', cause: /signature/ },
  { stderr: 'syscall kexec_file_load not available.\n', id: 'file-syscall-refused', cause: /CONFIG_KEXEC_FILE not set/ },
  { stderr: 'kexec_load failed: Invalid argument\n', id: 'image-format', cause: /not in a format/ },
  { stderr: 'Cannot determine the file type of /boot/vmlinux-6.1\n', id: 'image-format', cause: /not in a format/ },
  { stderr: "Cannot open `/boot/initrd.img': Permission denied\n", id: 'cannot-open', cause: /could not read a file/ },
  { stderr: 'Command line overflow\n', id: 'cmdline-too-long', cause: /COMMAND_LINE_SIZE/ },
  { stderr: 'Nothing has been loaded!\n', id: 'nothing-loaded', cause: /none is loaded/ },
  { stderr: 'something new\n', id: 'unknown', cause: /kexec failed: something new/ },
];

