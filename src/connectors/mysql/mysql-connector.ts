import { Readable, type Writable } from 'node:stream';
import type {
  Connection,
  FieldPacket,
  Pool,
  PoolConnection,
  PoolOptions,
  QueryOptions,
  ResultSetHeader,
  SqlValue,
  TypeCastField,
} from 'mysql2';
import type { ConnectionConfig } from '../../config/types.js';
import type { ColumnSchema } from '../../csv/types.js';
import { openCsv, type CsvFile } from '../../csv/reader.js';
import { PipelineError, type ErrorCode, type PipelineErrorOptions } from '../../errors/pipeline-error.js';
import { isTransient } from '../../errors/transient.js';
import {
  DEFAULT_CAPABILITIES,
  type ChunkFeed,
  type ChunkSpec,
  type Connector,
  type ConnectorOptions,
  type CsvSink,
  type ExportRequest,
  type ImportRequest,
  type ImportResult,
  type StagedChunk,
} from '../contract.js';
import { loadDriver } from '../driver.js';
import { buildCount, buildMax, buildNth, buildSelect, type BuiltQuery } from '../sql/select-builder.js';
import { mysqlConfig, type MysqlConfig } from './mysql-config.js';
import { MysqlRowEncoder, attachRowEncoder } from './mysql-rows.js';
import { CsvToTsv, type TsvColumn } from './mysql-load.js';
import {
  IMPORT_SQL_MODE,
  LOADS_TABLE,
  OLD_PREFIX,
  STAGING_PREFIX,
  likePrefix,
  mysqlDialect,
  mysqlSql,
  type ColumnDef,
} from './mysql-sql.js';
import { workTableName, workTablePrefix } from '../sql/work-tables.js';
import { abortable, drainFeed, spreadChunks } from '../feed.js';
import {
  columnFromField,
  importColumn,
  isFloatField,
  kindOfPortable,
  mysqlTypes,
  targetKind,
  type FieldMeta,
  type ImportColumn,
} from './mysql-types.js';

type Mysql = typeof import('mysql2');

/** Rows per INSERT of the fallback path (fewer when max_allowed_packet says so). */
const INSERT_BATCH = 1000;
/** Bytes a LOAD DATA stream may leave unsent in the socket before it waits. */
const SOCKET_BACKLOG = 256 * 1024;
/** Bytes gathered before one write into a LOAD DATA stream. */
const LOAD_PIECE = 64 * 1024;
/** mysql2 sends each piece of a LOCAL INFILE stream as one packet: keep them far below the 16 MiB packet limit. */
const MAX_PACKET_PIECE = 1024 * 1024;

/** Server errors and warnings about a value the column cannot take. */
const BAD_VALUE_ERRNOS = new Set([
  1048, 1261, 1262, 1264, 1265, 1292, 1300, 1364, 1366, 1367, 1406, 1411, 1416, 1958, 3140, 3819, 4025,
]);
/**
 * The server refuses LOAD DATA LOCAL: ER_NOT_ALLOWED_COMMAND (1148, older servers), MySQL 8's
 * ER_CLIENT_LOCAL_FILES_DISABLED (3948) and CR_LOAD_DATA_LOCAL_INFILE_REJECTED (2068), MariaDB 10.5+'s
 * ER_LOAD_INFILE_CAPABILITY_DISABLED (4166).
 */
const LOCAL_INFILE_REFUSED = new Set([1148, 2068, 3948, 4166]);

/** Every value as text, for metadata and scalar queries. */
const textCast = (field: TypeCastField): string | null => field.string('utf8');

interface MysqlError extends Error {
  code?: string;
  errno?: number;
  sqlState?: string;
  sqlMessage?: string;
  sql?: string;
  fatal?: boolean;
}

/** A target table's column from information_schema. */
interface TargetColumn {
  readonly name: string;
  readonly dataType: string;
  readonly definition: string;
}

/** What a failed import must undo, as far as it got. */
interface ImportState {
  staging?: string;
  old?: string;
  createdTarget?: string;
}

/**
 * MySQL and MariaDB through mysql2 (only what both speak: MariaDB 10.11 and MySQL 8).
 *
 * Exports stream a text-protocol query whose row packets are encoded straight into exchange-format bytes (the
 * server's own text, so DECIMAL, BIGINT UNSIGNED, DATETIME(6) and JSON are exact; see mysql-rows.ts); FLOAT and
 * DOUBLE are read as `col * 1e0` (see mysqlSql.exportProjection). Every session uses time_zone '+00:00': TIMESTAMP
 * columns are exported in UTC, as `timestamptz`. Imports stream each chunk, re-encoded byte by byte in MySQL's own
 * tab-separated format (mysql-load.ts), through LOAD DATA LOCAL INFILE into a staging table, or through batched
 * INSERTs when the server refuses local files.
 *
 * Zero dates: see mysql-config.ts ZeroDateRule; `zeroDates` counts those written as NULL.
 */
export class MysqlConnector implements Connector {
  readonly capabilities = { ...DEFAULT_CAPABILITIES, split: true, defaultMaxConnections: 4 };
  readonly #config: MysqlConfig;
  #mysql: Mysql | undefined;
  #pool: Pool | undefined;
  readonly #ready = new WeakSet<object>();
  readonly #kills = new Set<Promise<void>>();
  #zeroDates = 0;

  constructor(config: ConnectionConfig, _options?: ConnectorOptions) {
    this.#config = mysqlConfig(config, this.capabilities.defaultMaxConnections);
  }

  /** Zero dates this connector's exports wrote as NULL (`options.zero_dates: null`). */
  get zeroDates(): number {
    return this.#zeroDates;
  }

