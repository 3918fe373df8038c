import type { ConnectionConfig } from '../../config/types.js';
import { DEFAULT_CAPABILITIES, type ConnectorKind, type ConnectorOptions } from '../contract.js';
import { renderObjectExport } from '../objects/object-plan.js';
import { OBJECT_SOURCE_KEYS } from '../objects/object-source.js';
import { ftpConfigProblems, sftpConfigProblems } from './ftp-config.js';

/** The `ftp` or `sftp` kind: the same connector over the protocol's sessions. */
function remoteKind(kind: 'ftp' | 'sftp'): ConnectorKind {
  return {
    kind,
    // Files are read whole, one chunk each; every transfer holds a session of its own, and servers limit sessions
    // per user (often to a handful), so few at once.
    capabilities: { ...DEFAULT_CAPABILITIES, split: false, defaultMaxConnections: 2 },
    sourceKeys: OBJECT_SOURCE_KEYS,
    checkConnection: kind === 'ftp' ? ftpConfigProblems : sftpConfigProblems,
    renderExport: (req) => renderObjectExport(req, `the ${kind.toUpperCase()} directory`),
    load: async () => {
      const { remoteConnector } = await import('./ftp-connector.js');
      return (config: ConnectionConfig, options: ConnectorOptions) => remoteConnector(kind, config, options);
    },
  };
}

export const ftpKind = remoteKind('ftp');
export const sftpKind = remoteKind('sftp');
