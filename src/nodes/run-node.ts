import type { ConnectionConfig, NodeConfig, Pipeline, SourceConfig } from '../config/types.js';
import { renderTemplate } from '../config/templates.js';
import type { ChunkSpec, Connector, CsvSink, ExportRequest, RangePredicate } from '../connectors/contract.js';
import type { ConnectionManager } from '../connectors/runtime.js';
import { chunksFromBoundaries } from '../connectors/sql/select-builder.js';
import type { Cell } from '../csv/types.js';
import { PipelineError } from '../errors/pipeline-error.js';
import type { StagingArea, StagingStore } from '../staging/staging.js';
import type { WatermarkStore } from '../state/watermarks.js';
import { ChunkQueue } from './chunk-queue.js';
import { watermarkBounds } from './watermark-bounds.js';
import { definitionHash, type ChunkCheckpoint, type NodeCheckpoint } from './checkpoint.js';

export interface NodeProgress {
  rowsExported: number;
  rowsImported: number;
  bytes: number;
}

export interface NodeEnv {
  readonly pipeline: Pipeline;
  readonly lineage: string;
  readonly vars: Readonly<Record<string, string>>;
  /** The run's data interval as 'YYYY-MM-DD HH:MM:SS' bounds, for `window` incremental nodes. */
  readonly interval: { readonly start: string; readonly end: string };
  readonly connections: ConnectionManager;
  readonly staging: StagingStore;
  readonly watermarks: WatermarkStore;
  readonly log: (level: 'info' | 'warn' | 'debug', message: string, fields?: Record<string, unknown>) => void;
  /**
   * Called at the durable steps of a node (`<node>:chunk:<i>`, `<node>:imported`, `<node>:checkpointed`,
   * `<node>:finished`). Crash tests kill the process here; otherwise it does nothing.
   */
  readonly fault?: (point: string) => void;
}

export interface NodeAttemptResult {
  readonly rowsExported: number;
  readonly rowsImported: number;
  readonly bytes: number;
  readonly chunks: number;
  readonly chunksResumed: number;
  readonly note?: string;
}

const CHECKPOINT = 'checkpoint.json';

/** The node with its templates rendered for this run. */
export function renderNode(node: NodeConfig, vars: Readonly<Record<string, string>>): NodeConfig {
  const source: SourceConfig = {
    ...node.source,
    ...(node.source.query !== undefined ? { query: renderTemplate(node.source.query, vars) } : {}),
    ...(node.source.where !== undefined ? { where: renderTemplate(node.source.where, vars) } : {}),
  };
  return { ...node, source, target: { ...node.target, table: renderTemplate(node.target.table, vars) } };
}

/** Identifies one node's load in one run lineage; the same across retries, so a rerun can ask if it committed. */
export function loadIdOf(pipeline: string, lineage: string, node: string): string {
  return `${pipeline}/${lineage}/${node}`;
}

/** What a node's checkpoint must match to be reused: its rendered definition and the kinds it talks to. */
export function nodeDefinition(node: NodeConfig, env: Pick<NodeEnv, 'pipeline' | 'interval'>): string {
  const kinds = (c: string): ConnectionConfig | undefined => env.pipeline.connections[c];
  return definitionHash({
    source: node.source,
    incremental: node.incremental,
    target: node.target,
    source_kind: kinds(node.source.connection)?.type,
    target_kind: kinds(node.target.connection)?.type,
    interval: node.incremental?.strategy === 'window' ? env.interval : undefined,
  });
}

export async function readCheckpoint(area: StagingArea): Promise<NodeCheckpoint | undefined> {
  return area.readJson<NodeCheckpoint>(CHECKPOINT);
}

/**
 * One attempt at one node: export the source into chunk files, import them, commit, advance the watermark.
 * Resumes from the checkpoint in the node's staging area: finished chunks are not exported again, and a load that
 * already committed is not loaded again. Throws on failure; the executor decides about retries.
 */
