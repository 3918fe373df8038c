import { maskSecrets } from '../../errors/mask.js';
import { isTransient } from '../../errors/transient.js';
import { ObjectStoreError } from '../objects/object-store.js';

/**
 * `work`, or a rejection with `message` after `ms` or when `signal` aborts; `stop` then ends what `work` holds
 * (closes the socket), so nothing keeps running behind the caller's back.
 */
export async function withTimeout<T>(work: Promise<T>, ms: number, message: string, stop: () => void, signal?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const cut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      stop();
      reject(Object.assign(new Error(message), { code: 'ETIMEDOUT' }));
    }, ms);
    onAbort = () => {
      stop();
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, cut]);
  } catch (e) {
    work.catch(() => {});
    throw e;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** What a failure is, for a protocol: whether the file was missing, whether a retry may help. */
export interface RemoteErrorKind {
  readonly notFound: boolean;
  readonly transient: boolean;
}

/**
 * A client error as an ObjectStoreError: `cannot <what> <location>: <reason>`, the connection's secrets masked (in
 * the message and in the cause, which loggers may print), transient when `kind` or the network says so.
 */
export function remoteError(e: unknown, what: string, location: string, secrets: readonly string[], kind: RemoteErrorKind): ObjectStoreError {
  if (e instanceof ObjectStoreError) return e;
  const raw = e instanceof Error ? e.message : String(e);
  if (e instanceof Error) e.message = maskSecrets(e.message, secrets);
  const reason = maskSecrets(raw, secrets).replace(/\s+$/, '') || 'no detail';
  return new ObjectStoreError(`cannot ${what} ${location}: ${reason}`, {
    location,
    notFound: kind.notFound,
    transient: kind.transient || isTransient(e) || /timeout|timed out|closed|ECONNRESET|socket/i.test(raw),
    cause: e,
  });
}
