/**
 * The HTML report's stylesheet and script, inlined in every report (one self-contained file: no
 * network, no fonts, no CDN). The page is complete without the script; it only adds sorting to
 * tables (click a column header) and a text/level filter to the kernel log. Both are covered by
 * the page's Content-Security-Policy by hash (see html.ts), so no other script can run.
 */

export const REPORT_CSS = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1c2127;--dim:#5c6773;--line:#dde2e7;--card:#f5f7f9;--accent:#0a58a8;
--err:#b42318;--crit:#8f1d15;--warn:#8a5300;--notice:#1a6b3c;--debug:#87919b;--errbg:#fdf0ef;
--kept:#2f6fce;--zero:#9aa4ae;--cache:#e09b3d;--cachep:#c9742b;--user:#b35aa8;--free:#4a9e6b;--hw:#d1495b;--off:#6b62c4;--absent:#c8ced4;
--s-R:#2f6fce;--s-S:#4a9e6b;--s-D:#d1495b;--s-I:#9aa4ae;--s-Z:#b35aa8;--s-T:#e09b3d;--s-o:#6b62c4;
--rate:#8fa7c4;--ratew:#e0a43d;--ratee:#d1495b;
--mono:ui-monospace,"SFMono-Regular","DejaVu Sans Mono",Menlo,Consolas,"Liberation Mono",monospace}
@media (prefers-color-scheme:dark){:root{--bg:#121519;--fg:#dde3e9;--dim:#939fab;--line:#2b323a;--card:#1a1f25;--accent:#73b3ff;
--err:#ff7a6e;--crit:#ff9b8f;--warn:#e6b34a;--notice:#5fd08a;--debug:#75808b;--errbg:#2a1a1a;--zero:#6b7580;--absent:#3a424b;--rate:#50698a}}
*{box-sizing:border-box}
html{background:var(--bg);color:var(--fg)}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:12px 20px 40px}
header.top{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px;border-bottom:1px solid var(--line);padding-bottom:6px}
header.top h1{font-size:18px;margin:0}
header.top .dim{font-size:12px}
nav{font-size:13px;margin:6px 0 2px}nav a{margin-right:12px}
a{color:var(--accent)}
h2{font-size:15px;margin:22px 0 8px;padding-bottom:3px;border-bottom:1px solid var(--line)}
h3{font-size:13px;margin:12px 0 4px;color:var(--dim);font-weight:600}
.dim{color:var(--dim)}
code,pre,.mono{font-family:var(--mono);font-size:12.5px}
pre{margin:4px 0;padding:8px 10px;background:var(--card);border:1px solid var(--line);border-radius:4px;overflow-x:auto;white-space:pre}
.verdict{margin:12px 0;padding:10px 14px;border:1px solid var(--line);border-left:5px solid var(--err);border-radius:4px;background:var(--errbg)}
.verdict .sentence{font-size:16px;font-weight:600;margin:0 0 4px}
.verdict .panic{font-family:var(--mono);font-size:13px;margin:4px 0;color:var(--crit);overflow-wrap:anywhere}
.verdict .sig{font-family:var(--mono);font-size:12px;color:var(--dim);margin:0;overflow-wrap:anywhere}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:4px 24px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:1px 12px;margin:0}
dl.kv dt{color:var(--dim);font-size:12px;text-transform:uppercase;letter-spacing:.03em;padding-top:1px}
dl.kv dd{margin:0;overflow-wrap:anywhere}
ul.evidence{margin:4px 0 0;padding-left:18px;font-size:13px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:8px 24px}
.charts section{min-width:0}
svg.chart{display:block;max-width:100%;height:auto;font:12px system-ui,sans-serif}
svg.chart text{fill:var(--fg)}svg.chart text.v{fill:var(--dim)}
svg.chart .axis{stroke:var(--line)}
figure.stack{margin:0}
ul.legend{list-style:none;margin:6px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:1px 18px;font-size:12.5px}
table.legend{border-collapse:collapse;margin:6px 0 0;font-size:12.5px}table.legend td{padding:0 10px 0 0}table.legend td.n{text-align:right;font-variant-numeric:tabular-nums}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:baseline}
span.kept{background:var(--kept)}span.zero{background:var(--zero)}span.cache{background:var(--cache)}span.cachep{background:var(--cachep)}span.user{background:var(--user)}
span.free{background:var(--free)}span.hw{background:var(--hw)}span.off{background:var(--off)}span.absent{background:var(--absent)}
rect.kept{fill:var(--kept)}rect.zero{fill:var(--zero)}rect.cache{fill:var(--cache)}rect.cachep{fill:var(--cachep)}rect.user{fill:var(--user)}
rect.free{fill:var(--free)}rect.hw{fill:var(--hw)}rect.off{fill:var(--off)}rect.absent{fill:var(--absent)}
rect.s-R{fill:var(--s-R)}rect.s-S{fill:var(--s-S)}rect.s-D{fill:var(--s-D)}rect.s-I{fill:var(--s-I)}rect.s-Z{fill:var(--s-Z)}rect.s-T{fill:var(--s-T)}rect.s-o{fill:var(--s-o)}
span.rate-o{background:var(--rate)}span.rate-w{background:var(--ratew)}span.rate-e{background:var(--ratee)}
rect.rate-o{fill:var(--rate)}rect.rate-w{fill:var(--ratew)}rect.rate-e{fill:var(--ratee)}
.note{font-size:13px;margin:4px 0;padding:6px 10px;border-left:3px solid var(--warn);background:var(--card)}
.wrap{overflow-x:auto}
table.tbl{border-collapse:collapse;width:100%;font-size:12.5px}
table.tbl th,table.tbl td{padding:2px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top;white-space:nowrap}
table.tbl th{position:sticky;top:0;background:var(--bg);font-weight:600;color:var(--dim);font-size:12px}
table.tbl td.n,table.tbl th.n{text-align:right;font-variant-numeric:tabular-nums}
table.tbl td.m{font-family:var(--mono);font-size:12px}
table.tbl td.w{white-space:normal;overflow-wrap:anywhere}
table.tbl tr.crashed td{background:var(--errbg);font-weight:600}
table.tbl tr.active td:first-child{box-shadow:inset 3px 0 var(--accent)}
.kthread{color:var(--dim)}
button.sort{all:unset;cursor:pointer;display:inline-flex;gap:4px;align-items:center}
button.sort:focus-visible{outline:2px solid var(--accent);outline-offset:1px}
button.sort::after{content:"\\2195";font-size:10px;opacity:.35}
th[aria-sort=ascending] button.sort::after{content:"\\25B2";font-size:9px;opacity:1}
th[aria-sort=descending] button.sort::after{content:"\\25BC";font-size:9px;opacity:1}
details>summary{cursor:pointer;font-size:13px}
.filter{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:4px 0 6px;font-size:13px}
.filter input,.filter select{font:inherit;color:inherit;background:var(--card);border:1px solid var(--line);border-radius:4px;padding:3px 6px}
.filter input{min-width:240px}
ol.log{list-style:none;margin:0;padding:6px 10px;background:var(--card);border:1px solid var(--line);border-radius:4px;font:12px/1.4 var(--mono);
max-height:70vh;overflow:auto}
ol.log li{white-space:pre-wrap;overflow-wrap:anywhere;padding-left:15ch;text-indent:-15ch}
ol.log .t{color:var(--dim)}
ol.log .l0,ol.log .l1,ol.log .l2{color:var(--crit);font-weight:700}
ol.log .l3{color:var(--err)}ol.log .l4{color:var(--warn)}ol.log .l5{color:var(--notice)}ol.log .l7{color:var(--debug)}
ol.log li.hit{background:var(--errbg)}
.warnings li{font-size:13px;color:var(--warn)}
footer{margin-top:28px;font-size:12px;color:var(--dim)}
@media print{
:root{color-scheme:light;--bg:#fff;--fg:#000;--dim:#555;--line:#bbb;--card:#fff;--accent:#0a58a8;--err:#b42318;--crit:#8f1d15;--warn:#8a5300;--notice:#1a6b3c;--debug:#777;--errbg:#fff;--zero:#9aa4ae;--absent:#c8ced4;--rate:#8fa7c4}
html{print-color-adjust:exact;-webkit-print-color-adjust:exact}
main{max-width:none;padding:0}nav,.filter,.noprint{display:none}
ol.log{max-height:none;overflow:visible;border:0;padding:0}
pre{white-space:pre-wrap}
h2{break-after:avoid}tr,li{break-inside:avoid}
table.tbl th{position:static}
}
`;

/** Sorting for table.sortable (th[data-type=num] sorts numerically on td[data-v] or the text) and the log filter. */
export const REPORT_JS = `
(function () {
  'use strict';
  var each = function (list, f) { Array.prototype.forEach.call(list, f); };
  function key(td, num) {
    var v = td ? td.getAttribute('data-v') : '';
    if (v === null) v = td.textContent;
    if (num) { var n = parseFloat(v); return isNaN(n) ? -Infinity : n; }
    return v.toLowerCase();
  }
  each(document.querySelectorAll('table.sortable'), function (table) {
    var ths = table.tHead.rows[0].cells;
    each(ths, function (th, col) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'sort';
      b.title = 'sort by this column';
      while (th.firstChild) b.appendChild(th.firstChild);
      th.appendChild(b);
      b.addEventListener('click', function () {
        var dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
        each(ths, function (o) { o.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', dir);
        var num = th.getAttribute('data-type') === 'num';
        var body = table.tBodies[0];
        var m = dir === 'ascending' ? 1 : -1;
        var rows = Array.prototype.map.call(body.rows, function (r, i) { return [key(r.cells[col], num), i, r]; });
        rows.sort(function (a, b) { return a[0] < b[0] ? -m : a[0] > b[0] ? m : a[1] - b[1]; });
        var frag = document.createDocumentFragment();
        rows.forEach(function (e) { frag.appendChild(e[2]); });
        body.appendChild(frag);
      });
    });
  });
  var log = document.getElementById('log');
  var bar = document.getElementById('log-filter');
  if (log && bar) {
    var lines = log.children;
    var texts = [];
    var levels = [];
    each(lines, function (li) {
      texts.push(li.textContent.toLowerCase());
      var m = /\\bl(\\d)\\b/.exec(li.className);
      levels.push(m ? +m[1] : 7);
    });
    var q = document.createElement('input');
    q.type = 'search'; q.id = 'log-q'; q.placeholder = 'filter lines (text)'; q.setAttribute('aria-label', 'filter log lines by text');
    var sel = document.createElement('select');
    sel.id = 'log-level'; sel.setAttribute('aria-label', 'log levels shown');
    [['7', 'all levels'], ['6', 'info and more severe'], ['5', 'notice and more severe'], ['4', 'warning and more severe'], ['3', 'error and more severe']].forEach(function (o) {
      var opt = document.createElement('option'); opt.value = o[0]; opt.textContent = o[1]; sel.appendChild(opt);
    });
    var count = document.createElement('span');
    count.id = 'log-count'; count.className = 'dim'; count.setAttribute('aria-live', 'polite');
    var apply = function () {
      var s = q.value.toLowerCase(), lv = +sel.value, n = 0;
      for (var i = 0; i < lines.length; i++) {
        var show = levels[i] <= lv && (!s || texts[i].indexOf(s) >= 0);
        if (lines[i].hidden === show) lines[i].hidden = !show;
        if (show) n++;
      }
      count.textContent = n === lines.length ? lines.length + ' lines' : n + ' of ' + lines.length + ' lines';
    };
    q.addEventListener('input', apply);
    sel.addEventListener('change', apply);
    bar.appendChild(q); bar.appendChild(sel); bar.appendChild(count);
    bar.hidden = false;
    apply();
    // The end of the log is where the crash is.
    log.scrollTop = log.scrollHeight;
  }
})();
`;
