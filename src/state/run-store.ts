import { readdir, appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readJsonIfExists, writeJsonAtomic } from './atomic-file.js';
import type { ErrorCode } from '../errors/pipeline-error.js';
import type { DataInterval } from '../config/templates.js';

export type NodeState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'interrupted';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';

/** The arguments a run was started with; `pigeon retry` reuses them. Secrets are never stored here. */
export interface RunInvocation {
  readonly file: string;
  readonly select: readonly string[];
  readonly exclude: readonly string[];
  readonly date?: string;
  readonly interval?: string;
  readonly fail_fast: boolean;
  readonly concurrency?: number;
  /** `--full-refresh`: the selected incremental nodes load everything, append nodes replace their target. */
  readonly full_refresh?: boolean;
  /** `--var NAME=VALUE`: the values of `{{ var.NAME }}`. */
  readonly vars?: Readonly<Record<string, string>>;
  /**
   * `--executor` (and `--queue`): the nodes ran on workers. The URL is kept without its password; `pigeon retry`
   * takes a full one from `--executor` or the pipeline's `executor:`.
   */
  readonly executor?: { readonly url: string; readonly queue: string };
}

/** What a run knew of one node when it started: enough to draw the DAG in its report without the pipeline file. */
export interface RunNodePlan {
  readonly depends_on: readonly string[];
  readonly source: { readonly connection: string; readonly kind: string };
  readonly target: { readonly connection: string; readonly kind: string; readonly table: string; readonly mode: string };
  readonly incremental?: string;
}

export interface RunRecord {
  readonly id: string;
  /** The first run of a retry chain; its staging and checkpoints are shared by the chain. */
  readonly lineage: string;
  readonly retry_of?: string;
  readonly pipeline: string;
  readonly invocation: RunInvocation;
  readonly data_interval: { readonly start: string; readonly end: string };
  readonly nodes: readonly string[];
  /** Each node's route, mode and dependencies (runs recorded before reports existed have none). */
  readonly plan?: Readonly<Record<string, RunNodePlan>>;
  readonly pid: number;
  readonly started_at: string;
  readonly finished_at?: string;
  readonly status: RunStatus;
}

export interface NodeError {
  readonly code: ErrorCode | string;
  readonly message: string;
  readonly location?: Record<string, unknown>;
  readonly transient?: boolean;
  /** What to do about it, when pigeon knows ("run … --full-refresh"). */
  readonly hint?: string;
}

/**
 * A stretch of one attempt, for the run report's timeline (epoch ms): `plan` (the export's bounds), `export` (one
 * chunk), `import` (loading into staging), `commit`, `wait` (for a session of `connection`: its max_connections
 * were in use).
 */
export interface AttemptSpan {
  readonly kind: 'plan' | 'export' | 'import' | 'commit' | 'wait';
  readonly start: number;
  readonly end: number;
  readonly chunk?: number;
  /** A merged stretch (overlapping chunk exports drawn as one): how many it stands for. */
  readonly chunks?: number;
  readonly connection?: string;
}

/** One attempt of a node: when it ran, how it ended, and the wait before the next one when it is retried. */
export interface AttemptRecord {
  readonly attempt: number;
  readonly start: number;
  readonly end?: number;
  readonly outcome?: NodeState | 'retried';
  readonly error_code?: string;
  /** Retried: the backoff before the next attempt, from `end`. */
  readonly retry_wait_ms?: number;
  readonly spans: readonly AttemptSpan[];
}

export interface NodeRecord {
  readonly node: string;
  readonly state: NodeState;
  readonly attempts: number;
  readonly rows_exported?: number;
  readonly rows_imported?: number;
  readonly bytes?: number;
  readonly chunks?: number;
  readonly chunks_resumed?: number;
  /** What the export counted doing to values, e.g. `zero_dates` written as NULL (see CsvSink.count). */
  readonly counts?: Readonly<Record<string, number>>;
  readonly started_at?: string;
  readonly finished_at?: string;
  readonly duration_ms?: number;
  readonly error?: NodeError;
  /** Why a node was skipped (the failed upstream) or what a checkpoint decision was. */
  readonly note?: string;
  /** While running: what the attempt is doing now ("exporting and loading"), for `pigeon status`. */
  readonly phase?: string;
  /** While running: when these live counts were written. */
  readonly updated_at?: string;
  /** Every attempt with its stretches (see AttemptRecord), for the run report. */
  readonly timeline?: readonly AttemptRecord[];
  /** A distributed run: the `pigeon worker` (hostname:pid or --name) that took each attempt of the node. */
  readonly workers?: readonly { readonly attempt: number; readonly worker: string }[];
}

/** Run records under `<state dir>/runs/<id>/`: run.json, nodes/<node>.json (each written atomically), log.jsonl. */
export class RunStore {
  readonly #dir: string;
  readonly #writes = new Map<string, Promise<void>>();

  constructor(stateDir: string) {
    this.#dir = join(stateDir, 'runs');
  }

  static newId(now = new Date()): string {
    // Milliseconds keep ids in start order (the newest run is the first id sorted descending).
    const stamp = now.toISOString().replace(/[-:]/g, '');
    return `${stamp}-${randomBytes(3).toString('hex')}`;
  }

  runDir(id: string): string {
    return join(this.#dir, id);
  }

  logFile(id: string): string {
    return join(this.runDir(id), 'log.jsonl');
  }

  async writeRun(run: RunRecord): Promise<void> {
    await writeJsonAtomic(join(this.runDir(run.id), 'run.json'), run);
  }

  /** Writes of one node's record are serialised, so a late "running" can never overwrite a "succeeded". */
  writeNode(runId: string, rec: NodeRecord): Promise<void> {
    const path = join(this.runDir(runId), 'nodes', `${encodeURIComponent(rec.node)}.json`);
    const next = (this.#writes.get(path) ?? Promise.resolve()).catch(() => {}).then(() => writeJsonAtomic(path, rec));
    this.#writes.set(path, next);
    return next;
  }

  async readRun(id: string): Promise<RunRecord | undefined> {
    return readJsonIfExists<RunRecord>(join(this.runDir(id), 'run.json'));
  }

  async readNodes(id: string): Promise<Map<string, NodeRecord>> {
    const dir = join(this.runDir(id), 'nodes');
    const out = new Map<string, NodeRecord>();
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch {
      return out;
    }
    for (const n of names.filter((x) => x.endsWith('.json') && !x.startsWith('.')).sort()) {
      try {
        const rec = await readJsonIfExists<NodeRecord>(join(dir, n));
        if (rec) out.set(rec.node, rec);
      } catch {
        // A record is written atomically, so an unreadable one is not ours: ignore it.
      }
    }
    return out;
  }

  /** Run ids, newest first. */
  async list(): Promise<string[]> {
    try {
      const ids = await readdir(this.#dir);
      return ids.filter((x) => !x.startsWith('.')).sort().reverse();
    } catch {
      return [];
    }
  }

  async appendLog(runId: string, line: string): Promise<void> {
    await mkdir(this.runDir(runId), { recursive: true });
    await appendFile(this.logFile(runId), line);
  }
}

/** The data interval a run recorded ('YYYY-MM-DD HH:MM:SS' in UTC) back as dates. */
export function intervalOf(run: RunRecord): DataInterval {
  const d = (s: string) => new Date(`${s.replace(' ', 'T')}Z`);
  return { start: d(run.data_interval.start), end: d(run.data_interval.end) };
}
