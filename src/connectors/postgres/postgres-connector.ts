import type { ConnectionConfig } from '../../config/types.js';
import { composeConnector } from '../compose.js';
import type { Connector, ExportRequest } from '../contract.js';
import { postgresConfig } from './postgres-config.js';
import { PgExport } from './postgres-export.js';
import { pgImport, pgIsCommitted, pgProbeTarget } from './postgres-import.js';
import { PgSessions } from './postgres-session.js';
import { pgSplitIndexed, pgTargetAccess } from './postgres-check.js';

export const POSTGRES_DEFAULT_MAX_CONNECTIONS = 4;

/**
 * PostgreSQL through `pg` and `pg-copy-streams`. Sessions: postgres-session.ts; export: postgres-export.ts
 * (`COPY (SELECT …) TO STDOUT`); import: postgres-import.ts (`COPY … FROM STDIN` into staging) and
 * postgres-commit.ts (one transaction that swaps, appends or merges); every statement: postgres-sql.ts.
 */
export function postgresConnector(config: ConnectionConfig): Connector {
  const sessions = new PgSessions(postgresConfig(config, POSTGRES_DEFAULT_MAX_CONNECTIONS));
  const source = new PgExport(sessions);
  return composeConnector(sessions, Object.assign(source, { splitIndexed: (req: ExportRequest, column: string, signal?: AbortSignal) => pgSplitIndexed(sessions, req, column, signal) }), {
    import: (req, feed, signal) => pgImport(sessions, req, feed, signal),
    isCommitted: (table, loadId, signal) => pgIsCommitted(sessions, table, loadId, signal),
    probeTarget: (table, signal) => pgProbeTarget(sessions, table, signal),
    targetAccess: (table, signal) => pgTargetAccess(sessions, table, signal),
  });
}
