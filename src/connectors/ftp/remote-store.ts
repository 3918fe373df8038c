import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { checkKey, folderOf, ObjectStoreError, type ObjectInfo, type ObjectStore } from '../objects/object-store.js';
import { SessionPool, type PooledSession } from './session-pool.js';

/** One entry of a remote directory. */
export interface RemoteEntry {
  readonly name: string;
  readonly type: 'file' | 'dir' | 'other';
  readonly size: number;
  /** Last modification, when the server says it. */
  readonly modified?: Date;
}

/** A download in progress: the bytes, and when the session that carries them is free again. */
export interface RemoteDownload {
  readonly body: Readable;
  /** Settles when the transfer has ended; rejects when it failed or was cut short (the session is then dropped). */
  readonly done: Promise<void>;
}

/**
 * What a store needs of one FTP or SFTP session: the protocol's commands, one at a time. Paths are the server's
 * (`''` is the login directory). Failures are the client library's own errors; RemoteStore gives them a location.
 */
export interface RemoteSession extends PooledSession {
  /** The entries of a directory; undefined when there is no such directory. */
  list(dir: string): Promise<readonly RemoteEntry[] | undefined>;
  /** The size of a file; undefined when there is no such file. */
  size(path: string): Promise<number | undefined>;
  /** Starts a download; undefined when there is no such file. */
  download(path: string): Promise<RemoteDownload | undefined>;
  /** Stores `body` (read with backpressure) at `path`, replacing it; not atomic: callers upload to a temp name. */
  upload(path: string, body: Readable): Promise<void>;
  /** Renames `from` to `to`, replacing `to` for readers in one step where the server can. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; a missing one is fine. */
  remove(path: string): Promise<void>;
  /** Creates a directory and its parents; existing ones are fine. */
  mkdir(dir: string): Promise<void>;
  /** Removes a directory if it is empty; false when it could not (not empty, gone). */
  rmdir(dir: string): Promise<boolean>;
}

export interface RemoteStoreOptions {
  /** `ftp://user@host:port` (no password), the start of every location in messages. */
  readonly origin: string;
  /** The directory keys are under: '' (the login directory), relative to it, or absolute. */
  readonly root: string;
  readonly connect: (signal?: AbortSignal) => Promise<RemoteSession>;
  /** Turns a client error into an ObjectStoreError about `what` at `location` (secrets masked, transient marked). */
  readonly error: (e: unknown, what: string, location: string) => ObjectStoreError;
  /**
   * A temp file left by a writer is swept only when it was last written before this store was made (the run began)
   * and at least this long ago: a live writer keeps writing to its temp, and the margin also absorbs a server clock
   * that differs from ours. Default 1 hour.
   */
  readonly staleMs?: number;
  /** Idle sessions kept (default 4) and for how long (default 60 s). */
  readonly keepIdle?: number;
  readonly idleMs?: number;
}

/** `.name.<8 hex>.partial`: what `write` uploads to before renaming it over `name`; never listed. */
const TEMP = /^\..+\.[0-9a-f]{8}\.partial$/;
const HOUR = 60 * 60 * 1000;

/**
 * An ObjectStore over a directory of an FTP or SFTP server (the session is the protocol's part, see RemoteSession).
 * Keys are paths below `root`. A write uploads to a hidden temp name in the same directory and renames it over
 * the key, so a reader sees the old file or the new one whole; a write that fails or is aborted ends its session
 * (the transfer's state is unknown) and removes the temp on a fresh one. Folders are made on write and removed
 * once a delete empties them. Every operation holds its own session from a pool (FTP runs one transfer per control
 * connection); a read holds it until its body has been read or destroyed.
 */
export class RemoteStore implements ObjectStore {
  readonly #options: RemoteStoreOptions;
  readonly #pool: SessionPool<RemoteSession>;
  readonly #root: string;
  readonly #createdAt = Date.now();
  /** Folders known to exist: a write does not create them again. */
  readonly #folders = new Set<string>();

