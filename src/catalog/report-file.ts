/**
 * report.json: the analysis of a saved dump, written by `kdumpkit save` beside the vmcore so
 * that `list` and `show` need not open the dump again.
 *
 * The file is exactly what `kdumpkit analyze --json` prints (so `jq .triage.signature` works on
 * both), plus one `header` key saying what was analyzed and by whom. When the analysis failed,
 * `header.error` says why and the analysis keys are absent: the dump matters more than its
 * report, so save never fails because of it.
 *
 * Reading it back (readReportFile) turns the JSON encodings of src/report/json.ts back into the
 * values the reporters expect: "0x…" strings into bigint, the crash time into a Date, so the
 * text reporter renders a stored report exactly as a fresh analysis (tested).
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AnalysisContext, analyzeReport, type AnalyzeReport } from '../analyze/analyze.js';
import { renderJson } from '../report/json.js';
import { writeTextFile } from '../collect/target.js';
import { FormatError, KdumpkitError } from '../util/errors.js';
import { KDUMPKIT_VERSION } from '../util/version.js';

export const REPORT_FILE = 'report.json';
/** Bumped when a key changes meaning; readers accept what they know and ignore the rest. */
export const REPORT_SCHEMA = 1;

export interface ReportHeader {
  readonly schema: number;
  /** "kdumpkit 0.1.0". */
  readonly tool: string;
  /** When the report was made (ISO time). */
  readonly at: string;
  /** The dump file's name in its directory ("vmcore"). */
  readonly file: string;
  readonly format: string | undefined;
  readonly level: number | undefined;
  readonly codec: string | undefined;
  readonly sizes: { readonly fileBytes: number; readonly memoryBytes?: number; readonly pages?: number };
  /** How long the analysis took. */
  readonly seconds: number;
  /** Why there is no analysis. */
  readonly error?: string;
}

/** report.json as read back: the header and, unless the analysis failed, the analysis. */
export interface ReportFile {
  readonly header: ReportHeader;
  readonly analysis: AnalyzeReport | undefined;
}

export interface SaveFacts {
  readonly format?: string;
  readonly level?: number;
  readonly codec?: string;
  readonly fileBytes: number;
  readonly memoryBytes?: number;
  readonly pages?: number;
}

/** The report.json text for a dump: the analysis (as analyze --json) under a header. */
export async function buildReportText(vmcore: string, facts: SaveFacts, now: () => Date = () => new Date()): Promise<{ text: string; error: string | undefined; signature: string | undefined }> {
  const t0 = performance.now();
  let analysis: AnalyzeReport | undefined;
  let error: string | undefined;
  try {
    const ctx = await AnalysisContext.open(vmcore);
    try {
      // 40 log lines: the default of `analyze --json`; the whole log is in dmesg.txt.
      analysis = analyzeReport(ctx, { logLines: 40 });
    } finally {
      ctx.close();
    }
  } catch (e) {
    // Any failure, also a bug in the analysis: the dump is already safe, the report is a bonus.
    error = e instanceof KdumpkitError ? e.message : `internal error: ${(e as Error).stack ?? String(e)}`;
  }
  const header: ReportHeader = {
    schema: REPORT_SCHEMA,
    tool: `kdumpkit ${KDUMPKIT_VERSION}`,
    at: now().toISOString(),
    file: basename(vmcore),
    format: facts.format,
    level: facts.level,
    codec: facts.codec,
    sizes: { fileBytes: facts.fileBytes, ...(facts.memoryBytes !== undefined ? { memoryBytes: facts.memoryBytes } : {}), ...(facts.pages !== undefined ? { pages: facts.pages } : {}) },
    seconds: Math.round(performance.now() - t0) / 1000,
    ...(error !== undefined ? { error } : {}),
  };
  return { text: renderJson({ header, ...(analysis ?? {}) }), error, signature: analysis?.triage.signature };
}

/**
 * Writes DIR/report.json for the dump DIR/vmcore (as NAME.incomplete, then renamed: see
 * src/collect/target.ts). Returns the path and the analysis error, if any.
 */
export async function writeReportFile(vmcore: string, facts: SaveFacts): Promise<{ path: string; error: string | undefined; signature: string | undefined }> {
  const path = join(dirname(vmcore), REPORT_FILE);
  const r = await buildReportText(vmcore, facts);
  writeTextFile(path, r.text);
  return { path, error: r.error, signature: r.signature };
}

const HEX = /^0x[0-9a-f]+$/;
/**
 * Keys whose values are always strings in the analysis, even when they look like "0x…" (an
 * unsymbolized frame prints as its address, a task may be called "0x1"): never revived.
 */
const STRING_KEYS = new Set([
  'text', 'where', 'comm', 'name', 'function', 'location', 'detail', 'headline', 'oopsLine', 'message', 'sentence', 'signature',
  'panicString', 'panicMessageInMemory', 'panic', 'state', 'taints', 'dumpFile', 'nodename', 'release', 'version', 'machine', 'domainname',
  'sysname', 'kind', 'description', 'format', 'cpuSource', 'context', 'workqueue', 'tainted', 'unavailable', 'caller', 'reason',
]);

/** JSON.parse reviver undoing renderJson: "0x…" → bigint, crashTime → Date. */
function revive(key: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (HEX.test(value) && !STRING_KEYS.has(key)) return BigInt(value);
  if (key === 'crashTime') return new Date(value);
  return value;
}

/** Reads and checks a report.json; a file that is not one is a FormatError naming it. */
export function readReportFile(path: string): ReportFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FormatError(path, undefined, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let j: unknown;
  try {
    j = JSON.parse(text, revive);
  } catch (e) {
    const m = /position (\d+)/.exec((e as Error).message);
    throw new FormatError(path, m ? Number(m[1]) : undefined, `not valid JSON (${(e as Error).message})`);
  }
  const o = j as Record<string, unknown> | null;
  const h = o?.header as Partial<ReportHeader> | undefined;
  if (typeof o !== 'object' || o === null || typeof h !== 'object' || h === null || typeof h.schema !== 'number') {
    throw new FormatError(path, 0, 'not a kdumpkit report (no header.schema)');
  }
  if (h.schema > REPORT_SCHEMA) throw new FormatError(path, undefined, `report schema ${h.schema} is newer than this kdumpkit understands (${REPORT_SCHEMA})`, 'Upgrade kdumpkit, or run `kdumpkit analyze` on the vmcore.');
  const { header, ...rest } = o;
  const analysis = 'triage' in rest && 'sys' in rest ? (rest as unknown as AnalyzeReport) : undefined;
  return { header: header as ReportHeader, analysis };
}