  #connectionOptions(): PoolOptions {
    const c = this.#config;
    return {
      host: c.host,
      port: c.port,
      user: c.user,
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.database !== undefined ? { database: c.database } : {}),
      ...(c.ssl !== undefined ? { ssl: c.ssl } : {}),
      charset: 'UTF8MB4_GENERAL_CI',
      connectTimeout: c.options.connectTimeout,
      enableKeepAlive: true,
      multipleStatements: false,
    };
  }

  async open(signal?: AbortSignal): Promise<void> {
    const mysql = await loadDriver<Mysql>('mysql2', 'mysql');
    this.#mysql = mysql;
    this.#pool = mysql.createPool({
      ...this.#connectionOptions(),
      connectionLimit: this.#config.maxConnections,
      maxIdle: this.#config.maxConnections,
      idleTimeout: 60_000,
    });
    try {
      await this.#session(signal, (conn) => query(conn, { sql: 'SELECT 1' }));
    } catch (e) {
      await this.close();
      throw this.#wrap(e, 'CONNECT_FAILED');
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#kills]);
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) await new Promise<void>((resolve) => pool.end(() => resolve()));
  }

  // ---- sessions -------------------------------------------------------------------------------------------------

  async #acquire(): Promise<PoolConnection> {
    const pool = this.#pool;
    if (!pool) throw new PipelineError('INTERNAL', 'mysql connector used before open()');
    const conn = await new Promise<PoolConnection>((resolve, reject) =>
      pool.getConnection((e, c) => (e ? reject(e) : resolve(c))),
    );
    if (this.#ready.has(conn)) return conn;
    try {
      await query(conn, { sql: mysqlSql.sessionTimeZone });
      const { rows } = await query<string[][]>(conn, { sql: mysqlSql.sqlMode, rowsAsArray: true, typeCast: textCast });
      const mode = rows[0]?.[0] ?? '';
      // mysql2 quotes bound values with backslash escapes, which this mode would turn into data.
      if (mode.split(',').includes('NO_BACKSLASH_ESCAPES')) {
        const kept = mode.split(',').filter((m) => m !== 'NO_BACKSLASH_ESCAPES').join(',');
        await query(conn, { sql: mysqlSql.setSqlMode, values: [kept] });
      }
    } catch (e) {
      conn.destroy();
      throw e;
    }
    this.#ready.add(conn);
    return conn;
  }

  /**
   * Runs `fn` on one pooled connection and always gives it back. On abort (and with `killOnError` on any failure,
   * when a query may still be running) the server thread is KILLed from a separate connection and the connection
   * destroyed, so no query keeps running and no connection stays open. `onAbort` registers what else to stop.
   */
  async #session<T>(
    signal: AbortSignal | undefined,
    fn: (conn: PoolConnection, onAbort: (stop: () => void) => void) => Promise<T>,
    options: { killOnError?: boolean } = {},
  ): Promise<T> {
    signal?.throwIfAborted();
    const conn = await this.#acquire();
    let broken = false;
    const stops: (() => void)[] = [];
    const abort = () => {
      broken = true;
      this.#kill(conn);
      for (const stop of stops) stop();
    };
    signal?.addEventListener('abort', abort, { once: true });
    try {
      signal?.throwIfAborted();
      const work = fn(conn, (stop) => stops.push(stop));
      // mysql2 may never settle a query on a connection an abort destroyed: stop waiting for it then.
      work.catch(() => {});
      return await abortable(work, signal);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (options.killOnError && !broken) {
        broken = true;
        this.#kill(conn);
      }
      if ((e as MysqlError).fatal) broken = true;
      throw e;
    } finally {
      signal?.removeEventListener('abort', abort);
      if (broken) conn.destroy();
      else conn.release();
    }
  }

  /** Ends the server thread of `conn` (its running query with it) and closes the socket. */
  #kill(conn: PoolConnection): void {
    const mysql = this.#mysql;
    const threadId = conn.threadId;
    conn.destroy();
    if (!mysql || !threadId) return;
    const done = (async () => {
      const killer = mysql.createConnection(this.#connectionOptions());
      try {
        await query(killer, { sql: mysqlSql.kill, values: [threadId] });
      } catch {
        // Already gone (ER_NO_SUCH_THREAD) or the server is unreachable: either way nothing is left to stop.
      } finally {
        killer.destroy();
      }
    })();
    this.#kills.add(done);
    void done.then(() => this.#kills.delete(done));
  }

  #wrap(e: unknown, code: ErrorCode, extra: PipelineErrorOptions = {}): PipelineError {
    const context = { connection: this.#config.name, ...extra };
    if (e instanceof PipelineError) return e.withContext(context);
    const err = e as MysqlError;
    let message = err?.sqlMessage ?? (e instanceof Error ? e.message : String(e));
    const password = this.#config.password;
    if (password) message = message.replaceAll(password, '***');
    if (typeof err?.sql === 'string' && err.sql.length > 2000) err.sql = `${err.sql.slice(0, 2000)}…`;
    // Unknown table or database on the export side: the source is missing, not broken.
    const missing = code === 'EXPORT_FAILED' && (err?.errno === 1146 || err?.errno === 1049);
    // MariaDB's ER_CONNECTION_KILLED has no name in mysql2, so isTransient cannot know it by code.
    const transient = isTransient(e) || err?.errno === 1927;
    return new PipelineError(missing ? 'SOURCE_NOT_FOUND' : code, message, { ...context, cause: e, transient });
  }

  // ---- export ---------------------------------------------------------------------------------------------------

  async #fields(conn: PoolConnection, q: BuiltQuery): Promise<FieldMeta[]> {
    const { fields } = await query(conn, { sql: mysqlSql.describe(q.sql), values: [...q.params], rowsAsArray: true, typeCast: textCast });
    return (fields ?? []).map(fieldMeta);
  }

  async describe(req: ExportRequest, signal?: AbortSignal): Promise<readonly ColumnSchema[]> {
    try {
      return await this.#session(signal, async (conn) => {
        const fields = await this.#fields(conn, buildSelect(mysqlDialect, req));
        return fields.map((f) => columnFromField(f, this.#config.options.tinyint1));
      });
    } catch (e) {
      throw this.#wrap(e, 'EXPORT_FAILED', sourceContext(req));
    }
  }

  async #scalar(q: BuiltQuery, req: ExportRequest, signal?: AbortSignal): Promise<string | null> {
    try {
      return await this.#session(signal, async (conn) => {
        const { rows } = await query<(string | null)[][]>(conn, { sql: q.sql, values: [...q.params], rowsAsArray: true, typeCast: textCast });
        return rows[0]?.[0] ?? null;
      });
    } catch (e) {
      throw this.#wrap(e, 'EXPORT_FAILED', sourceContext(req));
    }
  }

  maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null> {
    return this.#scalar(buildMax(mysqlDialect, req, column), req, signal);
  }

  async splitBoundaries(req: ExportRequest, column: string, chunks: number, signal?: AbortSignal): Promise<readonly string[]> {
    const total = Number(await this.#scalar(buildCount(mysqlDialect, req, column), req, signal));
    const out: string[] = [];
    // On a column with a unique index of its own, each quantile is found from the one before (`c > previous`), so
    // the server walks the index once instead of from the start for every boundary; the values are the same.
    const unique = total > 0 && chunks > 2 && (await this.#uniqueColumn(req, column, signal));
    let rank = -1;
    for (let i = 1; i < chunks && total > 0; i++) {
      const target = Math.floor((i * total) / chunks);
      // Fewer rows than chunks: the same rank again is the same value again.
      if (target <= rank) continue;
      const previous = out[out.length - 1];
      const q =
        unique && previous !== undefined
          ? nthAfter(buildSelect(mysqlDialect, req), column, previous, target - rank - 1)
          : buildNth(mysqlDialect, req, column, target);
      const v = await this.#scalar(q, req, signal);
      // Equal quantiles (a skewed key) collapse into one boundary; ranges stay disjoint and cover everything.
      if (v !== null && previous !== v) {
        out.push(v);
        rank = target;
      }
    }
    return out;
  }

  /** Whether `column` of the request's table has a PRIMARY KEY or UNIQUE index of exactly that column. */
  async #uniqueColumn(req: ExportRequest, column: string, signal?: AbortSignal): Promise<boolean> {
    const table = req.source.table;
    if (table === undefined || req.source.query !== undefined) return false;
    try {
      return await this.#session(signal, (conn) => {
        const { schema, name } = splitTable(table);
        return hasUniqueKeyOn(conn, schema, name, [column]);
      });
    } catch (e) {
      throw this.#wrap(e, 'EXPORT_FAILED', sourceContext(req));
    }
  }

  async exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    const table = req.source.table;
    try {
      return await this.#session(
        signal,
        async (conn, onAbort) => {
          const base = buildSelect(mysqlDialect, req, chunk);
          // mysql2 may never call back a query in flight on a connection destroyed by an abort: do not wait for it.
          const describing = this.#fields(conn, base);
          describing.catch(() => {});
          const fields = await abortable(describing, signal);
          const columns = fields.map((f) => columnFromField(f, this.#config.options.tinyint1));
          const ctx = {
            ...(table !== undefined ? { table } : {}),
            zeroDates: this.#config.options.zeroDates,
            onZeroDate: () => {
              this.#zeroDates++;
            },
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
          await new Promise<void>((resolve, reject) => {
            failed = reject;
            attachRowEncoder(q, encoder, reject);
            q.on('error', reject);
            q.on('end', () => resolve());
            onAbort(() => reject(signal?.reason ?? new Error('aborted')));
          });
          ended = true;
          encoder.end();
          await abortable(sink.drain(), signal);
          return encoder.rows;
        },
        // A failure mid-stream (a bad value, a failed sink) leaves the query running: kill it rather than drain it.
        { killOnError: true },
      );
    } catch (e) {
      throw this.#wrap(e, 'EXPORT_FAILED', sourceContext(req));
    }
  }

  // ---- import ---------------------------------------------------------------------------------------------------

  async isCommitted(table: string, loadId: string, signal?: AbortSignal): Promise<boolean> {
    try {
      return await this.#session(signal, async (conn) => {
        const exists = await query<unknown[]>(conn, { sql: mysqlSql.loadsExists, rowsAsArray: true });
        if (exists.rows.length === 0) return false;
        const { rows } = await query<unknown[]>(conn, { sql: mysqlSql.loadCommitted, values: [loadId, table], rowsAsArray: true });
        return rows.length > 0;
      });
    } catch (e) {
      throw this.#wrap(e, 'IMPORT_FAILED', { table });
    }
  }

  async import(req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    const state: ImportState = {};
    try {
      return await this.#session(signal, (conn) => this.#import(conn, req, feed, state, signal));
    } catch (e) {
      // On a fresh connection: the import's own may be gone (killed on abort, lost with the server).
      await this.#session(undefined, async (conn) => {
        for (const t of [state.staging, state.old, state.createdTarget]) {
          if (t !== undefined) await query(conn, { sql: mysqlSql.dropTable(t) }).catch(() => {});
        }
      }).catch(() => {
        // The real error matters more; the next import of this table drops leftovers.
      });
      throw this.#wrap(e, 'IMPORT_FAILED', { table: req.table });
    }
  }

  async #import(conn: PoolConnection, req: ImportRequest, feed: ChunkFeed, state: ImportState, signal?: AbortSignal): Promise<ImportResult> {
    const { rows: dbRows } = await query<(string | null)[][]>(conn, { sql: mysqlSql.currentDatabase, rowsAsArray: true, typeCast: textCast });
    if (!dbRows[0]?.[0]) {
      throw new PipelineError('IMPORT_FAILED', `connection \`${this.#config.name}\` names no database: an import needs one for \`${LOADS_TABLE}\``, {
        table: req.table,
      });
    }
    await query(conn, { sql: mysqlSql.createLoads });
    if (await committed(conn, req.table, req.loadId)) {
      // Committed by an earlier attempt that died before recording it: loading again would duplicate rows. Its
      // staging table may still be there (killed between COMMIT and DROP).
      await dropLeftovers(conn, splitTable(req.table).schema, req.table);
      return { rows: await drainFeed(feed, signal) };
    }

    return withImportSqlMode(conn, signal, () => this.#load(conn, req, feed, state, signal));
  }

  async #load(conn: PoolConnection, req: ImportRequest, feed: ChunkFeed, state: ImportState, signal?: AbortSignal): Promise<ImportResult> {
    const { schema, name } = splitTable(req.table);
    const inSchema = (t: string) => (schema === undefined ? t : `${schema}.${t}`);
    const target = await targetColumns(conn, schema, name);
    if (!target && req.create === 'never') {
      throw new PipelineError('IMPORT_FAILED', `target table \`${req.table}\` does not exist and create is \`never\``, { table: req.table });
    }
    const names = req.columns.map((c) => c.name);
    const created = mysqlTypes(req.columns);
    const defs: ColumnDef[] = [];
    const plan: ImportColumn[] = [];
    for (const [i, c] of req.columns.entries()) {
      const existing = target?.get(c.name.toLowerCase());
      if (target && existing === undefined) {
        throw new PipelineError('IMPORT_FAILED', `column \`${c.name}\` of the export does not exist in target table \`${req.table}\``, {
          table: req.table,
          column: c.name,
        });
      }
      defs.push({ name: c.name, definition: existing?.definition ?? created[i]! });
      plan.push(importColumn(c, existing ? targetKind(existing.dataType) : kindOfPortable(c.type)));
    }
    const key = req.key ?? [];
    if (req.mode === 'merge') {
      if (key.length === 0) throw new PipelineError('IMPORT_FAILED', 'merge needs a key', { table: req.table });
      const missing = key.find((k) => !names.some((n) => n.toLowerCase() === k.toLowerCase()));
      if (missing !== undefined) {
        throw new PipelineError('IMPORT_FAILED', `merge key column \`${missing}\` is not among the exported columns`, { table: req.table, column: missing });
      }
    }

    await dropLeftovers(conn, schema, req.table);
    const staging = inSchema(workTableName(STAGING_PREFIX, req.table, req.loadId));
    const swap = req.mode === 'overwrite' && (!target || (await swappable(conn, schema, name)));
    const withSeq = !swap;
    state.staging = staging;
    if (withSeq) await query(conn, { sql: mysqlSql.createStaging(staging, defs) });
    else if (target) await query(conn, { sql: mysqlSql.createStagingLike(staging, req.table) });
    else await query(conn, { sql: mysqlSql.createTable(staging, defs) });

    const into = { table: req.table, staging, names, plan, seq: withSeq };
    // Rows keep their load order only on one session: spare ones are for a staging table without that column.
    const loaded = await this.#loadAll(conn, into, feed, signal, withSeq ? undefined : req.spareSession);
    const expected = await abortable(feed.totalRows(), signal);
    if (loaded !== expected) {
      throw new PipelineError('ROW_COUNT_MISMATCH', `loaded ${loaded} rows into staging but the export wrote ${expected}`, { table: req.table });
    }
    signal?.throwIfAborted();
    await this.#commit(conn, req, { staging, defs, names, key, loaded, exists: target !== undefined, swap, schema, name }, state);
    return { rows: loaded };
  }

  /**
   * Loads every chunk into staging: LOAD DATA, or batched INSERTs once the server refuses local infile. With
   * `spareSession`, a backlog of exported chunks is spread over spare sessions as well (see spreadChunks; the server
   * parses and inserts each load in its own thread). Returns the rows loaded.
   */
  async #loadAll(
    conn: PoolConnection,
    into: LoadTarget,
    feed: ChunkFeed,
    signal: AbortSignal | undefined,
    spareSession: ImportRequest['spareSession'],
  ): Promise<number> {
    let useInsert = !this.#config.options.localInfile;
    let maxPacket: number | undefined;
    let loaded = 0;
    const load = async (c: PoolConnection, chunk: StagedChunk, stop: AbortSignal): Promise<number> => {
      // The first row's load sequence number (only on one session, where chunks load in order).
      const seqBase = loaded;
      let n: number | undefined;
      if (!useInsert) {
        try {
          n = await this.#loadData(c, into, chunk, seqBase, stop);
        } catch (e) {
          if (!localInfileRefused(e)) throw e;
          // Refused before any byte was sent: this chunk and the next go through INSERTs.
          useInsert = true;
        }
      }
      if (n === undefined) {
        maxPacket ??= Number((await query<string[][]>(c, { sql: mysqlSql.maxAllowedPacket, rowsAsArray: true, typeCast: textCast })).rows[0]?.[0]);
        n = await this.#insertRows(c, into, chunk, seqBase, maxPacket);
      }
      loaded += n;
      return n;
    };
    return spreadChunks<PoolConnection>({
      feed,
      signal,
      session: conn,
      maxSessions: this.#config.maxConnections,
      spare: spareSession && ((use, stop) => spareSession(() => this.#session(stop, (h) => withImportSqlMode(h, stop, () => use(h))))),
      load,
    });
  }

  /** One chunk through LOAD DATA LOCAL INFILE; returns its rows. Warnings (LOCAL turns errors into them) fail it. */
  async #loadData(conn: PoolConnection, into: LoadTarget, chunk: StagedChunk, seqBase: number, signal?: AbortSignal): Promise<number> {
    const counter = { rows: 0 };
    const file = await chunk.open();
    const pieces = fastTsvPieces(file, into, chunk, seqBase, counter);
    const input = Readable.from(paced(pieces, (conn as { stream?: Writable }).stream), { objectMode: false });
    // The file is closed whatever happens: also when the server never asks for it (the pieces never start) or an
    // abort leaves the query unsettled.
    const close = () => {
      input.destroy();
      file.destroy();
    };
    signal?.addEventListener('abort', close, { once: true });
    const sql = mysqlSql.loadData(into.staging, into.plan, into.seq);
    let result: ResultSetHeader;
    try {
      result = (await query<ResultSetHeader>(conn, { sql, infileStreamFactory: () => input })).rows;
    } catch (e) {
      if (e instanceof PipelineError) throw e;
      throw await serverValueError(e as MysqlError, into, chunk, (n) => lineOfRecord(chunk, n));
    } finally {
      signal?.removeEventListener('abort', close);
      close();
    }
    if (result.warningStatus > 0) {
      await failOnWarnings(conn, into, chunk, (n) => lineOfRecord(chunk, n));
    }
    if (result.affectedRows !== counter.rows) {
      throw new PipelineError('IMPORT_FAILED', `LOAD DATA stored ${result.affectedRows} of the ${counter.rows} rows of the chunk`, {
        table: into.table,
        chunk: chunk.name,
      });
    }
    return counter.rows;
  }

  /** One chunk through multi-row INSERTs of at most INSERT_BATCH rows and max_allowed_packet bytes. */
  async #insertRows(conn: PoolConnection, into: LoadTarget, chunk: StagedChunk, seqBase: number, maxPacket: number): Promise<number> {
    const mysql = this.#mysql!;
    const head = mysqlSql.insertHead(into.staging, into.names, into.seq);
    const limit = maxPacket - 1024;
    let tuples: string[] = [];
    let lines: number[] = [];
    let bytes = Buffer.byteLength(head);
    let rows = 0;
    const flush = async () => {
      if (tuples.length === 0) return;
      const at = (n: number) => Promise.resolve(lines[n - 1]);
      let result: ResultSetHeader;
      try {
        result = (await query<ResultSetHeader>(conn, { sql: head + tuples.join(',') })).rows;
      } catch (e) {
        throw await serverValueError(e as MysqlError, into, chunk, at);
      }
      if (result.warningStatus > 0) await failOnWarnings(conn, into, chunk, at);
      tuples = [];
      lines = [];
      bytes = Buffer.byteLength(head);
    };
    const csv = await openCsv(await chunk.open(), { name: chunk.name, expectColumns: into.names });
    try {
      for await (const row of csv.rows) {
        const values: SqlValue[] = row.cells.map((cell, i): SqlValue => {
          if (cell === null) return null;
          const col = into.plan[i]!;
          const text = convert(col, cell, into, chunk, row.line);
          switch (col.via) {
            case 'base64':
              return Buffer.from(text, 'base64');
            case 'geometry':
              return mysql.raw(`ST_GeomFromWKB(${mysql.escape(Buffer.from(text, 'base64'))})`);
            case 'bits':
              return mysql.raw(`CAST(${mysql.escape(text)} AS UNSIGNED)`);
            default:
              return text;
          }
        });
        rows++;
        if (into.seq) values.push(seqBase + rows);
        const tuple = mysql.format('(?)', [values]);
        const size = Buffer.byteLength(tuple) + 1;
        if (tuples.length >= INSERT_BATCH || (tuples.length > 0 && bytes + size > limit)) await flush();
        if (bytes + size > limit) {
          throw new PipelineError('IMPORT_FAILED', `the row is larger than the server's max_allowed_packet (${maxPacket} bytes), which INSERT needs it to fit in`, {
            table: into.table,
            chunk: chunk.name,
            chunkLine: row.line,
          });
        }
        tuples.push(tuple);
        lines.push(row.line);
        bytes += size;
      }
      await flush();
    } finally {
      await csv.close();
    }
    return rows;
  }

  async #commit(conn: PoolConnection, req: ImportRequest, c: CommitPlan, state: ImportState): Promise<void> {
    const record = { sql: mysqlSql.recordLoad, values: [req.loadId, req.table, c.loaded] };
    if (c.swap) {
      // RENAME is DDL and commits by itself, so the load record follows it rather than sharing a transaction. A
      // crash in between only means a retry finds no record and overwrites again with the same rows: overwrite is
      // idempotent.
      if (c.exists) {
        const old = c.schema === undefined ? '' : `${c.schema}.`;
        state.old = `${old}${workTableName(OLD_PREFIX, req.table, req.loadId)}`;
        await query(conn, { sql: mysqlSql.swap(req.table, state.old, c.staging) });
        state.staging = undefined;
        await query(conn, { sql: mysqlSql.dropTable(state.old) });
        state.old = undefined;
      } else {
        await query(conn, { sql: mysqlSql.rename(c.staging, req.table) });
        state.staging = undefined;
      }
      await query(conn, record);
      return;
    }

    let upsert = false;
    if (c.exists) {
      if (req.mode === 'merge') upsert = await hasUniqueKeyOn(conn, c.schema, c.name, c.key);
    } else {
      // Created just before the transaction (CREATE TABLE commits implicitly) and dropped again if it fails.
      await query(conn, { sql: mysqlSql.createTable(req.table, c.defs) });
      state.createdTarget = req.table;
    }
    if (req.mode === 'merge' && c.key.every((k) => indexable(c.defs.find((d) => d.name.toLowerCase() === k.toLowerCase())))) {
      await query(conn, { sql: mysqlSql.stagingKeyIndex(c.staging, c.key) });
    }
    await query(conn, { sql: mysqlSql.begin });
    try {
      if (req.mode === 'overwrite') {
        await query(conn, { sql: mysqlSql.deleteAll(req.table) });
        await query(conn, { sql: mysqlSql.copyAll(req.table, c.staging, c.names) });
      } else if (req.mode === 'append') {
        await query(conn, { sql: mysqlSql.copyAll(req.table, c.staging, c.names) });
      } else if (upsert) {
        await query(conn, { sql: mysqlSql.mergeUpsert(req.table, c.staging, c.names, c.key) });
      } else {
        await query(conn, { sql: mysqlSql.mergeDelete(req.table, c.staging, c.key) });
        await query(conn, { sql: mysqlSql.mergeInsert(req.table, c.staging, c.names, c.key) });
      }
      await query(conn, record);
      await query(conn, { sql: mysqlSql.commit });
    } catch (e) {
      await query(conn, { sql: mysqlSql.rollback }).catch(() => {});
      throw e;
    }
    state.createdTarget = undefined;
    await query(conn, { sql: mysqlSql.dropTable(c.staging) });
    state.staging = undefined;
  }
}

