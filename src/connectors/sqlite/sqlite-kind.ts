import { DEFAULT_CAPABILITIES, type ConnectorKind } from '../contract.js';
import { buildSelect } from '../sql/select-builder.js';
import { SQL_SOURCE_KEYS, sqlSourceProblems } from '../sql/source-config.js';
import { sqliteDialect } from './sqlite-sql.js';

export const sqliteKind: ConnectorKind = {
  kind: 'sqlite',
  capabilities: { ...DEFAULT_CAPABILITIES, split: true, defaultMaxConnections: 4 },
  sourceKeys: SQL_SOURCE_KEYS,
  checkSource: sqlSourceProblems,
  renderExport: (req, chunk) => buildSelect(sqliteDialect, req, chunk).sql,
  load: async () => {
    const { SqliteConnector } = await import('./sqlite-connector.js');
    return (config, options) => new SqliteConnector(config, options);
  },
};
