import type { ChunkFeed, StagedChunk } from '../connectors/contract.js';

/**
 * Hands finished chunks to the import in index order while later chunks are still exporting, so a merge's
 * "last row wins" is deterministic whatever order the parallel exports finish in.
 */
export class ChunkQueue implements ChunkFeed {
  readonly #expected: readonly number[];
  readonly #ready = new Map<number, StagedChunk>();
  #next = 0;
  #error: unknown;
  #wake: (() => void) | undefined;
  readonly #total: Promise<number>;
  #resolveTotal!: (n: number) => void;
  #rejectTotal!: (e: unknown) => void;

  readonly #onTake: ((chunk: StagedChunk) => void) | undefined;

  /** `indexes`: every chunk index the export will produce, in import order; `onTake` sees each chunk handed out. */
  constructor(indexes: readonly number[], onTake?: (chunk: StagedChunk) => void) {
    this.#expected = indexes;
    this.#onTake = onTake;
    this.#total = new Promise<number>((res, rej) => {
      this.#resolveTotal = res;
      this.#rejectTotal = rej;
    });
    this.#total.catch(() => {});
  }

  add(chunk: StagedChunk): void {
    this.#ready.set(chunk.index, chunk);
    this.#wake?.();
  }

  /** The export is complete with this many rows in total. */
  complete(totalRows: number): void {
    this.#resolveTotal(totalRows);
    this.#wake?.();
  }

  fail(error: unknown): void {
    if (this.#error === undefined) this.#error = error ?? new Error('export failed');
    this.#rejectTotal(this.#error);
    this.#wake?.();
  }

  totalRows(): Promise<number> {
    return this.#total;
  }

  backlog(): number {
    return this.#ready.size;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StagedChunk> {
    while (this.#next < this.#expected.length) {
      if (this.#error !== undefined) throw this.#error;
      const chunk = this.#ready.get(this.#expected[this.#next]!);
      if (chunk) {
        this.#ready.delete(chunk.index);
        this.#next++;
        this.#onTake?.(chunk);
        yield chunk;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
    if (this.#error !== undefined) throw this.#error;
  }
}
