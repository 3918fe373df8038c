import type { ConnectionConfig } from '../../config/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';

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
  /** mysql2's `ssl` option: a profile name or TLS options; undefined for a plain connection. */
  readonly ssl?: string | Record<string, unknown>;
  readonly maxConnections: number;
  readonly options: MysqlOptions;
}

const OPTION_KEYS = ['tinyint1', 'zero_dates', 'local_infile', 'connect_timeout'];

/**
 * The connection of a pipeline as mysql2 needs it. `url` (`mysql://user:password@host:port/database?ssl=true`) and
 * the separate keys may be combined; a separate key wins. Engine options sit under `options`:
 * `tinyint1: boolean|integer`, `zero_dates: null|error`, `local_infile: true|false`, `connect_timeout` (ms).
 * Messages never contain the password.
 */
export function mysqlConfig(c: ConnectionConfig, defaultMaxConnections: number): MysqlConfig {
  const bad = (what: string) =>
    new PipelineError('INVALID_CONFIG', `connection \`${c.name}\`: ${what}`, { connection: c.name });
  let fromUrl: { host?: string; port?: number; user?: string; password?: string; database?: string; ssl?: boolean } = {};
  if (c.url !== undefined) {
    if (typeof c.url !== 'string') throw bad('`url` must be a string');
    fromUrl = parseUrl(c.url, bad);
  }
  const str = (key: string): string | undefined => {
    const v = c[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw bad(`\`${key}\` must be a string`);
    return v;
  };
  const host = str('host') ?? fromUrl.host;
  if (host === undefined || host === '') throw bad('mysql needs a `url` or a `host`');
  // A port may arrive as text from `${ENV}` interpolation.
  const rawPort = c.port ?? fromUrl.port ?? 3306;
  const port = typeof rawPort === 'string' && /^\d+$/.test(rawPort) ? Number(rawPort) : rawPort;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw bad('`port` must be an integer from 1 to 65535');
  const password = str('password') ?? fromUrl.password;
  const database = str('database') ?? fromUrl.database;
  const maxConnections = c.max_connections ?? defaultMaxConnections;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw bad('`max_connections` must be a positive integer');
  return {
    name: c.name,
    host,
    port,
    user: str('user') ?? fromUrl.user ?? 'root',
    ...(password !== undefined ? { password } : {}),
    ...(database !== undefined && database !== '' ? { database } : {}),
    ...sslOption(c.ssl ?? fromUrl.ssl, bad),
    maxConnections,
    options: parseOptions(c.options, bad),
  };
}

function parseUrl(url: string, bad: (what: string) => PipelineError) {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // The URL may hold a password: never repeat it.
    throw bad('`url` is not a valid URL (expected mysql://user:password@host:port/database)');
  }
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') throw bad(`\`url\` must start with mysql://, not ${u.protocol}//`);
  let ssl: boolean | undefined;
  for (const [key, value] of u.searchParams) {
    if (key !== 'ssl') throw bad(`\`url\` parameter \`${key}\` is not supported (only \`ssl\`)`);
    if (value !== 'true' && value !== 'false') throw bad('`url` parameter `ssl` must be true or false');
    ssl = value === 'true';
  }
  const path = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (path.includes('/')) throw bad('`url` path must be just the database name');
  return {
    ...(u.hostname ? { host: u.hostname.replace(/^\[(.*)\]$/, '$1') } : {}),
    ...(u.port ? { port: Number(u.port) } : {}),
    ...(u.username ? { user: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(path ? { database: path } : {}),
    ...(ssl !== undefined ? { ssl } : {}),
  };
}

function sslOption(ssl: unknown, bad: (what: string) => PipelineError): { ssl?: string | Record<string, unknown> } {
  if (ssl === undefined || ssl === false) return {};
  if (ssl === true) return { ssl: { rejectUnauthorized: true } };
  if (typeof ssl === 'string') return { ssl };
  if (typeof ssl === 'object' && ssl !== null && !Array.isArray(ssl)) return { ssl: ssl as Record<string, unknown> };
  throw bad('`ssl` must be true, false, a profile name or an object of TLS options');
}

function parseOptions(raw: unknown, bad: (what: string) => PipelineError): MysqlOptions {
  if (raw === undefined) return { tinyint1: 'boolean', zeroDates: 'null', localInfile: true, connectTimeout: 10_000 };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('`options` must be a mapping');
  const o = raw as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.includes(key)) throw bad(`unknown mysql option \`${key}\` (known: ${OPTION_KEYS.join(', ')})`);
  }
  const tinyint1 = o.tinyint1 ?? 'boolean';
  if (tinyint1 !== 'boolean' && tinyint1 !== 'integer') throw bad('`options.tinyint1` must be `boolean` or `integer`');
  // YAML reads a bare `null` as null: accept it as the rule's name.
  const zeroDates = o.zero_dates === undefined || o.zero_dates === null ? 'null' : o.zero_dates;
  if (zeroDates !== 'null' && zeroDates !== 'error') throw bad('`options.zero_dates` must be `null` or `error`');
  const localInfile = o.local_infile ?? true;
  if (typeof localInfile !== 'boolean') throw bad('`options.local_infile` must be true or false');
  const connectTimeout = o.connect_timeout ?? 10_000;
  if (typeof connectTimeout !== 'number' || !Number.isInteger(connectTimeout) || connectTimeout < 1) {
    throw bad('`options.connect_timeout` must be a positive number of milliseconds');
  }
  return { tinyint1, zeroDates, localInfile, connectTimeout };
}
