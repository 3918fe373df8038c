import type { ExportRequest, TargetAccess } from '../contract.js';
import { splitTable } from './mysql-catalog.js';
import { mysqlError } from './mysql-errors.js';
import { query, scalar, type MysqlSessions } from './mysql-session.js';

/** The privileges the session's account holds on a table: global, on its database, on the table itself. */
const PRIVILEGES = `
SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?
UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA = ?
UNION SELECT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA = ? AND TABLE_NAME = ?`;

/** `pigeon check` of a target: INSERT and DELETE on the table, or CREATE where it would be made. */
export async function mysqlTargetAccess(sessions: MysqlSessions, table: string, signal?: AbortSignal): Promise<TargetAccess> {
  const c = sessions.config;
  try {
    return await sessions.run(signal, async (conn) => {
      const { schema, name } = splitTable(table);
      const db = schema ?? (await scalar(conn, 'SELECT DATABASE()'));
      if (db === null) return { exists: false, writable: false, reason: 'no database selected' };
      const exists = (await scalar(conn, 'SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [db, name])) !== '0';
      // CURRENT_USER() is user@host; information_schema names an account 'user'@'host'.
      const account = (await scalar(conn, 'SELECT CURRENT_USER()')) ?? '';
      const at = account.lastIndexOf('@');
      const grantee = `'${account.slice(0, at)}'@'${account.slice(at + 1)}'`;
      const { rows } = await query<unknown[][]>(conn, { sql: PRIVILEGES, values: [grantee, grantee, db, grantee, db, name], rowsAsArray: true });
      const held = new Set(rows.map((r) => String(r[0])));
      if (exists) {
        const missing = ['INSERT', 'DELETE'].filter((p) => !held.has(p));
        return { exists, writable: missing.length === 0, ...(missing.length ? { reason: `no ${missing.join(' or ')} privilege on it` } : {}) };
      }
      return { exists, writable: held.has('CREATE'), ...(held.has('CREATE') ? {} : { reason: `no CREATE privilege on database ${db}` }) };
    });
  } catch (e) {
    throw mysqlError(e, 'IMPORT_FAILED', { connection: c.name, table, password: c.password });
  }
}

/** `pigeon check` of a split: an index of the source table whose first column is the split column. */
export async function mysqlSplitIndexed(sessions: MysqlSessions, req: ExportRequest, column: string, signal?: AbortSignal): Promise<boolean> {
  const c = sessions.config;
  if (req.source.table === undefined) return false;
  const { schema, name } = splitTable(req.source.table);
  try {
    return await sessions.run(signal, async (conn) => {
      const n = await scalar(
        conn,
        'SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = ? AND SEQ_IN_INDEX = 1',
        [schema ?? null, name, column],
      );
      return n !== null && n !== '0';
    });
  } catch (e) {
    throw mysqlError(e, 'EXPORT_FAILED', { connection: c.name, table: req.source.table, password: c.password });
  }
}
