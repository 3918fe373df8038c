import type { ConnectionConfig } from '../../config/types.js';
import type { ConnectorOptions, TargetAccess } from '../contract.js';
import { pathWritable } from '../fs-access.js';
import { TableKeys } from '../objects/object-layout.js';
import { DirectoryStore } from '../objects/directory-store.js';
import { ObjectConnector } from '../objects/object-connector.js';
import { fileConfig, type FileConfig } from './file-config.js';

/**
 * A local directory of CSV files in the exchange format: the object kit (src/connectors/objects/) over a
 * DirectoryStore. By default one `<table>.csv` per table with a `<table>.schema.json` sidecar; every import writes
 * a complete new file and renames it over the old one, with a small journal so a crash between "committed" and the
 * rename is rolled forward, never loaded twice.
 */
export class FileConnector extends ObjectConnector {
  readonly #store: DirectoryStore;
  readonly #settings: FileConfig;

  constructor(config: ConnectionConfig, options: ConnectorOptions) {
    const c = fileConfig(config, options.cwd);
    // Files are read in large pieces: a source file is one sequential scan.
    const store = new DirectoryStore(c.dir, { readChunk: 1 << 20 });
    super(store, c, options.tmpDir);
    this.#store = store;
    this.#settings = c;
  }

  /** `pigeon check`: the table's file (or manifest), or the nearest directory it would be created in. */
  async targetAccess(table: string): Promise<TargetAccess> {
    const t = new TableKeys(this.#settings, table);
    return pathWritable(this.#store.path(this.#settings.layout === 'prefix' ? t.manifest : t.data));
  }
}
