import type { NodeConfig } from '../config/types.js';
import type { ChunkSpec, Connector, ExportRequest } from '../connectors/contract.js';
import { PipelineError } from '../errors/pipeline-error.js';
import type { ChunkCheckpoint, NodeCheckpoint } from './checkpoint.js';
import { AnnouncedChunks, type ChunkQueue } from './chunk-queue.js';
import { timedSession } from './export-chunks.js';
import { exportRequest, exportWindow } from './plan.js';
import type { NodeEnv } from './run-node.js';
import type { NodeWatermark } from './watermark.js';

// The first steps of a node's attempt, before its chunks move: what the load reads (columns, window, watermark
// range), whether a missing target needs a full refresh, and the listener that hands announced chunks on.

/** How long a watermark load waits for the source's open transactions by default (`incremental.wait_for_writers`). */
const DEFAULT_WAIT_FOR_WRITERS = 5 * 60_000;

/**
 * What a load reads, but for its chunks: its columns, window and watermark range, frozen in the checkpoint, and the
 * requests whose chunks are planned next (none when there is nothing new). Runs once per lineage.
 */
export interface PlanHead {
  /** The checkpoint without chunks. */
  readonly checkpoint: NodeCheckpoint;
  /** The data's export, unless nothing is new since the watermark. */
  readonly request: ExportRequest | undefined;
  /** `deletes: detect`: the export of the source's key set. */
  readonly keys: ExportRequest | undefined;
}

export async function planHead(
  node: NodeConfig,
  env: NodeEnv,
  source: Connector,
  definition: string,
  loadId: string,
  watermark: NodeWatermark | undefined,
  full: boolean,
  signal: AbortSignal,
): Promise<PlanHead> {
  const session = <T>(fn: () => Promise<T>) => timedSession(env.connections, node.source.connection, fn, env.span);
  const columns = await session(() => source.describe(exportRequest(node, undefined), signal));
  const from = watermark ? (full ? watermark.initial : await watermark.saved()) : null;
  const columnType = watermark ? columns.find((c) => c.name === watermark.column)?.type : undefined;
  const waitMs = node.incremental?.wait_for_writers ?? DEFAULT_WAIT_FOR_WRITERS;
  // A full refresh of a window node reads every row; of a watermark node, everything from `initial` on.
  const planned = full && node.incremental?.strategy === 'window' ? { ...node, incremental: undefined } : node;
  const w = await exportWindow(planned, env.interval, from, columnType, (lowerOnly) =>
    session(async () => {
      const max = await source.maxValue(exportRequest(node, lowerOnly), lowerOnly.column, signal);
      // Rows of transactions open right now may still commit below the maximum: they must be visible first.
      if (waitMs !== false && source.awaitOpenTransactions) await source.awaitOpenTransactions(waitMs, signal);
      return max;
    }),
  );
  const keys = keySetPlan(node);
  return {
    checkpoint: {
      version: 1,
      node: node.name,
      definition,
      load_id: loadId,
      ...(w.window ? { window: w.window } : {}),
      ...(w.watermarkTo !== undefined ? { watermark_to: w.watermarkTo } : {}),
      columns,
      chunks: [],
      ...(keys
        ? {
            key_columns: node.target.key!.map((k) => columns.find((c) => c.name === k) ?? { name: k, type: 'text' as const, nullable: true }),
            key_chunks: [],
          }
        : {}),
      imported: false,
      ...(full ? { full_refresh: true } : {}),
      created_at: new Date().toISOString(),
    },
    request: w.nothingNew ? undefined : exportRequest(node, w.window),
    keys,
  };
}

/**
 * One chunk list of a plan being made: the chunks the connector announces, handed at once to the export
 * (`announced`) and to the import's queue, then the complete list, checked against what was announced.
 */
export class PlanListener {
  readonly queue: ChunkQueue;
  readonly announced = new AnnouncedChunks<ChunkCheckpoint>();
  readonly #toCheckpoint: (spec: ChunkSpec) => ChunkCheckpoint;
  readonly #list: ChunkCheckpoint[] = [];
  #specs: ChunkSpec[] = [];

  constructor(queue: ChunkQueue, toCheckpoint: (spec: ChunkSpec) => ChunkCheckpoint) {
    this.queue = queue;
    this.#toCheckpoint = toCheckpoint;
  }

  /** Every chunk of the plan, once it is complete. */
  get list(): readonly ChunkCheckpoint[] {
    return this.#list;
  }

  announce(spec: ChunkSpec): void {
    if (spec.index !== this.#specs.length + 1) throw new PipelineError('INTERNAL', `chunk ${spec.index} announced after chunk ${this.#specs.length}`);
    this.#specs.push(spec);
    const c = this.#toCheckpoint(spec);
    this.#list.push(c);
    this.queue.expect(c.index);
    this.announced.push(c);
  }

  /** The plan's result: the chunks not announced yet are announced now; those announced must be the same. */
  complete(specs: readonly ChunkSpec[]): void {
    specs.forEach((spec, i) => {
      const seen = this.#specs[i];
      if (seen === undefined) this.announce(spec);
      else if (JSON.stringify(seen) !== JSON.stringify(spec)) {
        throw new PipelineError('INTERNAL', `the plan's chunk ${spec.index} differs from the one announced`);
      }
    });
    if (specs.length < this.#specs.length) throw new PipelineError('INTERNAL', `the plan has ${specs.length} chunks, ${this.#specs.length} were announced`);
    this.queue.seal();
    this.announced.end();
  }

  fail(e: unknown): void {
    this.queue.fail(e);
    this.announced.fail(e);
  }
}

/**
 * `deletes: detect`: the request that exports the source's whole key set (the key's columns of every row the
 * source selects, without the incremental window).
 */
export function keySetPlan(node: NodeConfig): ExportRequest | undefined {
  if (node.deletes !== 'detect' || node.target.mode !== 'merge' || !node.target.key) return undefined;
  return exportRequest({ ...node, source: { ...node.source, columns: node.target.key } }, undefined);
}

/**
 * An incremental node by watermark whose saved watermark says rows were loaded, and whose append or merge target is
 * missing or empty (dropped, truncated): loading only the rows after the watermark would leave it silently
 * partial. It fails saying so, or with `on_missing_target: full_refresh` loads everything, with a warning.
 */
export async function needsFullRefresh(
  node: NodeConfig,
  env: NodeEnv,
  target: Connector,
  watermark: NodeWatermark | undefined,
  notes: string[],
  signal: AbortSignal,
): Promise<boolean> {
  if (!watermark || node.target.mode === 'overwrite' || !target.probeTarget) return false;
  const saved = await watermark.stored();
  if (saved === null) return false;
  const state = await env.connections.session(node.target.connection, () => target.probeTarget!(node.target.table, signal));
  if (state === 'filled') return false;
  const why = `target table \`${node.target.table}\` is ${state} although the watermark says rows up to ${saved} were loaded into it`;
  if (node.on_missing_target === 'full_refresh') {
    notes.push(`${why}: full refresh`);
    env.log('warn', `node ${node.name}: ${why}: loading everything (on_missing_target: full_refresh)`, { node: node.name, event: 'full_refresh' });
    return true;
  }
  throw new PipelineError('TARGET_MISSING', `${why}: a load now would bring only the rows after it`, {
    node: node.name,
    table: node.target.table,
    hint: `run \`pigeon run <file> --full-refresh -s ${node.name}\` to load everything, or set \`on_missing_target: full_refresh\` on the node`,
  });
}
