/** The report's styles, inlined into the page. */
export const REPORT_STYLE = `
:root { --ok: #1e8e4e; --ok-bg: #e3f5ea; --retry: #c77700; --retry-bg: #fff1d6; --bad: #c62828; --bad-bg: #fde7e7;
  --skip: #80868b; --skip-bg: #f1f3f4; --run: #1a73e8; --run-bg: #e5f0fe; --ink: #202124; --muted: #5f6368; --line: #dadce0; }
* { box-sizing: border-box; }
body { margin: 0; padding: 18px 24px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: #fafafa; }
header { display: flex; align-items: center; gap: 14px; margin-bottom: 14px; }
.title { font-size: 20px; }
.brand { font-weight: 700; color: var(--run); letter-spacing: .5px; }
.muted { color: var(--muted); font-weight: normal; }
.small { font-size: 12px; }
h2 { font-size: 15px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .6px; color: #3c4043; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; margin-bottom: 14px; }
section.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; background: none; border: 0; padding: 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 8px 12px; }
.card .label { font-size: 11px; text-transform: uppercase; color: var(--muted); letter-spacing: .5px; }
.card .value { font-size: 15px; font-weight: 600; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 600; font-size: 12px; border: 1px solid; }
.badge.s-succeeded { color: var(--ok); background: var(--ok-bg); }
.badge.s-retried { color: var(--retry); background: var(--retry-bg); }
.badge.s-failed, .badge.s-interrupted { color: var(--bad); background: var(--bad-bg); }
.badge.s-skipped, .badge.s-pending { color: var(--skip); background: var(--skip-bg); }
.badge.s-running { color: var(--run); background: var(--run-bg); }
header .badge { font-size: 15px; padding: 3px 14px; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 12px; color: var(--muted); margin-bottom: 8px; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.sw { display: inline-block; width: 14px; height: 10px; border-radius: 2px; border: 1px solid transparent; }
.sw.s-succeeded { background: var(--ok-bg); border-color: var(--ok); } .sw.s-retried { background: var(--retry-bg); border-color: var(--retry); }
.sw.s-failed, .sw.s-interrupted { background: var(--bad-bg); border-color: var(--bad); } .sw.s-skipped, .sw.s-pending { background: var(--skip-bg); border: 1px dashed var(--skip); }
.sw.s-running { background: var(--run-bg); border-color: var(--run); }
.scroll { overflow-x: auto; }
svg text { font-family: inherit; }
.dag .box { fill: #fff; stroke-width: 2; }
.dag .name { font-weight: 700; font-size: 14px; fill: var(--ink); }
.dag .state { font-size: 12px; font-weight: 600; }
.dag .route { font-size: 12px; fill: #3c4043; }
.dag .meta { font-size: 12px; fill: var(--muted); }
.dag .edge { fill: none; stroke: #9aa0a6; stroke-width: 1.6; }
.dag .arrowhead { fill: #9aa0a6; }
.dag-node.s-succeeded .box { fill: var(--ok-bg); stroke: var(--ok); } .dag-node.s-succeeded .stripe, .dag-node.s-succeeded .state { fill: var(--ok); }
.dag-node.s-retried .box { fill: var(--retry-bg); stroke: var(--retry); } .dag-node.s-retried .stripe, .dag-node.s-retried .state { fill: var(--retry); }
.dag-node.s-failed .box, .dag-node.s-interrupted .box { fill: var(--bad-bg); stroke: var(--bad); }
.dag-node.s-failed .stripe, .dag-node.s-failed .state, .dag-node.s-interrupted .stripe, .dag-node.s-interrupted .state { fill: var(--bad); }
.dag-node.s-skipped .box, .dag-node.s-pending .box { fill: var(--skip-bg); stroke: var(--skip); stroke-dasharray: 5 4; }
.dag-node.s-skipped .stripe, .dag-node.s-skipped .state, .dag-node.s-pending .stripe, .dag-node.s-pending .state { fill: var(--skip); }
.dag-node.s-running .box { fill: var(--run-bg); stroke: var(--run); } .dag-node.s-running .stripe, .dag-node.s-running .state { fill: var(--run); }
.dag-node { cursor: default; }
.hl .box, rect.row-bg.hl-row { filter: drop-shadow(0 0 4px rgba(26,115,232,.55)); }
.timeline .grid { stroke: #eceff1; }
.timeline .tick { font-size: 11px; fill: var(--muted); }
.timeline .row-bg { fill: #fff; } .timeline .row-bg.odd { fill: #f8f9fa; } .timeline .row-bg.hl-row { fill: #e8f0fe; }
.timeline .row-label { font-size: 13px; font-weight: 600; }
.row-label.s-failed, .row-label.s-interrupted { fill: var(--bad); } .row-label.s-skipped { fill: var(--skip); } .row-label.s-retried { fill: var(--retry); }
.timeline .bar-note { font-size: 11px; fill: var(--bad); font-weight: 600; }
.timeline .skipped-note { font-size: 12px; fill: var(--skip); font-style: italic; }
.bar.k-attempt { fill: #fff; stroke-width: 1.6; }
.bar.k-attempt[data-outcome=succeeded] { stroke: var(--ok); fill: #f3fbf6; }
.bar.k-attempt[data-outcome=retried] { stroke: var(--retry); fill: #fff8ea; stroke-dasharray: 4 2; }
.bar.k-attempt[data-outcome=failed], .bar.k-attempt[data-outcome=interrupted] { stroke: var(--bad); fill: #fff3f3; }
.bar.k-attempt[data-outcome=running] { stroke: var(--run); }
.bar.k-plan, .sw.k-plan { fill: #b0bec5; background: #b0bec5; }
.bar.k-export, .sw.k-export { fill: #4c8bf5; background: #4c8bf5; }
.bar.k-import, .sw.k-import { fill: #9c6ade; background: #9c6ade; }
.bar.k-commit, .sw.k-commit { fill: #00695c; background: #00695c; }
.bar.k-wait { fill: url(#hatch); stroke: #e07b00; stroke-width: .8; }
.sw.k-wait { background: repeating-linear-gradient(45deg, #ffd8a8, #ffd8a8 2px, #e07b00 2px, #e07b00 3px); }
.bar.k-retry-wait { fill: #ffe9b0; stroke: var(--retry); stroke-dasharray: 3 2; }
.sw.k-retry-wait { background: #ffe9b0; border: 1px dashed var(--retry); }
.sw.k-attempt { background: #fff; border: 1.5px solid #5f6368; }
.hatch-bg { fill: #ffd8a8; } .hatch-line { stroke: #e07b00; stroke-width: 2; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #eceff1; vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.node { font-weight: 600; white-space: nowrap; }
td.wide { min-width: 260px; }
tr.hl-row td { background: #e8f0fe; }
.error { color: var(--bad); } .error b { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.hint { color: #3c4043; margin-top: 3px; }
table.args { width: auto; } table.args th { width: 140px; }
.spark polyline { fill: none; stroke: #80868b; stroke-width: 1.5; } .spark circle { fill: #80868b; } .spark circle.now { fill: var(--run); }
tr.flagged td { background: #fff8e1; }
.flag { color: #b26a00; font-weight: 600; }
footer { margin-top: 10px; font-size: 12px; }
`;

/**
 * The report's script, inlined: pointing at a node anywhere (graph, timeline, table) highlights it everywhere. It
 * reads only the page; it fetches nothing.
 */
export const REPORT_SCRIPT = `
(function () {
  var all = function (sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); };
  function mark(name, on) {
    all('[data-node]').forEach(function (el) {
      if (el.getAttribute('data-node') !== name) return;
      if (el.classList.contains('dag-node')) el.classList.toggle('hl', on);
      else if (el.tagName === 'TR') el.classList.toggle('hl-row', on);
      else if (el.classList.contains('tl-row')) { var bg = el.querySelector('.row-bg'); if (bg) bg.classList.toggle('hl-row', on); }
    });
  }
  all('.dag-node, .tl-row, table.nodes tr[data-node], table.trend tr[data-node]').forEach(function (el) {
    var name = el.getAttribute('data-node');
    el.addEventListener('mouseenter', function () { mark(name, true); });
    el.addEventListener('mouseleave', function () { mark(name, false); });
  });
})();
`;