  constructor(options: RemoteStoreOptions) {
    this.#options = options;
    this.#root = options.root;
    this.#pool = new SessionPool({ connect: options.connect, keepIdle: options.keepIdle ?? 4, idleMs: options.idleMs ?? 60_000 });
  }

  describe(key: string): string {
    const path = this.#path(key, true);
    return `${this.#options.origin}${path.startsWith('/') ? '' : '/~/'}${path}`.replace(/\/$/, '');
  }

  /** The server path of a key (`''`: the root itself). */
  #path(key: string, unchecked = false): string {
    const bad = key === '' ? undefined : checkKey(key.replace(/\/$/, ''));
    if (bad !== undefined && !unchecked) {
      throw new ObjectStoreError(`the name \`${key}\` ${bad} (${this.describe('')})`, { location: this.describe('') });
    }
    const k = key.replace(/\/$/, '');
    if (this.#root === '') return k;
    if (k === '') return this.#root;
    return this.#root.endsWith('/') ? `${this.#root}${k}` : `${this.#root}/${k}`;
  }

  #fail(e: unknown, what: string, key: string): ObjectStoreError {
    return e instanceof ObjectStoreError ? e : this.#options.error(e, what, this.describe(key));
  }

  /** Logs in once: a wrong password or an unreachable server fails here, before any work. */
  async probe(signal?: AbortSignal): Promise<void> {
    try {
      await this.#pool.use(async () => {}, signal);
    } catch (e) {
      throw this.#options.error(e, 'log in to', this.#options.origin);
    }
  }

  close(): Promise<void> {
    return this.#pool.close();
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo> {
    const found: ObjectInfo[] = [];
    await this.#walk(folderOf(prefix), prefix, false, signal, (key, entry) => {
      found.push({ key, size: entry.size });
    });
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* found;
  }

  /** Visits the files below `folder` whose key starts with `prefix`; temp files only when `temps`. */
  async #walk(folder: string, prefix: string, temps: boolean, signal: AbortSignal | undefined, visit: (key: string, entry: RemoteEntry) => void): Promise<void> {
    const pending = [folder];
    await this.#pool.use(async (session) => {
      for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
        signal?.throwIfAborted();
        let entries;
        try {
          entries = await session.list(this.#path(dir));
        } catch (e) {
          throw this.#fail(e, 'list', dir);
        }
        for (const entry of entries ?? []) {
          if (entry.name === '.' || entry.name === '..') continue;
          const key = `${dir}${entry.name}`;
          if (entry.type === 'dir') {
            if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) pending.push(`${key}/`);
          } else if (entry.type === 'file' && key.startsWith(prefix) && TEMP.test(entry.name) === temps) {
            visit(key, entry);
          }
        }
      }
    }, signal);
  }

  async stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | undefined> {
    const path = this.#path(key);
    try {
      const size = await this.#pool.use((session) => session.size(path), signal);
      return size === undefined ? undefined : { key, size };
    } catch (e) {
      throw this.#fail(e, 'read', key);
    }
  }

  async read(key: string, signal?: AbortSignal): Promise<Readable> {
    const path = this.#path(key);
    let session: RemoteSession;
    try {
      session = await this.#pool.acquire(signal);
    } catch (e) {
      throw this.#fail(e, 'read', key);
    }
    let download: RemoteDownload | undefined;
    try {
      download = await session.download(path);
    } catch (e) {
      this.#pool.release(session, false);
      throw this.#fail(e, 'read', key);
    }
    if (!download) {
      this.#pool.release(session, true);
      throw new ObjectStoreError(`cannot read ${this.describe(key)}: no such file`, { location: this.describe(key), notFound: true });
    }
    const { body, done } = download;
    const onAbort = () => body.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    done.then(
      () => this.#pool.release(session, true),
      (e: unknown) => {
        this.#pool.release(session, false);
        // The reader sees why its stream ended early (a lost connection, a timeout), with the location.
        if (!body.destroyed) body.destroy(this.#fail(e, 'read', key));
      },
    ).finally(() => signal?.removeEventListener('abort', onAbort));
    return body;
  }

  async write(key: string, body: Readable, signal?: AbortSignal): Promise<void> {
    let path: string;
    try {
      path = this.#path(key);
    } catch (e) {
      body.destroy();
      throw e;
    }
    const folder = folderOf(key);
    const temp = this.#path(`${folder}.${key.slice(folder.length)}.${randomBytes(4).toString('hex')}.partial`);
    let session: RemoteSession | undefined;
    // An abort ends the body and the session: a transfer cannot be stopped more surely (and FTP has no other way).
    // The body is destroyed without an error: nobody may be listening to it yet, and the abort's reason is ours to
    // report.
    const onAbort = () => {
      body.destroy();
      session?.destroy();
    };
    try {
      signal?.throwIfAborted();
      signal?.addEventListener('abort', onAbort, { once: true });
      session = await this.#pool.acquire(signal);
      await this.#ensureFolder(session, folder);
      await session.upload(temp, body);
      signal?.throwIfAborted();
      await session.rename(temp, path);
      this.#pool.release(session, true);
    } catch (e) {
      body.destroy();
      // The folder may be what is missing (removed by another writer): the next write makes it again.
      this.#folders.delete(folder);
      if (session) this.#pool.release(session, false);
      // Removed on a fresh session before the promise settles: nothing of a failed write stays behind.
      await this.#pool.use((s) => s.remove(temp)).catch(() => {});
      throw this.#fail(signal?.aborted ? (signal.reason ?? e) : e, 'write', key);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #ensureFolder(session: RemoteSession, folder: string): Promise<void> {
    if (folder === '' && this.#root === '') return;
    if (this.#folders.has(folder)) return;
    await session.mkdir(this.#path(folder));
    this.#folders.add(folder);
  }

  async rename(from: string, to: string, signal?: AbortSignal): Promise<void> {
    const a = this.#path(from);
    const b = this.#path(to);
    const where = `${this.describe(from)} to ${this.describe(to)}`;
    let moved: boolean;
    try {
      moved = await this.#pool.use(async (session) => {
        if ((await session.size(a)) === undefined) return false;
        await this.#ensureFolder(session, folderOf(to));
        await session.rename(a, b);
        return true;
      }, signal);
    } catch (e) {
      throw this.#options.error(e, 'move', where);
    }
    if (!moved) throw new ObjectStoreError(`cannot move ${where}: ${this.describe(from)} does not exist`, { location: this.describe(from), notFound: true });
  }

  async delete(keys: readonly string[], signal?: AbortSignal): Promise<void> {
    if (keys.length === 0) return;
    const folders = new Set<string>();
    await this.#pool.use(async (session) => {
      for (const key of keys) {
        signal?.throwIfAborted();
        try {
          await session.remove(this.#path(key));
        } catch (e) {
          throw this.#fail(e, 'delete', key);
        }
        folders.add(folderOf(key));
      }
      // Deepest first, so a folder emptied by removing its empty subfolders goes too; never the root.
      for (const folder of [...folders].sort((a, b) => b.length - a.length)) {
        for (let f = folder; f !== ''; f = folderOf(f.slice(0, -1))) {
          this.#folders.delete(f);
          if (!(await session.rmdir(this.#path(f)).catch(() => false))) break;
        }
      }
    }, signal);
  }

  /**
   * Removes the temp files of writers that died mid-upload under `prefix`: those last written before this store
   * was made and more than `staleMs` ago (see RemoteStoreOptions.staleMs). Returns their locations.
   */
  async sweep(prefix: string): Promise<string[]> {
    const before = Math.min(this.#createdAt, Date.now() - (this.#options.staleMs ?? HOUR));
    const stale: string[] = [];
    await this.#walk(folderOf(prefix), prefix, true, undefined, (key, entry) => {
      if (entry.modified !== undefined && entry.modified.getTime() < before) stale.push(key);
    });
    if (stale.length === 0) return [];
    await this.#pool.use(async (session) => {
      for (const key of stale) await session.remove(this.#path(key));
    });
    return stale.map((key) => this.describe(key));
  }
}
