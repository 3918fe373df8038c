import { DEFAULT_CAPABILITIES, type ConnectorKind } from '../contract.js';
import { fileTableProblems } from './file-config.js';

export const fileKind: ConnectorKind = {
  kind: 'file',
  // One writer per file; reading is a sequential scan, so a split would read the file once per chunk.
  capabilities: { ...DEFAULT_CAPABILITIES, split: false, defaultMaxConnections: 2 },
  sourceKeys: ['table', 'columns'],
  checkSource: fileTableProblems,
  checkTarget: fileTableProblems,
  renderExport: (req) => {
    const cols = req.source.columns?.join(', ') ?? '*';
    const w = req.window;
    const bounds = w
      ? ` where ${[
          w.lower ? `${w.column} ${w.lower.inclusive ? '>=' : '>'} '${w.lower.value}'` : '',
          w.upper ? `${w.column} ${w.upper.inclusive ? '<=' : '<'} '${w.upper.value}'` : '',
        ]
          .filter(Boolean)
          .join(' and ')}`
      : '';
    return `read ${cols} from ${req.source.table ?? '?'}.csv${bounds}`;
  },
  load: async () => {
    const { FileConnector } = await import('./file-connector.js');
    return (config, options) => new FileConnector(config, options);
  },
};
