import type { PoolConnection } from 'mysql2';
import { maskSecrets } from '../../errors/mask.js';
import { PipelineError, type ErrorCode, type PipelineErrorOptions } from '../../errors/pipeline-error.js';
import { isTransient } from '../../errors/transient.js';
import type { StagedChunk } from '../contract.js';
import { mysqlSql } from './mysql-sql.js';
import { query, textCast, type MysqlError } from './mysql-session.js';

/**
 * MySQL and MariaDB errors where the same work may succeed a little later: a deadlock or lock wait timeout, a
 * killed query or connection, too many connections, the server shutting down or a network error it saw.
 * MariaDB's ER_CONNECTION_KILLED (1927) has no name in mysql2, so it is known by number.
 */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN', 'ER_QUERY_INTERRUPTED', 'ER_TOO_MANY_USER_CONNECTIONS', 'ER_NET_READ_ERROR', 'ER_NET_READ_INTERRUPTED',
  'ER_NET_ERROR_ON_WRITE', 'ER_NET_WRITE_INTERRUPTED', 'ER_CLIENT_INTERACTION_TIMEOUT',
]);
/** ER_TABLE_EXISTS_ERROR: a missing target created by another load meanwhile (see postgres-errors.ts). */
const TRANSIENT_ERRNOS: ReadonlySet<number> = new Set([1927, 1050]);

/** Server errors and warnings about a value the column cannot take. */
const BAD_VALUE_ERRNOS = new Set([
  1048, 1261, 1262, 1264, 1265, 1292, 1300, 1364, 1366, 1367, 1406, 1411, 1416, 1958, 3140, 3819, 4025,
]);

/**
 * The server refuses LOAD DATA LOCAL: ER_NOT_ALLOWED_COMMAND (1148, older servers), MySQL 8's
 * ER_CLIENT_LOCAL_FILES_DISABLED (3948) and CR_LOAD_DATA_LOCAL_INFILE_REJECTED (2068), MariaDB 10.5+'s
 * ER_LOAD_INFILE_CAPABILITY_DISABLED (4166).
 */
const LOCAL_INFILE_REFUSED = new Set([1148, 2068, 3948, 4166]);

function isMysqlTransient(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 8; depth++) {
    const err = cur as MysqlError;
    if ((typeof err.code === 'string' && TRANSIENT_CODES.has(err.code)) || (err.errno !== undefined && TRANSIENT_ERRNOS.has(err.errno))) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return isTransient(e);
}

/** A mysql2 error as a PipelineError of this connection: password masked, long SQL cut, transient or not. */
export function mysqlError(e: unknown, code: ErrorCode, context: PipelineErrorOptions & { password?: string }): PipelineError {
  const { password, ...where } = context;
  if (e instanceof PipelineError) return e.withContext(where);
  const err = e as MysqlError;
  const message = maskSecrets(err?.sqlMessage ?? (e instanceof Error ? e.message : String(e)), [password]);
  if (typeof err?.sql === 'string' && err.sql.length > 2000) err.sql = `${err.sql.slice(0, 2000)}…`;
  // Unknown table or database on the export side: the source is missing, not broken.
  const missing = code === 'EXPORT_FAILED' && (err?.errno === 1146 || err?.errno === 1049);
  return new PipelineError(missing ? 'SOURCE_NOT_FOUND' : code, message, { ...where, cause: e, transient: isMysqlTransient(e) });
}

export function localInfileRefused(e: unknown): boolean {
  const err = e as MysqlError;
  if (err?.errno !== undefined && LOCAL_INFILE_REFUSED.has(err.errno)) return true;
  return /local infile|local data is disabled/i.test(err?.sqlMessage ?? '');
}

/** What a located load error names: the target table and the columns of the chunk files. */
export interface LoadInto {
  readonly table: string;
  readonly names: readonly string[];
  /** The node allows lossy values: the server's notes that it rounded a value (1265) do not fail the load. */
  readonly allowRounding?: boolean;
}

/** ER_WARN_DATA_TRUNCATED as a note: a DECIMAL rounded to the column's scale. */
const ROUNDED = 1265;

/** Where the server says a problem is: `… for column 'c' at row 3`, `` … for column `db`.`t`.`c` at row 3 ``. */
function serverPosition(message: string): { row?: number; column?: string } {
  const row = /\bat row (\d+)/i.exec(message)?.[1] ?? /^Row (\d+)\b/.exec(message)?.[1];
  const column =
    /for column `(?:[^`]|``)*`\.`(?:[^`]|``)*`\.`((?:[^`]|``)*)`/.exec(message)?.[1]?.replaceAll('``', '`') ??
    /(?:column|Field) '(.*)' (?:at row \d+|cannot be null|doesn't have a default value)/.exec(message)?.[1];
  return { ...(row !== undefined ? { row: Number(row) } : {}), ...(column !== undefined ? { column } : {}) };
}

async function located(
  message: string,
  errno: number | undefined,
  into: LoadInto,
  chunk: StagedChunk,
  lineOf: (n: number) => Promise<number | undefined>,
  cause: unknown,
): Promise<PipelineError> {
  const pos = serverPosition(message);
  const column =
    pos.column === undefined
      ? undefined
      : (into.names.find((n) => n === pos.column) ?? into.names.find((n) => n.toLowerCase() === pos.column!.toLowerCase()) ?? pos.column);
  const line = pos.row === undefined ? undefined : await lineOf(pos.row).catch(() => undefined);
  const code: ErrorCode = errno !== undefined && BAD_VALUE_ERRNOS.has(errno) ? 'BAD_VALUE' : 'IMPORT_FAILED';
  const where = line === undefined ? ' (the server did not say which row)' : '';
  return new PipelineError(code, `${message}${code === 'BAD_VALUE' ? where : ''}`, {
    table: into.table,
    ...(column !== undefined ? { column } : {}),
    chunk: chunk.name,
    ...(line !== undefined ? { chunkLine: line } : {}),
    cause,
  });
}

/** A server error of a load statement, located at the chunk's line when the server says which row. */
export async function serverValueError(e: MysqlError, into: LoadInto, chunk: StagedChunk, lineOf: (n: number) => Promise<number | undefined>): Promise<unknown> {
  if (e.errno === undefined || e.sqlMessage === undefined || e.fatal || localInfileRefused(e)) return e;
  if (typeof e.sql === 'string' && e.sql.length > 2000) e.sql = `${e.sql.slice(0, 2000)}…`;
  return located(e.sqlMessage, e.errno, into, chunk, lineOf, e);
}

/**
 * Strict mode does not reach LOAD DATA LOCAL, which only warns: any warning or note fails the chunk (but the notes
 * of rounding when the node allows lossy values).
 */
export async function failOnWarnings(conn: PoolConnection, into: LoadInto, chunk: StagedChunk, lineOf: (n: number) => Promise<number | undefined>): Promise<void> {
  const { rows } = await query<[string, string, string][]>(conn, { sql: mysqlSql.showWarnings, rowsAsArray: true, typeCast: textCast });
  const all = rows.map(([level, code, message]) => ({ level, code: Number(code), message }));
  const warnings = into.allowRounding ? all.filter((w) => !(w.level === 'Note' && w.code === ROUNDED)) : all;
  if (all.length > 0 && warnings.length === 0) return;
  const first = warnings[0] ?? { level: 'Warning', code: 0, message: 'the server reported warnings but did not list them' };
  const cause = Object.assign(new Error(first.message), { errno: first.code, level: first.level, warnings });
  throw await located(first.message, first.code, into, chunk, lineOf, cause);
}
