import { PipelineError } from '../../errors/pipeline-error.js';

/** How often the open transactions are looked at again while a load waits for them. */
const POLL_MS = 200;

/**
 * Waits until `stillOpen` (the transactions noted when the wait began that are still open, described for a person)
 * is empty, or fails after `timeoutMs` with a transient error naming them: a retry later may find them ended.
 */
export async function waitForTransactions(stillOpen: () => Promise<readonly string[]>, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const open = await stillOpen();
    if (open.length === 0) return;
    if (Date.now() >= deadline) {
      const shown = open.slice(0, 5).join(', ') + (open.length > 5 ? `, and ${open.length - 5} more` : '');
      throw new PipelineError(
        'EXPORT_FAILED',
        `${open.length} transaction${open.length === 1 ? '' : 's'} open on the source when the watermark's maximum was read ${open.length === 1 ? 'is' : 'are'} still open after ${Math.round(timeoutMs / 1000)} s (${shown}): a row ${open.length === 1 ? 'it commits' : 'they commit'} below the maximum would be missed`,
        { transient: true, hint: 'raise `incremental.wait_for_writers`, or set it to false to accept that risk' },
      );
    }
    await new Promise<void>((resolve) => setTimeout(resolve, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))).unref());
  }
}
