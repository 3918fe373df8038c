import type { ChunkFeed, StagedChunk } from './contract.js';

/**
 * Consumes a feed whose chunks are not needed (the load committed in an earlier attempt) and returns the export's
 * row count; stops at once when `signal` aborts, even if the export behind the feed is still running.
 */
export async function drainFeed(feed: ChunkFeed, signal?: AbortSignal): Promise<number> {
  for await (const _ of abortableChunks(feed, signal)) {
    // the chunks are not needed
  }
  return abortable(feed.totalRows(), signal);
}

/** The feed's chunks, stopping at once when `signal` aborts (an export still running must not hold the import). */
export async function* abortableChunks(feed: ChunkFeed, signal?: AbortSignal): AsyncGenerator<StagedChunk> {
  const chunks = feed[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await abortable(chunks.next(), signal);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Not awaited: after an abort a next() may still be pending, and return() would wait for it.
    chunks.return?.()?.catch(() => {});
  }
}

/** `p`, or the abort reason as soon as `signal` fires (a stalled sink or an export still running must not hold us). */
export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    // `p` is abandoned, but it may still reject (a feed ends with the same abort): nobody may leave that unhandled,
    // or the process dies of an unhandled rejection.
    p.catch(() => {});
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}

export interface SpreadOptions<S> {
  readonly feed: ChunkFeed;
  readonly signal?: AbortSignal;
  /** The session the import holds; it loads chunks too, and alone when `spare` is not given. */
  readonly session: S;
  /** Sessions in use at most, the held one included. */
  readonly maxSessions: number;
  /**
   * Opens one more session and runs `use` on it, honouring `signal`; undefined when none is free now (see
   * ImportRequest.spareSession).
   */
  readonly spare?: (use: (session: S) => Promise<number>, signal: AbortSignal) => Promise<number> | undefined;
  /** Loads one chunk on `session`; returns its rows. */
  readonly load: (session: S, chunk: StagedChunk, signal: AbortSignal) => Promise<number>;
}

/**
 * Loads every chunk of the feed: on the held session and, while exported chunks wait to be taken (the import is the
 * slower half), on spare sessions as well, each taking the next chunk as it is free. The first failure aborts the
 * others, and once every session has stopped the load rejects with it. Returns the rows loaded.
 */
export async function spreadChunks<S>(o: SpreadOptions<S>): Promise<number> {
  const chunks = o.feed[Symbol.asyncIterator]();
  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
  const workers: Promise<number>[] = [];
  let failure: unknown;
  const track = (w: Promise<number>) => {
    workers.push(w);
    w.catch((e: unknown) => {
      if (failure === undefined) failure = e;
      stop.abort(e);
    });
  };
  const work = async (session: S): Promise<number> => {
    let rows = 0;
    for (;;) {
      const next = await abortable(chunks.next(), signal);
      if (next.done) return rows;
      if (o.spare && o.feed.backlog() > 0 && workers.length < o.maxSessions && !signal.aborted) {
        const helper = o.spare(work, signal);
        if (helper) track(helper);
      }
      rows += await o.load(session, next.value, signal);
    }
  };
  try {
    track(work(o.session));
    // Helpers may join while earlier workers run: wait until every worker there is has settled.
    for (let i = 0; i < workers.length; i++) await workers[i]!.catch(() => {});
  } finally {
    // Not awaited: after an abort a next() may still be pending, and return() would wait for it.
    chunks.return?.()?.catch(() => {});
  }
  if (failure !== undefined) throw o.signal?.aborted ? o.signal.reason : failure;
  let rows = 0;
  for (const w of workers) rows += await w;
  return rows;
}
