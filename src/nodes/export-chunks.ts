import type { Connector, CsvSink, ExportRequest, StagedChunk } from '../connectors/contract.js';
import type { ConnectionManager } from '../connectors/runtime.js';
import type { Cell } from '../csv/types.js';
import { PipelineError } from '../errors/pipeline-error.js';
import type { StagingArea } from '../staging/staging.js';
import type { ChunkCheckpoint, NodeCheckpoint } from './checkpoint.js';
import type { ChunkQueue } from './chunk-queue.js';
import type { AttemptSpan } from '../state/run-store.js';

export interface NodeProgress {
  rowsExported: number;
  rowsImported: number;
  bytes: number;
  /** What the attempt is doing now, in words a message can use ("planning", "exporting and loading", "committing"). */
  phase?: string;
  /** Rows the plan expects in total, when it counted them (a split); exact for chunks already exported. */
  rowsTotal?: number;
}

/** Told of each stretch of an attempt (see AttemptSpan); the run report's timeline is made of these. */
export type SpanSink = (span: AttemptSpan) => void;

/** Stretches of waiting for a session shorter than this are not worth a bar. */
const MIN_WAIT_MS = 10;

/**
 * Runs `fn` holding one of the connection's sessions, telling `span` how long it waited for it (when the
 * connection's max_connections were all in use).
 */
export function timedSession<T>(connections: ConnectionManager, connection: string, fn: () => Promise<T>, span?: SpanSink): Promise<T> {
  const asked = Date.now();
  return connections.session(connection, () => {
    const got = Date.now();
    if (got - asked >= MIN_WAIT_MS) span?.({ kind: 'wait', start: asked, end: got, connection });
    return fn();
  });
}

export const CHECKPOINT = 'checkpoint.json';

/** The chunk lists of a checkpoint: the data, and the key set of `deletes: detect`. */
export type ChunkList = 'chunks' | 'key_chunks';

/**
 * The checkpoint of a node while its chunks export: each finished chunk is recorded atomically as it finishes.
 * Writes are serialised, since chunks finish concurrently and each write must include the others' results.
 *
 * `planned`, when the plan is still being made while its first chunks export: the complete plan, written first;
 * until it is, no chunk is recorded (a retry after a failure before it plans again), and if it fails every later
 * write fails with its error.
 */
export class CheckpointWriter {
  readonly #area: StagingArea;
  #state: NodeCheckpoint;
  #writes: Promise<void>;

  constructor(area: StagingArea, state: NodeCheckpoint, planned?: Promise<NodeCheckpoint>) {
    this.#area = area;
    this.#state = state;
    this.#writes = planned
      ? planned.then(async (complete) => {
          this.#state = complete;
          await this.#area.writeJson(CHECKPOINT, complete);
        })
      : Promise.resolve();
    this.#writes.catch(() => {});
  }

  get state(): NodeCheckpoint {
    return this.#state;
  }

  saveChunk(done: ChunkCheckpoint, list: ChunkList = 'chunks'): Promise<void> {
    return this.save((s) => ({ ...s, [list]: (s[list] ?? []).map((c) => (c.index === done.index ? done : c)) }));
  }

  save(change: (s: NodeCheckpoint) => NodeCheckpoint): Promise<void> {
    this.#writes = this.#writes.then(async () => {
      this.#state = change(this.#state);
      await this.#area.writeJson(CHECKPOINT, this.#state);
    });
    return this.#writes;
  }

  /** Waits for the writes queued so far; never rejects (a failed write already failed its caller). */
  settled(): Promise<void> {
    return this.#writes.catch(() => {});
  }
}

export interface ExportChunksOptions {
  readonly node: string;
  readonly source: Connector;
  readonly sourceConnection: string;
  readonly connections: ConnectionManager;
  readonly req: ExportRequest;
  readonly area: StagingArea;
  readonly columns: readonly string[];
  readonly checkpoint: CheckpointWriter;
  /** Which of the checkpoint's chunk lists this export fills (default the data's). */
  readonly list?: ChunkList;
  /**
   * The chunks to export (those done already go straight to the queue): the checkpoint's list, or the chunks of a
   * plan still being made, each as it is announced (see AnnouncedChunks).
   */
  readonly chunks: Iterable<ChunkCheckpoint> | AsyncIterable<ChunkCheckpoint>;
  readonly queue: ChunkQueue;
  readonly progress: NodeProgress;
  readonly signal: AbortSignal;
  readonly log: (level: 'debug', message: string, fields: Record<string, unknown>) => void;
  /** Called once a chunk is durable; crash tests kill the process there. */
  readonly onDurable?: (chunk: ChunkCheckpoint) => void;
  readonly span?: SpanSink;
}

