import type { ConnectionConfig } from '../../config/types.js';
import type { ConnectorOptions } from '../contract.js';
import { ObjectConnector, probeOnOpen } from '../objects/object-connector.js';
import type { ObjectSettings, TableKeys } from '../objects/object-layout.js';
import { folderOf } from '../objects/object-store.js';
import { ftpSettings, sftpSettings } from './ftp-config.js';
import { remoteStore } from './ftp-store.js';
import type { RemoteStore } from './remote-store.js';

/**
 * A directory on an FTP or SFTP server as a source and a target: the object kit (src/connectors/objects/) over a
 * RemoteStore. By default a table is the `file` layout, `<table>.csv` and its schema sidecar, what a partner
 * expects; `layout: prefix` keeps a manifest and parts under `<table>/`. Before a load, the temp files that killed
 * writers left in the table's folder are swept.
 */
export class RemoteConnector extends ObjectConnector {
  constructor(store: RemoteStore, settings: ObjectSettings, options: ConnectorOptions) {
    super(store, settings, options.tmpDir, {
      open: probeOnOpen(() => store.probe(), settings.name),
      close: () => store.close(),
      sweep: (t) => sweepTable(store, settings, t),
    });
  }
}

/**
 * The `prefix` layout's temps are under <table>/; the `file` layout's beside <table>.csv and its journal, named after
 * the table (`.t.csv.….partial`): the sweep lists only those, not the whole tree below the folder (a remote listing
 * is slow, and a partner's folder may be large).
 */
async function sweepTable(store: RemoteStore, settings: ObjectSettings, t: TableKeys): Promise<void> {
  const folder = folderOf(t.data);
  const base = t.data.slice(folder.length).replace(/\.csv(\.gz)?$/, '');
  const prefixes = settings.layout === 'prefix' ? [t.folder] : [`${folder}.${base}.`, `${folder}.pigeon/.${base}.`];
  for (const prefix of prefixes) await store.sweep(prefix);
}

/** A connector of the `ftp` or `sftp` kind for one connection. */
export function remoteConnector(kind: 'ftp' | 'sftp', config: ConnectionConfig, options: ConnectorOptions): RemoteConnector {
  const s = kind === 'ftp' ? ftpSettings(config, options.cwd) : sftpSettings(config, options.cwd);
  return new RemoteConnector(remoteStore(s), s, options);
}
