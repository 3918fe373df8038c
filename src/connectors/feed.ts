import type { ChunkFeed } from './contract.js';

/**
 * Consumes a feed whose chunks are not needed (the load committed in an earlier attempt) and returns the export's
 * row count; stops at once when `signal` aborts, even if the export behind the feed is still running.
 */
export async function drainFeed(feed: ChunkFeed, signal?: AbortSignal): Promise<number> {
  const chunks = feed[Symbol.asyncIterator]();
  try {
    while (!(await abortable(chunks.next(), signal)).done) {
      // the chunks are not needed
    }
  } finally {
    void chunks.return?.();
  }
  return abortable(feed.totalRows(), signal);
}

/** `p`, or the abort reason as soon as `signal` fires (a stalled sink or an export still running must not hold us). */
export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
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
