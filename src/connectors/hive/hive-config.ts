import { isAbsolute, resolve } from 'node:path';
import type { ConnectionConfig } from '../../config/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import { configProblems } from '../config-problems.js';

/** The storage format of tables pigeon creates. */
export type HiveFormat = 'orc' | 'parquet' | 'textfile';

export interface HiveConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** `plain`: SASL PLAIN with user and password (HiveServer2's `NONE`, `LDAP`, `CUSTOM`); `nosasl`: no SASL at all. */
  readonly auth: 'plain' | 'nosasl';
  readonly user: string;
  readonly password: string;
  /** The database tables are read from and written to when a name does not say `db.table`. */
  readonly database: string;
  /** Storage of the target tables pigeon creates (default `orc`). */
  readonly format: HiveFormat;
  /** Where pigeon writes the staging files a load hands to `LOAD DATA LOCAL INPATH` (pigeon's own path). */
  readonly stagingDir: string;
  /** The same directory as HiveServer2 sees it (default: `stagingDir`; differs when a shared mount has two names). */
  readonly serverStagingDir: string;
  /** Bounds connect + openSession: an auth mismatch makes hive-driver wait forever. */
  readonly connectTimeoutMs: number;
  readonly maxConnections: number;
  /** Values that must never appear in a message (the password). */
  readonly secrets: readonly string[];
}

const KEYS = new Set(['name', 'type', 'max_connections', 'host', 'port', 'user', 'password', 'database', 'auth', 'format', 'staging_dir', 'server_staging_dir', 'connect_timeout']);
const NAME = /^[A-Za-z0-9_]+$/;

/** Offline checks of a `hive` connection for validate: what its schema cannot say (see hiveConfig). */
export const hiveConfigProblems = configProblems((c) => hiveConfig(c, 1, '/', '/'));

/**
 * Reads a `hive` connection: `host`, `port` (10000), `user` (`pigeon`), `password` (empty), `database` (`default`),
 * `auth` (`plain` or `nosasl`), `format` (`orc`, `parquet`, `textfile`), `staging_dir` (default: the run's
 * temporary directory), `server_staging_dir`, `connect_timeout` (seconds, 30).
 */
export function hiveConfig(c: ConnectionConfig, defaultMaxConnections: number, tmpDir: string, cwd: string): HiveConfig {
  const bad = (msg: string): PipelineError => new PipelineError('INVALID_CONFIG', `connection \`${c.name}\`: ${msg}`, { connection: c.name });
  for (const key of Object.keys(c)) if (!KEYS.has(key)) throw bad(`unknown key \`${key}\` (hive keys: ${[...KEYS].slice(3).join(', ')})`);
  const str = (key: string, fallback: string): string => {
    const v = c[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') throw bad(`\`${key}\` must be a string`);
    return v;
  };
  const host = str('host', '');
  if (host === '') throw bad('hive needs a `host`');
  const port = c.port === undefined ? 10000 : Number(c.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('`port` must be a port number');
  const auth = str('auth', 'plain').toLowerCase();
  if (auth !== 'plain' && auth !== 'nosasl') throw bad('`auth` must be `plain` (SASL PLAIN, user and password) or `nosasl`');
  const format = str('format', 'orc').toLowerCase();
  if (format !== 'orc' && format !== 'parquet' && format !== 'textfile') throw bad('`format` must be `orc`, `parquet` or `textfile`');
  const database = str('database', 'default');
  if (!NAME.test(database)) throw bad('`database` must be a Hive database name (letters, digits and _)');
  const password = str('password', '');
  const stagingDir = resolve(cwd, str('staging_dir', tmpDir));
  const serverStagingDir = str('server_staging_dir', stagingDir);
  if (!isAbsolute(serverStagingDir)) throw bad('`server_staging_dir` must be an absolute path (as HiveServer2 sees it)');
  const timeout = c['connect_timeout'] === undefined ? 30 : Number(c['connect_timeout']);
  if (!Number.isFinite(timeout) || timeout <= 0) throw bad('`connect_timeout` must be a number of seconds');
  return {
    name: c.name,
    host,
    port,
    auth,
    user: str('user', 'pigeon'),
    password,
    database,
    format,
    stagingDir,
    serverStagingDir,
    connectTimeoutMs: timeout * 1000,
    maxConnections: Math.max(1, c.max_connections ?? defaultMaxConnections),
    secrets: password === '' ? [] : [password],
  };
}
