import type { RunObserver } from '../dag/executor.js';
import type { AttemptRecord, AttemptSpan, NodeRecord } from '../state/run-store.js';

interface OpenAttempt {
  attempt: number;
  start: number;
  end?: number;
  outcome?: AttemptRecord['outcome'];
  error_code?: string;
  retry_wait_ms?: number;
  spans: AttemptSpan[];
}

/**
 * Collects each node's attempts and their stretches (AttemptSpan) as the run goes: attempt starts and ends and
 * retry waits from the executor's life-cycle events, stretches from the node (`span`). `withTimeline` adds them to
 * a node's final record, which the run report draws.
 */
export class TimelineRecorder {
  readonly #nodes = new Map<string, OpenAttempt[]>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The observer half: attempts begin and end, retries wait. */
  observer(): RunObserver {
    return {
      nodeStarted: (node, attempt) => {
        const list = this.#nodes.get(node) ?? [];
        list.push({ attempt, start: this.#now(), spans: [] });
        this.#nodes.set(node, list);
      },
      nodeRetrying: (node, _attempt, error, delayMs) => {
        const a = this.#current(node);
        if (!a) return;
        a.end = this.#now();
        a.outcome = 'retried';
        a.error_code = error.code;
        a.retry_wait_ms = delayMs;
      },
    };
  }

  /** A stretch of the node's current attempt. */
  span(node: string, span: AttemptSpan): void {
    this.#current(node)?.spans.push(span);
  }

  /** The record with its timeline, the last attempt closed with the node's final state. */
  withTimeline(rec: NodeRecord): NodeRecord {
    const list = this.#nodes.get(rec.node);
    if (!list || list.length === 0) return rec;
    const last = list[list.length - 1]!;
    if (last.end === undefined) {
      last.end = rec.finished_at ? Date.parse(rec.finished_at) : this.#now();
      last.outcome = rec.state;
      if (rec.error) last.error_code = rec.error.code;
    }
    const timeline: AttemptRecord[] = list.map((a) => ({
      attempt: a.attempt,
      start: a.start,
      ...(a.end !== undefined ? { end: a.end } : {}),
      ...(a.outcome ? { outcome: a.outcome } : {}),
      ...(a.error_code ? { error_code: a.error_code } : {}),
      ...(a.retry_wait_ms !== undefined ? { retry_wait_ms: a.retry_wait_ms } : {}),
      spans: mergeSpans(a.spans),
    }));
    return { ...rec, timeline };
  }

  #current(node: string): OpenAttempt | undefined {
    const list = this.#nodes.get(node);
    return list?.[list.length - 1];
  }
}

/**
 * Overlapping stretches of one kind (parallel chunk exports, waits of several chunks) become one, so a 64-chunk
 * export is one bar with its chunk count rather than 64 bars on top of each other.
 */
export function mergeSpans(spans: readonly AttemptSpan[]): AttemptSpan[] {
  const out: AttemptSpan[] = [];
  const kinds = [...new Set(spans.map((s) => s.kind))];
  for (const kind of kinds) {
    const sorted = spans.filter((s) => s.kind === kind).sort((a, b) => a.start - b.start);
    let cur: { start: number; end: number; chunks: number; connection?: string } | undefined;
    const flush = () => {
      if (!cur) return;
      out.push({
        kind,
        start: cur.start,
        end: cur.end,
        ...(kind === 'export' ? { chunks: cur.chunks } : {}),
        ...(cur.connection !== undefined ? { connection: cur.connection } : {}),
      });
    };
    for (const s of sorted) {
      if (cur && s.start <= cur.end) {
        cur.end = Math.max(cur.end, s.end);
        cur.chunks++;
      } else {
        flush();
        cur = { start: s.start, end: s.end, chunks: 1, ...(s.connection !== undefined ? { connection: s.connection } : {}) };
      }
    }
    flush();
  }
  return out.sort((a, b) => a.start - b.start);
}
