import type { ConnectionConfig } from '../../config/types.js';
import type { ConnectorOptions } from '../contract.js';
import { ObjectConnector, probeOnOpen } from '../objects/object-connector.js';
import type { ObjectSettings, TableKeys } from '../objects/object-layout.js';
import { folderOf } from '../objects/object-store.js';
import { s3Config } from './s3-config.js';
import { S3Store } from './s3-store.js';

/**
 * S3 (or an S3-compatible store) as a source and a target: the object kit (src/connectors/objects/) over an
 * S3Store of the connection's bucket and prefix. By default a table is the `prefix` layout: parts under `<table>/`
 * and a `manifest.json` that one PUT switches to a new load.
 */
export class S3Connector extends ObjectConnector {
  constructor(config: ConnectionConfig, options: ConnectorOptions) {
    const c = s3Config(config);
    const store = new S3Store(c.client, c);
    super(store, c, options.tmpDir, {
      open: probeOnOpen(() => store.probe(), c.name),
      close: async () => store.close(),
      sweep: (t) => sweepTable(store, c, t),
    });
  }
}

/**
 * Before a load: the table's abandoned multipart uploads, and for the `file` layout the temp objects a killed writer
 * left beside `<table>.csv` (listed by that name's prefix only, not the whole folder).
 */
async function sweepTable(store: S3Store, settings: ObjectSettings, t: TableKeys): Promise<void> {
  await store.sweep(settings.layout === 'prefix' ? t.folder : folderOf(t.data));
  if (settings.layout !== 'prefix') await store.sweepTemps(`${t.data}.`);
}
