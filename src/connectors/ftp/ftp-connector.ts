import type { ConnectionConfig } from '../../config/types.js';
import type { ChunkFeed, ConnectorOptions, ImportRequest, ImportResult } from '../contract.js';
import { ObjectConnector, probeOnOpen } from '../objects/object-connector.js';
import { TableKeys, type ObjectSettings } from '../objects/object-layout.js';
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
  readonly #store: RemoteStore;
  readonly #settings: ObjectSettings;

  constructor(store: RemoteStore, settings: ObjectSettings, options: ConnectorOptions) {
    super(store, settings, options.tmpDir, {
      open: probeOnOpen(() => store.probe(), settings.name),
      close: () => store.close(),
    });
    this.#store = store;
    this.#settings = settings;
  }

  override async import(req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    const t = new TableKeys(this.#settings, req.table);
    // The `prefix` layout's temps are under <table>/; the `file` layout's beside <table>.csv and its journal, named
    // after the table (`.t.csv.….partial`), so the sweep lists only that folder, not the whole tree below it.
    const folder = folderOf(t.data);
    const base = t.data.slice(folder.length).replace(/\.csv(\.gz)?$/, '');
    const prefixes = this.#settings.layout === 'prefix' ? [t.folder] : [`${folder}.${base}.`, `${folder}.pigeon/.${base}.`];
    // Best effort: a folder that cannot be listed fails the load below with a better message.
    for (const prefix of prefixes) await this.#store.sweep(prefix).catch(() => []);
    return super.import(req, feed, signal);
  }
}

/** A connector of the `ftp` or `sftp` kind for one connection. */
export function remoteConnector(kind: 'ftp' | 'sftp', config: ConnectionConfig, options: ConnectorOptions): RemoteConnector {
  const s = kind === 'ftp' ? ftpSettings(config, options.cwd) : sftpSettings(config, options.cwd);
  return new RemoteConnector(remoteStore(s), s, options);
}
