import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { HiveSessions, type HiveSession } from '../../src/connectors/hive/hive-session.js';
import { hiveConfig } from '../../src/connectors/hive/hive-config.js';
import { tempDir } from './cli.js';
import type { ContractPlace } from './connector-contract.js';
import { serviceEndpoint, type ServiceName } from './services.js';

/** A Hive-protocol test server (Hive 4 or Spark's Thrift server) as a connection's keys. */
export function hiveServer(name: Extract<ServiceName, 'hive' | 'spark-thrift'> = 'hive'): { host: string; port: number; auth: 'plain' | 'nosasl' } {
  const [host, port] = serviceEndpoint(name).split(':');
  const auth = process.env[`PIGEON_TEST_${name.toUpperCase().replaceAll('-', '_')}_AUTH`] === 'NOSASL' ? 'nosasl' : 'plain';
  return { host: host!, port: Number(port), auth };
}

/** A fresh database on a Hive test server, driven directly (not through pigeon) to set up and to check. */
export interface HiveDb {
  readonly name: string;
  /** The connection's keys for a pipeline or a contract place. */
  readonly config: Readonly<Record<string, unknown>>;
  exec(sql: string): Promise<void>;
  rows(sql: string): Promise<unknown[][]>;
  /** Tables of the database whose names start with `prefix`. */
  tables(prefix?: string): Promise<string[]>;
  drop(): Promise<void>;
}

export async function createHiveDb(server: Extract<ServiceName, 'hive' | 'spark-thrift'> = 'hive'): Promise<HiveDb> {
  const name = `pigeon_t_${randomBytes(5).toString('hex')}`;
  const keys = { ...hiveServer(server), user: 'pigeon', password: 'hive-test-password' };
  const sessions = new HiveSessions(hiveConfig({ name: 'test', type: 'hive', ...keys, database: 'default' }, 1, '/tmp', '/tmp'));
  await sessions.open();
  const on = <T>(work: (s: HiveSession) => Promise<T>) => sessions.with(undefined, work);
  await on((s) => s.exec(`CREATE DATABASE ${name}`));
  return {
    name,
    config: { ...keys, database: name },
    exec: (sql) => on((s) => s.exec(`USE ${name}`).then(() => s.exec(sql))),
    rows: (sql) => on((s) => s.exec(`USE ${name}`).then(() => s.rows(sql))),
    tables: async (prefix = '') =>
      (await on((s) => s.records(`SHOW TABLES IN ${name}`))).rows.map((r) => String(r.length > 1 ? r[1] : r[0])).filter((t) => t.startsWith(prefix)),
    drop: async () => {
      try {
        await on((s) => s.exec(`DROP DATABASE IF EXISTS ${name} CASCADE`));
      } finally {
        await sessions.close();
      }
    },
  };
}

/** A contract place on a Hive-protocol server: a fresh database, and a staging directory the server reads. */
export async function hivePlace(server: Extract<ServiceName, 'hive' | 'spark-thrift'> = 'hive'): Promise<ContractPlace> {
  const db = await createHiveDb(server);
  const t = tempDir(`pigeon-contract-${server}-`);
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
}
