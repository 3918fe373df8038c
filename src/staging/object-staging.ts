import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readJson, writeJson } from '../connectors/objects/object-json.js';
import { joinKey, objectError, type ObjectStore } from '../connectors/objects/object-store.js';
import { ChunkFileWriter, damagedStagingFile, decodeChunk, STAGING_GZIP_LEVEL } from '../csv/chunk-file.js';
import { PipelineError } from '../errors/pipeline-error.js';
import type { WatermarkStore } from '../state/watermarks.js';
import { StagedWatermarkStore } from './staged-watermarks.js';
import type { ChunkWriter, StagingArea, StagingStore } from './staging.js';

export interface ObjectStagingOptions {
  readonly gzip: boolean;
  /** Names the staging in messages: `staging directory`, `S3 staging`. */
  readonly label: string;
  /** What to check when staging fails. */
  readonly hint: string;
  /**
   * The URL another system can read a stored file from (`s3://bucket/key`), when there is one: a target that loads
   * from the store itself (Redshift COPY) then reads the chunk files where they are.
   */
  readonly url?: (key: string) => string;
}

/**
 * Staging in any ObjectStore (a local directory, an S3 prefix): `<root>/<pipeline>/<lineage>/<node>/` holds the
 * node's chunk files, `schema.json` and `checkpoint.json`. The runner sees only StagingStore and StagingArea, so it
 * never knows which store it has; an export on one machine and an import on another share it when the store does.
 */
export class ObjectStagingStore implements StagingStore {
  readonly #store: ObjectStore;
  readonly #root: string;
  readonly #options: ObjectStagingOptions;

  /** `root`: the key prefix everything goes under ('' for the store's root). */
  constructor(store: ObjectStore, root: string, options: ObjectStagingOptions) {
    this.#store = store;
    this.#root = root.replace(/\/+$/, '');
    this.#options = options;
  }

  #prefix(...parts: string[]): string {
    return parts.map(safe).reduce((p, part) => joinKey(p, part), this.#root);
  }

  area(pipeline: string, lineage: string, node: string): StagingArea {
    return new ObjectStagingArea(this.#store, `${this.#prefix(pipeline, lineage, node)}/`, this.#options);
  }

  /** Objects have no folders to remove: an area's `clear()` removes everything it holds (folders too, locally). */
  async removeLineage(_pipeline: string, _lineage: string): Promise<void> {}

  async removeStaleTemps(pipeline: string): Promise<string[]> {
    return (await this.#store.sweep?.(`${this.#prefix(pipeline)}/`)) ?? [];
  }

  watermarks(before: WatermarkStore): WatermarkStore {
    // `_watermarks` cannot be a lineage: those are run ids.
    return new StagedWatermarkStore(this.#store, (pipeline, node) => joinKey(this.#prefix(pipeline, '_watermarks'), `${safe(node)}.json`), before);
  }
}

class ObjectStagingArea implements StagingArea {
  readonly location: string;
  readonly #store: ObjectStore;
  readonly #prefix: string;
  readonly #options: ObjectStagingOptions;

  constructor(store: ObjectStore, prefix: string, options: ObjectStagingOptions) {
    this.#store = store;
    this.#prefix = prefix;
    this.#options = options;
    this.location = store.describe(prefix.replace(/\/$/, ''));
  }

  #key(file: string): string {
    return `${this.#prefix}${file}`;
  }

  describe(file: string): string {
    return this.#store.describe(this.#key(file));
  }

  url(file: string): string | undefined {
    return this.#options.url?.(this.#key(file));
  }

  async createChunk(file: string, columns: readonly string[]): Promise<ChunkWriter> {
    const key = this.#key(file);
    const writer = new ChunkFileWriter(this.describe(file), columns, { gzip: this.#options.gzip, level: STAGING_GZIP_LEVEL }, (body, signal) => this.#store.write(key, body, signal));
    return {
      row: (values) => writer.row(values),
      raw: (bytes, rows) => writer.raw(bytes, rows),
      drain: () => this.#guard(() => writer.drain()),
      finish: () => this.#guard(() => writer.finish()),
      abort: () => writer.abort(),
    };
  }

  async openChunk(file: string): Promise<Readable> {
    return decodeChunk(await this.#guard(() => this.#store.read(this.#key(file))), this.#options.gzip, damagedStagingFile(this.describe(file)));
  }

  async verify(file: string, expected: { readonly bytes: number; readonly sha256: string }): Promise<'intact' | 'missing' | 'damaged'> {
    const info = await this.#guard(() => this.#store.stat(this.#key(file)));
    if (info === undefined) return 'missing';
    if (info.size !== expected.bytes) return 'damaged';
    const hash = createHash('sha256');
    await this.#guard(async () => {
      await pipeline(await this.#store.read(this.#key(file)), async function* (pieces: AsyncIterable<Buffer>) {
        for await (const piece of pieces) hash.update(piece);
      });
    });
    return hash.digest('hex') === expected.sha256 ? 'intact' : 'damaged';
  }

  writeJson(file: string, value: unknown): Promise<void> {
    return this.#guard(() => writeJson(this.#store, this.#key(file), value));
  }

  readJson<T>(file: string): Promise<T | undefined> {
    return this.#guard(() => readJson<T>(this.#store, this.#key(file)));
  }

  async clear(): Promise<void> {
    await this.#guard(async () => {
      const keys: string[] = [];
      for await (const o of this.#store.list(this.#prefix)) keys.push(o.key);
      await this.#store.delete(keys);
    });
  }

  /** Store failures become STAGING_FAILED naming the staging, the object and the reason. */
  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.#error(e);
    }
  }

  #error(e: unknown): PipelineError {
    const err = objectError(e, 'STAGING_FAILED', { hint: this.#options.hint });
    if (err.message.startsWith(`${this.#options.label} `)) return err;
    return new PipelineError(err.code, `${this.#options.label} ${this.location}: ${err.message}`, {
      ...err.location,
      hint: err.hint ?? this.#options.hint,
      cause: err.cause,
      transient: err.transient,
    });
  }
}

/** Node and pipeline names are validated, but a key must never leave the staging root whatever they are. */
function safe(part: string): string {
  return part.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_');
}
