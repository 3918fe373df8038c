import { DEFAULT_CAPABILITIES, type ConnectorKind } from '../contract.js';
import { fileTableProblems } from './file-config.js';
import { OBJECT_SOURCE_KEYS } from '../objects/object-source.js';
import { renderObjectExport } from '../objects/object-plan.js';

export const fileKind: ConnectorKind = {
  kind: 'file',
  // One writer per file; reading is a sequential scan, so a split would read the file once per chunk.
  capabilities: { ...DEFAULT_CAPABILITIES, split: false, defaultMaxConnections: 2 },
  sourceKeys: OBJECT_SOURCE_KEYS,
  checkSource: fileTableProblems,
  checkTarget: fileTableProblems,
  renderExport: (req) => renderObjectExport(req, 'the directory'),
  load: async () => {
    const { FileConnector } = await import('./file-connector.js');
    return (config, options) => new FileConnector(config, options);
  },
};
