import { PipelineError } from './pipeline-error.js';

/** Network errors and server states where the same work may succeed a little later. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'PROTOCOL_CONNECTION_LOST', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN',
  'SQLITE_BUSY', 'SQLITE_LOCKED',
  // MySQL/MariaDB: a killed query, too many connections for the user, network errors the server saw, idle timeout.
  'ER_QUERY_INTERRUPTED', 'ER_TOO_MANY_USER_CONNECTIONS', 'ER_NET_READ_ERROR', 'ER_NET_READ_INTERRUPTED',
  'ER_NET_ERROR_ON_WRITE', 'ER_NET_WRITE_INTERRUPTED', 'ER_CLIENT_INTERACTION_TIMEOUT', 'PROTOCOL_SEQUENCE_TIMEOUT',
  // PostgreSQL SQLSTATEs: serialization failure, deadlock, admin shutdown, crash shutdown, cannot connect now.
  '40001', '40P01', '57P01', '57P02', '57P03', '53300',
  // PostgreSQL: lock_timeout expired, session killed by idle_in_transaction_session_timeout or idle_session_timeout.
  '55P03', '25P03', '57P05',
]);

/**
 * Whether retrying may help. Walks the cause chain, since drivers' errors arrive wrapped in a PipelineError.
 * Anything unknown is permanent: retrying a bad credential or a missing table only delays the failure.
 */
export function isTransient(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 8; depth++) {
    if (cur instanceof PipelineError && cur.transient) return true;
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || /^08/.test(code) || code.startsWith('SQLITE_BUSY'))) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}