export async function runNodeAttempt(
  rawNode: NodeConfig,
  env: NodeEnv,
  progress: NodeProgress,
  signal: AbortSignal,
): Promise<NodeAttemptResult> {
  const node = renderNode(rawNode, env.vars);
  const { pipeline, connections } = env;
  const area = env.staging.area(pipeline.name, env.lineage, node.name);
  const definition = nodeDefinition(node, env);
  const loadId = loadIdOf(pipeline.name, env.lineage, node.name);
  let note: string | undefined;

  let cp = await readCheckpoint(area);
  if (cp && cp.definition !== definition) {
    note = 'checkpoint not reused: the node definition changed since it was written';
    env.log('warn', `node ${node.name}: ${note}; exporting again`, { node: node.name });
    await area.clear();
    cp = undefined;
  }

  const source = await connections.get(node.source.connection, signal);
  const target = await connections.get(node.target.connection, signal);

  const wmColumn = node.incremental?.strategy === 'watermark' ? node.incremental.column : undefined;
  if (wmColumn) await settleWatermark(env, node, target);

  if (cp?.imported) {
    await finish(env, node, area, cp);
    const rows = cp.rows_imported ?? 0;
    return { rowsExported: rows, rowsImported: rows, bytes: 0, chunks: cp.chunks.length, chunksResumed: cp.chunks.length, note: 'already imported by an earlier attempt' };
  }

  if (!cp) {
    const planStarted = Date.now();
    cp = await planExport(node, env, source, definition, loadId, signal);
    env.log('debug', `node ${node.name}: planned ${cp.chunks.length} chunks`, { node: node.name, event: 'planned', chunks: cp.chunks.length, duration_ms: Date.now() - planStarted });
    await area.writeJson('schema.json', { format: 'pigeon-csv/1', columns: cp.columns });
    await area.writeJson(CHECKPOINT, cp);
  }

  // A chunk counts as done only if its file is still there, whole.
  const chunks: ChunkCheckpoint[] = [];
  for (const c of cp.chunks) {
    if (c.done && (await area.size(c.file)) === c.bytes) chunks.push(c);
    else chunks.push({ index: c.index, file: c.file, ...(c.range ? { range: c.range } : {}), done: false });
  }
  const resumed = chunks.filter((c) => c.done).length;
  if (resumed > 0) env.log('info', `node ${node.name}: resuming, ${resumed}/${chunks.length} chunks already exported`, { node: node.name });

  const req: ExportRequest = { node: node.name, source: node.source, ...(cp.window ? { window: cp.window } : {}) };
  // Progress counts a chunk as imported when the import takes the next one: cheap, and close enough.
  let taking = 0;
  const queue = new ChunkQueue(
    chunks.map((c) => c.index),
    (c) => {
      progress.rowsImported += taking;
      taking = c.rows;
    },
  );
  const inner = new AbortController();
  const innerSignal = AbortSignal.any([signal, inner.signal]);

  // Checkpoint writes are serialised: chunks finish concurrently and each write must include the others' results.
  let state: NodeCheckpoint = { ...cp, chunks };
  let writes: Promise<void> = Promise.resolve();
  const saveChunk = (done: ChunkCheckpoint): Promise<void> => {
    writes = writes.then(async () => {
      state = { ...state, chunks: state.chunks.map((c) => (c.index === done.index ? done : c)) };
      await area.writeJson(CHECKPOINT, state);
    });
    return writes;
  };

  const staged = (c: ChunkCheckpoint) => ({
    index: c.index,
    name: area.describe(c.file),
    rows: c.rows ?? 0,
    open: () => area.openChunk(c.file),
  });
  for (const c of chunks) {
    if (c.done) {
      progress.rowsExported += c.rows ?? 0;
      progress.bytes += c.bytes ?? 0;
    }
  }

  const exportAll = async (): Promise<number> => {
    const jobs = chunks.map(async (c) => {
      if (c.done) {
        queue.add(staged(c));
        return c.rows ?? 0;
      }
      const done = await connections.session(node.source.connection, async () => {
        const started = Date.now();
        const d = await exportChunk(source, req, { index: c.index, ...(c.range ? { range: c.range } : {}) }, area, c.file, cp.columns.map((x) => x.name), progress, innerSignal);
        env.log('debug', `node ${node.name}: chunk ${c.index} exported, ${d.rows} rows`, {
          node: node.name,
          event: 'chunk_exported',
          chunk: c.index,
          rows: d.rows,
          bytes: d.bytes,
          started_at: new Date(started).toISOString(),
          duration_ms: Date.now() - started,
        });
        return d;
      });
      await saveChunk(done);
      env.fault?.(`${node.name}:chunk:${c.index}`);
      queue.add(staged(done));
      return done.rows ?? 0;
    });
    const settled = await Promise.allSettled(jobs);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const total = settled.reduce((n, s) => n + (s as PromiseFulfilledResult<number>).value, 0);
    await writes;
    const finalChunks = state.chunks;
    await area.writeJson('manifest.json', {
      format: 'pigeon-csv/1',
      node: node.name,
      compress: pipeline.staging.compress,
      chunks: finalChunks.map((c) => ({ index: c.index, file: c.file, rows: c.rows, bytes: c.bytes, sha256: c.sha256 })),
      rows: total,
      bytes: finalChunks.reduce((n, c) => n + (c.bytes ?? 0), 0),
    });
    return total;
  };

  const importAll = async () => {
    const importReq = {
      node: node.name,
      table: node.target.table,
      mode: node.target.mode,
      ...(node.target.key ? { key: node.target.key } : {}),
      create: node.target.create,
      columns: cp.columns,
      loadId,
      spareSession: <T>(work: () => Promise<T>) => connections.trySession(node.target.connection, work),
    };
    // The watermark this load reaches is recorded as pending before the commit can happen (see watermarks.ts).
    if (wmColumn) {
      const wm = await env.watermarks.read(pipeline.name, node.name);
      await env.watermarks.write(pipeline.name, node.name, {
        column: wmColumn,
        value: wm?.value ?? null,
        pending: { load_id: loadId, value: cp.watermark_to ?? wm?.value ?? null, target: node.target.table },
        updated_at: new Date().toISOString(),
      });
    }
    return connections.session(node.target.connection, async () => {
      const started = Date.now();
      const r = await target.import(importReq, queue, innerSignal);
      env.log('debug', `node ${node.name}: ${r.rows} rows imported and committed`, {
        node: node.name,
        event: 'imported',
        rows: r.rows,
        started_at: new Date(started).toISOString(),
        duration_ms: Date.now() - started,
      });
      return r;
    });
  };

  // Export and import overlap unless they share a connection, whose session limit could then deadlock them.
  const pipelined = node.source.connection !== node.target.connection;
  const exporting = exportAll().then(
    (total) => {
      queue.complete(total);
      return total;
    },
    (e) => {
      queue.fail(e);
      throw e;
    },
  );
  let rowsExported: number;
  let result: { rows: number };
  try {
    if (pipelined) {
      const importing = importAll().catch((e) => {
        inner.abort(e);
        throw e;
      });
      const [a, b] = await Promise.allSettled([exporting, importing]);
      if (a.status === 'rejected') throw a.reason;
      if (b.status === 'rejected') throw b.reason;
      rowsExported = a.value;
      result = b.value;
    } else {
      rowsExported = await exporting;
      result = await importAll();
    }
  } finally {
    await writes.catch(() => {});
  }

  if (result.rows !== rowsExported) {
    throw new PipelineError('ROW_COUNT_MISMATCH', `exported ${rowsExported} rows but imported ${result.rows}`, { node: node.name });
  }
  env.fault?.(`${node.name}:imported`);
  state = { ...state, imported: true, rows_imported: result.rows };
  await area.writeJson(CHECKPOINT, state);
  env.fault?.(`${node.name}:checkpointed`);
  await finish(env, node, area, state);
  env.fault?.(`${node.name}:finished`);
  return {
    rowsExported,
    rowsImported: result.rows,
    bytes: state.chunks.reduce((n, c) => n + (c.bytes ?? 0), 0),
    chunks: chunks.length,
    chunksResumed: resumed,
    ...(note ? { note } : {}),
  };
}

