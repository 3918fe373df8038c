import type { ConnectionConfig } from '../../config/types.js';
import { composeConnector } from '../compose.js';
import type { Connector } from '../contract.js';
import { postgresConfig } from './postgres-config.js';
import { PgExport } from './postgres-export.js';
import { pgImport, pgIsCommitted, pgProbeTarget } from './postgres-import.js';
import { PgSessions } from './postgres-session.js';

export const POSTGRES_DEFAULT_MAX_CONNECTIONS = 4;

/**
 * PostgreSQL through `pg` and `pg-copy-streams`. Sessions: postgres-session.ts; export: postgres-export.ts
 * (`COPY (SELECT …) TO STDOUT`); import: postgres-import.ts (`COPY … FROM STDIN` into staging) and
 * postgres-commit.ts (one transaction that swaps, appends or merges); every statement: postgres-sql.ts.
 */
export function postgresConnector(config: ConnectionConfig): Connector {
  const sessions = new PgSessions(postgresConfig(config, POSTGRES_DEFAULT_MAX_CONNECTIONS));
  return composeConnector(sessions, new PgExport(sessions), {
    import: (req, feed, signal) => pgImport(sessions, req, feed, signal),
    isCommitted: (table, loadId, signal) => pgIsCommitted(sessions, table, loadId, signal),
    probeTarget: (table, signal) => pgProbeTarget(sessions, table, signal),
  });
}
