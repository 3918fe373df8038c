import type { ConnectionConfig } from '../../config/types.js';
import type { ColumnSchema } from '../../csv/types.js';
import type { ChunkFeed, ChunkSpec, Connector, CsvSink, ExportRequest, ImportRequest, ImportResult } from '../contract.js';
import { mysqlConfig } from './mysql-config.js';
import { mysqlError } from './mysql-errors.js';
import { MysqlExport } from './mysql-export.js';
import { mysqlImport, mysqlIsCommitted } from './mysql-import.js';
import { scalar, MysqlSessions } from './mysql-session.js';
import { mysqlSql } from './mysql-sql.js';

export const MYSQL_DEFAULT_MAX_CONNECTIONS = 4;

/**
 * MySQL and MariaDB through mysql2 (only what both speak: MariaDB 10.11 and MySQL 8). Sessions: mysql-session.ts;
 * export: mysql-export.ts (row packets straight into exchange bytes); import: mysql-import.ts (LOAD DATA LOCAL into
 * staging, then one commit); every statement: mysql-sql.ts; types each way: mysql-types.ts.
 */
export class MysqlConnector implements Connector {
  readonly #sessions: MysqlSessions;
  readonly #export: MysqlExport;

  constructor(config: ConnectionConfig) {
    this.#sessions = new MysqlSessions(mysqlConfig(config, MYSQL_DEFAULT_MAX_CONNECTIONS));
    this.#export = new MysqlExport(this.#sessions);
  }

  async open(signal?: AbortSignal): Promise<void> {
    await this.#sessions.open();
    try {
      const version = await this.#sessions.run(signal, (conn) => scalar(conn, mysqlSql.version));
      this.#sessions.limits = { negativeZero: !/mariadb/i.test(version ?? '') };
    } catch (e) {
      await this.close();
      const c = this.#sessions.config;
      throw mysqlError(e, 'CONNECT_FAILED', { connection: c.name, password: c.password });
    }
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
    return mysqlImport(this.#sessions, req, feed, signal);
  }

  isCommitted(table: string, loadId: string, signal?: AbortSignal): Promise<boolean> {
    return mysqlIsCommitted(this.#sessions, table, loadId, signal);
  }
}
