import { maskSecrets } from '../../errors/mask.js';
import { PipelineError, type ErrorCode, type ErrorLocation } from '../../errors/pipeline-error.js';
import { isTransient } from '../../errors/transient.js';

/**
 * HiveServer2's "try again" answers: a lost or refused connection, a session the server no longer knows (it
 * restarted), a lock that could not be taken (with a lock manager), the metastore unreachable for a moment, a
 * cluster without room for the job right now.
 */
const TRANSIENT =
  /Connection (refused|reset|timed out)|Broken pipe|TTransportException|SocketTimeoutException|Invalid SessionHandle|Invalid OperationHandle|Session .* not found|Could not obtain lock|LockException|lock .* timed out|Unable to acquire lock|MetaException.*(timed out|connect|Communications link)|NoRouteToHost|too many connections|closed by a client|was closed/i;

/** Hive's "no such table / database" compile errors (10001, 10072) and their text. */
const NOT_FOUND = /Table not found|Database does not exist|\[Error 1000[1]\]|\[Error 10072\]/i;

/**
 * A hive-driver error as a PipelineError: secrets masked (also in the original, which stays the cause), what the
 * server said kept (SQLSTATE and Hive's error code in the message), transient when HiveServer2 said to try again.
 */
export function hiveError(e: unknown, code: ErrorCode, context: ErrorLocation, secrets: readonly string[]): PipelineError {
  if (e instanceof PipelineError) return e.withContext(context);
  const x = (typeof e === 'object' && e !== null ? e : {}) as { message?: unknown; sqlState?: unknown; errorCode?: unknown; response?: { errorMessage?: unknown; sqlState?: unknown } };
  const raw = typeof x.message === 'string' && x.message !== '' ? x.message : String(e);
  const message = maskSecrets(raw, secrets);
  if (e instanceof Error) e.message = message;
  let final = code;
  if (code === 'EXPORT_FAILED' && NOT_FOUND.test(message)) final = 'SOURCE_NOT_FOUND';
  return new PipelineError(final, message, {
    ...context,
    transient: TRANSIENT.test(message) || isTransient(e),
    cause: e,
  });
}