interface LoadTarget {
  readonly table: string;
  readonly staging: string;
  readonly names: readonly string[];
  readonly plan: readonly ImportColumn[];
  readonly seq: boolean;
}

interface CommitPlan {
  readonly staging: string;
  readonly defs: readonly ColumnDef[];
  readonly names: readonly string[];
  readonly key: readonly string[];
  readonly loaded: number;
  readonly exists: boolean;
  /** Overwrite by RENAME (else, in one transaction, by DELETE and INSERT). */
  readonly swap: boolean;
  readonly schema: string | undefined;
  readonly name: string;
}

// ---- helpers ------------------------------------------------------------------------------------------------------

function query<T = unknown>(conn: Connection | PoolConnection, options: QueryOptions): Promise<{ rows: T; fields: FieldPacket[] | undefined }> {
  return new Promise((resolve, reject) => {
    conn.query(options, (e: unknown, rows: unknown, fields: FieldPacket[] | undefined) => (e ? reject(e) : resolve({ rows: rows as T, fields })));
  });
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

/** The value `offset` rows after `previous` in the order of `column` (which holds no duplicates). */
function nthAfter(inner: BuiltQuery, column: string, previous: string, offset: number): BuiltQuery {
  const c = mysqlDialect.quoteIdent(column);
  return {
    sql: `SELECT ${c} FROM (${inner.sql}) AS pigeon_n WHERE ${c} IS NOT NULL AND ${c} > ? ORDER BY ${c} LIMIT 1 OFFSET ${Math.max(0, Math.floor(offset))}`,
    params: [...inner.params, previous],
  };
}

/**
 * Runs `fn` with the session in the strict sql_mode of imports, and gives the session its own mode back afterwards
 * (it returns to the pool), unless an abort is ending it anyway.
 */
async function withImportSqlMode<T>(conn: PoolConnection, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const { rows } = await query<string[][]>(conn, { sql: mysqlSql.sqlMode, rowsAsArray: true, typeCast: textCast });
  await query(conn, { sql: mysqlSql.setSqlMode, values: [IMPORT_SQL_MODE] });
  try {
    return await fn();
  } finally {
    if (!signal?.aborted) await query(conn, { sql: mysqlSql.setSqlMode, values: [rows[0]?.[0] ?? ''] }).catch(() => {});
  }
}

/** `schema.table` → its parts, as quoteTable splits them. */
function splitTable(table: string): { schema: string | undefined; name: string } {
  const dot = table.indexOf('.');
  return dot < 0 ? { schema: undefined, name: table } : { schema: table.slice(0, dot), name: table.slice(dot + 1) };
}

async function committed(conn: PoolConnection, table: string, loadId: string): Promise<boolean> {
  const { rows } = await query<unknown[]>(conn, { sql: mysqlSql.loadCommitted, values: [loadId, table], rowsAsArray: true });
  return rows.length > 0;
}

/**
 * The target's columns by lower-cased name (MySQL column names are case-insensitive), or undefined when the table
 * does not exist. information_schema may compare table names case-insensitively: an exact match wins.
 */
async function targetColumns(conn: PoolConnection, schema: string | undefined, name: string): Promise<Map<string, TargetColumn> | undefined> {
  const { rows } = await query<(string | null)[][]>(conn, {
    sql: mysqlSql.tableColumns,
    values: [schema ?? null, name],
    rowsAsArray: true,
    typeCast: textCast,
  });
  if (rows.length === 0) return undefined;
  const exact = rows.filter((r) => r[0] === name);
  const map = new Map<string, TargetColumn>();
  for (const [, col, dataType, columnType, charset, collation] of exact.length > 0 ? exact : rows) {
    const text = charset && collation ? ` CHARACTER SET ${charset} COLLATE ${collation}` : '';
    map.set(col!.toLowerCase(), { name: col!, dataType: dataType!, definition: `${columnType}${text}` });
  }
  return map;
}

/** Whether a PRIMARY KEY or UNIQUE index covers exactly the merge key, so ON DUPLICATE KEY UPDATE upserts on it. */
async function hasUniqueKeyOn(conn: PoolConnection, schema: string | undefined, name: string, key: readonly string[]): Promise<boolean> {
  const { rows } = await query<(string | null)[][]>(conn, { sql: mysqlSql.uniqueKeys, values: [schema ?? null, name], rowsAsArray: true, typeCast: textCast });
  const exact = rows.filter((r) => r[0] === name);
  const indexes = new Map<string, string[]>();
  for (const [, index, col] of exact.length > 0 ? exact : rows) {
    // A functional key part (MySQL 8) has no column name and so never equals the merge key.
    indexes.set(index!, [...(indexes.get(index!) ?? []), col === null || col === undefined ? '\0' : col.toLowerCase()]);
  }
  const wanted = new Set(key.map((k) => k.toLowerCase()));
  return [...indexes.values()].some((cols) => cols.length === wanted.size && cols.every((c) => wanted.has(c)));
}

async function swappable(conn: PoolConnection, schema: string | undefined, name: string): Promise<boolean> {
  const s = schema ?? null;
  const { rows } = await query<string[][]>(conn, { sql: mysqlSql.swapBlockers, values: [s, name, s, name, s, name], rowsAsArray: true, typeCast: textCast });
  return Number(rows[0]?.[0]) === 0;
}

/** Columns a plain index can cover (TEXT, BLOB, JSON and geometries need a prefix length or another index type). */
function indexable(def: ColumnDef | undefined): boolean {
  return def !== undefined && !/text|blob|json|geometry|point|polygon|linestring/i.test(def.definition);
}

/**
 * Staging (and swapped-out) tables of the same target left by crashed loads. Only one load writes a given target at
 * a time (one run per pipeline holds the lock), so they belong to dead processes.
 */
async function dropLeftovers(conn: PoolConnection, schema: string | undefined, table: string): Promise<void> {
  for (const prefix of [STAGING_PREFIX, OLD_PREFIX]) {
    const { rows } = await query<string[][]>(conn, {
      sql: mysqlSql.tablesLike,
      values: [schema ?? null, likePrefix(workTablePrefix(prefix, table))],
      rowsAsArray: true,
      typeCast: textCast,
    });
    for (const [leftover] of rows) {
      await query(conn, { sql: mysqlSql.dropTable(schema === undefined ? leftover! : `${schema}.${leftover}`) });
    }
  }
}

const TSV_SPECIAL = /[\\\t\n\r\0]/;
const TSV_SPECIAL_ALL = /[\\\t\n\r\0]/g;
const TSV_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' };

/**
 * The chunk's rows in LOAD DATA's own format (FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'):
 * a bare `\N` is NULL and every tab, newline, carriage return, NUL and backslash of a value is escaped, so NULL, the
 * empty string and the text `\N` stay distinct. Yields pieces of at most MAX_PACKET_PIECE bytes, one at a time,
 * as the connection asks for them.
 */
async function* tsvPieces(csv: CsvFile, into: LoadTarget, chunk: StagedChunk, seqBase: number, counter: { rows: number }): AsyncGenerator<Buffer> {
  let text = '';
  try {
    for await (const row of csv.rows) {
      let line = '';
      const cells = row.cells;
      for (let i = 0; i < cells.length; i++) {
        if (i > 0) line += '\t';
        const cell = cells[i]!;
        if (cell === null) {
          line += '\\N';
          continue;
        }
        const v = convert(into.plan[i]!, cell, into, chunk, row.line);
        line += TSV_SPECIAL.test(v) ? v.replace(TSV_SPECIAL_ALL, (ch) => TSV_ESCAPES[ch]!) : v;
      }
      counter.rows++;
      if (into.seq) line += `\t${seqBase + counter.rows}`;
      text += `${line}\n`;
      if (text.length >= LOAD_PIECE) {
        yield* pieces(text);
        text = '';
      }
    }
    if (text.length > 0) yield* pieces(text);
  } finally {
    await csv.close();
  }
}

/**
 * tsvPieces on the byte-level fast path (mysql-load.ts). A file the fast path does not expect is read by
 * tsvPieces instead: from the start when nothing was sent yet, else only to find the precise error to report.
 */
async function* fastTsvPieces(input: Readable, into: LoadTarget, chunk: StagedChunk, seqBase: number, counter: { rows: number }): AsyncGenerator<Buffer> {
  const columns: TsvColumn[] = into.plan.map((column) => ({ column, convert: (text, line) => convert(column, text, into, chunk, line) }));
  const tsv = new CsvToTsv(columns, into.names, into.seq ? seqBase : undefined);
  let sent = false;
  try {
    for await (const piece of input as AsyncIterable<Buffer>) {
      tsv.push(piece);
      counter.rows = tsv.rows;
      if (tsv.size >= LOAD_PIECE) {
        sent = true;
        yield tsv.take();
      }
    }
    tsv.end();
    counter.rows = tsv.rows;
    if (tsv.size > 0) yield tsv.take();
  } catch (e) {
    if (!(e instanceof CsvToTsv.Unusual)) throw e;
    input.destroy();
    const csv = await openCsv(await chunk.open(), { name: chunk.name, expectColumns: into.names });
    if (!sent) {
      counter.rows = 0;
      yield* tsvPieces(csv, into, chunk, seqBase, counter);
      return;
    }
    for await (const _ of tsvPieces(csv, into, chunk, seqBase, { rows: 0 })) {
      // only its error matters
    }
    throw new PipelineError('BAD_CSV', `${chunk.name} is not in the exchange format (${e.message})`, { table: into.table, chunk: chunk.name });
  } finally {
    input.destroy();
  }
}

/**
 * mysql2 writes a LOCAL INFILE stream to the socket as fast as the stream gives (it pauses only when the socket's
 * reading is paused): without this, a chunk would pile up in the socket's write buffer while the server is slower.
 * Each piece waits until the socket has sent most of what it holds.
 */
async function* paced(pieces: AsyncGenerator<Buffer>, socket: Writable | undefined): AsyncGenerator<Buffer> {
  for await (const piece of pieces) {
    if (socket && !socket.destroyed && socket.writableLength > SOCKET_BACKLOG) {
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
    }
    yield piece;
  }
}

function* pieces(text: string): Generator<Buffer> {
  const bytes = Buffer.from(text, 'utf8');
  for (let at = 0; at < bytes.length; at += MAX_PACKET_PIECE) yield bytes.subarray(at, at + MAX_PACKET_PIECE);
}

function convert(col: ImportColumn, cell: string, into: LoadTarget, chunk: StagedChunk, line: number): string {
  try {
    return col.text(cell);
  } catch (e) {
    const shown = JSON.stringify(cell.length > 40 ? `${cell.slice(0, 40)}…` : cell);
    throw new PipelineError('BAD_VALUE', `${e instanceof Error ? e.message : String(e)} (value ${shown})`, {
      table: into.table,
      column: col.name,
      chunk: chunk.name,
      chunkLine: line,
    });
  }
}

/** The line of the chunk file where its n-th record (1-based) starts: records may span lines. */
async function lineOfRecord(chunk: StagedChunk, n: number): Promise<number | undefined> {
  const csv = await openCsv(await chunk.open(), { name: chunk.name });
  let i = 0;
  try {
    for await (const row of csv.rows) if (++i === n) return row.line;
  } finally {
    await csv.close();
  }
  return undefined;
}

/** Where the server says a problem is: `… for column 'c' at row 3`, `` … for column `db`.`t`.`c` at row 3 ``. */
function serverPosition(message: string): { row?: number; column?: string } {
  const row = /\bat row (\d+)/i.exec(message)?.[1] ?? /^Row (\d+)\b/.exec(message)?.[1];
  const column =
    /for column `(?:[^`]|``)*`\.`(?:[^`]|``)*`\.`((?:[^`]|``)*)`/.exec(message)?.[1]?.replaceAll('``', '`') ??
    /(?:column|Field) '(.*)' (?:at row \d+|cannot be null|doesn't have a default value)/.exec(message)?.[1];
  return { ...(row !== undefined ? { row: Number(row) } : {}), ...(column !== undefined ? { column } : {}) };
}

