// services: spark-thrift
/**
 * The connector contract suite of the hive kind against Spark's Thrift server (Spark 3.5.1,
 * scripts/services/spark-thrift.sh): many users' "Hive" is Spark SQL behind the same protocol.
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
    const db = await createHiveDb('spark-thrift');
    const t = tempDir('pigeon-contract-spark-');
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
