/**
 * Where a SQL connection goes, read the same way for every SQL kind: a `url`
 * (`scheme://user:password@host:port/database?param=value`) or `host`, `port`, `user`, `password`, `database`, and
 * `ssl`. Pure and offline: `validate` runs it (through the kind's `checkConnection`) so that a bad URL, port or `ssl`
 * is reported at its key before anything connects, and the connector runs it again to connect.
 *
 * Rules, the same for every kind:
 * - `url` and `host` do not go together; any other separate key wins over the same part of the URL (so a password
 *   can come from its own `${ENV}` variable).
 * - A port is a number from 1 to 65535, or its digits as a string (`port: ${PORT}` substitutes a string).
 * - URL parts are %-decoded; a bad escape (`%ZZ`) is a problem, not a crash.
 * - URL parameters: `ssl` and `sslmode` (an `ssl` value), `host`, `port`, `user`, `dbname`. A `password` parameter is
 *   refused: a password belongs in the user part of the URL or in `password:`, where it is known to be one and masked.
 * - `ssl`: true (TLS, verify the server's certificate), false (plain), a libpq sslmode (`disable`, `allow`, `prefer`:
 *   plain, as the drivers cannot fall back from TLS; `require`, `no-verify`: TLS without verifying; `verify-ca`,
 *   `verify-full`: verify) or a map of node TLS options.
 * Messages never quote the URL or any part of it: a password may hide anywhere in a mistyped one.
 */
import type { ConnectionConfig } from '../../config/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { ConfigProblem } from '../contract.js';

/** TLS settings as both drivers take them: false for a plain connection, else node TLS options. */
export type TlsSetting = false | Readonly<Record<string, unknown>>;

export interface SqlEndpoint {
  readonly host?: string;
  readonly port?: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  /** Absent when neither `ssl` nor a URL parameter says: the driver's default (plain). */
  readonly ssl?: TlsSetting;
}

export interface SqlEndpointRead {
  readonly endpoint: SqlEndpoint;
  /** Every problem found, each at its key (`['url']`, `['port']`, `['ssl']`). Empty for a usable endpoint. */
  readonly problems: readonly ConfigProblem[];
  /** The URL's password, decoded (`endpoint.password` is the separate key's when both are given). */
  readonly urlPassword?: string;
}

export interface SqlUrlRules {
  /** URL schemes the kind takes, without `://` (`['mysql', 'mariadb']`). */
  readonly schemes: readonly string[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'no-verify', 'verify-ca', 'verify-full'] as const;
const URL_PARAMS = ['ssl', 'sslmode', 'host', 'port', 'user', 'dbname'] as const;
const SSL_MESSAGE = `must be true, false, one of ${SSL_MODES.join(', ')}, or a map of TLS options`;

/** Reads the endpoint of a SQL connection; see the module comment for the rules. */
export function readSqlEndpoint(c: Readonly<Record<string, unknown>>, rules: SqlUrlRules): SqlEndpointRead {
  const problems: ConfigProblem[] = [];
  const problem = (key: string, message: string): void => {
    problems.push({ path: [key], message });
  };
  let fromUrl: SqlEndpoint = {};
  if (c['url'] !== undefined) {
    if (typeof c['url'] === 'string') {
      fromUrl = parseSqlUrl(c['url'], rules, (message) => problem('url', message));
    } else {
      problem('url', '`url` must be a string');
    }
    if (c['host'] !== undefined) problem('host', 'give either `url` or `host`, not both');
  } else if (typeof c['host'] !== 'string' || c['host'] === '') {
    problems.push({ path: c['host'] === undefined ? [] : ['host'], message: 'needs a `url` or a `host`' });
  }
  const endpoint: Mutable<SqlEndpoint> = { ...fromUrl };
  for (const key of ['host', 'user', 'password', 'database'] as const) {
    const value = c[key];
    if (value === undefined || value === null) continue;
    if (typeof value === 'string') endpoint[key] = value;
    else problem(key, `\`${key}\` must be a string`);
  }
  if (c['port'] !== undefined) {
    const port = portNumber(c['port']);
    if (port === undefined) problem('port', '`port` must be a number from 1 to 65535');
    else endpoint.port = port;
  }
  if (c['ssl'] !== undefined) {
    const ssl = tlsSetting(c['ssl']);
    if (ssl === undefined) problem('ssl', `\`ssl\` ${SSL_MESSAGE}`);
    else endpoint.ssl = ssl;
  }
  return { endpoint, problems, ...(fromUrl.password === undefined ? {} : { urlPassword: fromUrl.password }) };
}

/** A kind's settings read from a connection, and every problem found (the settings are usable only without). */
export interface ConfigRead<T> {
  readonly config: T;
  readonly problems: readonly ConfigProblem[];
}

/**
 * A kind's connection reader in its two uses: the connector's (`config`), which throws the problems as one
 * INVALID_CONFIG error, and validate's (`problems`, for ConnectorKind.checkConnection), which lists them.
 */
export function connectionReader<T>(read: (c: ConnectionConfig, defaultMaxConnections: number) => ConfigRead<T>): {
  config(c: ConnectionConfig, defaultMaxConnections: number): T;
  problems(c: ConnectionConfig): readonly ConfigProblem[];
} {
  return {
    config: (c, defaultMaxConnections) => {
      const { config, problems } = read(c, defaultMaxConnections);
      if (problems.length === 0) return config;
      const message = `connection \`${c.name}\`: ${problems.map((p) => p.message).join('; ')}`;
      throw new PipelineError('INVALID_CONFIG', message, { connection: c.name });
    },
    problems: (c) => read(c, 1).problems,
  };
}

const URL_SHAPE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#[^]*)?$/;

function parseSqlUrl(url: string, rules: SqlUrlRules, bad: (message: string) => void): Mutable<SqlEndpoint> {
  const expected = `${rules.schemes[0] ?? 'scheme'}://user:password@host:port/database`;
  const m = URL_SHAPE.exec(url);
  if (m === null) {
    bad(`\`url\` is not a valid URL (expected ${expected})`);
    return {};
  }
  const [, scheme = '', authority = '', path = '', query] = m;
  if (!rules.schemes.includes(scheme.toLowerCase())) {
    bad(`\`url\` must start with ${rules.schemes.map((s) => `${s}://`).join(' or ')}`);
  }
  const out: Mutable<SqlEndpoint> = {};
  const decode = (text: string, what: string): string | undefined => {
    try {
      return decodeURIComponent(text);
    } catch {
      bad(`the ${what} in \`url\` has a bad %-escape (write a literal % as %25)`);
      return undefined;
    }
  };

  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const userInfo = authority.slice(0, at);
    const colon = userInfo.indexOf(':');
    const user = decode(colon < 0 ? userInfo : userInfo.slice(0, colon), 'user');
    if (user) out.user = user;
    if (colon >= 0) {
      const password = decode(userInfo.slice(colon + 1), 'password');
      if (password) out.password = password;
    }
  }
  const hostPort = authority.slice(at + 1);
  let hostText = hostPort;
  let portText: string | undefined;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    const rest = close < 0 ? '' : hostPort.slice(close + 1);
    if (close < 0 || (rest !== '' && !rest.startsWith(':'))) bad('the host in `url` is not a valid [IPv6] address');
    hostText = hostPort.slice(1, close < 0 ? undefined : close);
    if (rest.startsWith(':')) portText = rest.slice(1);
  } else if (hostPort.includes(':')) {
    hostText = hostPort.slice(0, hostPort.lastIndexOf(':'));
    portText = hostPort.slice(hostPort.lastIndexOf(':') + 1);
  }
  const host = decode(hostText, 'host');
  if (host) out.host = host;
  if (portText) {
    const port = portNumber(portText);
    if (port === undefined) bad('the port in `url` must be a number from 1 to 65535');
    else out.port = port;
  }

