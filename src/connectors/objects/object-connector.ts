import type { ColumnSchema } from '../../csv/types.js';
import type { ChunkFeed, ChunkSpec, Connector, CsvSink, ExportRequest, ImportRequest, ImportResult } from '../contract.js';
import type { ObjectSettings, TableKeys } from './object-layout.js';
import { ObjectSource } from './object-source.js';
import { objectError, type ObjectStore } from './object-store.js';
import { ObjectTarget } from './object-target.js';

/**
 * A connector over an ObjectStore: what every object kind is once it has a store (a local directory for `file`, a
 * bucket prefix for `s3`, a server's directory for `ftp` and `sftp`). Export: object-source.ts; import: object-target.ts.
 */
export class ObjectConnector implements Connector {
  readonly #source: ObjectSource;
  readonly #target: ObjectTarget;
  readonly #open: () => Promise<void>;
  readonly #close: () => Promise<void>;

  /** `open`/`close`: the store's own connection, if it has one; `sweep`: see ObjectTarget. */
  constructor(
    store: ObjectStore,
    settings: ObjectSettings,
    tmpDir: string,
    lifecycle: { open?: () => Promise<void>; close?: () => Promise<void>; sweep?: (t: TableKeys) => Promise<unknown> } = {},
  ) {
    this.#source = new ObjectSource(store, settings);
    this.#target = new ObjectTarget(store, settings, tmpDir, lifecycle.sweep);
    this.#open = lifecycle.open ?? (async () => {});
    this.#close = lifecycle.close ?? (async () => {});
  }

  open(): Promise<void> {
    return this.#open();
  }

  close(): Promise<void> {
    return this.#close();
  }

  describe(req: ExportRequest, signal?: AbortSignal): Promise<readonly ColumnSchema[]> {
    return this.#source.describe(req, signal);
  }

  maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null> {
    return this.#source.maxValue(req, column, signal);
  }

  planChunks(req: ExportRequest, signal?: AbortSignal): Promise<readonly ChunkSpec[]> {
    return this.#source.planChunks(req, signal);
  }

  exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    return this.#source.exportChunk(req, chunk, sink, signal);
  }

  import(req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    return this.#target.import(req, feed, signal);
  }

  isCommitted(table: string, loadId: string): Promise<boolean> {
    return this.#target.isCommitted(table, loadId);
  }

  probeTarget(table: string): Promise<'missing' | 'empty' | 'filled'> {
    return this.#target.probeTarget(table);
  }
}

/**
 * An ObjectConnector `open` for a store with a server: `probe` (log in, list the root) once, so a wrong password or
 * a missing bucket fails as CONNECT_FAILED of `connection` before any work.
 */
export function probeOnOpen(probe: () => Promise<void>, connection: string): () => Promise<void> {
  return async () => {
    try {
      await probe();
    } catch (e) {
      throw objectError(e, 'CONNECT_FAILED', { connection });
    }
  };
}
