import { DEFAULT_CAPABILITIES, type ConnectorKind } from '../contract.js';
import { buildSelect } from '../sql/select-builder.js';
import { SQL_SOURCE_KEYS, sqlSourceProblems } from '../sql/source-config.js';
import { redshiftConfigProblems } from './redshift-config.js';
import { rsDialect } from './redshift-sql.js';

export const redshiftKind: ConnectorKind = {
  kind: 'redshift',
  // A cluster runs few queries at once (its WLM queue): two sessions by default.
  capabilities: { ...DEFAULT_CAPABILITIES, split: true, defaultMaxConnections: 2 },
  sourceKeys: SQL_SOURCE_KEYS,
  checkConnection: redshiftConfigProblems,
  checkSource: sqlSourceProblems,
  references: (c) => {
    const s3 = c['s3'];
    return typeof s3 === 'object' && s3 !== null && (s3 as Record<string, unknown>)['connection'] !== undefined ? [{ path: ['s3', 'connection'], kind: 's3' }] : [];
  },
  // UNLOAD ('<this SELECT>') TO the connection's s3 folder, or a cursor over it when there is no `s3`.
  renderExport: (req, chunk) => buildSelect({ ...rsDialect, placeholder: () => '?' }, req, chunk).sql,
  load: async () => {
    const { redshiftConnector } = await import('./redshift-connector.js');
    return (config, options) => redshiftConnector(config, options);
  },
};
