import type { IncrementalConfig, NodeConfig } from '../config/types.js';
import type { Connector } from '../connectors/contract.js';
import type { WatermarkStore } from '../state/watermarks.js';

/**
 * The watermark of one incremental node across one load, in the order the load touches it:
 * 1. `settle`: a pending value left by a load that crashed around its commit becomes real if that load committed
 *    (the target's load record decides), and is dropped otherwise;
 * 2. `saved`: where this load starts;
 * 3. `markPending`: before the import can commit, the value this load reaches is recorded as pending with its id;
 * 4. `advance`: after the commit, the value becomes the watermark.
 * So a watermark never runs ahead of, or behind, the data, whatever moment a crash hits.
 */
export class NodeWatermark {
  readonly #store: WatermarkStore;
  readonly #pipeline: string;
  readonly #node: string;
  readonly #config: IncrementalConfig;
  readonly #table: string;

  private constructor(store: WatermarkStore, pipeline: string, node: NodeConfig, config: IncrementalConfig) {
    this.#store = store;
    this.#pipeline = pipeline;
    this.#node = node.name;
    this.#config = config;
    this.#table = node.target.table;
  }

  /** The node's watermark, or undefined when the node is not incremental by watermark. */
  static of(store: WatermarkStore, pipeline: string, node: NodeConfig): NodeWatermark | undefined {
    return node.incremental?.strategy === 'watermark' ? new NodeWatermark(store, pipeline, node, node.incremental) : undefined;
  }

  get column(): string {
    return this.#config.column;
  }

  /** Settles a pending value of an interrupted load; returns what happened, for the log. */
  async settle(target: Connector): Promise<string | undefined> {
    const wm = await this.#store.read(this.#pipeline, this.#node);
    if (!wm?.pending) return undefined;
    const committed = await target.isCommitted(wm.pending.target, wm.pending.load_id);
    const value = committed ? wm.pending.value : wm.value;
    await this.#write(value);
    return `watermark ${committed ? 'advanced to' : 'kept at'} ${value} (settled an interrupted load)`;
  }

  /** The lower bound of this load: the saved watermark, else the node's `initial`, else none (everything). */
  async saved(): Promise<string | null> {
    return (await this.stored()) ?? this.#config.initial ?? null;
  }

  /** The watermark a committed load saved, or null before the first one (or after `pigeon state reset`). */
  async stored(): Promise<string | null> {
    return (await this.#store.read(this.#pipeline, this.#node))?.value ?? null;
  }

  /** Where a full refresh starts: the node's `initial`, or everything. */
  get initial(): string | null {
    return this.#config.initial ?? null;
  }

  async markPending(loadId: string, to: string | null | undefined): Promise<void> {
    const wm = await this.#store.read(this.#pipeline, this.#node);
    await this.#store.write(this.#pipeline, this.#node, {
      column: this.#config.column,
      value: wm?.value ?? null,
      pending: { load_id: loadId, value: to ?? wm?.value ?? null, target: this.#table },
      updated_at: new Date().toISOString(),
    });
  }

  advance(to: string | null | undefined): Promise<void> {
    return this.#write(to ?? null);
  }

  #write(value: string | null): Promise<void> {
    return this.#store.write(this.#pipeline, this.#node, { column: this.#config.column, value, updated_at: new Date().toISOString() });
  }
}