/**
 * Exports the chunks that are not done, in parallel up to the source connection's session limit, and hands every
 * chunk to the import queue as it becomes available (chunks already exported at once). A chunk of a plan still
 * being made starts exporting as soon as it is announced. Returns the rows exported in total; rejects with the
 * plan's failure or the first chunk's, once every chunk started has settled.
 */
export async function exportChunks(o: ExportChunksOptions): Promise<number> {
  const list = o.list ?? 'chunks';
  const jobs: Promise<number>[] = [];
  let planFailed: { readonly error: unknown } | undefined;
  try {
    for await (const c of o.chunks) jobs.push(exportOne(o, list, c));
  } catch (error) {
    planFailed = { error };
  }
  const settled = await Promise.allSettled(jobs);
  if (planFailed) throw planFailed.error;
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.reduce((n, s) => n + (s as PromiseFulfilledResult<number>).value, 0);
}

/** One chunk: exported (unless done), recorded in the checkpoint, handed to the import queue; its rows. */
async function exportOne(o: ExportChunksOptions, list: ChunkList, c: ChunkCheckpoint): Promise<number> {
  if (c.done) {
    o.queue.add(staged(o.area, c));
    return c.rows ?? 0;
  }
  const done = await timedSession(o.connections, o.sourceConnection, async () => {
    const started = Date.now();
    let d: ChunkCheckpoint;
    try {
      d = await exportChunk(o, c);
    } finally {
      o.span?.({ kind: 'export', start: started, end: Date.now(), chunk: c.index });
    }
    o.log('debug', `node ${o.node}: chunk ${c.index} exported, ${d.rows} rows`, {
      node: o.node,
      event: 'chunk_exported',
      chunk: c.index,
      rows: d.rows,
      bytes: d.bytes,
      started_at: new Date(started).toISOString(),
      duration_ms: Date.now() - started,
    });
    return d;
  }, o.span);
  await o.checkpoint.saveChunk(done, list);
  o.onDurable?.(done);
  o.queue.add(staged(o.area, done));
  return done.rows ?? 0;
}

export function staged(area: StagingArea, c: ChunkCheckpoint): StagedChunk {
  const url = area.url?.(c.file);
  return {
    index: c.index,
    name: area.describe(c.file),
    rows: c.rows ?? 0,
    open: () => area.openChunk(c.file),
    ...(url !== undefined ? { stored: { url, gzip: c.file.endsWith('.gz'), bytes: c.bytes ?? 0 } } : {}),
  };
}

async function exportChunk(o: ExportChunksOptions, c: ChunkCheckpoint): Promise<ChunkCheckpoint> {
  o.signal.throwIfAborted();
  const { progress } = o;
  const writer = await o.area.createChunk(c.file, o.columns);
  const counts: Record<string, number> = {};
  const sink: CsvSink = {
    row(values: readonly Cell[]) {
      progress.rowsExported++;
      return writer.row(values);
    },
    raw(bytes: Buffer | string, rows?: number) {
      progress.rowsExported += rows ?? 0;
      return writer.raw(bytes, rows);
    },
    drain: () => writer.drain(),
    count(what: string, n = 1) {
      counts[what] = (counts[what] ?? 0) + n;
    },
  };
  const spec = { index: c.index, ...(c.range ? { range: c.range } : {}), ...(c.part ? { part: c.part } : {}) };
  let rows: number;
  try {
    rows = await o.source.exportChunk(o.req, spec, sink, o.signal);
  } catch (e) {
    await writer.abort().catch(() => {});
    throw e;
  }
  const meta = await writer.finish();
  progress.bytes += meta.bytes;
  if (meta.rows !== rows && meta.rows !== 0) {
    throw new PipelineError('ROW_COUNT_MISMATCH', `chunk ${c.file}: the source reported ${rows} rows but ${meta.rows} were written`, { node: o.node });
  }
  return { ...spec, file: c.file, done: true, rows, bytes: meta.bytes, sha256: meta.sha256, ...(Object.keys(counts).length > 0 ? { counts } : {}) };
}
