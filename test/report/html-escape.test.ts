import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeHtml, html, join, trusted, Html } from '../../src/report/html-escape.js';

test('escapeHtml: the five characters that matter in text and quoted attributes', () => {
  assert.equal(escapeHtml(`<a href="x" title='y'>&amp;</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
  assert.equal(escapeHtml('plain text, ünïcödé ✓'), 'plain text, ünïcödé ✓');
  assert.equal(escapeHtml(''), '');
});

test('html: interpolations are escaped, nested fragments are not escaped twice', () => {
  const comm = '<script>alert(1)</script>';
  const inner = html`<b>${comm}</b>`;
  assert.equal(inner.markup, '<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>');
  const outer = html`<td title="${'"><img src=x onerror=alert(2)>'}">${inner}</td>`;
  assert.equal(outer.markup, '<td title="&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"><b>&lt;script&gt;alert(1)&lt;/script&gt;</b></td>');
  assert.ok(outer instanceof Html);
});

test('html: numbers, bigints (hex), booleans, undefined and lists', () => {
  assert.equal(html`${1}|${0xffn}|${true}|${false}|${undefined}|${null}`.markup, '1|0xff|true|||');
  assert.equal(html`<ul>${['<a>', html`<li>b</li>`, ['&']]}</ul>`.markup, '<ul>&lt;a&gt;<li>b</li>&amp;</ul>');
  assert.equal(join(['<x>', html`<i>y</i>`], html`<br>`).markup, '&lt;x&gt;<br><i>y</i>');
  assert.equal(join(['a', 'b'], ' & ').markup, 'a &amp; b');
});

test('html: a plain string that looks like markup is still text; only trusted() makes markup from a string', () => {
  const s = '<i>not markup</i>';
  assert.equal(html`${s}`.markup, '&lt;i&gt;not markup&lt;/i&gt;');
  assert.equal(html`${trusted(s)}`.markup, s);
  // An object that merely looks like a fragment is not one.
  const fake = { markup: '<script>x</script>', toString: () => '<script>x</script>' } as unknown as string;
  assert.equal(html`${fake}`.markup, '&lt;script&gt;x&lt;/script&gt;');
  // Nor can markup be minted outside the module.
  assert.throws(() => new Html(Symbol('Html') as never, '<script>x</script>'), TypeError);
});
