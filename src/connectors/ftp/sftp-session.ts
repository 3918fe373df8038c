import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type SftpClient from 'ssh2-sftp-client';
import { loadDriver } from '../driver.js';
import type { SftpSettings } from './ftp-config.js';
import { withTimeout } from './remote-errors.js';
import type { RemoteDownload, RemoteEntry, RemoteSession } from './remote-store.js';

type SftpModule = typeof SftpClient;

/** SSH keepalives: a peer that stops answering is dropped after about interval × (count + 1). */
const KEEPALIVE_COUNT = 3;

/** SFTP status codes (draft-ietf-secsh-filexfer-02) and ssh2-sftp-client's name for "no such file". */
const NO_SUCH_FILE = 2;

/**
 * One SSH connection with its SFTP channel (`ssh2-sftp-client` over `ssh2`), logged in by password or key. A dead
 * peer is found by SSH keepalives within about `timeout`; the connection then ends and every command on it fails.
 */
export class SftpSession implements RemoteSession {
  readonly #client: SftpClient;

  /** `state.alive` turns false when the SSH connection ends (ssh2-sftp-client's global callbacks set it). */
  readonly #state: { alive: boolean };

  private constructor(client: SftpClient, state: { alive: boolean }) {
    this.#client = client;
    this.#state = state;
  }

  static async open(settings: SftpSettings, signal?: AbortSignal): Promise<SftpSession> {
    const Client = await loadDriver<SftpModule>('ssh2-sftp-client', 'sftp');
    const state = { alive: true };
    const dead = () => {
      state.alive = false;
    };
    // Our own callbacks: the library's defaults print to the console when a connection ends.
    const client = new Client('pigeon', { error: dead, end: dead, close: dead });
    const fingerprint = settings.hostFingerprint;
    const login = withTimeout(
      client.connect({
        host: settings.host,
        port: settings.port,
        username: settings.user,
        ...(settings.password !== undefined ? { password: settings.password } : {}),
        ...(settings.privateKey !== undefined ? { privateKey: settings.privateKey } : {}),
        ...(settings.passphrase !== undefined ? { passphrase: settings.passphrase } : {}),
        readyTimeout: settings.connectTimeoutMs,
        keepaliveInterval: Math.max(1000, Math.round(settings.timeoutMs / (KEEPALIVE_COUNT + 1))),
        keepaliveCountMax: KEEPALIVE_COUNT,
        ...(fingerprint !== undefined
          ? { hostVerifier: (key: Buffer) => `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}` === fingerprint }
          : {}),
      }),
      settings.connectTimeoutMs + 1000,
      `no answer within ${settings.connectTimeoutMs / 1000} s`,
      () => destroyClient(client),
      signal,
    );
    await login.catch((e: unknown) => {
      destroyClient(client);
      throw e;
    });
    return new SftpSession(client, state);
  }

  get alive(): boolean {
    return this.#state.alive;
  }

