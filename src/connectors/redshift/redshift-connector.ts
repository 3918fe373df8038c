import type { ConnectionConfig } from '../../config/types.js';
import { composeConnector } from '../compose.js';
import type { Connector, ConnectorOptions } from '../contract.js';
import { PgSessions, type PgFlavor } from '../postgres/postgres-session.js';
import { S3Store } from '../s3/s3-store.js';
import { redshiftConfig } from './redshift-config.js';
import { RsExport } from './redshift-export.js';
import { rsImport, rsIsCommitted, rsProbeTarget } from './redshift-import.js';
import { RedshiftFiles } from './redshift-s3.js';
import { serverVersion, sessionSetup } from './redshift-sql.js';
import { SERVER_STATEMENTS, type RedshiftStatements } from './redshift-statements.js';

/** Redshift speaks PostgreSQL's protocol (the `pg` driver) with settings of its own. */
export const REDSHIFT_FLAVOR: PgFlavor = {
  version: serverVersion,
  setup: (schema) => sessionSetup(schema),
};

/**
 * Amazon Redshift: PostgreSQL's sessions (`pg`, terminate on abort, secrets masked, transient codes) with Redshift's
 * statements (redshift-sql.ts), loads through S3 and COPY (redshift-import.ts), exports by UNLOAD or a cursor
 * (redshift-export.ts). `statements` runs the two Redshift-only statements; tests against PostgreSQL pass their own.
 */
export function redshiftConnector(config: ConnectionConfig, options: ConnectorOptions, statements: RedshiftStatements = SERVER_STATEMENTS): Connector {
  const c = redshiftConfig(config, options);
  const sessions = new PgSessions(c, REDSHIFT_FLAVOR);
  const store = c.s3 ? new S3Store(c.s3.client, c.s3.location) : undefined;
  const ctx = { sessions, config: c, files: store ? new RedshiftFiles(store) : undefined, statements };
  return composeConnector(
    {
      open: () => sessions.open(),
      close: async () => {
        store?.close();
        await sessions.close();
      },
    },
    new RsExport(ctx),
    {
      import: (req, feed, signal) => rsImport(ctx, req, feed, signal),
      isCommitted: (table, loadId, signal) => rsIsCommitted(ctx, table, loadId, signal),
      probeTarget: (table, signal) => rsProbeTarget(ctx, table, signal),
    },
  );
}
