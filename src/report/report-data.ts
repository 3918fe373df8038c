import type { NodeRecord, RunRecord, RunStore } from '../state/run-store.js';

/** One earlier run of the same pipeline, as the report's trend shows it. */
export interface PastRun {
  readonly id: string;
  readonly started_at: string;
  readonly status: string;
  readonly wall_ms?: number;
  readonly nodes: Readonly<Record<string, { readonly state: string; readonly rows?: number; readonly duration_ms?: number }>>;
}

/** Everything a report shows, read from the run records alone. */
export interface ReportData {
  readonly run: RunRecord;
  readonly nodes: ReadonlyMap<string, NodeRecord>;
  /** Earlier runs of the same pipeline, oldest first (at most `HISTORY`). */
  readonly history: readonly PastRun[];
  /** When the report was made (epoch ms): a running run is drawn up to here. */
  readonly now: number;
}

/** How many earlier runs the trend shows. */
export const HISTORY = 10;

export async function readReportData(store: RunStore, runId: string, now = Date.now()): Promise<ReportData | undefined> {
  const run = await store.readRun(runId);
  if (!run) return undefined;
  const nodes = await store.readNodes(runId);
  const history: PastRun[] = [];
  // Ids sort by start time: the earlier runs are the ids after this one in the newest-first list.
  for (const id of (await store.list()).filter((x) => x < runId)) {
    if (history.length >= HISTORY) break;
    const past = await store.readRun(id).catch(() => undefined);
    if (!past || past.pipeline !== run.pipeline) continue;
    const recs = await store.readNodes(id);
    history.push({
      id,
      started_at: past.started_at,
      status: past.status,
      ...(past.finished_at ? { wall_ms: Date.parse(past.finished_at) - Date.parse(past.started_at) } : {}),
      nodes: Object.fromEntries(
        [...recs.values()].map((r) => [
          r.node,
          { state: r.state, ...(r.rows_imported !== undefined ? { rows: r.rows_imported } : {}), ...(r.duration_ms !== undefined ? { duration_ms: r.duration_ms } : {}) },
        ]),
      ),
    });
  }
  return { run, nodes, history: history.reverse(), now };
}

/** A node's rows far from its recent runs: what the report flags. */
export interface RowsFlag {
  readonly median: number;
  readonly runs: number;
}

/**
 * Whether `rows` moved far from the node's recent successful runs: at least 3 of them, and off their median by more
 * than half of it, by more than three median absolute deviations, and by more than 10 rows (small tables jitter).
 */
export function rowsFlag(rows: number | undefined, past: readonly (number | undefined)[]): RowsFlag | undefined {
  if (rows === undefined) return undefined;
  const values = past.filter((v): v is number => v !== undefined);
  if (values.length < 3) return undefined;
  const m = median(values);
  const mad = median(values.map((v) => Math.abs(v - m)));
  const off = Math.abs(rows - m);
  return off > Math.max(0.5 * m, 3 * mad, 10) ? { median: m, runs: values.length } : undefined;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
