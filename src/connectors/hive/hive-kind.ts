import { DEFAULT_CAPABILITIES, type ConnectorKind } from '../contract.js';
import { SQL_SOURCE_KEYS, sqlSourceProblems } from '../sql/source-config.js';
import { hiveConfigProblems } from './hive-config.js';
import { renderHiveExport } from './hive-export.js';

export const HIVE_DEFAULT_MAX_CONNECTIONS = 2;

export const hiveKind: ConnectorKind = {
  kind: 'hive',
  // Two sessions by default: every statement that runs a job takes a share of the cluster (or, on a single
  // HiveServer2 in local mode, of its machine).
  capabilities: { ...DEFAULT_CAPABILITIES, split: true, partitions: true, defaultMaxConnections: HIVE_DEFAULT_MAX_CONNECTIONS },
  // At run time the bounds are inlined as literals typed like their column, since HiveQL takes no bind parameters.
  // `partition` reads partitions of a `table` (a `query` says what it reads itself).
  sourceKeys: [...SQL_SOURCE_KEYS, 'partition'],
  checkConnection: hiveConfigProblems,
  checkSource: (source) => [
    ...sqlSourceProblems(source),
    ...(source['partition'] !== undefined && source['query'] !== undefined
      ? [{ path: ['partition'], message: '`partition` reads partitions of a `table`; a `query` says which it reads itself' }]
      : []),
  ],
  renderExport: (req, chunk) => renderHiveExport(req, chunk),
  load: async () => {
    const { hiveConnector } = await import('./hive-connector.js');
    return (config, options) => hiveConnector(config, options);
  },
};
