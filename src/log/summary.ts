import { formatDuration } from '../config/duration.js';
import type { NodeRecord, RunRecord } from '../state/run-store.js';
import { table } from '../cli/output.js';
import { paint, stateColor } from './colors.js';

/** What a run did, in numbers: the end summary, the `run_finished` event and the report share it. */
export interface RunTotals {
  readonly status: string;
  readonly wall_ms: number;
  readonly rows: number;
  readonly bytes: number;
  readonly rows_per_s: number;
  readonly chunks: number;
  readonly chunks_resumed: number;
  /** Nodes per final state. */
  readonly nodes: Readonly<Record<string, number>>;
}

export function runTotals(run: RunRecord, nodes: ReadonlyMap<string, NodeRecord>, now = Date.now()): RunTotals {
  const end = run.finished_at ? Date.parse(run.finished_at) : now;
  const wall = Math.max(0, end - Date.parse(run.started_at));
  let rows = 0;
  let bytes = 0;
  let chunks = 0;
  let resumed = 0;
  const states: Record<string, number> = {};
  for (const n of run.nodes) {
    const r = nodes.get(n);
    const state = r?.state ?? 'pending';
    states[state] = (states[state] ?? 0) + 1;
    if (!r || r.state !== 'succeeded') continue;
    rows += r.rows_imported ?? 0;
    bytes += r.bytes ?? 0;
    chunks += r.chunks ?? 0;
    resumed += r.chunks_resumed ?? 0;
  }
  return {
    status: run.status,
    wall_ms: wall,
    rows,
    bytes,
    rows_per_s: wall > 0 ? Math.round((rows * 1000) / wall) : 0,
    chunks,
    chunks_resumed: resumed,
    nodes: states,
  };
}

/** 1234567 bytes → "1.2 MB". */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** The table printed when a run ends, and its closing line with the totals. */
export function summaryText(run: RunRecord, nodes: ReadonlyMap<string, NodeRecord>, color = false): string {
  const p = paint(color);
  const rows = run.nodes.map((n) => {
    const r = nodes.get(n);
    const plan = run.plan?.[n];
    return [
      n,
      r?.state ?? 'pending',
      plan ? `${plan.source.connection} → ${plan.target.connection}` : '',
      plan?.target.mode ?? '',
      r?.rows_imported !== undefined ? String(r.rows_imported) : '',
      r?.duration_ms !== undefined ? formatDuration(r.duration_ms) : '',
      r?.error ? `${r.error.code}` : (r?.note ?? ''),
    ];
  });
  // Coloured after padding, so escapes do not upset the column widths.
  const text = table(['node', 'state', 'route', 'mode', 'rows', 'time', 'note'], rows)
    .split('\n')
    .map((line, i) => {
      if (i < 2) return line;
      const state = rows[i - 2]![1]!;
      const at = line.indexOf(` ${state}`, rows[i - 2]![0]!.length);
      return at < 0 ? line : line.slice(0, at + 1) + stateColor(p, state)(state) + line.slice(at + 1 + state.length);
    })
    .join('\n');
  const t = runTotals(run, nodes);
  const ok = t.nodes['succeeded'] ?? 0;
  const resumed = t.chunks_resumed > 0 ? `, resumed ${t.chunks_resumed}/${t.chunks} chunks` : '';
  const status = stateColor(p, run.status === 'succeeded' ? 'succeeded' : 'failed')(run.status);
  return (
    `\n${text}\n\nrun ${run.id}: ${status}, ${ok}/${run.nodes.length} nodes succeeded in ${formatDuration(t.wall_ms)}; ` +
    `${t.rows.toLocaleString('en-US')} rows, ${formatBytes(t.bytes)}, ${t.rows_per_s.toLocaleString('en-US')} rows/s${resumed}`
  );
}
