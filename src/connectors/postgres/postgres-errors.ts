import { maskSecrets } from '../../errors/mask.js';
import { PipelineError, type ErrorCode, type ErrorLocation } from '../../errors/pipeline-error.js';
import { isTransient } from '../../errors/transient.js';
import type { ImportRequest, StagedChunk } from '../contract.js';
import { recordAtLine, recordStartOfLine } from '../sql/record-lines.js';

/**
 * SQLSTATEs where the same work may succeed a little later: serialization failure, deadlock, admin or crash
 * shutdown, cannot connect now, too many connections, lock_timeout, a session ended by idle_in_transaction or
 * idle_session timeouts, a statement cancelled (pg_cancel_backend, statement_timeout: as MySQL's KILL QUERY); and
 * class 08 (connection exceptions). pigeon's own aborts terminate the backend and never reach here. And
 * duplicate_table: pigeon creates a missing target, or a staging table named after its own load, only after finding
 * no such table, so another load created it meanwhile (two first loads into one table); the retry finds it there.
 */
const TRANSIENT_SQLSTATES: ReadonlySet<string> = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '53300', '55P03', '25P03', '57P05', '57014', '42P07']);

const CATALOG_NAME_INDEXES: ReadonlySet<string> = new Set(['pg_type_typname_nsp_index', 'pg_class_relname_nsp_index']);

export interface DatabaseErrorLike extends Error {
  code?: string;
  where?: string;
  column?: string;
  severity?: string;
  detail?: string;
}

/** A server error (pg's DatabaseError), as opposed to a client or network failure. */
export function isDatabaseError(e: unknown): e is DatabaseErrorLike {
  return e instanceof Error && typeof (e as DatabaseErrorLike).code === 'string' && typeof (e as DatabaseErrorLike).severity === 'string';
}

function isPgTransient(e: unknown, message: string): boolean {
  // pg reports a connection lost mid-query without a code.
  if (/Connection terminated|connection timeout|terminating connection/i.test(message)) return true;
  for (let cur: unknown = e, depth = 0; cur && depth < 8; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || /^08/.test(code))) return true;
    // Two sessions creating a table of the same name at once may collide in the catalog before either sees the table.
    if (code === '23505' && CATALOG_NAME_INDEXES.has(String((cur as { constraint?: unknown }).constraint))) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return isTransient(e);
}

/**
 * A pg error as a PipelineError: secrets masked (also in the original error, which stays the cause), the server's
 * detail appended, a bad value (class 22) on import as BAD_VALUE, a missing relation or schema on export as
 * SOURCE_NOT_FOUND, the column the server named.
 */
export function pgError(e: unknown, code: ErrorCode, context: ErrorLocation, secrets: readonly string[]): PipelineError {
  if (e instanceof PipelineError) return e.withContext(context);
  const err = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; column?: unknown; detail?: unknown };
  if (e instanceof Error) e.message = maskSecrets(e.message, secrets);
  const message = e instanceof Error ? e.message : maskSecrets(String(e), secrets);
  const sqlstate = typeof err.code === 'string' ? err.code : '';
  let final = code;
  if (code === 'IMPORT_FAILED' && /^22/.test(sqlstate)) final = 'BAD_VALUE';
  if (code === 'EXPORT_FAILED' && (sqlstate === '42P01' || sqlstate === '3F000')) final = 'SOURCE_NOT_FOUND';
  const detail = typeof err.detail === 'string' && err.detail !== '' ? ` (${maskSecrets(err.detail, secrets)})` : '';
  return new PipelineError(final, `${message}${detail}`, {
    ...(typeof err.column === 'string' && context.column === undefined ? { column: err.column } : {}),
    ...context,
    transient: isPgTransient(e, message),
    cause: e,
  });
}

/**
 * A COPY error located in the chunk: PostgreSQL says `COPY stg, line N, column c: "…"` (the header is line 1);
 * the chunk file is read again to find the line where that record starts.
 */
export async function copyError(e: unknown, req: ImportRequest, chunk: StagedChunk, wrap: (e: unknown, code: ErrorCode, where: ErrorLocation) => PipelineError): Promise<unknown> {
  if (!isDatabaseError(e)) return e;
  const where = (e.where ?? '').split('\n').find((l) => l.startsWith('COPY '));
  const m = where ? /^COPY [^,]*, line (\d+)(.*)$/s.exec(where) : null;
  if (!m) return wrap(e, 'IMPORT_FAILED', { table: req.table, chunk: chunk.name });
  const reported = Number(m[1]);
  let column = e.column ?? columnOf(m[2] ?? '', req.columns.map((c) => c.name));
  if (column === undefined && (e.code === '22021' || e.code === '22P05')) {
    // An encoding error names no column: the one holding a NUL character (which text cannot hold) is the culprit.
    const cells = await recordAtLine(chunk, reported);
    const at = cells?.findIndex((v) => v !== null && v.includes('\u0000')) ?? -1;
    if (at >= 0) {
      column = req.columns[at]?.name;
      e.message = `${e.message}: column \`${column}\` holds a NUL character, which PostgreSQL text cannot hold`;
    }
  }
  const line = (await recordStartOfLine(chunk, reported)) ?? reported;
  const bad = /^22/.test(e.code ?? '') || e.code === '23502' || e.code === '23514';
  return wrap(e, bad ? 'BAD_VALUE' : 'IMPORT_FAILED', {
    table: req.table,
    ...(column === undefined ? {} : { column }),
    chunk: chunk.name,
    chunkLine: line,
  });
}

/** `, column c: "value"` → c, matched against the known names (a name may itself contain `: `). */
function columnOf(rest: string, names: readonly string[]): string | undefined {
  const prefix = ', column ';
  if (!rest.startsWith(prefix)) return undefined;
  const text = rest.slice(prefix.length);
  let best: string | undefined;
  for (const n of names) {
    if ((text === n || text.startsWith(`${n}: `)) && (best === undefined || n.length > best.length)) best = n;
  }
  return best;
}
