import { formatDuration } from '../config/duration.js';
import { formatBytes, runTotals } from '../log/summary.js';
import type { AttemptRecord, NodeRecord, RunNodePlan } from '../state/run-store.js';
import { layoutDag } from './dag-layout.js';
import { rowsFlag, type ReportData } from './report-data.js';
import { REPORT_SCRIPT, REPORT_STYLE } from './report-assets.js';

/**
 * The run report: one self-contained HTML page (styles, script and drawings inline; nothing fetched) with the DAG
 * coloured by state, a timeline of every attempt, per-node numbers and errors, the run's arguments, and the trend
 * of the pipeline's earlier runs. Pure: the data in, the page out. Every text is escaped; secrets are masked by
 * the caller before (see write-report.ts).
 */
export function renderReport(data: ReportData): string {
  const { run } = data;
  const totals = runTotals(run, data.nodes, data.now);
  const title = `pigeon · ${run.pipeline} · run ${run.id}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>${REPORT_STYLE}</style>
</head>
<body>
<header>
  <div class="title"><span class="brand">pigeon</span> <b>${esc(run.pipeline)}</b> <span class="muted">run ${esc(run.id)}${run.retry_of ? ` · retry of ${esc(run.retry_of)}` : ''}</span></div>
  <span class="badge s-${esc(run.status)}" id="run-status">${esc(run.status)}</span>
</header>
<section class="cards">
  ${card('data interval', `${run.data_interval.start} → ${run.data_interval.end}`)}
  ${card('started (UTC)', run.started_at.replace('T', ' ').slice(0, 19))}
  ${card('wall time', formatDuration(totals.wall_ms))}
  ${card('nodes', `${totals.nodes['succeeded'] ?? 0} of ${run.nodes.length} succeeded`)}
  ${card('rows', totals.rows.toLocaleString('en-US'))}
  ${card('bytes', formatBytes(totals.bytes))}
  ${card('rows/s', totals.rows_per_s.toLocaleString('en-US'))}
  ${card('chunks resumed', `${totals.chunks_resumed} of ${totals.chunks}`)}
</section>
<section><h2>Graph</h2>${legend()}${dagSvg(data)}</section>
<section><h2>Timeline</h2>${timelineLegend()}${timelineSvg(data)}</section>
<section><h2>Nodes</h2>${nodesTable(data)}</section>
<section><h2>Trend <span class="muted">(earlier runs of ${esc(run.pipeline)}, oldest first, this run last)</span></h2>${trendTable(data)}</section>
<section><h2>Arguments</h2>${argumentsTable(data)}</section>
<footer class="muted">made by pigeon from .pigeon/runs/${esc(run.id)}/ · self-contained: nothing is fetched</footer>
<script>${REPORT_SCRIPT}</script>
</body>
</html>
`;
}

/** The state a node is drawn in: `retried` is a success that took more than one attempt. */
function shownState(rec: NodeRecord | undefined): string {
  if (!rec) return 'pending';
  if (rec.state === 'succeeded' && rec.attempts > 1) return 'retried';
  return rec.state;
}

function card(label: string, value: string): string {
  return `<div class="card"><div class="label">${esc(label)}</div><div class="value">${esc(value)}</div></div>`;
}

function legend(): string {
  const states = ['succeeded', 'retried', 'failed', 'skipped', 'interrupted', 'running', 'pending'];
  return `<div class="legend">${states.map((s) => `<span><i class="sw s-${s}"></i>${s}</span>`).join('')}</div>`;
}

const NODE_W = 210;
const NODE_H = 66;
const COL_GAP = 80;
const ROW_GAP = 22;

