import { readJson, writeJson } from './object-json.js';
import { KEEP_LOADS } from './object-layout.js';
import type { ObjectStore } from './object-store.js';

interface Journal {
  readonly committed: readonly string[];
  /** Written before the move of `tmp` over the data object: after this write the load counts as committed. */
  readonly pending?: { readonly load_id: string; readonly tmp: string };
}

/**
 * The load records of one data object that a load replaces whole (a complete new object moved over the old one),
 * kept in a small JSON object of the same store: which loads committed, and a commit in progress. The journal says
 * "committed" before the move and the move follows, so a crash in between is rolled forward by the next reader,
 * never loaded twice.
 */
export class FileLoadJournal {
  readonly #store: ObjectStore;
  readonly #key: string;
  readonly #data: string;

  /** `key`: the journal object; `data`: the object loads replace. */
  constructor(store: ObjectStore, key: string, data: string) {
    this.#store = store;
    this.#key = key;
    this.#data = data;
  }

  /** Finishes a commit that a crash interrupted after it became durable; returns the committed load ids. */
  async recover(): Promise<readonly string[]> {
    const journal = (await readJson<Journal>(this.#store, this.#key)) ?? { committed: [] };
    if (!journal.pending) return journal.committed;
    if (await this.#store.stat(journal.pending.tmp)) await this.#store.rename(journal.pending.tmp, this.#data);
    await writeJson(this.#store, this.#key, { committed: journal.committed } satisfies Journal);
    return journal.committed;
  }

  async committed(loadId: string): Promise<boolean> {
    return (await this.recover()).includes(loadId);
  }

  /**
   * Commits `loadId`: journal first (durable "committed"), then `beforeMove` (what must describe the new object,
   * such as its schema sidecar), then `tmp` moved over the data object.
   */
  async commit(loadId: string, tmp: string, committed: readonly string[], beforeMove?: () => Promise<void>): Promise<void> {
    const ids = [...committed, loadId].slice(-KEEP_LOADS);
    await writeJson(this.#store, this.#key, { committed: ids, pending: { load_id: loadId, tmp } } satisfies Journal);
    await beforeMove?.();
    await this.#store.rename(tmp, this.#data);
    await writeJson(this.#store, this.#key, { committed: ids } satisfies Journal);
  }
}
