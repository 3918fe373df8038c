import type { ConnectionConfig } from '../../config/types.js';
import type { ColumnSchema } from '../../csv/types.js';
import type { ChunkFeed, ChunkSpec, Connector, CsvSink, ExportRequest, ImportRequest, ImportResult } from '../contract.js';
import { postgresConfig } from './postgres-config.js';
import { PgExport } from './postgres-export.js';
import { pgImport, pgIsCommitted } from './postgres-import.js';
import { PgSessions } from './postgres-session.js';

export const POSTGRES_DEFAULT_MAX_CONNECTIONS = 4;

/**
 * PostgreSQL through `pg` and `pg-copy-streams`. Sessions: postgres-session.ts; export: postgres-export.ts
 * (`COPY (SELECT …) TO STDOUT`); import: postgres-import.ts (`COPY … FROM STDIN` into staging) and
 * postgres-commit.ts (one transaction that swaps, appends or merges); every statement: postgres-sql.ts.
 */
export class PostgresConnector implements Connector {
  readonly #sessions: PgSessions;
  readonly #export: PgExport;

  constructor(config: ConnectionConfig) {
    this.#sessions = new PgSessions(postgresConfig(config, POSTGRES_DEFAULT_MAX_CONNECTIONS));
    this.#export = new PgExport(this.#sessions);
  }

  open(): Promise<void> {
    return this.#sessions.open();
  }

  close(): Promise<void> {
    return this.#sessions.close();
  }

  describe(req: ExportRequest, signal?: AbortSignal): Promise<readonly ColumnSchema[]> {
    return this.#export.describe(req, signal);
  }

  maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null> {
    return this.#export.maxValue(req, column, signal);
  }

  awaitOpenTransactions(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.#export.awaitOpenTransactions(timeoutMs, signal);
  }

  planChunks(req: ExportRequest, signal?: AbortSignal): Promise<readonly ChunkSpec[]> {
    return this.#export.planChunks(req, signal);
  }

  exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    return this.#export.exportChunk(req, chunk, sink, signal);
  }

  import(req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    return pgImport(this.#sessions, req, feed, signal);
  }

  isCommitted(table: string, loadId: string, signal?: AbortSignal): Promise<boolean> {
    return pgIsCommitted(this.#sessions, table, loadId, signal);
  }
}
