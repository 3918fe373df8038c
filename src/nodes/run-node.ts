import { setMaxListeners } from 'node:events';
import type { ConnectionConfig, NodeConfig, Pipeline, SourceConfig } from '../config/types.js';
import { renderTemplate } from '../config/templates.js';
import type { ExportRequest, ImportRequest, ImportResult, PartitionColumn, StagedChunk } from '../connectors/contract.js';
import type { ConnectionManager } from '../connectors/runtime.js';
import { PipelineError } from '../errors/pipeline-error.js';
import type { StagingArea, StagingStore } from '../staging/staging.js';
import type { WatermarkStore } from '../state/watermarks.js';
import { definitionHash, type ChunkCheckpoint, type NodeCheckpoint } from './checkpoint.js';
import { ChunkQueue } from './chunk-queue.js';
import { CHECKPOINT, CheckpointWriter, exportChunks, timedSession, type NodeProgress, type SpanSink } from './export-chunks.js';
import type { ColumnSchema } from '../csv/types.js';
import { chunkFile, exportRequest, type Interval } from './plan.js';
import { NodeWatermark } from './watermark.js';
import { keySetPlan, needsFullRefresh, planHead, PlanListener, type PlanHead } from './plan-head.js';

export type { NodeProgress } from './export-chunks.js';

export interface NodeEnv {
  readonly pipeline: Pipeline;
  readonly lineage: string;
  readonly vars: Readonly<Record<string, string>>;
  /** The run's data interval as 'YYYY-MM-DD HH:MM:SS' bounds, for `window` incremental nodes. */
  readonly interval: Interval;
  readonly connections: ConnectionManager;
  readonly staging: StagingStore;
  readonly watermarks: WatermarkStore;
  readonly log: (level: 'info' | 'warn' | 'debug', message: string, fields?: Record<string, unknown>) => void;
  /** `--full-refresh`: incremental nodes load everything, append nodes replace their target. */
  readonly fullRefresh?: boolean;
  /**
   * Called at the durable steps of a node (`<node>:chunk:<i>`, `<node>:imported`, `<node>:checkpointed`,
   * `<node>:finished`). Crash tests kill the process here; otherwise it does nothing.
   */
  readonly fault?: (point: string) => void;
  /** Told of each stretch of the attempt (planning, a chunk's export, the import, the commit, waits for a session). */
  readonly span?: SpanSink;
}

export interface NodeAttemptResult {
  readonly rowsExported: number;
  readonly rowsImported: number;
  readonly bytes: number;
  readonly chunks: number;
  readonly chunksResumed: number;
  /** What the export counted doing to values (see CsvSink.count), over every chunk of the load. */
  readonly counts?: Readonly<Record<string, number>>;
  readonly note?: string;
}

/** The node with its templates rendered for this run. */
export function renderNode(node: NodeConfig, vars: Readonly<Record<string, string>>): NodeConfig {
  const source: SourceConfig = {
    ...node.source,
    ...(node.source.query !== undefined ? { query: renderDeep(node.source.query, vars) } : {}),
    ...(node.source.where !== undefined ? { where: renderTemplate(node.source.where, vars) } : {}),
    ...(node.source.partition !== undefined
      ? { partition: Object.fromEntries(Object.entries(node.source.partition).map(([k, v]) => [k, renderTemplate(v, vars)])) }
      : {}),
  };
  const partition = node.target.partition;
  const rendered =
    partition === undefined || Array.isArray(partition)
      ? partition
      : Object.fromEntries(Object.entries(partition).map(([k, v]) => [k, renderTemplate(v, vars)]));
  return {
    ...node,
    source,
    target: { ...node.target, table: renderTemplate(node.target.table, vars), ...(rendered === undefined ? {} : { partition: rendered }) },
  };
}

/** Templates rendered in a string, or in every string of a search query clause. */
function renderDeep<T>(value: T, vars: Readonly<Record<string, string>>): T {
  if (typeof value === 'string') return renderTemplate(value, vars) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => renderDeep(v, vars)) as T;
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, vars)])) as T;
  return value;
}

