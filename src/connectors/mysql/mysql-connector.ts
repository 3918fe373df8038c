import type { ConnectionConfig } from '../../config/types.js';
import { composeConnector } from '../compose.js';
import type { Connector, ExportRequest } from '../contract.js';
import { mysqlSplitIndexed, mysqlTargetAccess } from './mysql-check.js';
import { mysqlConfig } from './mysql-config.js';
import { mysqlError } from './mysql-errors.js';
import { MysqlExport } from './mysql-export.js';
import { mysqlImport, mysqlIsCommitted, mysqlProbeTarget } from './mysql-import.js';
import { scalar, MysqlSessions } from './mysql-session.js';
import { mysqlSql } from './mysql-sql.js';

export const MYSQL_DEFAULT_MAX_CONNECTIONS = 4;

/**
 * MySQL and MariaDB through mysql2 (only what both speak: MariaDB 10.11 and MySQL 8). Sessions: mysql-session.ts;
 * export: mysql-export.ts (row packets straight into exchange bytes); import: mysql-import.ts (LOAD DATA LOCAL into
 * staging, then one commit); every statement: mysql-sql.ts; types each way: mysql-types.ts, mysql-columns.ts.
 */
export function mysqlConnector(config: ConnectionConfig): Connector {
  const sessions = new MysqlSessions(mysqlConfig(config, MYSQL_DEFAULT_MAX_CONNECTIONS));
  const c = sessions.config;
  return composeConnector(
    {
      async open(signal) {
        await sessions.open();
        try {
          const version = await sessions.run(signal, (conn) => scalar(conn, mysqlSql.version));
          sessions.limits = { negativeZero: !/mariadb/i.test(version ?? '') };
        } catch (e) {
          await sessions.close();
          throw mysqlError(e, 'CONNECT_FAILED', { connection: c.name, password: c.password });
        }
      },
      close: () => sessions.close(),
    },
    Object.assign(new MysqlExport(sessions), {
      splitIndexed: (req: ExportRequest, column: string, signal?: AbortSignal) => mysqlSplitIndexed(sessions, req, column, signal),
    }),
    {
      import: (req, feed, signal) => mysqlImport(sessions, req, feed, signal),
      isCommitted: (table, loadId, signal) => mysqlIsCommitted(sessions, table, loadId, signal),
      probeTarget: (table, signal) => mysqlProbeTarget(sessions, table, signal),
      targetAccess: (table, signal) => mysqlTargetAccess(sessions, table, signal),
    },
  );
}
