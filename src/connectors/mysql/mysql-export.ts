import type { FieldPacket, PoolConnection } from 'mysql2';
import type { ColumnSchema } from '../../csv/types.js';
import type { PipelineErrorOptions } from '../../errors/pipeline-error.js';
import type { ChunkSpec, CsvSink, ExportRequest } from '../contract.js';
import { abortable } from '../feed.js';
import { buildCount, buildMax, buildNth, buildNthAfter, buildSelect, type BuiltQuery } from '../sql/select-builder.js';
import { planSplitChunks, wholeTable } from '../sql/split.js';
import { withComments, withSourceKey } from '../sql/new-table.js';
import { waitForTransactions } from '../sql/open-transactions.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import { hasUniqueKeyOn, splitTable } from './mysql-catalog.js';
import { mysqlError } from './mysql-errors.js';
import { MysqlRowEncoder, attachRowEncoder } from './mysql-rows.js';
import { query, scalar, textCast, type MysqlSessions } from './mysql-session.js';
import { mysqlDialect, mysqlSql } from './mysql-sql.js';
import { columnFromField, isFloatField, type FieldMeta } from './mysql-types.js';

/**
 * Exports stream a text-protocol query whose row packets are encoded straight into exchange-format bytes (the
 * server's own text, so DECIMAL, BIGINT UNSIGNED, DATETIME(6) and JSON are exact; see mysql-rows.ts); FLOAT and
 * DOUBLE are read as `col * 1e0` (see mysqlSql.exportProjection). Sessions use time_zone '+00:00': TIMESTAMP
 * columns are exported in UTC, as `timestamptz`.
 */
export class MysqlExport {
  readonly #sessions: MysqlSessions;

  constructor(sessions: MysqlSessions) {
    this.#sessions = sessions;
  }

