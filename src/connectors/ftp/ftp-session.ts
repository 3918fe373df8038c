import { PassThrough, type Readable } from 'node:stream';
import type { Client, FileInfo } from 'basic-ftp';
import { loadDriver } from '../driver.js';
import type { FtpSettings } from './ftp-config.js';
import { withTimeout } from './remote-errors.js';
import type { RemoteDownload, RemoteEntry, RemoteSession } from './remote-store.js';

type FtpModule = typeof import('basic-ftp');

/** FTP's "file unavailable" (not found, or not allowed: the same code on most servers). */
const UNAVAILABLE = 550;

/**
 * One FTP control connection (`basic-ftp`), logged in. basic-ftp runs one command or transfer at a time and times
 * out a command, or a transfer the server stops feeding, after `timeout` (our own backpressure does not count).
 */
export class FtpSession implements RemoteSession {
  readonly #client: Client;

  private constructor(client: Client) {
    this.#client = client;
  }

  static async open(settings: FtpSettings, signal?: AbortSignal): Promise<FtpSession> {
    const ftp = await loadDriver<FtpModule>('basic-ftp', 'ftp');
    const client = new ftp.Client(settings.timeoutMs);
    const tls = { rejectUnauthorized: settings.rejectUnauthorized, ...(settings.ca ? { ca: settings.ca } : {}) };
    // basic-ftp's timeout only runs while a command waits for an answer: a server that accepts the TCP connection
    // and never greets, or a TLS handshake that hangs, is cut here.
    const login = withTimeout(
      client.access({
        host: settings.host,
        port: settings.port,
        user: settings.user,
        password: settings.password ?? (settings.user === 'anonymous' ? 'anonymous@' : ''),
        secure: settings.secure,
        secureOptions: tls,
      }),
      settings.connectTimeoutMs,
      `no answer within ${settings.connectTimeoutMs / 1000} s`,
      () => client.close(),
      signal,
    );
    // A refused login leaves the control connection open: the server would hold it until its own login timeout.
    await login.catch((e: unknown) => {
      client.close();
      throw e;
    });
    return new FtpSession(client);
  }

  get alive(): boolean {
    return !this.#client.closed;
  }

  async close(): Promise<void> {
    this.#client.close();
  }

  destroy(): void {
    this.#client.close();
  }

  async list(dir: string): Promise<readonly RemoteEntry[] | undefined> {
    let infos: FileInfo[];
    try {
      infos = await this.#client.list(dir);
    } catch (e) {
      if (code(e) === UNAVAILABLE) return undefined;
      throw e;
    }
    return infos.map((f) => ({
      name: f.name,
      type: f.isDirectory ? 'dir' : f.isFile ? 'file' : 'other',
      size: f.size,
      ...(f.modifiedAt ? { modified: f.modifiedAt } : {}),
    }));
  }

  async size(path: string): Promise<number | undefined> {
    try {
      return await this.#client.size(path);
    } catch (e) {
      if (code(e) === UNAVAILABLE) return undefined;
      throw e;
    }
  }

  async download(path: string): Promise<RemoteDownload | undefined> {
    // RETR of a missing file fails only once the transfer was set up; SIZE says so first, and a download of a
    // file that vanished in between fails as a transfer.
    if ((await this.size(path)) === undefined) return undefined;
    const body = new PassThrough();
    const done = this.#client.downloadTo(body, path).then(() => undefined);
    // basic-ftp ends `body` when the transfer completes; a reader that stops early destroys it, which fails the
    // transfer (and the pool drops this session: FTP cannot stop a transfer and keep the connection in a known state).
    return { body, done };
  }

  async upload(path: string, body: Readable): Promise<void> {
    await this.#client.uploadFrom(body, path);
  }

  async rename(from: string, to: string): Promise<void> {
    try {
      await this.#client.rename(from, to);
    } catch (e) {
      // Most servers replace the target of RNTO (ProFTPD with AllowOverwrite, vsftpd, Pure-FTPd); some refuse. Then
      // the old file goes first: readers may find no file for a moment, but never a partial one.
      if (code(e) !== UNAVAILABLE || (await this.size(to)) === undefined) throw e;
      await this.#client.remove(to);
      await this.#client.rename(from, to);
    }
  }

  async remove(path: string): Promise<void> {
    try {
      await this.#client.remove(path);
    } catch (e) {
      if (code(e) !== UNAVAILABLE || (await this.size(path)) !== undefined) throw e;
    }
  }

  async mkdir(dir: string): Promise<void> {
    // MKD of every level: an existing one answers 550, which is fine; a level that could not be made shows as the
    // upload's failure, naming the file.
    const parts = dir.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const level = parts.slice(0, i).join('/');
      if (level === '' || level === '.') continue;
      await this.#client.sendIgnoringError(`MKD ${level}`);
    }
  }

  async rmdir(dir: string): Promise<boolean> {
    const r = await this.#client.sendIgnoringError(`RMD ${dir}`);
    return r.code >= 200 && r.code < 300;
  }
}

/** The reply code of an FTP error (basic-ftp's FTPError), if it is one. */
export function code(e: unknown): number | undefined {
  const c = (e as { code?: unknown } | undefined)?.code;
  return typeof c === 'number' ? c : undefined;
}
