/**
 * The crash verdict from log text alone: for catalog entries that have no vmcore (pstore
 * records, or a save that kept only dmesg.txt).
 *
 * The same parser and triage as for a dump are used: the text is turned back into LogLines
 * and given to readPanicFacts() (src/kernel/panic.ts: "Kernel panic - not syncing:", "BUG:",
 * "Oops:", "RIP: 0010:func+0x../0x..", "Call Trace:" in the kernel's own wording) and triage()
 * (src/analyze/triage.ts) without a Kernel and without an unwinder. triage() then takes its
 * frames from the call trace the kernel printed (reliable lines only), which is what the
 * unwinder of the dump also finds for the crashing task in the common cases, so a pstore
 * record and the vmcore of the same crash get the same signature (the real-dump tests check
 * this on the shared dumps and on the lab dumps of every crashme mode, from the dump's log
 * and from the serial console's: test/catalog/log-signature-real.test.ts). Where they would
 * differ (a printed trace that skips or adds frames the ORC unwinder sees differently), the
 * signatures differ too, and the vmcore's verdict is the better one.
 *
 * Accepted line formats: makedumpfile --dump-dmesg / `kdumpkit dmesg` ("[    7.532627] text"),
 * with a caller id ("[    7.532627] [  T155] text"), and kmsg_dump records as ramoops and
 * efi-pstore store them (fs/pstore/platform.c: a "Panic#1 Part1" header line, then
 * "<6>[    7.532627] text" lines). Lines without a timestamp continue the previous record.
 */
import { readPanicFacts, type LogLine, type PanicFacts } from '../kernel/panic.js';
import { triage, type Triage } from '../analyze/triage.js';

// "<6>" syslog prefix (optional), "[ seconds.micros]", optional "[  T155]" / "[    C1]" caller.
const LINE_RE = /^(?:<(\d+)>)?\[\s*(\d+)\.(\d+)\](?:\[\s*([TC]\d+)\])?\s?(.*)$/;
const CALLER_RE = /^\[\s*([TC]\d+)\]\s?(.*)$/;
// fs/pstore/platform.c pstore_dump(): "%s#%d Part%u\n" with the kmsg_dump reason.
const PSTORE_HEADER_RE = /^(?:Panic|Oops|Emergency|Shutdown|Unknown)#\d+ Part\d+$/;

/** Log text (dmesg.txt, a pstore record) as the LogLines the panic parser reads. */
export function parseLogText(text: string): LogLine[] {
  const out: LogLine[] = [];
  let seq = 0;
  let time = 0;
  let level = 6;
  let caller: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (PSTORE_HEADER_RE.test(line)) continue;
    const m = LINE_RE.exec(line);
    if (m) {
      seq++;
      level = m[1] === undefined ? 6 : Number(m[1]) & 7;
      time = Number(`${m[2]}.${m[3]}`);
      let rest = m[5]!;
      caller = m[4];
      const c = caller === undefined ? CALLER_RE.exec(rest) : null;
      if (c) {
        caller = c[1];
        rest = c[2]!;
      }
      out.push({ seq, time, level, caller, text: rest });
    } else if (line !== '' || out.length > 0) {
      // A continuation line of a multi-line record (or text before the first timestamp).
      out.push({ seq, time, level, caller, text: line });
    }
  }
  while (out.length > 0 && out[out.length - 1]!.text === '') out.pop();
  return out;
}

export interface LogVerdict {
  readonly triage: Triage;
  readonly panic: PanicFacts;
  /** The crashed kernel's release, from its "CPU: … Comm: … Tainted: …" or "Linux version" line. */
  readonly release: string | undefined;
  /** The kernel command line ("Kernel command line:" / "Command line:" at boot), when the log holds it. */
  readonly cmdline: string | undefined;
  readonly lines: number;
}

// lib/dump_stack.c dump_stack_print_info(): "CPU: %d [UID: %u ]PID: %d Comm: %.20s [Kdump: loaded ]%s %s %.*s"
// with print_tainted() ("Not tainted" or "Tainted: G   OE  ") before init_utsname()->release.
const RELEASE_RE = /\bComm: .*?(?:Not tainted|Tainted: [A-Z ]+?)\s+(\d+\.\d+[^\s#]*)\s+#/;
const VERSION_RE = /^Linux version (\S+)/;
const CMDLINE_RE = /^(?:Kernel command line|Command line): (.*)$/;

/** Triage of a crash from its log text (see the file comment for when it matches a dump's). */
export function logVerdict(text: string): LogVerdict {
  const lines = parseLogText(text);
  const panic = readPanicFacts(lines);
  let release: string | undefined;
  let cmdline: string | undefined;
  for (const l of lines) {
    const v = VERSION_RE.exec(l.text);
    if (v) release = v[1];
    const c = CMDLINE_RE.exec(l.text);
    if (c && cmdline === undefined) cmdline = c[1]!.trim();
  }
  if (release === undefined) {
    for (const l of lines) {
      const r = RELEASE_RE.exec(l.text);
      if (r) release = r[1];
    }
  }
  return { triage: triage({ panic }), panic, release, cmdline, lines: lines.length };
}
