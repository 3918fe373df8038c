import type { ConnectionConfig } from '../../config/types.js';
import type { ColumnSchema } from '../../csv/types.js';
import type { ChunkFeed, ChunkSpec, Connector, ConnectorOptions, CsvSink, ExportRequest, ImportRequest, ImportResult } from '../contract.js';
import { hiveConfig } from './hive-config.js';
import { HiveExport } from './hive-export.js';
import { hiveImport, hiveIsCommitted } from './hive-import.js';
import { HIVE_DEFAULT_MAX_CONNECTIONS } from './hive-kind.js';
import { HiveSessions } from './hive-session.js';

/**
 * Hive (HiveServer2, and servers that speak its protocol such as Spark's Thrift server) through `hive-driver`.
 * Sessions: hive-session.ts; export: hive-export.ts (SELECT fetched in batches); import: hive-import.ts (Hive text
 * staged with LOAD DATA LOCAL INPATH, then one multi-insert that writes the target and the load record); every
 * statement: hive-sql.ts; types: hive-types.ts.
 */
export class HiveConnector implements Connector {
  readonly #sessions: HiveSessions;
  readonly #export: HiveExport;

  constructor(config: ConnectionConfig, options: ConnectorOptions) {
    this.#sessions = new HiveSessions(hiveConfig(config, HIVE_DEFAULT_MAX_CONNECTIONS, options.tmpDir, options.cwd));
    this.#export = new HiveExport(this.#sessions);
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

  planChunks(req: ExportRequest, signal?: AbortSignal): Promise<readonly ChunkSpec[]> {
    return this.#export.planChunks(req, signal);
  }

  exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    return this.#export.exportChunk(req, chunk, sink, signal);
  }

  import(req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    return hiveImport(this.#sessions, req, feed, signal);
  }

  isCommitted(table: string, loadId: string, signal?: AbortSignal): Promise<boolean> {
    return hiveIsCommitted(this.#sessions, table, loadId, signal);
  }
}