  const database = path.replace(/^\//, '');
  if (database.includes('/')) bad('the path of `url` must be just the database name');
  const decoded = database === '' ? undefined : decode(database, 'database name');
  if (decoded) out.database = decoded;

  for (const pair of query === undefined || query === '' ? [] : query.split('&')) {
    const eq = pair.indexOf('=');
    const key = decode((eq < 0 ? pair : pair.slice(0, eq)).replaceAll('+', ' '), 'parameter name');
    const value = decode((eq < 0 ? '' : pair.slice(eq + 1)).replaceAll('+', ' '), 'parameter value') ?? '';
    if (key === undefined || key === '') continue;
    if (key === 'password') {
      bad('a password is not taken as a `url` parameter: write it as user:password@ in the URL, or as `password`');
      continue;
    }
    switch (key as (typeof URL_PARAMS)[number]) {
      case 'ssl':
      case 'sslmode': {
        const ssl = tlsSetting(value);
        if (ssl === undefined) bad(`\`url\` parameter \`${key}\` must be true, false or one of ${SSL_MODES.join(', ')}`);
        else out.ssl = ssl;
        break;
      }
      case 'host':
        if (value !== '') out.host = value;
        break;
      case 'port': {
        const port = portNumber(value);
        if (port === undefined) bad('`url` parameter `port` must be a number from 1 to 65535');
        else out.port = port;
        break;
      }
      case 'user':
        if (value !== '') out.user = value;
        break;
      case 'dbname':
        if (value !== '') out.database = value;
        break;
      default:
        // The name is not quoted: `?hunter2` may be a misplaced password.
        bad(`\`url\` has a parameter that is not supported (supported: ${URL_PARAMS.join(', ')})`);
    }
  }
  return out;
}

/** A port from a number or a string of digits; undefined when it is not one. */
function portNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d{1,5}$/.test(value.trim()) ? Number(value.trim()) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}

/** An `ssl` value as TLS settings; undefined when it is not one. */
function tlsSetting(value: unknown): TlsSetting | undefined {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  switch (typeof value === 'string' ? value.trim().toLowerCase() : value) {
    case true:
    case 'true':
    case 'verify-ca':
    case 'verify-full':
      return { rejectUnauthorized: true };
    case 'require':
    case 'no-verify':
      return { rejectUnauthorized: false };
    case false:
    case 'false':
    case 'disable':
    case 'allow':
    case 'prefer':
      return false;
    default:
      return undefined;
  }
}
