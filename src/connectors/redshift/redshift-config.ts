import type { ConnectionConfig } from '../../config/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { ConfigProblem, ConnectorOptions } from '../contract.js';
import type { PostgresConfig } from '../postgres/postgres-config.js';
import { DEFAULT_PART_SIZE, parseS3Url, s3ClientSettings, type S3ClientSettings, type S3Location } from '../s3/s3-config.js';
import { readSqlEndpoint } from '../sql/url-config.js';

/** How Redshift itself reaches S3 in COPY and UNLOAD: an IAM role it assumes, or keys (secrets). */
export type RedshiftAccess =
  | { readonly role: string }
  | { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };

export interface RedshiftConfig extends PostgresConfig {
  /** `s3.url`: where pigeon puts the files COPY loads (when staging is not on S3 already) and UNLOAD writes. */
  readonly s3?: { readonly location: S3Location; readonly client: S3ClientSettings; readonly region?: string };
  /** What COPY and UNLOAD authorize with; undefined when neither `iam_role` nor the s3 connection's keys say. */
  readonly access?: RedshiftAccess;
  /** How a Redshift source is read: UNLOAD to `s3` (the default when `s3` is set), else a cursor. */
  readonly export: 'unload' | 'cursor';
}

export const REDSHIFT_DEFAULT_MAX_CONNECTIONS = 2;
const DEFAULT_PORT = 5439;
const OPTIONS = new Set(['schema', 'export']);
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/\S+$/;

/**
 * A `redshift` connection: the SQL endpoint rules (connectors/sql/url-config.ts; `url` as redshift://,
 * postgres:// or postgresql://, or `host` and the other parts; port 5439 unless said), `options.schema` and
 * `options.export`, `s3: { url, connection }` and `iam_role`. The s3 connection gives pigeon's S3 client its settings
 * and, without `iam_role`, gives Redshift its keys (which then appear in COPY and UNLOAD statements, masked in every
 * message). Throws INVALID_CONFIG listing every problem.
 */
export function redshiftConfig(c: ConnectionConfig, options: Pick<ConnectorOptions, 'connection'>): RedshiftConfig {
  const { config, problems } = readRedshiftConfig(c, options.connection ?? (() => undefined));
  if (problems.length > 0) {
    throw new PipelineError('INVALID_CONFIG', `connection \`${c.name}\`: ${problems.map((p) => p.message).join('; ')}`, { connection: c.name });
  }
  return config;
}

/** Every problem of a redshift connection, offline (ConnectorKind.checkConnection); the s3 connection is validate's. */
export function redshiftConfigProblems(c: ConnectionConfig): readonly ConfigProblem[] {
  return readRedshiftConfig(c, undefined).problems;
}

function readRedshiftConfig(c: ConnectionConfig, connection: ((name: string) => ConnectionConfig | undefined) | undefined): { config: RedshiftConfig; problems: ConfigProblem[] } {
  const { endpoint, problems: found, urlPassword } = readSqlEndpoint(c, { schemes: ['redshift', 'postgres', 'postgresql'] });
  const problems = [...found];
  const problem = (path: (string | number)[], message: string) => problems.push({ path, message });

  let schema: string | undefined;
  let exportMode: 'unload' | 'cursor' | undefined;
  if (c.options !== undefined) {
    if (typeof c.options !== 'object' || c.options === null || Array.isArray(c.options)) {
      problem(['options'], '`options` must be a mapping');
    } else {
      const o = c.options as Record<string, unknown>;
      for (const key of Object.keys(o)) if (!OPTIONS.has(key)) problem(['options', key], `unknown option \`${key}\` (redshift options: ${[...OPTIONS].join(', ')})`);
      if (o['schema'] !== undefined) {
        if (typeof o['schema'] === 'string' && o['schema'] !== '') schema = o['schema'];
        else problem(['options', 'schema'], '`options.schema` must be a schema name');
      }
      if (o['export'] !== undefined) {
        if (o['export'] === 'unload' || o['export'] === 'cursor') exportMode = o['export'];
        else problem(['options', 'export'], '`options.export` must be `unload` or `cursor`');
      }
    }
  }

  let s3: RedshiftConfig['s3'];
  let keys: RedshiftAccess | undefined;
  const s3Raw = c['s3'];
  if (s3Raw !== undefined) {
    const block = typeof s3Raw === 'object' && s3Raw !== null && !Array.isArray(s3Raw) ? (s3Raw as Record<string, unknown>) : undefined;
    const url = block?.['url'];
    if (typeof url !== 'string') {
      problem(['s3'], '`s3` must be a mapping with `url: s3://bucket/prefix`');
    } else {
      let client: S3ClientSettings = { name: c.name, forcePathStyle: false, partSize: DEFAULT_PART_SIZE, secrets: [] };
      const name = block?.['connection'];
      const other = typeof name === 'string' && connection ? connection(name) : undefined;
      if (connection && name !== undefined && (!other || other.type !== 's3')) problem(['s3', 'connection'], '`s3.connection` must name an s3 connection');
      if (other?.type === 's3') {
        client = s3ClientSettings(other);
        if (client.credentials) keys = { ...client.credentials };
      }
      try {
        s3 = { location: parseS3Url(url, '`s3.url`'), client, ...(client.region !== undefined ? { region: client.region } : {}) };
      } catch (e) {
        problem(['s3', 'url'], (e as Error).message);
      }
    }
  }
  const role = c['iam_role'];
  if (role !== undefined && (typeof role !== 'string' || !ROLE_ARN.test(role))) problem(['iam_role'], '`iam_role` must be a role ARN (arn:aws:iam::123456789012:role/name)');
  const access: RedshiftAccess | undefined = typeof role === 'string' ? { role } : keys;
  if (exportMode === 'unload' && s3Raw === undefined) problem(['options', 'export'], '`options.export: unload` needs `s3`, where UNLOAD writes');

  const max = c.max_connections ?? REDSHIFT_DEFAULT_MAX_CONNECTIONS;
  const config: RedshiftConfig = {
    name: c.name,
    connect: { ...endpoint, port: endpoint.port ?? DEFAULT_PORT },
    ...(schema === undefined ? {} : { schema }),
    maxConnections: Math.max(1, max),
    secrets: [...new Set([endpoint.password, urlPassword, ...(s3?.client.secrets ?? [])])].filter((p): p is string => p !== undefined && p !== ''),
    ...(s3 ? { s3 } : {}),
    ...(access ? { access } : {}),
    export: exportMode ?? (s3 ? 'unload' : 'cursor'),
  };
  return { config, problems };
}
