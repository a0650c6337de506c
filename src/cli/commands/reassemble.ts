import { closeSync, fsyncSync, openSync, readSync } from 'node:fs';
import { isatty } from 'node:tty';
import { FileSink, reassembleFlattened } from '../../formats/kdump/flattened-writer.js';
import { DUMP_DH_COMPRESSED_INCOMPLETE, KDUMP_SIGNATURE } from '../../formats/kdump/header.js';
import { DUMP_ELF_INCOMPLETE } from '../../formats/elf/writer.js';
import { openDump } from '../../formats/open.js';
import { formatBytes } from '../../collect/summary.js';
import { commitFile, createIncomplete, TargetError } from '../../collect/target.js';
import { renderJson } from '../../report/json.js';
import { FormatError, KdumpkitError, UsageError } from '../../util/errors.js';
import { COMMON_OPTIONS, type CommandSpec } from '../command.js';

const options = { ...COMMON_OPTIONS, quiet: { type: 'boolean', short: 'q' } } as const;

const reassemble: CommandSpec<typeof options> = {
  name: 'reassemble',
  summary: 'rebuild a dump file from a flattened stream (like makedumpfile -R)',
  usage: ['reassemble [STREAM|-] OUT [--json] [--quiet]'],
  help: `
Turns a flattened stream (written by 'kdumpkit save --format flat', 'makedumpfile -F' or QEMU)
back into the dump file it describes, as 'makedumpfile -R OUT < STREAM' does: every record's
bytes are written at their offset, later records winning. The stream is read once, strictly in
order, from the file STREAM or from standard input ('-' or no STREAM), so it can come straight
from ssh or a pipe; memory use stays small whatever the size.

kdumpkit reads flattened streams directly (info, dmesg, ...), so reassembling is only needed
for tools that do not: crash, drgn, or a copy that should be random-access fast.

OUT is written as OUT.incomplete and renamed when the end marker was seen; an existing OUT is
never overwritten. A stream that stops early (a broken connection) leaves OUT.incomplete with
what arrived, flagged incomplete the way makedumpfile flags it (kdump header status 0x8, ELF
e_flags bit 0x1), and exits 1.

Examples:
  ssh crashed-host 'kdumpkit save --format flat /proc/vmcore -' | kdumpkit reassemble - vmcore
  kdumpkit reassemble vmcore.flat vmcore && crash vmlinux vmcore`,
  options,
  optionHelp: { json: 'print what was rebuilt as JSON', help: 'show this help', quiet: 'print nothing but errors' },
  minPositionals: 1,
  maxPositionals: 2,
  async run(args, io) {
    const [input, out] = args.positionals.length === 1 ? ['-', args.positionals[0]!] : [args.positionals[0]!, args.positionals[1]!];
    if (out === '-') throw new UsageError('reassemble: OUT must be a file (the dump needs random access)');
    let inFd = 0;
    const inName = input === '-' ? 'standard input' : input;
    if (input !== '-') {
      try {
        inFd = openSync(input, 'r');
      } catch (e) {
        throw new TargetError(input, e as NodeJS.ErrnoException, 'open');
      }
    } else if (isatty(0)) {
      throw new UsageError('reassemble: no stream given and standard input is a terminal', "Usage: kdumpkit reassemble STREAM OUT, or pipe the stream in: '... | kdumpkit reassemble - OUT'.");
    }
    const t0 = performance.now();
    const file = createIncomplete(out);
    const sink = new FileSink(file.path, file.fd, false);
    let result;
    try {
      result = reassembleFlattened({ fd: inFd, name: inName }, sink);
    } catch (e) {
      if (e instanceof FormatError && sink.bytesWritten > 0) {
        const flagged = flagIncomplete(file.fd);
        try {
          fsyncSync(file.fd);
        } catch {
          // keep the original error
        }
        closeSync(file.fd);
        throw new KdumpkitError(e.code, `${e.message}; the ${formatBytes(sink.bytesWritten)} received are in ${file.path}${flagged ? ', flagged incomplete' : ''}`, e.hint);
      }
      closeSync(file.fd);
      throw e;
    } finally {
      if (inFd !== 0) closeSync(inFd);
    }
    commitFile(file.fd, file.path, out);
    const secs = (performance.now() - t0) / 1000;
    let what = 'unknown format';
    try {
      const d = await openDump(out);
      what = d.format === 'kdump' ? `kdump-compressed, ${d.kdump.codec ?? 'uncompressed'}, dump level ${d.kdump.sub.dumpLevel}` : 'ELF core';
      d.close();
    } catch (e) {
      if (!(e instanceof KdumpkitError)) throw e;
      if (!args.values.quiet) io.err(`warning: the rebuilt file does not open as a dump: ${e.message}\n`);
    }
    if (args.values.json) io.out(renderJson({ file: out, format: what, records: result.records, streamBytes: result.streamBytes, size: result.size, seconds: secs }));
    else if (!args.values.quiet) io.out(`${out}: ${what}, ${formatBytes(result.size)} from ${result.records} records (${formatBytes(result.streamBytes)} of stream) in ${secs.toFixed(1)} s\n`);
    return 0;
  },
};

/** Sets makedumpfile's incomplete flag in what was rebuilt, if it is a kdump file or an ELF core. */
function flagIncomplete(fd: number): boolean {
  const head = Buffer.alloc(464);
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } catch {
    return false;
  }
  try {
    if (n >= 428 && head.subarray(0, 8).toString('latin1') === KDUMP_SIGNATURE) {
      const st = Buffer.alloc(4);
      st.writeUInt32LE((head.readUInt32LE(424) | DUMP_DH_COMPRESSED_INCOMPLETE) >>> 0);
      return writeAt(fd, st, 424);
    }
    if (n >= 52 && head[0] === 0x7f && head.subarray(1, 4).toString('latin1') === 'ELF') {
      const fl = Buffer.alloc(4);
      fl.writeUInt32LE((head.readUInt32LE(48) | DUMP_ELF_INCOMPLETE) >>> 0);
      return writeAt(fd, fl, 48);
    }
  } catch {
    return false;
  }
  return false;
}

function writeAt(fd: number, data: Buffer, pos: number): boolean {
  new FileSink('', fd, false).write(BigInt(pos), data);
  return true;
}

export default reassemble;
