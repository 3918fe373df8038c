import { rm, stat, readdir, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { ChunkFileWriter, openChunkFile } from '../csv/chunk-file.js';
import { readJsonIfExists, writeJsonAtomic } from '../state/atomic-file.js';
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
    return ChunkFileWriter.create(this.#path(file), columns, { gzip: this.#gzip });
  }

  openChunk(file: string): Promise<Readable> {
    return openChunkFile(this.#path(file), this.#gzip);
  }

  async size(file: string): Promise<number | undefined> {
    try {
      return (await stat(this.#path(file))).size;
    } catch {
      return undefined;
    }
  }

  writeJson(file: string, value: unknown): Promise<void> {
    return writeJsonAtomic(this.#path(file), value);
  }

  readJson<T>(file: string): Promise<T | undefined> {
    return readJsonIfExists<T>(this.#path(file));
  }

  async remove(file: string): Promise<void> {
    await rm(this.#path(file), { force: true });
  }

  async clear(): Promise<void> {
    await rm(this.location, { recursive: true, force: true });
  }
}

/** Node and pipeline names are validated, but a path must never escape the staging root whatever they are. */
function safe(part: string): string {
  return part.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_');
}
