import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readJsonIfExists, writeJsonAtomic } from './atomic-file.js';

/**
 * The saved watermark of an incremental node. Before an import commits, the new value is recorded as `pending`
 * with the load's id; after the commit it becomes the watermark. A crash in between is settled on the next run by
 * asking the target whether that load committed, so a watermark never runs ahead of, or behind, the data.
 */
export interface WatermarkState {
  readonly column: string;
  readonly value: string | null;
  readonly pending?: { readonly load_id: string; readonly value: string | null; readonly target: string };
  readonly updated_at: string;
}

/** Where watermarks are kept: a state directory of this machine, or a staging every worker shares. */
export interface WatermarkStore {
  read(pipeline: string, node: string): Promise<WatermarkState | undefined>;
  /** Atomic: a reader sees the old state or the new one. */
  write(pipeline: string, node: string, state: WatermarkState): Promise<void>;
  /** Forgets a node's watermark (`pigeon state reset`). */
  remove(pipeline: string, node: string): Promise<void>;
}

/** Watermarks in `<state dir>/watermarks/<pipeline>/<node>.json` of this machine. */
export class FileWatermarkStore implements WatermarkStore {
  readonly #dir: string;

  constructor(stateDir: string) {
    this.#dir = join(stateDir, 'watermarks');
  }

  #file(pipeline: string, node: string): string {
    return join(this.#dir, encodeURIComponent(pipeline), `${encodeURIComponent(node)}.json`);
  }

  read(pipeline: string, node: string): Promise<WatermarkState | undefined> {
    return readJsonIfExists<WatermarkState>(this.#file(pipeline, node));
  }

  write(pipeline: string, node: string, state: WatermarkState): Promise<void> {
    return writeJsonAtomic(this.#file(pipeline, node), state);
  }

  async remove(pipeline: string, node: string): Promise<void> {
    await rm(this.#file(pipeline, node), { force: true });
  }
}
