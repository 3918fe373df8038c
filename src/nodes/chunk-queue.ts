import type { ChunkFeed, StagedChunk } from '../connectors/contract.js';

/**
 * Hands finished chunks to the import in index order while later chunks are still exporting, so a merge's
 * "last row wins" is deterministic whatever order the parallel exports finish in. The chunks to expect are given
 * at once, or one by one while the plan is still being made (`open()`, `expect()`, then `seal()`).
 */
export class ChunkQueue implements ChunkFeed {
  readonly #expected: number[];
  #sealed: boolean;
  readonly #ready = new Map<number, StagedChunk>();
  #next = 0;
  #error: unknown;
  #wake: (() => void) | undefined;
  readonly #total: Promise<number>;
  #resolveTotal!: (n: number) => void;
  #rejectTotal!: (e: unknown) => void;

  readonly #onTake: ((chunk: StagedChunk) => void) | undefined;

  /** `indexes`: every chunk index the export will produce, in import order; `onTake` sees each chunk handed out. */
  constructor(indexes: readonly number[], onTake?: (chunk: StagedChunk) => void, sealed = true) {
    this.#expected = [...indexes];
    this.#sealed = sealed;
    this.#onTake = onTake;
    this.#total = new Promise<number>((res, rej) => {
      this.#resolveTotal = res;
      this.#rejectTotal = rej;
    });
    this.#total.catch(() => {});
  }

  /** A queue whose chunks are not planned yet: each is announced by `expect()`, the last by `seal()`. */
  static open(onTake?: (chunk: StagedChunk) => void): ChunkQueue {
    return new ChunkQueue([], onTake, false);
  }

  /** One more chunk the export will produce, after those expected so far. */
  expect(index: number): void {
    if (this.#sealed) throw new Error(`chunk ${index} expected after the plan was complete`);
    this.#expected.push(index);
    this.#wake?.();
  }

  /** Every chunk is expected now. */
  seal(): void {
    this.#sealed = true;
    this.#wake?.();
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
    while (this.#next < this.#expected.length || !this.#sealed) {
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

/**
 * The chunks of a plan still being made, as an async iterable: each as the planner announces it, ending when the plan
 * is complete or throwing its error. One reader (the export of the chunks).
 */
export class AnnouncedChunks<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #ended = false;
  #error: unknown;
  #failed = false;
  #wake: (() => void) | undefined;

  push(item: T): void {
    this.#items.push(item);
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  fail(error: unknown): void {
    this.#failed = true;
    this.#error = error;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    let i = 0;
    for (;;) {
      if (i < this.#items.length) {
        yield this.#items[i++]!;
        continue;
      }
      if (this.#failed) throw this.#error;
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}
