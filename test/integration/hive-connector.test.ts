// services: hive
/**
 * The Hive connector against a real HiveServer2 (Apache Hive 4.0.1, scripts/services/hive.sh): the connector
 * contract suite, and what is Hive's own (partitions, the value checks of the commit, MySQL → Hive → PostgreSQL).
 * Every statement that runs a job costs seconds here: tests share few tables and few loads.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { getConnectorKind } from '../../src/connectors/registry.js';
import { tempDir } from '../support/cli.js';
import { connectorContract } from '../support/connector-contract.js';
import { createHiveDb } from '../support/hive.js';

connectorContract({
  kind: getConnectorKind('hive')!,
  sql: 'hive',
  async place() {
    const db = await createHiveDb();
    const t = tempDir('pigeon-contract-hive-');
    const staging = join(t.dir, 'hive-staging');
    mkdirSync(staging);
    return {
      config: { ...db.config, staging_dir: staging },
      exec: (sql) => db.exec(sql),
      leftovers: async () => db.tables('pigeon_stg_'),
      cleanup: async () => {
        await db.drop();
        t.cleanup();
      },
    };
  },
});