function dagSvg(data: ReportData): string {
  const { run } = data;
  const plan = (n: string): RunNodePlan | undefined => run.plan?.[n];
  const placed = layoutDag(run.nodes, (n) => plan(n)?.depends_on ?? []);
  const pos = new Map(placed.map((p) => [p.name, { x: 10 + p.layer * (NODE_W + COL_GAP), y: 10 + p.row * (NODE_H + ROW_GAP) }]));
  const width = Math.max(...placed.map((p) => p.layer), 0) * (NODE_W + COL_GAP) + NODE_W + 20;
  const height = Math.max(...placed.map((p) => p.row), 0) * (NODE_H + ROW_GAP) + NODE_H + 20;
  const edges = run.nodes.flatMap((n) =>
    (plan(n)?.depends_on ?? []).map((d) => {
      const a = pos.get(d);
      const b = pos.get(n);
      if (!a || !b) return '';
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x - 4;
      const y2 = b.y + NODE_H / 2;
      const mid = (x1 + x2) / 2;
      return `<path class="edge" d="M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}" marker-end="url(#arrow)"/>`;
    }),
  );
  const boxes = run.nodes.map((n) => {
    const p = pos.get(n)!;
    const rec = data.nodes.get(n);
    const state = shownState(rec);
    const pl = plan(n);
    const route = pl ? `${pl.source.connection} → ${pl.target.connection}` : '';
    const rows = rec?.rows_imported !== undefined ? `${rec.rows_imported.toLocaleString('en-US')} rows` : rec?.state === 'skipped' ? 'not run' : '';
    const mode = pl ? pl.target.mode : '';
    const tip = [`${n}: ${state}${rec && rec.attempts > 1 ? ` after ${rec.attempts} attempts` : ''}`, route && `${route} (${pl!.source.kind} → ${pl!.target.kind} ${pl!.target.table})`, mode && `mode ${mode}`, rows, rec?.error ? `${rec.error.code}: ${rec.error.message}` : rec?.note ?? '']
      .filter(Boolean)
      .join('\n');
    return `<g class="dag-node s-${state}" data-node="${esc(n)}" data-state="${esc(state)}" transform="translate(${p.x},${p.y})">
  <title>${esc(tip)}</title>
  <rect class="box" width="${NODE_W}" height="${NODE_H}" rx="9"/>
  <rect class="stripe" width="7" height="${NODE_H}" rx="3"/>
  <text x="16" y="21" class="name">${esc(clip(n, 22))}</text>
  <text x="${NODE_W - 10}" y="21" class="state" text-anchor="end">${esc(state === 'retried' ? `↻ ${rec?.attempts ?? 2}×` : state)}</text>
  <text x="16" y="40" class="route">${esc(clip(route, 30))}</text>
  <text x="16" y="57" class="meta">${esc(clip([mode, rows].filter(Boolean).join(' · '), 30))}</text>
</g>`;
  });
  return `<div class="scroll"><svg class="dag" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="pipeline graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>
${edges.join('\n')}
${boxes.join('\n')}
</svg></div>`;
}

function timelineLegend(): string {
  const kinds: [string, string][] = [
    ['plan', 'planning'],
    ['export', 'export (chunks)'],
    ['import', 'import into staging'],
    ['commit', 'commit'],
    ['wait', 'waiting for a connection slot'],
    ['retry-wait', 'waiting to retry'],
  ];
  return `<div class="legend">${kinds.map(([k, label]) => `<span><i class="sw k-${k}"></i>${esc(label)}</span>`).join('')}<span><i class="sw k-attempt"></i>attempt (outline: how it ended)</span></div>`;
}

const LABEL_W = 190;
const PLOT_W = 860;
const ROW_H = 40;

