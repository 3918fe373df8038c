import { DEFAULT_CAPABILITIES, type ConnectorKind } from '../contract.js';
import { buildSelect } from '../sql/select-builder.js';
import { SQL_SOURCE_KEYS, sqlSourceProblems } from '../sql/source-config.js';
import { postgresConfigProblems } from './postgres-config.js';
import { pgDialect } from './postgres-sql.js';

export const postgresKind: ConnectorKind = {
  kind: 'postgres',
  capabilities: { ...DEFAULT_CAPABILITIES, split: true, defaultMaxConnections: 4 },
  sourceKeys: SQL_SOURCE_KEYS,
  checkConnection: postgresConfigProblems,
  checkSource: sqlSourceProblems,
  // At run time the bounds are inlined as escaped literals, since COPY takes no bind parameters.
  renderExport: (req, chunk) =>
    `COPY (${buildSelect({ ...pgDialect, placeholder: () => '?' }, req, chunk).sql}) TO STDOUT WITH (FORMAT csv, NULL '\\N')`,
  load: async () => {
    const { postgresConnector } = await import('./postgres-connector.js');
    return (config) => postgresConnector(config);
  },
};
