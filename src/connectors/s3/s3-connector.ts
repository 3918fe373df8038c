import type { ConnectionConfig } from '../../config/types.js';
import type { ConnectorOptions } from '../contract.js';
import { ObjectConnector, probeOnOpen } from '../objects/object-connector.js';
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
    });
  }
}