function timelineSvg(data: ReportData): string {
  const { run } = data;
  const t0 = Date.parse(run.started_at);
  const ends = [...data.nodes.values()].flatMap((r) => (r.timeline ?? []).map((a) => (a.end ?? data.now) + (a.retry_wait_ms ?? 0)));
  const t1 = Math.max(run.finished_at ? Date.parse(run.finished_at) : data.now, ...ends, t0 + 1);
  const span = t1 - t0;
  const x = (t: number) => LABEL_W + ((Math.min(Math.max(t, t0), t1) - t0) / span) * PLOT_W;
  const w = (a: number, b: number) => Math.max(2, x(b) - x(a));
  const step = tickStep(span);
  const ticks: string[] = [];
  for (let t = 0; t <= span; t += step) {
    const tx = x(t0 + t);
    ticks.push(`<line class="grid" x1="${tx}" x2="${tx}" y1="22" y2="${24 + run.nodes.length * ROW_H}"/><text class="tick" x="${tx}" y="14" text-anchor="middle">${esc(formatDuration(t))}</text>`);
  }
  const rows = run.nodes.map((n, i) => {
    const rec = data.nodes.get(n);
    const y = 24 + i * ROW_H;
    const pl = run.plan?.[n];
    const parts: string[] = [
      `<rect class="row-bg${i % 2 ? ' odd' : ''}" x="0" y="${y}" width="${LABEL_W + PLOT_W + 10}" height="${ROW_H}"/>`,
      `<text class="row-label s-${shownState(rec)}" x="8" y="${y + ROW_H / 2 + 4}">${esc(clip(n, 24))}</text>`,
    ];
    if (rec?.state === 'skipped') {
      parts.push(`<text class="skipped-note" x="${LABEL_W + 6}" y="${y + ROW_H / 2 + 4}">skipped: ${esc(clip(rec.note ?? '', 80))}</text>`);
    }
    for (const a of rec?.timeline ?? []) parts.push(...attemptBars(n, a, y, x, w, data.now, pl));
    return `<g class="tl-row" data-node="${esc(n)}">${parts.join('')}</g>`;
  });
  const height = 30 + run.nodes.length * ROW_H;
  const width = LABEL_W + PLOT_W + 10;
  return `<div class="scroll"><svg class="timeline" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="timeline">
<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" class="hatch-bg"/><line x1="0" y1="0" x2="0" y2="6" class="hatch-line"/></pattern></defs>
${ticks.join('')}
${rows.join('\n')}
</svg></div>`;
}

function attemptBars(
  node: string,
  a: AttemptRecord,
  y: number,
  x: (t: number) => number,
  w: (a: number, b: number) => number,
  now: number,
  plan: RunNodePlan | undefined,
): string[] {
  const end = a.end ?? now;
  const out: string[] = [];
  const outcome = a.outcome ?? 'running';
  const attr = (kind: string) => `class="bar k-${kind}" data-kind="${kind}" data-node="${esc(node)}" data-attempt="${a.attempt}"`;
  out.push(
    `<rect ${attr('attempt')} data-outcome="${esc(outcome)}" x="${x(a.start)}" y="${y + 3}" width="${w(a.start, end)}" height="${ROW_H - 6}" rx="4"><title>${esc(`${node}, attempt ${a.attempt}: ${outcome}${a.error_code ? ` (${a.error_code})` : ''}, ${formatDuration(end - a.start)}`)}</title></rect>`,
  );
  const top = y + 6;
  const bottom = y + ROW_H / 2 + 1;
  const lane = (ROW_H - 14) / 2;
  // Waits are drawn last: a wait for a session happens inside planning or importing, and must show over them.
  const order = (k: string) => (k === 'wait' ? 1 : 0);
  for (const s of [...a.spans].sort((p, q) => order(p.kind) - order(q.kind))) {
    // Exports and planning read the source (upper lane); import and commit write the target (lower lane).
    const upper = s.kind === 'plan' || s.kind === 'export' || (s.kind === 'wait' && s.connection === plan?.source.connection && s.connection !== plan?.target.connection);
    const what =
      s.kind === 'export'
        ? `export of ${s.chunks ?? 1} chunk${(s.chunks ?? 1) === 1 ? '' : 's'}`
        : s.kind === 'wait'
          ? `waiting for a session of ${s.connection ?? 'a connection'} (max_connections in use)`
          : s.kind;
    out.push(
      `<rect ${attr(s.kind)} x="${x(s.start)}" y="${upper ? top : bottom}" width="${w(s.start, s.end)}" height="${lane}" rx="2"><title>${esc(`${node}, attempt ${a.attempt}: ${what}, ${formatDuration(s.end - s.start)}`)}</title></rect>`,
    );
  }
  if ((outcome === 'failed' || outcome === 'interrupted') && a.error_code) {
    out.push(`<text class="bar-note" x="${x(a.start) + w(a.start, end) + 5}" y="${y + ROW_H / 2 + 4}">${esc(a.error_code)}</text>`);
  }
  if (a.retry_wait_ms !== undefined && a.end !== undefined) {
    const ws = a.end;
    const we = a.end + a.retry_wait_ms;
    out.push(
      `<rect ${attr('retry-wait')} x="${x(ws)}" y="${y + ROW_H / 2 - 4}" width="${w(ws, we)}" height="8" rx="4"><title>${esc(`${node}: waiting ${formatDuration(a.retry_wait_ms)} before attempt ${a.attempt + 1}`)}</title></rect>`,
    );
  }
  return out;
}

