import type { ConnectionConfig } from '../../config/types.js';
import { connectionReader, readSqlEndpoint, type ConfigRead, type SqlEndpoint } from '../sql/url-config.js';

/** What the `pg` client needs to connect: its option names are the shared SQL endpoint's. */
export type PgConnectOptions = SqlEndpoint;

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

/**
 * Reads a `postgres` connection: `url` (`postgres://user:password@host:port/database?sslmode=require`) or
 * `host`/`port`/`user`/`password`/`database`, and `ssl`, by the shared SQL rules (connectors/sql/url-config.ts): a
 * separate key wins over the same part of the URL, so the secret can come from its own environment variable. Engine
 * options sit under `options`: `schema`. Throws INVALID_CONFIG; messages never contain the password.
 */
export const postgresConfig = connectionReader(readPostgresConfig).config;

/** Every problem of a postgres connection, offline (ConnectorKind.checkConnection). */
export const postgresConfigProblems = connectionReader(readPostgresConfig).problems;

function readPostgresConfig(c: ConnectionConfig, defaultMaxConnections: number): ConfigRead<PostgresConfig> {
  const { endpoint, problems, urlPassword } = readSqlEndpoint(c, { schemes: ['postgres', 'postgresql'] });
  const all = [...problems];
  const connect: PgConnectOptions = endpoint;

  let schema: string | undefined;
  if (c.options !== undefined) {
    if (typeof c.options !== 'object' || c.options === null || Array.isArray(c.options)) {
      all.push({ path: ['options'], message: '`options` must be a mapping' });
    } else {
      const options = c.options as Record<string, unknown>;
      for (const key of Object.keys(options)) {
        if (!OPTIONS.has(key)) {
          all.push({ path: ['options', key], message: `unknown option \`${key}\` (postgres options: ${[...OPTIONS].join(', ')})` });
        }
      }
      if (options.schema !== undefined) {
        if (typeof options.schema !== 'string' || options.schema === '') {
          all.push({ path: ['options', 'schema'], message: '`options.schema` must be a schema name' });
        } else {
          schema = options.schema;
        }
      }
    }
  }

  const max = c.max_connections ?? defaultMaxConnections;
  if (!Number.isInteger(max) || max < 1) all.push({ path: ['max_connections'], message: '`max_connections` must be a positive integer' });
  const config: PostgresConfig = {
    name: c.name,
    connect,
    ...(schema === undefined ? {} : { schema }),
    maxConnections: Math.max(1, max),
    secrets: [...new Set([connect.password, urlPassword])].filter((p): p is string => p !== undefined && p !== ''),
  };
  return { config, problems: all };
}