  #error(e: unknown, req: ExportRequest) {
    const c = this.#sessions.config;
    return mysqlError(e, 'EXPORT_FAILED', { ...sourceContext(req), connection: c.name, password: c.password });
  }

  async #read<T>(req: ExportRequest, signal: AbortSignal | undefined, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    try {
      return await this.#sessions.run(signal, fn);
    } catch (e) {
      throw this.#error(e, req);
    }
  }

  describe(req: ExportRequest, signal?: AbortSignal): Promise<readonly ColumnSchema[]> {
    return this.#read(req, signal, async (conn) => {
      const fields = await fieldsOf(conn, buildSelect(mysqlDialect, req));
      const columns = fields.map((f) => columnFromField(f, this.#sessions.config.options.tinyint1));
      const table = req.source.query === undefined ? req.source.table : undefined;
      if (table === undefined) return columns;
      // What a table pigeon creates from this export can carry over: the primary key and the column comments.
      const { schema, name } = splitTable(table);
      const text = (sql: string) => query<string[][]>(conn, { sql, values: [schema ?? null, name], rowsAsArray: true, typeCast: textCast });
      const key = (await text(mysqlSql.sourcePrimaryKey)).rows.map((r) => r[0]!);
      const comments = new Map((await text(mysqlSql.sourceComments)).rows.map((r) => [r[0]!, r[1]!]));
      return withComments(withSourceKey(columns, key), comments);
    });
  }

  maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null> {
    const q = buildMax(mysqlDialect, req, column);
    return this.#read(req, signal, (conn) => scalar(conn, q.sql, q.params));
  }

  /** See Connector.awaitOpenTransactions: InnoDB's open transactions (information_schema.INNODB_TRX), polled. */
  async awaitOpenTransactions(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const c = this.#sessions.config;
    try {
      await this.#sessions.run(signal, async (conn) => {
        const own = [...this.#sessions.ownThreads];
        const { rows } = await query<string[][]>(conn, { sql: mysqlSql.openTransactions, values: [own.length > 0 ? own : [-1]], rowsAsArray: true, typeCast: textCast });
        if (rows.length === 0) return;
        const who = new Map(rows.map(([id, thread, started]) => [id!, `transaction ${id} of thread ${thread} (since ${started})`]));
        await waitForTransactions(
          async () => (await query<string[][]>(conn, { sql: mysqlSql.stillOpen, values: [[...who.keys()]], rowsAsArray: true, typeCast: textCast })).rows.map((r) => who.get(r[0]!)!),
          timeoutMs,
          signal,
        );
      });
    } catch (e) {
      const err = mysqlError(e, 'EXPORT_FAILED', { connection: c.name, password: c.password });
      // Reading INNODB_TRX needs the PROCESS privilege.
      if ((e as { errno?: number }).errno === 1227) {
        throw new PipelineError('EXPORT_FAILED', `${err.message}: waiting for open transactions reads information_schema.INNODB_TRX`, {
          connection: c.name,
          cause: e,
          hint: 'GRANT PROCESS to the user, or set `incremental.wait_for_writers: false` (a row committed late below the maximum may then be missed)',
        });
      }
      throw err;
    }
  }

  planChunks(req: ExportRequest, signal?: AbortSignal, announce?: (chunk: ChunkSpec) => void): Promise<ChunkSpec[]> {
    return this.#read(req, signal, async (conn) => {
      let unique: boolean | undefined;
      return planSplitChunks(req, (column) => ({
        count: async () => {
          const c = buildCount(mysqlDialect, req, column);
          return Number(await scalar(conn, c.sql, c.params));
        },
        nth: async (rank, after) => {
          // On a column with a unique index of its own, each quantile is found from the one before, so the server
          // walks the index once instead of from the start for every boundary; the values are the same.
          if (after !== undefined) unique ??= await uniqueColumn(conn, req, column);
          const q = unique && after ? buildNthAfter(mysqlDialect, req, column, after.value, rank - after.rank - 1) : buildNth(mysqlDialect, req, column, rank);
          return scalar(conn, q.sql, q.params);
        },
        estimate: async () => {
          if (!wholeTable(req)) return undefined;
          const { schema, name } = splitTable(req.source.table!);
          const rows = await scalar(conn, mysqlSql.estimatedRows, [schema ?? null, name]);
          return rows === null ? undefined : Number(rows);
        },
      }), announce);
    });
  }

  async exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    const options = this.#sessions.config.options;
    try {
      return await this.#sessions.run(
        signal,
        async (conn, onAbort) => {
          const base = buildSelect(mysqlDialect, req, chunk);
          // mysql2 may never call back a query in flight on a connection destroyed by an abort: do not wait for it.
          const describing = fieldsOf(conn, base);
          describing.catch(() => {});
          const fields = await abortable(describing, signal);
          const columns = fields.map((f) => columnFromField(f, options.tinyint1));
          const ctx = {
            ...(req.source.table !== undefined ? { table: req.source.table } : {}),
            zeroDates: options.zeroDates,
            onZeroDate: () => sink.count?.('zero_dates'),
          };
          const sql = fields.some(isFloatField)
            ? mysqlSql.exportProjection(base.sql, fields.map((f) => ({ name: f.name, float: isFloatField(f) })))
            : base.sql;
          // Rows go from the protocol's bytes straight into exchange-format buffers (see mysql-rows.ts); the socket
          // is paused while the chunk file catches up, so at most one buffer and one socket read wait in memory.
          let failed: (e: unknown) => void = () => {};
          let draining = false;
          let ended = false;
          const encoder = new MysqlRowEncoder(columns, fields, ctx, (bytes, rows) => {
            if (sink.raw(bytes, rows) || draining || ended) return;
            draining = true;
            conn.pause();
            sink.drain().then(
              () => {
                draining = false;
                conn.resume();
              },
              (e: unknown) => failed(e),
            );
          });
          const q = conn.query({ sql, values: [...base.params], rowsAsArray: true, typeCast: false });
          // A connection the server closes (KILL of the session, a restart) fails a query without a callback only
          // on the connection, never on the query: without these listeners the export would wait for ever.
          let lost: (e: unknown) => void = () => {};
          const onEnd = () => lost(Object.assign(new Error('Connection lost: the server closed the connection'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true }));
          try {
            await new Promise<void>((resolve, reject) => {
              failed = reject;
              lost = reject;
              attachRowEncoder(q, encoder, reject);
              q.on('error', reject);
              q.on('end', () => resolve());
              conn.on('error', reject);
              conn.on('end', onEnd);
              onAbort(() => reject(signal?.reason ?? new Error('aborted')));
            });
          } finally {
            conn.off('error', lost);
            conn.off('end', onEnd);
          }
          ended = true;
          encoder.end();
          await abortable(sink.drain(), signal);
          return encoder.rows;
        },
        // A failure mid-stream (a bad value, a failed sink) leaves the query running: kill it rather than drain it.
        { killOnError: true },
      );
    } catch (e) {
      throw this.#error(e, req);
    }
  }
}

async function fieldsOf(conn: PoolConnection, q: BuiltQuery): Promise<FieldMeta[]> {
  const { fields } = await query(conn, { sql: mysqlSql.describe(q.sql), values: [...q.params], rowsAsArray: true, typeCast: textCast });
  return (fields ?? []).map(fieldMeta);
}

function fieldMeta(f: FieldPacket): FieldMeta {
  return {
    name: f.name,
    columnType: f.columnType ?? f.type ?? 0,
    characterSet: f.characterSet ?? 0,
    flags: typeof f.flags === 'number' ? f.flags : 0,
    columnLength: f.columnLength ?? f.length ?? 0,
    decimals: f.decimals,
    ...(f.extendedTypeName ? { extendedTypeName: f.extendedTypeName } : {}),
    ...(f.extendedFormat ? { extendedFormat: f.extendedFormat } : {}),
  };
}

function sourceContext(req: ExportRequest): PipelineErrorOptions {
  return { node: req.node, ...(req.source.table !== undefined ? { table: req.source.table } : {}) };
}

/** Whether `column` of the request's table has a PRIMARY KEY or UNIQUE index of exactly that column. */
async function uniqueColumn(conn: PoolConnection, req: ExportRequest, column: string): Promise<boolean> {
  const table = req.source.table;
  if (table === undefined || req.source.query !== undefined) return false;
  const { schema, name } = splitTable(table);
  return hasUniqueKeyOn(conn, schema, name, [column]);
}