/** A tick every 1, 2 or 5 units of a power of ten (ms), about 8 of them over `span`. */
function tickStep(span: number): number {
  const raw = span / 8;
  const pow = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

function nodesTable(data: ReportData): string {
  const head = ['node', 'state', 'route', 'mode', 'rows', 'bytes', 'rows/s', 'time', 'attempts', 'chunks', 'counts', 'error or note'];
  const rows = data.run.nodes.map((n) => {
    const r = data.nodes.get(n);
    const pl = data.run.plan?.[n];
    const state = shownState(r);
    const rate = r?.rows_imported !== undefined && r.duration_ms ? Math.round((r.rows_imported * 1000) / r.duration_ms) : undefined;
    const counts = Object.entries(r?.counts ?? {}).map(([k, v]) => `${k}: ${v.toLocaleString('en-US')}`).join(', ');
    const error = r?.error
      ? `<div class="error"><b>${esc(r.error.code)}</b> ${esc(r.error.message)}${r.error.hint ? `<div class="hint">hint: ${esc(r.error.hint)}</div>` : ''}</div>${r.note ? `<div class="muted">${esc(r.note)}</div>` : ''}`
      : esc(r?.note ?? '');
    const rowsCell = r?.rows_imported !== undefined ? `${r.rows_imported.toLocaleString('en-US')}${r.rows_exported !== undefined && r.rows_exported !== r.rows_imported ? ` <span class="muted">(${r.rows_exported.toLocaleString('en-US')} exported)</span>` : ''}` : '';
    return `<tr data-node="${esc(n)}" data-state="${esc(state)}">
<td class="node">${esc(n)}</td><td><span class="badge s-${esc(state)}">${esc(state)}</span></td>
<td>${esc(pl ? `${pl.source.connection} (${pl.source.kind}) → ${pl.target.connection} (${pl.target.kind}) ${pl.target.table}` : '')}${pl?.incremental ? `<div class="muted">${esc(pl.incremental)}</div>` : ''}</td>
<td>${esc(pl?.target.mode ?? '')}</td><td class="num">${rowsCell}</td><td class="num">${r?.bytes !== undefined ? esc(formatBytes(r.bytes)) : ''}</td>
<td class="num">${rate !== undefined ? rate.toLocaleString('en-US') : ''}</td><td class="num">${r?.duration_ms !== undefined ? esc(formatDuration(r.duration_ms)) : ''}</td>
<td class="num">${r?.attempts ?? 0}</td><td class="num">${r?.chunks !== undefined ? `${r.chunks}${r.chunks_resumed ? ` <span class="muted">(${r.chunks_resumed} resumed)</span>` : ''}` : ''}</td>
<td>${esc(counts)}</td><td class="wide">${error}</td></tr>`;
  });
  return `<div class="scroll"><table class="nodes"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function trendTable(data: ReportData): string {
  if (data.history.length === 0) return `<p class="muted">No earlier runs of this pipeline in this state directory.</p>`;
  const wall = [...data.history.map((h) => h.wall_ms), runTotals(data.run, data.nodes, data.now).wall_ms];
  const rows = data.run.nodes.map((n) => {
    const r = data.nodes.get(n);
    const pastRows = data.history.map((h) => (h.nodes[n]?.state === 'succeeded' ? h.nodes[n]?.rows : undefined));
    const pastTime = data.history.map((h) => (h.nodes[n]?.state === 'succeeded' ? h.nodes[n]?.duration_ms : undefined));
    const current = r?.state === 'succeeded' ? r.rows_imported : undefined;
    const flag = rowsFlag(current, pastRows.slice(-5));
    const flagCell = flag
      ? `<span class="flag" data-flag="rows">⚠ ${current!.toLocaleString('en-US')} rows, recent median ${Math.round(flag.median).toLocaleString('en-US')}</span>`
      : '';
    return `<tr data-node="${esc(n)}"${flag ? ' class="flagged"' : ''}><td class="node">${esc(n)}</td><td>${sparkline([...pastRows, current], 'rows')}</td><td>${sparkline([...pastTime, r?.state === 'succeeded' ? r.duration_ms : undefined], 'time')}</td><td>${flagCell}</td></tr>`;
  });
  return `<table class="trend"><thead><tr><th>node</th><th>rows</th><th>duration</th><th></th></tr></thead><tbody>
<tr><td class="node muted">whole run</td><td></td><td>${sparkline(wall, 'time')}</td><td></td></tr>
${rows.join('')}</tbody></table>`;
}

/** A small line of values, the last (this run) marked; gaps where a run has none. */
function sparkline(values: readonly (number | undefined)[], unit: 'rows' | 'time'): string {
  const W = 150;
  const H = 30;
  const known = values.filter((v): v is number => v !== undefined);
  if (known.length === 0) return '<span class="muted">–</span>';
  const max = Math.max(...known, 1);
  const min = Math.min(...known, 0);
  const px = (i: number) => 4 + (values.length === 1 ? (W - 8) / 2 : (i * (W - 8)) / (values.length - 1));
  const py = (v: number) => H - 4 - ((v - min) / (max - min || 1)) * (H - 8);
  const points = values.map((v, i) => (v === undefined ? undefined : `${px(i).toFixed(1)},${py(v).toFixed(1)}`));
  const segments: string[] = [];
  let cur: string[] = [];
  for (const p of points) {
    if (p === undefined) {
      if (cur.length > 1) segments.push(cur.join(' '));
      cur = [];
    } else cur.push(p);
  }
  if (cur.length > 1) segments.push(cur.join(' '));
  const last = values[values.length - 1];
  const fmt = (v: number) => (unit === 'rows' ? v.toLocaleString('en-US') : formatDuration(v));
  const tip = values.map((v) => (v === undefined ? '–' : fmt(v))).join(' → ');
  return `<svg class="spark" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><title>${esc(tip)}</title>${segments.map((s) => `<polyline points="${s}"/>`).join('')}${points
    .map((p, i) => (p === undefined || i === values.length - 1 ? '' : `<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="1.8"/>`))
    .join('')}${last !== undefined ? `<circle class="now" cx="${px(values.length - 1)}" cy="${py(last)}" r="3.2"/>` : ''}</svg> <span class="muted small">${last !== undefined ? esc(fmt(last)) : ''}</span>`;
}

function argumentsTable(data: ReportData): string {
  const inv = data.run.invocation;
  const rows: [string, string][] = [
    ['pipeline file', inv.file],
    ['data interval', `${data.run.data_interval.start} → ${data.run.data_interval.end}`],
    ['select', inv.select.join(' ') || '(all)'],
    ['exclude', inv.exclude.join(' ') || '–'],
    ['date', inv.date ?? '–'],
    ['interval', inv.interval ?? '–'],
    ['fail fast', String(inv.fail_fast)],
    ['concurrency', inv.concurrency !== undefined ? String(inv.concurrency) : '(the pipeline\u2019s)'],
    ['full refresh', String(inv.full_refresh ?? false)],
    ['lineage', data.run.lineage],
    ['process', String(data.run.pid)],
  ];
  for (const [k, v] of Object.entries(inv.vars ?? {})) rows.push([`var ${k}`, v]);
  return `<table class="args">${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

function clip(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/** Text for HTML (element content and attribute values). */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
