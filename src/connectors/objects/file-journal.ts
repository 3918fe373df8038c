import { access, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readJsonIfExists, syncDir, writeJsonAtomic } from '../../state/atomic-file.js';

interface Journal {
  readonly committed: readonly string[];
  /** Written before the rename of `tmp` over the data file: after this write the load counts as committed. */
  readonly pending?: { readonly load_id: string; readonly tmp: string };
}

/** Load ids remembered per file: enough for any retry of a recent run. */
const KEEP = 200;

/**
 * The load records of one target file that a load replaces whole (a complete new file renamed over the old one):
 * which loads committed, and a commit in progress. The journal says "committed" before the rename and the rename
 * follows, so a crash in between is rolled forward by the next reader, never loaded twice.
 */
export class FileLoadJournal {
  readonly #path: string;
  readonly #data: string;

  /** `path`: the journal file; `data`: the file loads replace. */
  constructor(path: string, data: string) {
    this.#path = path;
    this.#data = data;
  }

  /** Finishes a commit that a crash interrupted after it became durable; returns the committed load ids. */
  async recover(): Promise<readonly string[]> {
    const journal = (await readJsonIfExists<Journal>(this.#path)) ?? { committed: [] };
    if (!journal.pending) return journal.committed;
    if (await exists(journal.pending.tmp)) await rename(journal.pending.tmp, this.#data);
    await writeJsonAtomic(this.#path, { committed: journal.committed } satisfies Journal);
    return journal.committed;
  }

  async committed(loadId: string): Promise<boolean> {
    return (await this.recover()).includes(loadId);
  }

  /**
   * Commits `loadId`: journal first (durable "committed"), then `beforeRename` (what must describe the new file, such
   * as its schema sidecar), then `tmp` renamed over the data file.
   */
  async commit(loadId: string, tmp: string, committed: readonly string[], beforeRename?: () => Promise<void>): Promise<void> {
    const ids = [...committed, loadId].slice(-KEEP);
    await writeJsonAtomic(this.#path, { committed: ids, pending: { load_id: loadId, tmp } } satisfies Journal);
    await beforeRename?.();
    await rename(tmp, this.#data);
    await syncDir(dirname(this.#data));
    await writeJsonAtomic(this.#path, { committed: ids } satisfies Journal);
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}
