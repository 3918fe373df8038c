import { DEFAULT_CAPABILITIES, type ConnectorKind } from '../contract.js';
import { renderObjectExport } from '../objects/object-plan.js';
import { OBJECT_SOURCE_KEYS } from '../objects/object-source.js';
import { ftpConfigProblems, sftpConfigProblems } from './ftp-config.js';

// Files are read whole, one chunk each; every transfer holds a session of its own, and servers limit sessions per
// user (often to a handful), so few at once.
const capabilities = { ...DEFAULT_CAPABILITIES, split: false, defaultMaxConnections: 2 };

export const ftpKind: ConnectorKind = {
  kind: 'ftp',
  capabilities,
  sourceKeys: OBJECT_SOURCE_KEYS,
  checkConnection: ftpConfigProblems,
  renderExport: (req) => renderObjectExport(req, 'the FTP directory'),
  load: async () => {
    const { ftpConnector } = await import('./ftp-connector.js');
    return ftpConnector;
  },
};

export const sftpKind: ConnectorKind = {
  kind: 'sftp',
  capabilities,
  sourceKeys: OBJECT_SOURCE_KEYS,
  checkConnection: sftpConfigProblems,
  renderExport: (req) => renderObjectExport(req, 'the SFTP directory'),
  load: async () => {
    const { sftpConnector } = await import('./ftp-connector.js');
    return sftpConnector;
  },
};
