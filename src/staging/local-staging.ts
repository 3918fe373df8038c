import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat, readdir, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { ChunkFileWriter, openChunkFile } from '../csv/chunk-file.js';
import { readJsonIfExists, writeJsonAtomic } from '../state/atomic-file.js';
import { removeStaleTemps } from '../state/stale-temps.js';
import { PipelineError } from '../errors/pipeline-error.js';
import type { ChunkWriter, StagingArea, StagingStore } from './staging.js';

/** Staging in a local directory: `<dir>/<pipeline>/<lineage>/<node>/`. */
export class LocalStagingStore implements StagingStore {
  readonly #root: string;
  readonly #gzip: boolean;

  constructor(dir: string, options: { gzip: boolean }) {
    this.#root = resolve(dir);
    this.#gzip = options.gzip;
  }

  area(pipeline: string, lineage: string, node: string): StagingArea {
    return new LocalStagingArea(join(this.#root, safe(pipeline), safe(lineage), safe(node)), this.#gzip);
  }

  async removeLineage(pipeline: string, lineage: string): Promise<void> {
    const dir = join(this.#root, safe(pipeline), safe(lineage));
    let entries: string[] = [];
    try {
      entries = await readdir(dir);
    } catch {
      return;
    }
    if (entries.length === 0) await rmdir(dir).catch(() => {});
  }

  removeStaleTemps(pipeline: string): Promise<string[]> {
    // <pipeline>/<lineage>/<node>/<file>
    return removeStaleTemps(join(this.#root, safe(pipeline)), 2);
  }
}

class LocalStagingArea implements StagingArea {
  readonly location: string;
  readonly #gzip: boolean;

  constructor(dir: string, gzip: boolean) {
    this.location = dir;
    this.#gzip = gzip;
  }

  #path(file: string): string {
    return join(this.location, file);
  }

  describe(file: string): string {
    return this.#path(file);
  }

  async createChunk(file: string, columns: readonly string[]): Promise<ChunkWriter> {
    return this.#fs('create', file, () => ChunkFileWriter.create(this.#path(file), columns, { gzip: this.#gzip }));
  }

  openChunk(file: string): Promise<Readable> {
    return this.#fs('read', file, () => openChunkFile(this.#path(file), this.#gzip));
  }

  /** File system errors become STAGING_FAILED naming the staging directory, the file and the reason. */
  async #fs<T>(what: string, file: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw stagingError(e, what, this.#path(file), this.location);
    }
  }

  async verify(file: string, expected: { readonly bytes: number; readonly sha256: string }): Promise<'intact' | 'missing' | 'damaged'> {
    const path = this.#path(file);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      return 'missing';
    }
    if (size !== expected.bytes) return 'damaged';
    const hash = createHash('sha256');
    await this.#fs('read', file, async () => {
      for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(piece as Buffer);
    });
    return hash.digest('hex') === expected.sha256 ? 'intact' : 'damaged';
  }

  writeJson(file: string, value: unknown): Promise<void> {
    return this.#fs('write', file, () => writeJsonAtomic(this.#path(file), value));
  }

  readJson<T>(file: string): Promise<T | undefined> {
    return this.#fs('read', file, () => readJsonIfExists<T>(this.#path(file)));
  }

  async clear(): Promise<void> {
    await this.#fs('remove', '', () => rm(this.location, { recursive: true, force: true }));
  }
}

const REASONS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device (ENOSPC)',
  EDQUOT: 'disk quota exceeded (EDQUOT)',
  EROFS: 'the file system is read-only (EROFS)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
  ENOTDIR: 'a part of the path is a file, not a directory (ENOTDIR)',
  EISDIR: 'a directory is where a file should be (EISDIR)',
};

function stagingError(e: unknown, what: string, path: string, area: string): PipelineError {
  if (e instanceof PipelineError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const reason = (code && REASONS[code]) ?? (e instanceof Error ? e.message : String(e));
  return new PipelineError('STAGING_FAILED', `staging directory ${area}: cannot ${what} ${path}: ${reason}`, {
    chunk: path,
    cause: e,
    hint: 'check that the staging directory (`staging.dir`) is a writable directory with free space',
  });
}

/** Node and pipeline names are validated, but a path must never escape the staging root whatever they are. */
function safe(part: string): string {
  return part.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_');
}
