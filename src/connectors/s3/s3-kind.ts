import { DEFAULT_CAPABILITIES, type ConnectorKind } from '../contract.js';
import { renderObjectExport } from '../objects/object-plan.js';
import { OBJECT_SOURCE_KEYS } from '../objects/object-source.js';
import { s3ConfigProblems } from './s3-config.js';

export const s3Kind: ConnectorKind = {
  kind: 's3',
  // Objects are read whole, one chunk each, several at once; a split would read every object once per chunk.
  capabilities: { ...DEFAULT_CAPABILITIES, split: false, defaultMaxConnections: 4 },
  sourceKeys: OBJECT_SOURCE_KEYS,
  checkConnection: s3ConfigProblems,
  renderExport: (req) => renderObjectExport(req, 'the bucket'),
  load: async () => {
    const { S3Connector } = await import('./s3-connector.js');
    return (config, options) => new S3Connector(config, options);
  },
};