/** Freezes what this load will read: window, watermark range, split boundaries. Runs once per lineage. */
async function planExport(
  node: NodeConfig,
  env: NodeEnv,
  source: Connector,
  definition: string,
  loadId: string,
  signal: AbortSignal,
): Promise<NodeCheckpoint> {
  const inc = node.incremental;
  let window: RangePredicate | undefined;
  let watermarkTo: string | null | undefined;
  // No row above the watermark: the load has no chunk at all (and still commits, so overwrite means "empty").
  let nothingNew = false;
  const base: ExportRequest = { node: node.name, source: node.source };
  const columns = await env.connections.session(node.source.connection, () => source.describe(base, signal));
  if (inc?.strategy === 'window') {
    window = { column: inc.column, lower: { value: env.interval.start, inclusive: true }, upper: { value: env.interval.end, inclusive: false } };
  } else if (inc?.strategy === 'watermark') {
    const wm = await env.watermarks.read(env.pipeline.name, node.name);
    const from = wm?.value ?? inc.initial ?? null;
    const bounds = watermarkBounds(node.target.mode, columns.find((c) => c.name === inc.column)?.type);
    const lowerOnly: RangePredicate = {
      column: inc.column,
      ...(from !== null ? { lower: { value: from, inclusive: bounds.lowerInclusive } } : {}),
    };
    const to = await env.connections.session(node.source.connection, () =>
      source.maxValue({ ...base, window: lowerOnly }, inc.column, signal),
    );
    // Upper bound frozen now: rows arriving during the export wait for the next run instead of being half-read.
    watermarkTo = to ?? from;
    window = to === null ? lowerOnly : { ...lowerOnly, upper: { value: to, inclusive: bounds.upperInclusive } };
    if (to === null) nothingNew = true;
  }
  const req: ExportRequest = { ...base, ...(window ? { window } : {}) };
  let specs: ChunkSpec[] = nothingNew ? [] : [{ index: 1 }];
  const split = node.source.split;
  if (split && split.chunks > 1 && !nothingNew) {
    const boundaries = await env.connections.session(node.source.connection, () =>
      source.splitBoundaries(req, split.column, split.chunks, signal),
    );
    specs = chunksFromBoundaries(split.column, boundaries);
  }
  const ext = env.pipeline.staging.compress === 'gzip' ? '.csv.gz' : '.csv';
  return {
    version: 1,
    node: node.name,
    definition,
    load_id: loadId,
    ...(window ? { window } : {}),
    ...(watermarkTo !== undefined ? { watermark_to: watermarkTo } : {}),
    columns,
    chunks: specs.map((s) => ({
      index: s.index,
      file: `chunk-${String(s.index).padStart(5, '0')}${ext}`,
      ...(s.range ? { range: s.range } : {}),
      done: false,
    })),
    imported: false,
    created_at: new Date().toISOString(),
  };
}

