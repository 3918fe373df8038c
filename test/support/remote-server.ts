import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { Client as FtpClient } from 'basic-ftp';
import SftpClient from 'ssh2-sftp-client';
import { serviceEndpoint } from './services.js';

/**
 * The FTP or SFTP test server (scripts/services/ftp.sh: ProFTPD; sftp.sh: OpenSSH) and a plain client of it (not
 * pigeon's store) to set up files and to look at what pigeon left, hidden temp files included.
 */
export interface TestServer {
  readonly kind: 'ftp' | 'sftp';
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** A fresh directory for one test, as a connection's `root`. */
  root(): string;
  /** Connection keys of a connection on `root` (password login; the extra keys win). */
  config(root: string, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Every file below `root`, relative to it, sorted (hidden ones too); none when it does not exist. */
  files(root: string): Promise<string[]>;
  put(path: string, body: string | Buffer): Promise<void>;
  bytes(path: string): Promise<Buffer>;
  /** Sets a file's modification time back to `date` (FTP MFMT, SFTP SETSTAT). */
  touch(path: string, date: Date): Promise<void>;
  /** Removes `root` and everything in it. */
  clear(root: string): Promise<void>;
}

const servers = new Map<string, TestServer>();

export function testServer(kind: 'ftp' | 'sftp'): TestServer {
  let server = servers.get(kind);
  if (!server) {
    server = kind === 'ftp' ? ftpServer() : sftpServer();
    servers.set(kind, server);
  }
  return server;
}

function endpoint(kind: 'ftp' | 'sftp') {
  const url = new URL(serviceEndpoint(kind));
  return {
    host: url.hostname,
    port: Number(url.port),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    /** The login directory, when the URL names one (sftp://…/data). */
    home: url.pathname.replace(/\/+$/, ''),
  };
}

function ftpServer(): TestServer {
  const e = endpoint('ftp');
  const withClient = async <T>(fn: (c: FtpClient) => Promise<T>): Promise<T> => {
    const c = new FtpClient(30_000);
    try {
      await c.access({ host: e.host, port: e.port, user: e.user, password: e.password });
      return await fn(c);
    } finally {
      c.close();
    }
  };
  return {
    kind: 'ftp',
    ...e,
    root: () => `t-${randomBytes(5).toString('hex')}`,
    config: (root, extra = {}) => ({ host: e.host, port: e.port, user: e.user, password: e.password, root, ...extra }),
    files: (root) => withClient((c) => filesBelow(root, async (dir) => (await c.list(dir)).map((f) => ({ name: f.name, dir: f.isDirectory })))),
    put: (path, body) =>
      withClient(async (c) => {
        const dir = path.slice(0, path.lastIndexOf('/'));
        for (let i = 1, parts = dir.split('/'); i <= parts.length; i++) await c.sendIgnoringError(`MKD ${parts.slice(0, i).join('/')}`);
        await c.uploadFrom(Readable.from([Buffer.from(body)]), path);
      }),
    bytes: (path) =>
      withClient(async (c) => {
        const pieces: Buffer[] = [];
        await c.downloadTo(new Writable({ write: (chunk: Buffer, _enc, cb) => (pieces.push(chunk), cb()) }), path);
        return Buffer.concat(pieces);
      }),
    touch: (path, date) =>
      withClient(async (c) => {
        await c.send(`MFMT ${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)} ${path}`);
      }),
    clear: (root) =>
      withClient(async (c) => {
        await c.removeDir(root).catch(() => {});
      }),
  };
}

function sftpServer(): TestServer {
  const e = endpoint('sftp');
  const withClient = async <T>(fn: (c: SftpClient) => Promise<T>): Promise<T> => {
    const quiet = () => {};
    const c = new SftpClient('test', { error: quiet, end: quiet, close: quiet });
    await c.connect({ host: e.host, port: e.port, username: e.user, password: e.password });
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  return {
    kind: 'sftp',
    ...e,
    root: () => `${e.home}/t-${randomBytes(5).toString('hex')}`,
    config: (root, extra = {}) => ({ host: e.host, port: e.port, user: e.user, password: e.password, root, ...extra }),
    files: (root) => withClient((c) => filesBelow(root, async (dir) => (await c.list(dir)).map((f) => ({ name: f.name, dir: f.type === 'd' })))),
    put: (path, body) =>
      withClient(async (c) => {
        await c.mkdir(path.slice(0, path.lastIndexOf('/')), true);
        await c.put(Buffer.from(body), path);
      }),
    bytes: (path) => withClient(async (c) => (await c.get(path)) as Buffer),
    touch: (path, date) =>
      withClient(
        (c) =>
          new Promise<void>((resolve, reject) => {
            const seconds = Math.floor(date.getTime() / 1000);
            const sftp = (c as unknown as { sftp: { utimes(p: string, a: number, m: number, cb: (e?: Error) => void): void } }).sftp;
            sftp.utimes(path, seconds, seconds, (e) => (e ? reject(e) : resolve()));
          }),
      ),
    clear: (root) =>
      withClient(async (c) => {
        if (await c.exists(root)) await c.rmdir(root, true);
      }),
  };
}

/** Every file below `root` (relative, sorted), walked with a protocol's directory listing; a missing root: none. */
async function filesBelow(root: string, list: (dir: string) => Promise<{ name: string; dir: boolean }[]>): Promise<string[]> {
  const out: string[] = [];
  const pending: [string, string][] = [[root, '']];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [dir, rel] = next;
    const entries = await list(dir).catch(() => []);
    for (const f of entries) {
      if (f.name === '.' || f.name === '..') continue;
      if (f.dir) pending.push([`${dir}/${f.name}`, `${rel}${f.name}/`]);
      else out.push(`${rel}${f.name}`);
    }
  }
  return out.sort();
}
