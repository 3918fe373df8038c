import type { Readable } from 'node:stream';
import type { Cell } from '../csv/types.js';
import type { CsvSink } from '../connectors/contract.js';
import type { WatermarkStore } from '../state/watermarks.js';

/**
 * Where one node's export leaves its files for the import: chunk files, the schema sidecar and the checkpoint. A
 * local directory or an S3 prefix (object-staging.ts over any ObjectStore): with S3, export and import may run on
 * different machines. The runner never knows which it has.
 */
export interface StagingArea {
  /** For messages: a path or URL. */
  readonly location: string;
  /** A writer for one chunk file; nothing is visible under `file` until `finish()` succeeds. */
  createChunk(file: string, columns: readonly string[]): Promise<ChunkWriter>;
  /** The decompressed bytes of a finished chunk file. */
  openChunk(file: string): Promise<Readable>;
  /**
   * Whether a finished file still holds exactly the bytes it was written with (size and SHA-256 of the file as
   * stored, compressed or not): a chunk is reused on resume only then.
   */
  verify(file: string, expected: { readonly bytes: number; readonly sha256: string }): Promise<'intact' | 'missing' | 'damaged'>;
  /** Human-readable name of a file, for error messages. */
  describe(file: string): string;
  /**
   * A URL another system can read the stored file from (`s3://bucket/key`, as stored: compressed when staging is),
   * when the store has one; undefined for a local directory.
   */
  url?(file: string): string | undefined;
  writeJson(file: string, value: unknown): Promise<void>;
  readJson<T>(file: string): Promise<T | undefined>;
  /** Removes everything of this area. */
  clear(): Promise<void>;
}

export interface ChunkWriter extends CsvSink {
  row(values: readonly Cell[]): boolean;
  raw(bytes: Buffer | string, rows?: number): boolean;
  finish(): Promise<{ rows: number; bytes: number; sha256: string }>;
  abort(): Promise<void>;
}

export interface StagingStore {
  /** The area of one node's work for one run lineage (a run and its retries share it). */
  area(pipeline: string, lineage: string, node: string): StagingArea;
  /** Removes the areas of a lineage that no longer has work in them. */
  removeLineage(pipeline: string, lineage: string): Promise<void>;
  /** Removes temp files that killed processes left in the pipeline's staging; returns what it removed. */
  removeStaleTemps(pipeline: string): Promise<string[]>;
  /**
   * Watermarks kept in this staging, for a staging every worker shares; `before` holds the ones kept elsewhere
   * until now (read while this staging has none).
   */
  watermarks?(before: WatermarkStore): WatermarkStore;
}
