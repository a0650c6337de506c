/**
 * A writer of "newc" cpio archives, the format the kernel unpacks as an initramfs
 * (init/initramfs.c; Documentation/driver-api/early-userspace/buffer-format.rst).
 *
 * Each entry is a 110-byte ASCII header — the magic "070701" and thirteen 8-digit hex fields
 * (ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
 * namesize including the NUL, check = 0) — then the NUL-terminated name padded to a multiple
 * of 4 bytes, then the data padded to a multiple of 4. A symlink's data is its target. The
 * archive ends with an entry named "TRAILER!!!".
 *
 * The kernel creates entries in archive order and does not create missing parent directories,
 * so the writer adds every parent directory (mode 0755) before the first entry inside it.
 * Everything is owned by root; mtimes are 0 so the same inputs give the same bytes.
 */

export type CpioEntry =
  | { readonly kind: 'file'; readonly path: string; readonly data: Uint8Array; readonly mode?: number }
  | { readonly kind: 'dir'; readonly path: string; readonly mode?: number }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  | { readonly kind: 'chardev'; readonly path: string; readonly major: number; readonly minor: number; readonly mode?: number };

// File type bits of st_mode (include/uapi/linux/stat.h).
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const TRAILER = 'TRAILER!!!';

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** Archive names are relative ("bin/busybox"), as `find . | cpio -o` writes them without "./". */
function normalize(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) throw new Error(`bad cpio path '${path}'`);
  return parts.join('/');
}

export class CpioWriter {
  private readonly chunks: Buffer[] = [];
  private readonly seen = new Set<string>();
  private ino = 1;
  private finished = false;

  /** Adds an entry (and any parent directory not added yet). A path given twice is an error. */
  add(entry: CpioEntry): this {
    if (this.finished) throw new Error('cpio archive already finished');
    const name = normalize(entry.path);
    if (this.seen.has(name)) throw new Error(`cpio path '${name}' added twice`);
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!this.seen.has(dir)) this.writeEntry(dir, S_IFDIR | 0o755, new Uint8Array(0), 2, 0, 0);
    }
    switch (entry.kind) {
      case 'file':
        this.writeEntry(name, S_IFREG | (entry.mode ?? 0o644), entry.data, 1, 0, 0);
        break;
      case 'dir':
        this.writeEntry(name, S_IFDIR | (entry.mode ?? 0o755), new Uint8Array(0), 2, 0, 0);
        break;
      case 'symlink':
        this.writeEntry(name, S_IFLNK | 0o777, Buffer.from(entry.target, 'utf8'), 1, 0, 0);
        break;
      case 'chardev':
        this.writeEntry(name, S_IFCHR | (entry.mode ?? 0o600), new Uint8Array(0), 1, entry.major, entry.minor);
        break;
    }
    return this;
  }

  has(path: string): boolean {
    return this.seen.has(normalize(path));
  }

  /** The archive bytes, trailer included. The writer accepts no entries afterwards. */
  finish(): Buffer {
    if (!this.finished) {
      this.writeEntry(TRAILER, 0, new Uint8Array(0), 1, 0, 0, 0);
      this.finished = true;
    }
    return Buffer.concat(this.chunks);
  }

  private writeEntry(name: string, mode: number, data: Uint8Array, nlink: number, rdevMajor: number, rdevMinor: number, ino = this.ino++): void {
    if (name !== TRAILER) this.seen.add(name);
    const nameBytes = Buffer.from(name + '\0', 'utf8');
    const header =
      '070701' +
      [ino, mode, 0, 0, nlink, 0, data.length, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0].map(hex8).join('');
    this.chunks.push(Buffer.from(header, 'ascii'), nameBytes, Buffer.alloc(pad4(110 + nameBytes.length)));
    if (data.length > 0) this.chunks.push(Buffer.from(data.buffer, data.byteOffset, data.length), Buffer.alloc(pad4(data.length)));
  }
}

/** Convenience: one archive of the given entries. */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const w = new CpioWriter();
  for (const e of entries) w.add(e);
  return w.finish();
}
