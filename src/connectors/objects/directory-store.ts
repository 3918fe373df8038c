import { createHash } from 'node:crypto';
import { open, readdir, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mkdirs, syncDir } from '../../state/atomic-file.js';
import { removeStaleTemps } from '../../state/stale-temps.js';
import { checkKey, ObjectStoreError, type ObjectInfo, type ObjectStore } from './object-store.js';

/** What a write keeps in memory before the disk catches up. */
const HIGH_WATER_MARK = 256 * 1024;
/** A write goes to `<file>.<pid>.<8 hex>.partial` first (sweep knows a dead writer's); list() never shows these. */
export const PARTIAL_SUFFIX = '.partial';

/**
 * Where a write of `path` goes first: named after the writer's pid, so that a later sweep removes it once that process
 * is gone, and two processes writing one key never share a file. One process writes a key once at a time.
 */
export function partialPath(path: string): string {
  return `${path}.${process.pid}.${createHash('sha256').update(path).digest('hex').slice(0, 8)}${PARTIAL_SUFFIX}`;
}

const REASONS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device (ENOSPC)',
  EDQUOT: 'disk quota exceeded (EDQUOT)',
  EROFS: 'the file system is read-only (EROFS)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
  ENOTDIR: 'a part of the path is a file, not a directory (ENOTDIR)',
  EISDIR: 'a directory is where a file should be (EISDIR)',
  ENOENT: 'no such file or directory (ENOENT)',
};

export interface DirectoryStoreOptions {
  /** Bytes read at a time (default 64 KiB). */
  readonly readChunk?: number;
}

/**
 * An ObjectStore over a local directory: a key is a file path below it. A write goes to `<file>.<pid>.<hex>.partial`, is
 * fsynced and renamed into place (and the folder synced), so a crash never leaves a file that looks complete;
 * a delete removes the folders it empties, up to the root.
 */
export class DirectoryStore implements ObjectStore {
  readonly root: string;
  readonly #readChunk: number;

  constructor(root: string, options: DirectoryStoreOptions = {}) {
    this.root = resolve(root);
    this.#readChunk = options.readChunk ?? 64 * 1024;
  }

  /** The file of a key; a key can never point outside the root. */
  path(key: string): string {
    const bad = checkKey(key);
    const p = resolve(this.root, key);
    if (bad !== undefined || !p.startsWith(this.root + sep)) {
      throw new ObjectStoreError(`the name \`${key}\` ${bad ?? 'points outside the directory'} (${this.root})`, { location: this.root });
    }
    return p;
  }

  describe(key: string): string {
    return key === '' ? this.root : join(this.root, key);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const start = folder === '' ? this.root : this.path(folder);
    const found: ObjectInfo[] = [];
    await this.#walk(start, prefix, found);
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* found;
  }

  async #walk(dir: string, prefix: string, out: ObjectInfo[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw failure('list', dir, e);
    }
    for (const entry of entries) {
      const p = join(dir, entry.name);
      const key = relative(this.root, p).split(sep).join('/');
      if (entry.isDirectory()) {
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await this.#walk(p, prefix, out);
        continue;
      }
      if (!key.startsWith(prefix) || entry.name.endsWith(PARTIAL_SUFFIX)) continue;
      const info = await this.stat(key);
      if (info) out.push(info);
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const p = this.path(key);
    try {
      const s = await stat(p);
      return s.isFile() ? { key, size: s.size } : undefined;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw failure('read', p, e);
    }
  }

  async read(key: string): Promise<Readable> {
    const p = this.path(key);
    let file: FileHandle;
    try {
      file = await open(p, 'r');
    } catch (e) {
      throw failure('open', p, e);
    }
    return file.createReadStream({ highWaterMark: this.#readChunk });
  }

  async write(key: string, body: Readable, signal?: AbortSignal): Promise<void> {
    const p = this.path(key);
    const partial = partialPath(p);
    let file: FileHandle;
    try {
      await mkdirs(dirname(p));
      file = await open(partial, 'w');
    } catch (e) {
      body.destroy();
      throw failure('create', partial, e);
    }
    try {
      await pipeline(body, new FileSink(file), ...(signal ? [{ signal }] : []));
      await file.close();
      await rename(partial, p);
    } catch (e) {
      await file.close().catch(() => {});
      await unlink(partial).catch(() => {});
      throw failure('write', p, e);
    }
    await syncDir(dirname(p));
  }

  async rename(from: string, to: string): Promise<void> {
    const a = this.path(from);
    const b = this.path(to);
    try {
      await mkdirs(dirname(b));
      await rename(a, b);
    } catch (e) {
      throw failure('rename', `${a} to ${b}`, e);
    }
    await syncDir(dirname(b));
  }

  async delete(keys: readonly string[]): Promise<void> {
    const folders = new Set<string>();
    for (const key of keys) {
      const p = this.path(key);
      try {
        await unlink(p);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw failure('remove', p, e);
      }
      folders.add(dirname(p));
    }
    // Deepest first, so a folder emptied by removing its empty subfolders goes too.
    for (const dir of [...folders].sort((a, b) => b.length - a.length)) await this.#prune(dir);
  }

  /** Removes `dir` and its parents while they are empty, up to (not including) the root. */
  async #prune(dir: string): Promise<void> {
    for (let d = dir; d.startsWith(this.root + sep); d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return;
      }
    }
  }

  sweep(prefix: string): Promise<string[]> {
    return removeStaleTemps(prefix === '' ? this.root : this.path(prefix.replace(/\/$/, '')), 8);
  }
}

/** A store failure naming the path and the reason in words. */
function failure(what: string, path: string, e: unknown): ObjectStoreError {
  if (e instanceof ObjectStoreError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const reason = (code && REASONS[code]) ?? (e instanceof Error ? e.message : String(e));
  return new ObjectStoreError(`cannot ${what} ${path}: ${reason}`, {
    location: path,
    notFound: code === 'ENOENT',
    cause: e,
  });
}

/**
 * Writes to a file handle we keep (fs write streams over a FileHandle either close it themselves or keep it from
 * closing) and fsyncs it before reporting 'finish'.
 */
class FileSink extends Writable {
  readonly #file: FileHandle;

  constructor(file: FileHandle) {
    super({ highWaterMark: HIGH_WATER_MARK });
    this.#file = file;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    writeAll(this.#file, chunk).then(() => callback(), callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    (async () => {
      for (const { chunk } of chunks) await writeAll(this.#file, chunk);
    })().then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#file.sync().then(() => callback(), callback);
  }
}

async function writeAll(file: FileHandle, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length; ) {
    const { bytesWritten } = await file.write(bytes, at, bytes.length - at);
    at += bytesWritten;
  }
}
