import { PipelineError } from './pipeline-error.js';

/**
 * Network failures any client may see (Node's system error codes): the same work may succeed a little later.
 * A server's own codes for "try again" (deadlocks, lock timeouts, shutdowns) are its connector's to know: each
 * connector sets `transient` on the PipelineErrors it raises.
 */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'ENETDOWN',
]);

/**
 * Whether retrying may help: a PipelineError marked transient, or a network failure anywhere in the cause chain.
 * Anything unknown is permanent: retrying a bad credential or a missing table only delays the failure.
 */
export function isTransient(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 8; depth++) {
    if (cur instanceof PipelineError && cur.transient) return true;
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}
