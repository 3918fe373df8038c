import type { FtpSettings, RemoteSettings, SftpSettings } from './ftp-config.js';
import { code, FtpSession } from './ftp-session.js';
import { remoteError, type RemoteErrorKind } from './remote-errors.js';
import { RemoteStore, type RemoteStoreOptions } from './remote-store.js';
import { isNoSuchFile, SftpSession } from './sftp-session.js';

/** FTP replies where the same command may succeed later: 421 closing, 425/426 data connection, 450-452 busy or full. */
const FTP_TRANSIENT: ReadonlySet<number> = new Set([421, 425, 426, 450, 451, 452]);

/** `ftp://user@host:port`: where a connection's files are, for messages (never the password). */
export function originOf(s: RemoteSettings): string {
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  return `${s.protocol}://${encodeURIComponent(s.user)}@${host}:${s.port}`;
}

/** Extra store options (tests: a shorter sweep age). */
export type StoreTuning = Pick<RemoteStoreOptions, 'staleMs' | 'keepIdle' | 'idleMs'>;

/** An ObjectStore over the `root` of an FTP server (FTPS when `secure`) or an SFTP server. */
export function remoteStore(s: FtpSettings | SftpSettings, tuning: StoreTuning = {}): RemoteStore {
  return new RemoteStore({
    ...tuning,
    origin: originOf(s),
    root: s.root,
    connect: (signal) => (s.protocol === 'ftp' ? FtpSession.open(s, signal) : SftpSession.open(s, signal)),
    error: (e, what, location) => remoteError(e, what, location, s.secrets, s.protocol === 'ftp' ? ftpErrorKind(e) : sftpErrorKind(e)),
  });
}

function ftpErrorKind(e: unknown): RemoteErrorKind {
  const reply = code(e);
  return { notFound: false, transient: reply !== undefined && FTP_TRANSIENT.has(reply) };
}

function sftpErrorKind(e: unknown): RemoteErrorKind {
  const c = (e as { code?: unknown } | undefined)?.code;
  // ssh2 names a lost connection by its level; ssh2-sftp-client says ERR_NOT_CONNECTED once it is gone.
  const level = (e as { level?: unknown } | undefined)?.level;
  return { notFound: isNoSuchFile(e), transient: c === 'ERR_NOT_CONNECTED' || level === 'client-socket' || level === 'client-timeout' };
}
