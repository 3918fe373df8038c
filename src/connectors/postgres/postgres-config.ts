import type { ConnectionConfig } from '../../config/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';

/** What the `pg` client needs to connect, in its own option names. */
export interface PgConnectOptions {
  readonly host?: string;
  readonly port?: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  readonly ssl?: boolean | Readonly<Record<string, unknown>>;
}

export interface PostgresConfig {
  readonly name: string;
  readonly connect: PgConnectOptions;
  /** `options.schema`: the session's search_path, so unqualified tables resolve (and are created) there. */
  readonly schema?: string;
  /** Pool size: `max_connections`, else the kind's default. */
  readonly maxConnections: number;
  /** Values that must never appear in a message (the password). */
  readonly secrets: readonly string[];
}

const OPTIONS = new Set(['schema']);
/** URL parameters understood besides the authority: libpq's names. */
const URL_PARAMS = new Set(['sslmode', 'host', 'port', 'user', 'password', 'dbname']);

/**
 * Reads a `postgres` connection: `url` (`postgres://user:password@host:port/database?sslmode=require`) or
 * `host`/`port`/`user`/`password`/`database`. A `password` given beside a `url` wins over the URL's, so the secret
 * can come from its own environment variable. `ssl`: true (verify the certificate), false, a libpq sslmode
 * (`require` encrypts without verifying; `verify-ca`, `verify-full` verify; `disable`, `allow`, `prefer` do not
 * encrypt) or node TLS options.
 */
export function postgresConfig(c: ConnectionConfig, defaultMaxConnections: number): PostgresConfig {
  const bad = (msg: string): PipelineError =>
    new PipelineError('INVALID_CONFIG', `connection \`${c.name}\`: ${msg}`, { connection: c.name });

  const str = (key: string): string | undefined => {
    const v = c[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw bad(`\`${key}\` must be a string`);
    return v;
  };

  let connect: { -readonly [K in keyof PgConnectOptions]: PgConnectOptions[K] } = {};
  let urlPassword: string | undefined;
  const url = str('url');
  if (url !== undefined) {
    if (c.host !== undefined) throw bad('give either `url` or `host`, not both');
    connect = parseUrl(url, bad);
    urlPassword = connect.password;
  } else {
    const host = str('host');
    if (host === undefined || host === '') throw bad('postgres needs a `url` or a `host`');
    connect.host = host;
  }
  if (c.port !== undefined) {
    if (typeof c.port !== 'number' || !Number.isInteger(c.port) || c.port < 1 || c.port > 65535) throw bad('`port` must be a port number');
    connect.port = c.port;
  }
  for (const key of ['user', 'password', 'database'] as const) {
    const v = str(key);
    if (v !== undefined) connect[key] = v;
  }
  if (c.ssl !== undefined) connect.ssl = sslOption(c.ssl, bad);

  let schema: string | undefined;
  if (c.options !== undefined) {
    if (typeof c.options !== 'object' || c.options === null || Array.isArray(c.options)) throw bad('`options` must be a mapping');
    const options = c.options as Record<string, unknown>;
    for (const key of Object.keys(options)) {
      if (!OPTIONS.has(key)) throw bad(`unknown option \`${key}\` (postgres options: ${[...OPTIONS].join(', ')})`);
    }
    if (options.schema !== undefined) {
      if (typeof options.schema !== 'string' || options.schema === '') throw bad('`options.schema` must be a schema name');
      schema = options.schema;
    }
  }

  const max = c.max_connections ?? defaultMaxConnections;
  return {
    name: c.name,
    connect,
    ...(schema === undefined ? {} : { schema }),
    maxConnections: Math.max(1, max),
    secrets: [connect.password, urlPassword].filter((p): p is string => p !== undefined && p !== ''),
  };
}

function parseUrl(url: string, bad: (msg: string) => PipelineError): { -readonly [K in keyof PgConnectOptions]: PgConnectOptions[K] } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // The URL may hold a password: never repeat it.
    throw bad('`url` is not a valid URL (expected postgres://user:password@host:port/database)');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw bad(`\`url\` must start with postgres:// (found ${u.protocol}//)`);
  const out: { -readonly [K in keyof PgConnectOptions]: PgConnectOptions[K] } = {};
  const decode = (s: string, what: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw bad(`\`url\` has a badly escaped ${what}`);
    }
  };
  if (u.hostname) out.host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (u.port) out.port = Number(u.port);
  if (u.username) out.user = decode(u.username, 'user');
  if (u.password) out.password = decode(u.password, 'password');
  const db = u.pathname.replace(/^\//, '');
  if (db) out.database = decode(db, 'database');
  for (const [key, value] of u.searchParams) {
    if (!URL_PARAMS.has(key)) throw bad(`\`url\` parameter \`${key}\` is not supported (supported: ${[...URL_PARAMS].join(', ')})`);
    switch (key) {
      case 'sslmode':
        out.ssl = sslOption(value, bad);
        break;
      case 'host':
        out.host = value;
        break;
      case 'port':
        if (!/^\d+$/.test(value)) throw bad('`url` parameter `port` must be a number');
        out.port = Number(value);
        break;
      case 'user':
        out.user = value;
        break;
      case 'password':
        out.password = value;
        break;
      case 'dbname':
        out.database = value;
        break;
    }
  }
  return out;
}

function sslOption(v: unknown, bad: (msg: string) => PipelineError): boolean | Readonly<Record<string, unknown>> {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  switch (v) {
    // pg cannot fall back from TLS to plain text as libpq's allow/prefer do: they mean plain text here.
    case 'disable':
    case 'allow':
    case 'prefer':
      return false;
    case 'require':
    case 'no-verify':
      return { rejectUnauthorized: false };
    case 'verify-ca':
    case 'verify-full':
      return true;
    default:
      throw bad('`ssl` must be true, false, a mapping of TLS options or one of disable, require, verify-ca, verify-full');
  }
}