  async close(): Promise<void> {
    this.#state.alive = false;
    // Well within the run's grace for closing a connection (5 s): a server that stopped answering is just cut off.
    await withTimeout(this.#client.end(), 2000, 'no answer to the disconnect', () => destroyClient(this.#client)).catch(() => {});
  }

  destroy(): void {
    this.#state.alive = false;
    destroyClient(this.#client);
  }

  async list(dir: string): Promise<readonly RemoteEntry[] | undefined> {
    let items;
    try {
      items = await this.#client.list(dir === '' ? '.' : dir);
    } catch (e) {
      if (isNoSuchFile(e)) return undefined;
      throw e;
    }
    const out: RemoteEntry[] = [];
    for (const item of items) {
      let type: RemoteEntry['type'] = item.type === 'd' ? 'dir' : item.type === '-' ? 'file' : 'other';
      let size = item.size;
      if (item.type === 'l') {
        // A link is what it points to (a partner's "latest.csv" link to a dated file); a broken one is skipped.
        const target = await this.#client.stat(`${dir === '' ? '.' : dir}/${item.name}`).catch(() => undefined);
        type = target?.isDirectory ? 'dir' : target?.isFile ? 'file' : 'other';
        size = target?.size ?? 0;
      }
      out.push({ name: item.name, type, size, modified: new Date(item.modifyTime) });
    }
    return out;
  }

  async size(path: string): Promise<number | undefined> {
    try {
      const s = await this.#client.stat(path);
      return s.isFile ? s.size : undefined;
    } catch (e) {
      if (isNoSuchFile(e)) return undefined;
      throw e;
    }
  }

  async download(path: string): Promise<RemoteDownload | undefined> {
    const body = this.#client.createReadStream(path) as Readable;
    // The file is opened asynchronously: a missing one shows as an error before 'open'.
    const opened = await new Promise<boolean>((resolve, reject) => {
      const onOpen = () => {
        body.off('error', onError);
        resolve(true);
      };
      const onError = (e: unknown) => {
        body.off('open', onOpen);
        if (isNoSuchFile(e)) resolve(false);
        else reject(e);
      };
      body.once('open', onOpen);
      body.once('error', onError);
    });
    if (!opened) return undefined;
    // The handle is closed when the stream ends or is destroyed: a reader that stops early leaves the session usable.
    const done = new Promise<void>((resolve, reject) => {
      body.once('error', reject);
      body.once('close', () => resolve());
    });
    return { body, done };
  }

  async upload(path: string, body: Readable): Promise<void> {
    const out = this.#client.createWriteStream(path, { flags: 'w' });
    const closed = new Promise<void>((resolve) => out.once('close', () => resolve()));
    await pipeline(body, out);
    // 'finish' means every write was acknowledged; 'close' that the handle is closed, so the rename that follows
    // moves a complete file.
    await closed;
  }

  async rename(from: string, to: string): Promise<void> {
    // SFTP v3's rename refuses an existing target; OpenSSH's posix-rename replaces it in one step.
    try {
      await this.#client.posixRename(from, to);
    } catch (e) {
      if (!/not support/i.test(e instanceof Error ? e.message : String(e))) throw e;
      // A server without the extension: the old file goes first, so readers may briefly find none, never a partial one.
      await this.#client.delete(to, true);
      await this.#client.rename(from, to);
    }
  }

  async remove(path: string): Promise<void> {
    await this.#client.delete(path, true);
  }

  async mkdir(dir: string): Promise<void> {
    // Level by level, each tolerating one made meanwhile by someone else (another node writing beside us):
    // ssh2-sftp-client's recursive mkdir checks first and then fails on such a race.
    if (dir === '' || dir === '.' || dir === '/') return;
    try {
      await this.#client.mkdir(dir, false);
    } catch (e) {
      const kind = await this.#client.exists(dir);
      if (kind === 'd') return;
      const parent = dir.includes('/') ? dir.slice(0, dir.lastIndexOf('/')) : '';
      if (kind !== false || parent === '' || (await this.#client.exists(parent)) === 'd') throw e;
      await this.mkdir(parent);
      await this.mkdir(dir);
    }
  }

  async rmdir(dir: string): Promise<boolean> {
    try {
      await this.#client.rmdir(dir, false);
      return true;
    } catch {
      return false;
    }
  }
}

/** Whether an ssh2 or ssh2-sftp-client error says there is no such file or directory. */
export function isNoSuchFile(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  return code === NO_SUCH_FILE || code === 'ENOENT';
}

/** Ends the SSH connection at once (ssh2-sftp-client keeps the ssh2 Client as `client`). */
function destroyClient(client: SftpClient): void {
  const ssh = (client as unknown as { client?: { destroy?: () => void; end?: () => void } }).client;
  (ssh?.destroy ?? ssh?.end)?.call(ssh);
}
