import { DEFAULT_CAPABILITIES, type ConnectorKind } from '../contract.js';
import { buildSelect } from '../sql/select-builder.js';
import { SQL_SOURCE_KEYS, sqlSourceProblems } from '../sql/source-config.js';
import { mysqlConfigProblems } from './mysql-config.js';
import { mysqlDialect } from './mysql-sql.js';

export const mysqlKind: ConnectorKind = {
  kind: 'mysql',
  capabilities: { ...DEFAULT_CAPABILITIES, split: true, defaultMaxConnections: 4 },
  sourceKeys: SQL_SOURCE_KEYS,
  checkConnection: mysqlConfigProblems,
  checkSource: sqlSourceProblems,
  renderExport: (req, chunk) => buildSelect(mysqlDialect, req, chunk).sql,
  load: async () => {
    const { mysqlConnector } = await import('./mysql-connector.js');
    return (config) => mysqlConnector(config);
  },
};
