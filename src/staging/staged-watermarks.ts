import { readJson, writeJson } from '../connectors/objects/object-json.js';
import type { ObjectStore } from '../connectors/objects/object-store.js';
import type { WatermarkState, WatermarkStore } from '../state/watermarks.js';

/**
 * Watermarks in a shared staging (`<root>/<pipeline>/_watermarks/<node>.json`), so every worker of a distributed run
 * reads and advances the same one. A node with none there yet reads the one this machine's state directory kept
 * from before (the staging became shared later), so moving to a shared staging does not load everything again.
 */
export class StagedWatermarkStore implements WatermarkStore {
  readonly #store: ObjectStore;
  readonly #key: (pipeline: string, node: string) => string;
  readonly #before: WatermarkStore;

  /** `key`: where a node's watermark is kept in `store`. */
  constructor(store: ObjectStore, key: (pipeline: string, node: string) => string, before: WatermarkStore) {
    this.#store = store;
    this.#key = key;
    this.#before = before;
  }

  async read(pipeline: string, node: string): Promise<WatermarkState | undefined> {
    return (await readJson<WatermarkState>(this.#store, this.#key(pipeline, node))) ?? (await this.#before.read(pipeline, node));
  }

  write(pipeline: string, node: string, state: WatermarkState): Promise<void> {
    return writeJson(this.#store, this.#key(pipeline, node), state);
  }

  async remove(pipeline: string, node: string): Promise<void> {
    await this.#store.delete([this.#key(pipeline, node)]);
    await this.#before.remove(pipeline, node);
  }
}
