/**
 * A small line-based unified diff (the `diff -u` format: `---`/`+++` headers, `@@ -a,b +c,d @@`
 * hunks with 3 lines of context), for showing what `kdumpkit setup` would change before it
 * writes. The files it diffs are configuration files of a few hundred lines at most, so the
 * plain O(n·m) longest-common-subsequence table is fast enough and keeps the code obvious.
 *
 * Hunk header conventions follow GNU diffutils: a range of length 1 is written `l` alone, an
 * empty range is `l-1,0` (the line before which lines are inserted); a missing final newline is
 * marked with "\ No newline at end of file".
 */

type Op = { readonly kind: ' ' | '-' | '+'; readonly text: string; readonly noEol: boolean };

function splitLines(text: string): { lines: string[]; noEol: boolean } {
  if (text === '') return { lines: [], noEol: false };
  const noEol = !text.endsWith('\n');
  const lines = (noEol ? text : text.slice(0, -1)).split('\n');
  return { lines, noEol };
}

/** The edit script from `a` to `b`, as keep/delete/insert operations in order. */
function editScript(a: readonly string[], b: readonly string[]): Array<{ kind: ' ' | '-' | '+'; ai: number; bi: number }> {
  const n = a.length;
  const m = b.length;
  // Past ~4M cells (two 2000-line files) the table costs more than the diff is worth: show the
  // change as "all old lines out, all new lines in", still a correct diff.
  if ((n + 1) * (m + 1) > 4_000_000) {
    return [...a.map((_, ai) => ({ kind: '-' as const, ai, bi: 0 })), ...b.map((_, bi) => ({ kind: '+' as const, ai: n, bi }))];
  }
  // lcs[i][j]: length of the LCS of a[i..] and b[j..], in one flat array.
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = a[i] === b[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
    }
  }
  const out: Array<{ kind: ' ' | '-' | '+'; ai: number; bi: number }> = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) out.push({ kind: ' ', ai: i++, bi: j++ });
    // Deletions before insertions, as diff -u prints them.
    else if (j >= m || (i < n && lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!)) out.push({ kind: '-', ai: i++, bi: j });
    else out.push({ kind: '+', ai: i, bi: j++ });
  }
  return out;
}

function range(start: number, len: number): string {
  // start is 0-based index of the first line; diff prints 1-based, or the line before for empty.
  if (len === 0) return `${start},0`;
  if (len === 1) return `${start + 1}`;
  return `${start + 1},${len}`;
}

/**
 * Unified diff of `oldText` → `newText`; '' when they are equal. `undefined` stands for a file
 * that does not exist (shown against /dev/null, as `diff -u --new-file` does).
 */
export function unifiedDiff(path: string, oldText: string | undefined, newText: string | undefined, context = 3): string {
  if (oldText === newText) return '';
  const A = splitLines(oldText ?? '');
  const B = splitLines(newText ?? '');
  // A last line without a newline differs from the same text with one (diff -u shows it as
  // changed), so it is compared with a marker no line can contain.
  const key = (f: { lines: string[]; noEol: boolean }): string[] => f.lines.map((l, i) => (f.noEol && i === f.lines.length - 1 ? l + '\n' : l));
  const script = editScript(key(A), key(B));
  const ops: Op[] = script.map((s) =>
    s.kind === '+'
      ? { kind: '+', text: B.lines[s.bi]!, noEol: B.noEol && s.bi === B.lines.length - 1 }
      : { kind: s.kind, text: A.lines[s.ai]!, noEol: A.noEol && s.ai === A.lines.length - 1 },
  );
  const changed = ops.map((o, k) => (o.kind !== ' ' ? k : -1)).filter((k) => k >= 0);
  if (changed.length === 0) return '';
  const out = [`--- ${oldText === undefined ? '/dev/null' : `a${path}`}`, `+++ ${newText === undefined ? '/dev/null' : `b${path}`}`];
  let k = 0;
  while (k < changed.length) {
    const from = Math.max(0, changed[k]! - context);
    let to = Math.min(ops.length - 1, changed[k]! + context);
    while (k + 1 < changed.length && changed[k + 1]! - context <= to + 1) {
      k++;
      to = Math.min(ops.length - 1, changed[k]! + context);
    }
    k++;
    // Line numbers: count old/new lines before `from`.
    let aStart = 0;
    let bStart = 0;
    for (let x = 0; x < from; x++) {
      if (ops[x]!.kind !== '+') aStart++;
      if (ops[x]!.kind !== '-') bStart++;
    }
    let aLen = 0;
    let bLen = 0;
    const body: string[] = [];
    for (let x = from; x <= to; x++) {
      const o = ops[x]!;
      if (o.kind !== '+') aLen++;
      if (o.kind !== '-') bLen++;
      body.push(o.kind + o.text);
      if (o.noEol) body.push('\\ No newline at end of file');
    }
    out.push(`@@ -${range(aStart, aLen)} +${range(bStart, bLen)} @@`, ...body);
  }
  return out.join('\n') + '\n';
}
