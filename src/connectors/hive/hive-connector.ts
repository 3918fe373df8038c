import type { ConnectionConfig } from '../../config/types.js';
import { composeConnector } from '../compose.js';
import type { Connector, ConnectorOptions } from '../contract.js';
import { hiveConfig } from './hive-config.js';
import { HiveExport } from './hive-export.js';
import { hiveImport, hiveIsCommitted, hiveProbeTarget } from './hive-import.js';
import { HIVE_DEFAULT_MAX_CONNECTIONS } from './hive-kind.js';
import { HiveSessions } from './hive-session.js';

/**
 * Hive (HiveServer2, and servers that speak its protocol such as Spark's Thrift server) through `hive-driver`.
 * Sessions: hive-session.ts; export: hive-export.ts (SELECT fetched in batches); import: hive-import.ts (Hive text
 * staged with LOAD DATA LOCAL INPATH, each value checked on the way by hive-checks.ts, then one multi-insert that
 * writes the target and the load record); every statement: hive-sql.ts; types: hive-types.ts.
 */
export function hiveConnector(config: ConnectionConfig, options: ConnectorOptions): Connector {
  const sessions = new HiveSessions(hiveConfig(config, HIVE_DEFAULT_MAX_CONNECTIONS, options.tmpDir, options.cwd));
  return composeConnector(
    { open: () => sessions.open(), close: () => sessions.close() },
    new HiveExport(sessions),
    {
      import: (req, feed, signal) => hiveImport(sessions, req, feed, signal),
      isCommitted: (table, loadId, signal) => hiveIsCommitted(sessions, table, loadId, signal),
      probeTarget: (table, signal) => hiveProbeTarget(sessions, table, signal),
    },
  );
}