async function exportChunk(
  source: Connector,
  req: ExportRequest,
  spec: ChunkSpec,
  area: StagingArea,
  file: string,
  columns: readonly string[],
  progress: NodeProgress,
  signal: AbortSignal,
): Promise<ChunkCheckpoint> {
  signal.throwIfAborted();
  const writer = await area.createChunk(file, columns);
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
  };
  let rows: number;
  try {
    rows = await source.exportChunk(req, spec, sink, signal);
  } catch (e) {
    await writer.abort().catch(() => {});
    throw e;
  }
  const meta = await writer.finish();
  progress.bytes += meta.bytes;
  if (meta.rows !== rows && meta.rows !== 0) {
    throw new PipelineError('ROW_COUNT_MISMATCH', `chunk ${file}: the source reported ${rows} rows but ${meta.rows} were written`, { node: req.node });
  }
  return { index: spec.index, file, ...(spec.range ? { range: spec.range } : {}), done: true, rows, bytes: meta.bytes, sha256: meta.sha256 };
}

/** A pending watermark from an earlier load becomes real if that load committed, and is dropped otherwise. */
async function settleWatermark(env: NodeEnv, node: NodeConfig, target: Connector): Promise<void> {
  const wm = await env.watermarks.read(env.pipeline.name, node.name);
  if (!wm?.pending) return;
  const committed = await target.isCommitted(wm.pending.target, wm.pending.load_id);
  await env.watermarks.write(env.pipeline.name, node.name, {
    column: wm.column,
    value: committed ? wm.pending.value : wm.value,
    updated_at: new Date().toISOString(),
  });
  env.log('info', `node ${node.name}: watermark ${committed ? 'advanced to' : 'kept at'} ${committed ? wm.pending.value : wm.value} (settled an interrupted load)`, {
    node: node.name,
  });
}

/** After the commit: the watermark moves, then the chunk files go (unless staging.keep). */
async function finish(env: NodeEnv, node: NodeConfig, area: StagingArea, cp: NodeCheckpoint): Promise<void> {
  if (node.incremental?.strategy === 'watermark') {
    await env.watermarks.write(env.pipeline.name, node.name, {
      column: node.incremental.column,
      value: cp.watermark_to ?? null,
      updated_at: new Date().toISOString(),
    });
  }
  // Committed and recorded in the target: a rerun is protected by the load record, so the files can go.
  if (!env.pipeline.staging.keep) await area.clear();
}
