import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConnectionConfig } from '../../config/types.js';
import { configProblems, invalidConnection, stringKey } from '../config-problems.js';
import { objectSettings, type ObjectSettings } from '../objects/object-layout.js';

/** What the `ftp` and `sftp` kinds share: a server, a login, a directory on it, and how long to wait. */
export interface RemoteSettings extends ObjectSettings {
  readonly protocol: 'ftp' | 'sftp';
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  /** The directory tables are in: '' (the login directory), relative to it, or absolute; no trailing `/`. */
  readonly root: string;
  /** Connecting and logging in may take this long. */
  readonly connectTimeoutMs: number;
  /** A command, or a transfer that makes no progress on the server's side, may take this long. */
  readonly timeoutMs: number;
  /** Values never to print (password, passphrase, private key). */
  readonly secrets: readonly string[];
}

export interface FtpSettings extends RemoteSettings {
  readonly protocol: 'ftp';
  /** false: plain FTP; true: explicit FTPS (AUTH TLS); `implicit`: TLS from the first byte (port 990). */
  readonly secure: boolean | 'implicit';
  /** PEM certificates to trust instead of the system's. */
  readonly ca?: Buffer;
  readonly rejectUnauthorized: boolean;
}

export interface SftpSettings extends RemoteSettings {
  readonly protocol: 'sftp';
  readonly privateKey?: Buffer;
  readonly passphrase?: string;
  /** `SHA256:<base64>` as `ssh-keygen -lf` prints it: the server's host key must have it. */
  readonly hostFingerprint?: string;
}

const DEFAULT_CONNECT_TIMEOUT_S = 30;
const DEFAULT_TIMEOUT_S = 120;

/** Reads the keys both kinds share; `files`: read the files keys name (false for offline checks). */
function remoteBase(c: ConnectionConfig, protocol: 'ftp' | 'sftp', defaultPort: number) {
  const bad = invalidConnection(c);
  const str = (key: string) => stringKey(c, key);
  const host = str('host');
  if (host === undefined) throw bad(`\`host\` is required (the ${protocol} server's name or address)`);
  if (/[\s/@]/.test(host)) throw bad('`host` must be a host name or address, not a URL');
  const port = c['port'] ?? defaultPort;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw bad('`port` must be a port number (1-65535)');
  const seconds = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0)) throw bad(`\`${key}\` must be a number of seconds above 0`);
    return Math.round(v * 1000);
  };
  const rootRaw = c['root'] ?? '';
  if (typeof rootRaw !== 'string') throw bad('`root` must be a string');
  if (rootRaw.split('/').some((p) => p === '..')) throw bad('`root` may not contain a .. part');
  const root = rootRaw === '/' ? '/' : rootRaw.replace(/\/+$/, '');
  const password = str('password');
  return {
    ...objectSettings(c, 'file'),
    host,
    port,
    password,
    root,
    connectTimeoutMs: seconds('connect_timeout', DEFAULT_CONNECT_TIMEOUT_S),
    timeoutMs: seconds('timeout', DEFAULT_TIMEOUT_S),
    str,
  };
}

/** An `ftp` connection (see schemas/connections/ftp.schema.json); `files` false: the `ca` file is not read. */
export function ftpSettings(c: ConnectionConfig, cwd: string, files = true): FtpSettings {
  const bad = invalidConnection(c);
  const secure = c['secure'] ?? false;
  if (secure !== true && secure !== false && secure !== 'implicit') throw bad('`secure` must be false, true (explicit FTPS) or `implicit`');
  const { str, password, ...base } = remoteBase(c, 'ftp', secure === 'implicit' ? 990 : 21);
  const reject = c['reject_unauthorized'] ?? true;
  if (typeof reject !== 'boolean') throw bad('`reject_unauthorized` must be true or false');
  const caFile = str('ca');
  if ((caFile !== undefined || c['reject_unauthorized'] !== undefined) && secure === false) throw bad('`ca` and `reject_unauthorized` need `secure: true` or `secure: implicit`');
  const user = str('user') ?? 'anonymous';
  return {
    ...base,
    protocol: 'ftp',
    user,
    ...(password !== undefined ? { password } : {}),
    secure,
    ...(caFile !== undefined && files ? { ca: readFile(c, 'ca', resolve(cwd, caFile)) } : {}),
    rejectUnauthorized: reject,
    secrets: password !== undefined ? [password] : [],
  };
}

/** An `sftp` connection (see schemas/connections/sftp.schema.json); `files` false: the key file is not read. */
export function sftpSettings(c: ConnectionConfig, cwd: string, files = true): SftpSettings {
  const bad = invalidConnection(c);
  const { str, password, ...base } = remoteBase(c, 'sftp', 22);
  const user = str('user');
  if (user === undefined) throw bad('`user` is required');
  const inline = str('private_key');
  const keyFile = str('private_key_file');
  if (inline !== undefined && keyFile !== undefined) throw bad('give either `private_key` or `private_key_file`, not both');
  const passphrase = str('passphrase');
  if (passphrase !== undefined && inline === undefined && keyFile === undefined) throw bad('`passphrase` needs `private_key` or `private_key_file`');
  if (password === undefined && inline === undefined && keyFile === undefined) throw bad('give `password`, `private_key` or `private_key_file`');
  const fingerprint = str('host_fingerprint');
  if (fingerprint !== undefined && !/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(fingerprint)) throw bad('`host_fingerprint` must be SHA256:<base64> as `ssh-keygen -lf` prints it');
  const privateKey = inline !== undefined ? Buffer.from(inline) : keyFile !== undefined && files ? readFile(c, 'private_key_file', resolve(cwd, keyFile)) : undefined;
  return {
    ...base,
    protocol: 'sftp',
    user,
    ...(password !== undefined ? { password } : {}),
    ...(privateKey !== undefined ? { privateKey } : {}),
    ...(passphrase !== undefined ? { passphrase } : {}),
    ...(fingerprint !== undefined ? { hostFingerprint: fingerprint.replace(/=$/, '') } : {}),
    secrets: [password, passphrase, inline].filter((s): s is string => s !== undefined),
  };
}

function readFile(c: ConnectionConfig, key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw invalidConnection(c)(`\`${key}\`: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * The problems of an `ftp` or `sftp` connection, offline (ConnectorKind.checkConnection), at the key they name.
 * Files are not read here: a key or CA file may only exist where the pipeline runs.
 */
export const ftpConfigProblems = configProblems((c) => ftpSettings(c, '.', false));
export const sftpConfigProblems = configProblems((c) => sftpSettings(c, '.', false));