/** Identifies one node's load in one run lineage; the same across retries, so a rerun can ask if it committed. */
export function loadIdOf(pipeline: string, lineage: string, node: string): string {
  return `${pipeline}/${lineage}/${node}`;
}

/** What a node's checkpoint must match to be reused: its rendered definition and the kinds it talks to. */
export function nodeDefinition(node: NodeConfig, env: Pick<NodeEnv, 'pipeline' | 'interval' | 'fullRefresh'>): string {
  const kinds = (c: string): ConnectionConfig | undefined => env.pipeline.connections[c];
  return definitionHash({
    full_refresh: env.fullRefresh === true ? true : undefined,
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
 * Resumes from the checkpoint in the node's staging area: finished chunks whose files are intact are not exported
 * again, and a load that already committed is not loaded again. Throws on failure; the executor decides about
 * retries.
 */
export async function runNodeAttempt(rawNode: NodeConfig, env: NodeEnv, progress: NodeProgress, signal: AbortSignal): Promise<NodeAttemptResult> {
  const node = renderNode(rawNode, env.vars);
  const { pipeline, connections } = env;
  const area = env.staging.area(pipeline.name, env.lineage, node.name);
  const definition = nodeDefinition(node, env);
  const loadId = loadIdOf(pipeline.name, env.lineage, node.name);
  const notes: string[] = [];

  let cp = await readCheckpoint(area);
  if (cp && cp.definition !== definition) {
    notes.push('checkpoint not reused: the node definition changed since it was written');
    env.log('warn', `node ${node.name}: checkpoint not reused: the node definition changed since it was written; exporting again`, { node: node.name });
    await area.clear();
    cp = undefined;
  }

  // Both connections open at once (each loads its driver and connects); a failure of either fails the attempt, and
  // the other stays with the ConnectionManager, which closes it.
  const [opening, targeting] = [connections.get(node.source.connection, signal), connections.get(node.target.connection, signal)];
  targeting.catch(() => {});
  const source = await opening;
  const target = await targeting;
  const watermark = NodeWatermark.of(env.watermarks, pipeline.name, node);
  const settled = await watermark?.settle(target);
  if (settled) env.log('info', `node ${node.name}: ${settled}`, { node: node.name });
  // A resumed load keeps the decision its plan made; a new one may have to refresh a target that lost its rows.
  const full = cp ? cp.full_refresh === true : (env.fullRefresh === true && node.incremental !== undefined) || (await needsFullRefresh(node, env, target, watermark, notes, signal));
  const mode = full && node.target.mode === 'append' ? 'overwrite' : node.target.mode;

  if (cp?.imported) {
    await finish(env, node, area, cp, watermark);
    const rows = cp.rows_imported ?? 0;
    return { rowsExported: rows, rowsImported: rows, bytes: 0, chunks: cp.chunks.length, chunksResumed: cp.chunks.length, note: 'already imported by an earlier attempt' };
  }

  const inner = new AbortController();
  const innerSignal = AbortSignal.any([signal, inner.signal]);
  // Every chunk, session and wait of the node listens to this signal: more than Node's default of 10 is normal.
  setMaxListeners(0, innerSignal);
  // Progress counts a chunk as imported when the import takes the next one: cheap, and close enough.
  let taking = 0;
  const onTake = (c: StagedChunk) => {
    progress.rowsImported += taking;
    taking = c.rows;
  };

  let queue: ChunkQueue;
  let keyQueue: ChunkQueue | undefined;
  let dataChunks: Iterable<ChunkCheckpoint> | AsyncIterable<ChunkCheckpoint>;
  let keyChunks: Iterable<ChunkCheckpoint> | AsyncIterable<ChunkCheckpoint> | undefined;
  let checkpoint: CheckpointWriter;
  let resumed = 0;
  /** The rest of a plan made now, while its first chunks export; resolved once the whole plan is recorded. */
  let planning: Promise<unknown> = Promise.resolve();
  if (!cp) {
    const planStarted = Date.now();
    progress.phase = 'planning';
    let head: PlanHead;
    try {
      head = await planHead(node, env, source, definition, loadId, watermark, full, signal);
    } catch (e) {
      env.span?.({ kind: 'plan', start: planStarted, end: Date.now() });
      throw e;
    }
    cp = head.checkpoint;
    await area.writeJson('schema.json', { format: 'pigeon-csv/1', columns: cp.columns });
    // The chunks' key ranges: each chunk exports as soon as the plan announces it (planChunks' `announce`), while
    // later boundaries are still looked for. The checkpoint is written once the plan is complete, before any chunk
    // is recorded as done, so a failure before that leaves nothing to resume and a retry plans again.
    const gzip = env.pipeline.staging.compress === 'gzip';
    const data = new PlanListener(ChunkQueue.open(onTake), (s) => ({ ...s, file: chunkFile(s, gzip), done: false }));
    const keys = head.keys ? new PlanListener(ChunkQueue.open(), (s) => ({ ...s, file: chunkFile(s, gzip, 'keys'), done: false })) : undefined;
    const session = <T>(fn: () => Promise<T>) => timedSession(env.connections, node.source.connection, fn, env.span);
    const planned = (async (): Promise<NodeCheckpoint> => {
      try {
        if (head.request) data.complete(await session(() => source.planChunks(head.request!, innerSignal, (c) => data.announce(c))));
        else data.complete([]);
        if (keys && head.keys) keys.complete(await session(() => source.planChunks(head.keys!, innerSignal, (c) => keys.announce(c))));
      } finally {
        env.span?.({ kind: 'plan', start: planStarted, end: Date.now() });
      }
      const total = data.list.reduce((n, c) => (n === undefined || c.estimate === undefined ? undefined : n + c.estimate), 0 as number | undefined);
      if (total !== undefined) progress.rowsTotal = total;
      env.log('debug', `node ${node.name}: planned ${data.list.length} chunks`, { node: node.name, event: 'planned', chunks: data.list.length, duration_ms: Date.now() - planStarted });
      return { ...head.checkpoint, chunks: data.list, ...(keys ? { key_chunks: keys.list } : {}) };
    })();
    planned.catch((e: unknown) => {
      data.fail(e);
      keys?.fail(e);
      inner.abort(e);
    });
    checkpoint = new CheckpointWriter(area, cp, planned);
    planning = checkpoint.settled().then(() => planned);
    queue = data.queue;
    keyQueue = keys?.queue;
    dataChunks = data.announced;
    keyChunks = keys?.announced;
  } else {
    const chunks = await reusableChunks(area, cp.chunks, env, node.name, notes);
    const keyList = cp.key_chunks ? await reusableChunks(area, cp.key_chunks, env, node.name, notes) : undefined;
    resumed = chunks.filter((c) => c.done).length;
    if (resumed > 0) env.log('info', `node ${node.name}: resuming, ${resumed}/${chunks.length} chunks already exported`, { node: node.name });
    for (const c of chunks) {
      if (!c.done) continue;
      progress.rowsExported += c.rows ?? 0;
      progress.bytes += c.bytes ?? 0;
    }
    // The total is known when every chunk not yet exported has an estimate from the plan.
    if (chunks.every((c) => c.done || c.estimate !== undefined)) progress.rowsTotal = chunks.reduce((n, c) => n + (c.done ? (c.rows ?? 0) : c.estimate!), 0);
    queue = new ChunkQueue(chunks.map((c) => c.index), onTake);
    keyQueue = keyList ? new ChunkQueue(keyList.map((c) => c.index)) : undefined;
    dataChunks = chunks;
    keyChunks = keyList;
    checkpoint = new CheckpointWriter(area, { ...cp, chunks, ...(keyList ? { key_chunks: keyList } : {}) });
  }
  const plan = cp;

  const exportInto = (
    q: ChunkQueue,
    list: 'chunks' | 'key_chunks',
    chunks: Iterable<ChunkCheckpoint> | AsyncIterable<ChunkCheckpoint>,
    req: ExportRequest,
    columns: readonly ColumnSchema[],
    counted: NodeProgress,
  ) =>
    exportChunks({
      node: node.name,
      source,
      sourceConnection: node.source.connection,
      connections,
      req,
      area,
      columns: columns.map((c) => c.name),
      checkpoint,
      list,
      chunks,
      queue: q,
      progress: counted,
      signal: innerSignal,
      log: env.log,
      onDurable: (c) => env.fault?.(`${node.name}:${list === 'chunks' ? 'chunk' : 'keys'}:${c.index}`),
      ...(env.span ? { span: env.span } : {}),
    }).then(
      (total) => {
        q.complete(total);
        return total;
      },
      (e: unknown) => {
        q.fail(e);
        throw e;
      },
    );
  const exportingData = exportInto(queue, 'chunks', dataChunks, exportRequest(node, plan.window), plan.columns, progress).then((rows) => {
    if (progress.phase === EXPORTING) progress.phase = 'loading';
    return rows;
  });
  // deletes: detect: the source's key set exports beside the data, into a feed of its own for the import.
  const keyRequest = keySetPlan(node);
  const exportingKeys =
    keyQueue && keyChunks && keyRequest && plan.key_columns
      ? exportInto(keyQueue, 'key_chunks', keyChunks, keyRequest, plan.key_columns, { rowsExported: 0, rowsImported: 0, bytes: 0 }).catch((e: unknown) => {
          inner.abort(e);
          throw e;
        })
      : Promise.resolve(0);
  const exporting = Promise.all([exportingData, exportingKeys, planning]).then(([rows]) => rows);

  const importReq: ImportRequest = {
    node: node.name,
    table: node.target.table,
    mode,
    ...(node.target.key ? { key: node.target.key } : {}),
    create: node.target.create,
    ...(node.target.lossy ? { lossy: node.target.lossy } : {}),
    ...(node.schema_changes ? { schemaChanges: node.schema_changes } : {}),
    ...(mode === 'append' && node.incremental?.strategy === 'window' && plan.window ? { replaceWindow: plan.window } : {}),
    ...(keyQueue ? { deleteMissing: keyQueue } : {}),
    ...(node.target.max_rejects !== undefined ? { maxRejects: node.target.max_rejects } : {}),
    ...(node.target.partition === undefined ? {} : { partition: partitionColumns(node.target.partition) }),
    columns: plan.columns,
    loadId,
    spareSession: <T>(work: () => Promise<T>) => connections.trySession(node.target.connection, work),
    onCommit: () => {
      progress.phase = `committing into ${node.target.table}`;
      committing = Date.now();
    },
  };
  progress.phase = EXPORTING;
  const watermarkTo = plan.watermark_to;
  let deleted: number | undefined;
  let committing: number | undefined;
  const importAll = async () => {
    // The watermark this load reaches is recorded as pending before the commit can happen.
    await watermark?.markPending(loadId, watermarkTo);
    return timedSession(connections, node.target.connection, async () => {
      const started = Date.now();
      let r: ImportResult;
      try {
        r = await target.import(importReq, queue, innerSignal);
      } finally {
        const end = Date.now();
        env.span?.({ kind: 'import', start: started, end: committing ?? end });
        if (committing !== undefined) env.span?.({ kind: 'commit', start: committing, end });
      }
      if (r.deleted !== undefined) {
        deleted = r.deleted;
        env.log('info', `node ${node.name}: ${r.deleted} rows deleted from ${node.target.table}, whose key the source no longer has`, { node: node.name, event: 'deleted', rows: r.deleted });
      }
      if (r.schemaChanges) {
        notes.push(`target ${node.target.table}: ${r.schemaChanges}`);
        env.log('info', `node ${node.name}: target ${node.target.table}: ${r.schemaChanges}`, { node: node.name, event: 'schema_changed' });
      }
      env.log('debug', `node ${node.name}: ${r.rows} rows imported and committed`, {
        node: node.name,
        event: 'imported',
        rows: r.rows,
        started_at: new Date(started).toISOString(),
        duration_ms: Date.now() - started,
      });
      return r;
    }, env.span);
  };

  let rowsExported: number;
  let result: ImportResult;
  try {
    // Export and import overlap unless they share a connection, whose session limit could then deadlock them.
    if (node.source.connection !== node.target.connection) {
      const importing = importAll().catch((e: unknown) => {
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
    await checkpoint.settled();
  }

  const rejected = result.rejected ?? 0;
  if (result.rows + rejected !== rowsExported) {
    throw new PipelineError('ROW_COUNT_MISMATCH', `exported ${rowsExported} rows but imported ${result.rows}${rejected > 0 ? ` (and ${rejected} rejected)` : ''}`, { node: node.name });
  }
  if (result.note) {
    notes.push(result.note);
    env.log('warn', `node ${node.name}: ${result.note}`, { node: node.name, rejected });
  }
  env.fault?.(`${node.name}:imported`);
  await checkpoint.save((s) => ({ ...s, imported: true, rows_imported: result.rows }));
  env.fault?.(`${node.name}:checkpointed`);
  const final = checkpoint.state;
  await finish(env, node, area, final, watermark);
  env.fault?.(`${node.name}:finished`);
  const exportCounts = sumCounts(final.chunks, deleted);
  const counts = rejected > 0 ? { ...exportCounts, rejected } : exportCounts;
  return {
    rowsExported,
    rowsImported: result.rows,
    bytes: final.chunks.reduce((n, c) => n + (c.bytes ?? 0), 0),
    chunks: final.chunks.length,
    chunksResumed: resumed,
    ...(counts ? { counts } : {}),
    ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
  };
}

/** The phase while chunks export (and load as they come); `loading` once every chunk is exported. */
const EXPORTING = 'exporting and loading';

/**
 * The checkpoint's chunks, a finished one still marked done only if its file holds exactly the bytes recorded when
 * it was exported (size and SHA-256): a file damaged or removed between a crash and the retry is exported again.
 */
async function reusableChunks(area: StagingArea, list: readonly ChunkCheckpoint[], env: NodeEnv, node: string, notes: string[]): Promise<ChunkCheckpoint[]> {
  const out: ChunkCheckpoint[] = [];
  for (const c of list) {
    if (!c.done) {
      out.push(c);
      continue;
    }
    const state = c.bytes !== undefined && c.sha256 !== undefined ? await area.verify(c.file, { bytes: c.bytes, sha256: c.sha256 }) : 'damaged';
    if (state === 'intact') {
      out.push(c);
      continue;
    }
    if (state === 'damaged') {
      const message = `chunk ${area.describe(c.file)} does not match the checksum recorded when it was exported (damaged since): exporting it again`;
      notes.push(`chunk ${c.index} damaged in staging, exported again`);
      env.log('warn', `node ${node}: ${message}`, { node, code: 'CHECKSUM_MISMATCH', chunk: c.index });
    }
    out.push({ index: c.index, file: c.file, ...(c.range ? { range: c.range } : {}), ...(c.part ? { part: c.part } : {}), ...(c.estimate !== undefined ? { estimate: c.estimate } : {}), done: false });
  }
  return out;
}

/** After the commit: the watermark moves, then the chunk files go (unless staging.keep). */
async function finish(env: NodeEnv, node: NodeConfig, area: StagingArea, cp: NodeCheckpoint, watermark: NodeWatermark | undefined): Promise<void> {
  await watermark?.advance(cp.watermark_to);
  // Committed and recorded in the target: a rerun is protected by the load record, so the files can go.
  if (!env.pipeline.staging.keep) await area.clear();
}

function sumCounts(chunks: readonly ChunkCheckpoint[], deleted: number | undefined): Record<string, number> | undefined {
  let out: Record<string, number> | undefined = deleted === undefined ? undefined : { deleted };
  for (const c of chunks) {
    for (const [k, n] of Object.entries(c.counts ?? {})) {
      out ??= {};
      out[k] = (out[k] ?? 0) + n;
    }
  }
  return out;
}

/** `target.partition` as the import takes it: a mapping is static (each column with its value), a list dynamic. */
function partitionColumns(p: Readonly<Record<string, string>> | readonly string[]): readonly PartitionColumn[] {
  if (Array.isArray(p)) return (p as readonly string[]).map((column) => ({ column }));
  return Object.entries(p).map(([column, value]) => ({ column, value }));
}