async function located(
  message: string,
  errno: number | undefined,
  into: LoadTarget,
  chunk: StagedChunk,
  lineOf: (n: number) => Promise<number | undefined>,
  cause: unknown,
): Promise<PipelineError> {
  const pos = serverPosition(message);
  const column = pos.column === undefined ? undefined : (into.names.find((n) => n === pos.column) ?? into.names.find((n) => n.toLowerCase() === pos.column!.toLowerCase()) ?? pos.column);
  const line = pos.row === undefined ? undefined : await lineOf(pos.row).catch(() => undefined);
  const code: ErrorCode = errno !== undefined && BAD_VALUE_ERRNOS.has(errno) ? 'BAD_VALUE' : 'IMPORT_FAILED';
  const where = line === undefined ? ' (the server did not say which row)' : '';
  return new PipelineError(code, `${message}${code === 'BAD_VALUE' ? where : ''}`, {
    table: into.table,
    ...(column !== undefined ? { column } : {}),
    chunk: chunk.name,
    ...(line !== undefined ? { chunkLine: line } : {}),
    cause,
  });
}

async function serverValueError(e: MysqlError, into: LoadTarget, chunk: StagedChunk, lineOf: (n: number) => Promise<number | undefined>): Promise<unknown> {
  if (e.errno === undefined || e.sqlMessage === undefined || e.fatal || localInfileRefused(e)) return e;
  if (typeof e.sql === 'string' && e.sql.length > 2000) e.sql = `${e.sql.slice(0, 2000)}…`;
  return located(e.sqlMessage, e.errno, into, chunk, lineOf, e);
}

/** Strict mode does not reach LOAD DATA LOCAL, which only warns: any warning or note fails the chunk. */
async function failOnWarnings(conn: PoolConnection, into: LoadTarget, chunk: StagedChunk, lineOf: (n: number) => Promise<number | undefined>): Promise<never> {
  const { rows } = await query<[string, string, string][]>(conn, { sql: mysqlSql.showWarnings, rowsAsArray: true, typeCast: textCast });
  const warnings = rows.map(([level, code, message]) => ({ level, code: Number(code), message }));
  const first = warnings[0] ?? { level: 'Warning', code: 0, message: 'the server reported warnings but did not list them' };
  const cause = Object.assign(new Error(first.message), { errno: first.code, level: first.level, warnings });
  throw await located(first.message, first.code, into, chunk, lineOf, cause);
}

function localInfileRefused(e: unknown): boolean {
  const err = e as MysqlError;
  if (err?.errno !== undefined && LOCAL_INFILE_REFUSED.has(err.errno)) return true;
  return /local infile|local data is disabled/i.test(err?.sqlMessage ?? '');
}

