/**
 * HTML that cannot forget to escape. Everything a dump holds is hostile input (a task may name
 * itself `<script>`, a module may printk anything), so the HTML reporter builds its markup only
 * through the `html` tagged template: every interpolated value is escaped unless it is already
 * an `Html` fragment made by `html` itself. Trusted constant markup (the stylesheet and the
 * script) goes through `trusted`, which takes only string literals' values the reporter owns.
 *
 * Escaping & < > " ' covers text content and quoted attribute values (HTML Living Standard,
 * 13.1.2.3 "attribute value (double-quoted)" and 13.1.3 "text"): no value is ever placed in an
 * unquoted attribute, an event-handler attribute, a URL, a <script> or a <style>.
 */

/** Only this module holds it, so only `html`, `join` and `trusted` can make an Html. */
const MINT: unique symbol = Symbol('Html');

/** A piece of markup known to be safe: built by `html` or `join`, or declared with `trusted`. */
export class Html {
  constructor(
    mint: typeof MINT,
    readonly markup: string,
  ) {
    if (mint !== MINT) throw new TypeError('Html is made by html``, join() or trusted(), not constructed');
  }

  toString(): string {
    return this.markup;
  }
}

const of = (markup: string): Html => new Html(MINT, markup);

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text as HTML text or a double-quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** What may be interpolated: text (escaped), numbers, bigints (as 0x… hex), markup, lists of those. */
export type HtmlValue = Html | string | number | bigint | boolean | undefined | null | readonly HtmlValue[];

function part(v: HtmlValue): string {
  if (v instanceof Html) return v.markup;
  if (v === undefined || v === null || v === false) return '';
  if (Array.isArray(v)) return (v as readonly HtmlValue[]).map(part).join('');
  if (typeof v === 'bigint') return '0x' + v.toString(16);
  return escapeHtml(String(v));
}

/** Tagged template: `html\`<td>${comm}</td>\`` escapes comm; nested `html` fragments pass through. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let s = strings[0]!;
  for (let i = 0; i < values.length; i++) s += part(values[i]) + strings[i + 1]!;
  return of(s);
}

/** Fragments (or text, escaped) joined with a separator. */
export function join(items: readonly HtmlValue[], sep: HtmlValue = ''): Html {
  const s = part(sep);
  return of(items.map(part).join(s));
}

/**
 * Markup the reporter itself owns (its CSS and JS constants). Never pass anything derived from a
 * dump: there is no escaping here by design.
 */
export function trusted(constant: string): Html {
  return of(constant);
}
