import type { ConnectionConfig } from '../../config/types.js';
import type { ConfigProblem } from '../contract.js';
import { connectionReader, readSqlEndpoint, type ConfigRead, type TlsSetting } from '../sql/url-config.js';

/** What the connector does with TINYINT(1): the MySQL idiom for a boolean, or a small integer like any other. */
export type Tinyint1Rule = 'boolean' | 'integer';

/**
 * What an export does with zero dates (`0000-00-00`, `0000-00-00 00:00:00`, and dates with a zero month or day,
 * which MySQL stores when NO_ZERO_DATE / NO_ZERO_IN_DATE are off): `null` writes NULL (and counts them, see
 * MysqlConnector.zeroDates), `error` fails the export with BAD_VALUE naming the column. No other system has such a
 * value, so passing the text through would only move the failure to the import.
 */
export type ZeroDateRule = 'null' | 'error';

export interface MysqlOptions {
  /** Default `boolean`: TINYINT(1) exports as `boolean` ('true'/'false'; any value but 0 and 1 is BAD_VALUE). */
  readonly tinyint1: Tinyint1Rule;
  /** Default `null`. */
  readonly zeroDates: ZeroDateRule;
  /** Default true: imports use LOAD DATA LOCAL INFILE; false forces batched INSERTs. */
  readonly localInfile: boolean;
  /** Milliseconds to wait for a connection to open (default 10 s). */
  readonly connectTimeout: number;
}

export interface MysqlConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  /** The default database: unqualified tables and `_pigeon_loads` live there. */
  readonly database?: string;
  /** mysql2's `ssl` option (TLS options); undefined for a plain connection. */
  readonly ssl?: Exclude<TlsSetting, false>;
  readonly maxConnections: number;
  readonly options: MysqlOptions;
}

const OPTION_KEYS = ['tinyint1', 'zero_dates', 'local_infile', 'connect_timeout'];
const DEFAULT_PORT = 3306;

/**
 * The connection of a pipeline as mysql2 needs it: `url` (`mysql://user:password@host:port/database?ssl=true`) or
 * `host`, `port` (default 3306), `user` (default root), `password`, `database`, and `ssl`, read by the shared SQL
 * rules (connectors/sql/url-config.ts). Engine options sit under `options`: `tinyint1: boolean|integer`,
 * `zero_dates: null|error`, `local_infile: true|false`, `connect_timeout` (ms). Throws INVALID_CONFIG; messages never
 * contain the password.
 */
export const mysqlConfig = connectionReader(readMysqlConfig).config;

/** Every problem of a mysql connection, offline (ConnectorKind.checkConnection). */
export const mysqlConfigProblems = connectionReader(readMysqlConfig).problems;

function readMysqlConfig(c: ConnectionConfig, defaultMaxConnections: number): ConfigRead<MysqlConfig> {
  const { endpoint, problems } = readSqlEndpoint(c, { schemes: ['mysql', 'mariadb'] });
  const all = [...problems];
  const maxConnections = c.max_connections ?? defaultMaxConnections;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    all.push({ path: ['max_connections'], message: '`max_connections` must be a positive integer' });
  }
  const { host = 'localhost', port = DEFAULT_PORT, user = 'root', password, database, ssl } = endpoint;
  const config: MysqlConfig = {
    name: c.name,
    host,
    port,
    user,
    ...(password !== undefined ? { password } : {}),
    ...(database !== undefined && database !== '' ? { database } : {}),
    ...(ssl !== undefined && ssl !== false ? { ssl } : {}),
    maxConnections,
    options: parseOptions(c.options, all),
  };
  return { config, problems: all };
}

function parseOptions(raw: unknown, problems: ConfigProblem[]): MysqlOptions {
  const defaults: MysqlOptions = { tinyint1: 'boolean', zeroDates: 'null', localInfile: true, connectTimeout: 10_000 };
  if (raw === undefined) return defaults;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push({ path: ['options'], message: '`options` must be a mapping' });
    return defaults;
  }
  const o = raw as Record<string, unknown>;
  const bad = (key: string, message: string): void => {
    problems.push({ path: ['options', key], message });
  };
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.includes(key)) bad(key, `unknown mysql option \`${key}\` (known: ${OPTION_KEYS.join(', ')})`);
  }
  const tinyint1 = o.tinyint1 ?? defaults.tinyint1;
  if (tinyint1 !== 'boolean' && tinyint1 !== 'integer') bad('tinyint1', '`options.tinyint1` must be `boolean` or `integer`');
  // YAML reads a bare `null` as null: accept it as the rule's name.
  const zeroDates = o.zero_dates === undefined || o.zero_dates === null ? defaults.zeroDates : o.zero_dates;
  if (zeroDates !== 'null' && zeroDates !== 'error') bad('zero_dates', '`options.zero_dates` must be `null` or `error`');
  const localInfile = o.local_infile ?? defaults.localInfile;
  if (typeof localInfile !== 'boolean') bad('local_infile', '`options.local_infile` must be true or false');
  const connectTimeout = o.connect_timeout ?? defaults.connectTimeout;
  if (typeof connectTimeout !== 'number' || !Number.isInteger(connectTimeout) || connectTimeout < 1) {
    bad('connect_timeout', '`options.connect_timeout` must be a positive number of milliseconds');
  }
  return {
    tinyint1: tinyint1 === 'integer' ? 'integer' : 'boolean',
    zeroDates: zeroDates === 'error' ? 'error' : 'null',
    localInfile: localInfile !== false,
    connectTimeout: typeof connectTimeout === 'number' ? connectTimeout : defaults.connectTimeout,
  };
}
