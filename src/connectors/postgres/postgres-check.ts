import type { ExportRequest, TargetAccess } from '../contract.js';
import { rows, type PgSessions } from './postgres-session.js';
import { pgDialect, regclassText } from './postgres-sql.js';

function yes(v: unknown): boolean {
  return v === true || v === 't';
}

/** `pigeon check` of a target: the table's INSERT and DELETE privileges, or CREATE on its schema. */
export async function pgTargetAccess(sessions: PgSessions, table: string, signal?: AbortSignal): Promise<TargetAccess> {
  signal?.throwIfAborted();
  const s = await sessions.take();
  try {
    const { text, schema } = regclassText(table);
    const [r] = await rows<{ exists: boolean; writable: boolean | null; creatable: boolean | null; schema: string | null }>(
      s,
      `SELECT to_regclass($1) IS NOT NULL AS exists,
              CASE WHEN to_regclass($1) IS NULL THEN NULL ELSE has_table_privilege(to_regclass($1), 'INSERT') AND has_table_privilege(to_regclass($1), 'DELETE') END AS writable,
              CASE WHEN to_namespace IS NULL THEN NULL ELSE has_schema_privilege(to_namespace, 'CREATE') END AS creatable,
              to_namespace::text AS schema
         FROM (SELECT coalesce(to_regnamespace($2), to_regnamespace(quote_ident(current_schema()))) AS to_namespace) n`,
      [text, schema === null ? null : pgDialect.quoteIdent(schema)],
    );
    if (!r) return { exists: false, writable: false, reason: 'the catalogue did not answer' };
    // pigeon's sessions read every value as the server's text: booleans are 't' and 'f'.
    r.exists = yes(r.exists);
    r.writable = yes(r.writable);
    r.creatable = yes(r.creatable);
    if (r.exists) return { exists: true, writable: r.writable === true, ...(r.writable ? {} : { reason: 'no INSERT or DELETE privilege on it' }) };
    if (r.schema === null) return { exists: false, writable: false, reason: `schema ${schema ?? '(current)'} does not exist` };
    return { exists: false, writable: r.creatable === true, ...(r.creatable ? {} : { reason: `no CREATE privilege on schema ${r.schema}` }) };
  } catch (e) {
    throw sessions.error(e, 'IMPORT_FAILED', { table });
  } finally {
    sessions.release(s);
  }
}

/** `pigeon check` of a split: an index of the source table whose first column is the split column. */
export async function pgSplitIndexed(sessions: PgSessions, req: ExportRequest, column: string, signal?: AbortSignal): Promise<boolean> {
  signal?.throwIfAborted();
  if (req.source.table === undefined) return false;
  const s = await sessions.take();
  try {
    const [r] = await rows<{ indexed: boolean }>(
      s,
      `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                       WHERE i.indrelid = to_regclass($1) AND a.attname = $2) AS indexed`,
      [regclassText(req.source.table).text, column],
    );
    return yes(r?.indexed);
  } catch (e) {
    throw sessions.error(e, 'EXPORT_FAILED', { table: req.source.table });
  } finally {
    sessions.release(s);
  }
}
