import { mkdir, access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pathWritable } from '../fs-access.js';
import type { Database as Db, Statement } from 'better-sqlite3';
import type { ConnectionConfig } from '../../config/types.js';
import type { Cell, ColumnSchema } from '../../csv/types.js';
import { PipelineError, toPipelineError } from '../../errors/pipeline-error.js';
import type {
  ChunkFeed,
  ChunkSpec,
  Connector,
  ConnectorOptions,
  CsvSink,
  ExportRequest,
  ImportRequest,
  ImportResult,
  TargetAccess,
} from '../contract.js';
import { planSplitChunks } from '../sql/split.js';
import { stagedImport } from '../sql/staged-import.js';
import { withSourceKey } from '../sql/new-table.js';
import { buildCount, buildMax, buildNth, buildSelect } from '../sql/select-builder.js';
import { loadDriver } from '../driver.js';
import { fromNumber, fromBuffer } from '../../csv/values.js';
import { sqliteConfig, type SqliteConfig } from './sqlite-config.js';
import { SqliteLoad, yieldToLoop } from './sqlite-import.js';
import { portableFromSqlite, sqliteDialect, sqliteSql } from './sqlite-sql.js';

type DatabaseCtor = typeof import('better-sqlite3');

/** Rows read between two yields to the event loop. */
const BATCH = 2000;

/**
 * SQLite through better-sqlite3. The driver is synchronous, so every export and import opens its own handle (WAL
 * mode lets readers and the writer coexist) and yields to the event loop between batches, which keeps timeouts,
 * Ctrl-C and other nodes responsive.
 */
export class SqliteConnector implements Connector {
  readonly #config: SqliteConfig;
  #Database: DatabaseCtor | undefined;

  constructor(config: ConnectionConfig, options: ConnectorOptions) {
    this.#config = sqliteConfig(config, options.cwd);
  }

  async open(): Promise<void> {
    this.#Database = await loadDriver<DatabaseCtor>('better-sqlite3', 'sqlite');
  }

  async close(): Promise<void> {
    // Handles are per operation and already closed.
  }

  async #handle(forWrite: boolean): Promise<Db> {
    const Database = this.#Database;
    if (!Database) throw new PipelineError('INTERNAL', 'sqlite connector used before open()');
    if (forWrite) {
      await mkdir(dirname(this.#config.path), { recursive: true });
    } else {
      try {
        await access(this.#config.path);
      } catch {
        throw new PipelineError('SOURCE_NOT_FOUND', `sqlite database ${this.#config.path} does not exist`, {
          connection: this.#config.name,
        });
      }
    }
    try {
      const db = new Database(this.#config.path, forWrite ? {} : { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 10000');
      if (forWrite) db.pragma('journal_mode = WAL');
      db.defaultSafeIntegers(true);
      return db;
    } catch (e) {
      throw this.#wrap(e, 'CONNECT_FAILED');
    }
  }

  #wrap(e: unknown, code: 'EXPORT_FAILED' | 'IMPORT_FAILED' | 'CONNECT_FAILED', extra: { table?: string } = {}) {
    const sqliteCode = (e as { code?: string }).code ?? '';
    // A target created by another load meanwhile (two first loads into one table): the retry finds it there.
    const created = sqliteCode === 'SQLITE_ERROR' && /^table .* already exists$/.test((e as Error).message ?? '');
    const transient = sqliteCode.startsWith('SQLITE_BUSY') || sqliteCode.startsWith('SQLITE_LOCKED') || created;
    if (e instanceof PipelineError) return e.withContext({ connection: this.#config.name, ...extra });
    return toPipelineError(e, code, { connection: this.#config.name, transient, ...extra });
  }

  async describe(req: ExportRequest): Promise<readonly ColumnSchema[]> {
    const db = await this.#handle(false);
    try {
      const columns = describeStatement(prepare(db, buildSelect(sqliteDialect, req).sql, req));
      const table = req.source.query === undefined ? req.source.table : undefined;
      if (table === undefined) return columns;
      // A table pigeon creates from this export gets the same primary key.
      return withSourceKey(columns, (db.prepare(sqliteSql.primaryKeyOf(table)).all() as { name: string }[]).map((r) => r.name));
    } finally {
      db.close();
    }
  }

  async maxValue(req: ExportRequest, column: string): Promise<string | null> {
    const db = await this.#handle(false);
    try {
      const q = buildMax(sqliteDialect, req, column);
      const v = prepare(db, q.sql, req).pluck().get(...q.params);
      return v === null || v === undefined ? null : cellOf(v);
    } finally {
      db.close();
    }
  }

  async planChunks(req: ExportRequest, _signal?: AbortSignal, announce?: (chunk: ChunkSpec) => void): Promise<readonly ChunkSpec[]> {
    const db = await this.#handle(false);
    try {
      const one = (q: { sql: string; params: readonly string[] }): unknown => prepare(db, q.sql, req).pluck().get(...q.params);
      return await planSplitChunks(req, (column) => ({
        count: async () => Number(one(buildCount(sqliteDialect, req, column))),
        nth: async (rank) => {
          const v = one(buildNth(sqliteDialect, req, column, rank));
          return v === null || v === undefined ? null : cellOf(v);
        },
      }), announce);
    } finally {
      db.close();
    }
  }

  async exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    const db = await this.#handle(false);
    try {
      const q = buildSelect(sqliteDialect, req, chunk);
      const stmt = prepare(db, q.sql, req).raw(true);
      const columns = describeStatement(stmt);
      const encoders = columns.map((c) => encoderFor(c));
      let rows = 0;
      for (const raw of stmt.iterate(...q.params) as IterableIterator<unknown[]>) {
        const cells: Cell[] = new Array(raw.length);
        for (let i = 0; i < raw.length; i++) cells[i] = encoders[i]!(raw[i]);
        rows++;
        if (!sink.row(cells)) await sink.drain();
        if (rows % BATCH === 0) {
          await yieldToLoop();
          signal?.throwIfAborted();
        }
      }
      return rows;
    } catch (e) {
      throw this.#wrap(e, 'EXPORT_FAILED', { ...(req.source.table ? { table: req.source.table } : {}) });
    } finally {
      db.close();
    }
  }

  async targetAccess(table: string): Promise<TargetAccess> {
    const file = await pathWritable(this.#config.path);
    if (!file.exists) return { exists: false, writable: file.writable, ...(file.reason ? { reason: file.reason } : {}) };
    const db = await this.#handle(false);
    try {
      const exists = db.prepare(sqliteSql.tableExists).get(table) !== undefined;
      return { exists, writable: file.writable, ...(file.reason ? { reason: file.reason } : {}) };
    } finally {
      db.close();
    }
  }

  async splitIndexed(req: ExportRequest, column: string): Promise<boolean> {
    if (req.source.table === undefined) return false;
    const db = await this.#handle(false);
    try {
      const sql = 'SELECT 1 FROM pragma_index_list(?) AS il JOIN pragma_index_info(il.name) AS ii WHERE ii.seqno = 0 AND ii.name = ?';
      // An INTEGER PRIMARY KEY is the rowid itself: the table is ordered by it, no index needed.
      const pk = db.prepare("SELECT 1 FROM pragma_table_info(?) WHERE pk = 1 AND lower(type) = 'integer' AND name = ?").get(req.source.table, column);
      return pk !== undefined || db.prepare(sql).get(req.source.table, column) !== undefined;
    } finally {
      db.close();
    }
  }

  async probeTarget(table: string): Promise<'missing' | 'empty' | 'filled'> {
    let db: Db;
    try {
      db = await this.#handle(false);
    } catch {
      return 'missing';
    }
    try {
      if (!db.prepare(sqliteSql.tableExists).get(table)) return 'missing';
      return db.prepare(sqliteSql.anyRow(table)).get() ? 'filled' : 'empty';
    } finally {
      db.close();
    }
  }

  async isCommitted(table: string, loadId: string): Promise<boolean> {
    let db: Db;
    try {
      db = await this.#handle(false);
    } catch {
      return false; // no database yet: nothing committed
    }
    try {
      if (!db.prepare(sqliteSql.tableExists).get('_pigeon_loads')) return false;
      return db.prepare(sqliteSql.loadCommitted).get(loadId, table) !== undefined;
    } finally {
      db.close();
    }
  }

  async import(req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    const db = await this.#handle(true);
    try {
      return await stagedImport(req, feed, signal, new SqliteLoad(db, req, signal));
    } catch (e) {
      throw this.#wrap(e, 'IMPORT_FAILED', { table: req.table });
    } finally {
      db.close();
    }
  }
}

function prepare(db: Db, sql: string, req: ExportRequest): Statement {
  try {
    return db.prepare(sql);
  } catch (e) {
    const msg = (e as Error).message;
    if (/no such table/i.test(msg)) {
      throw new PipelineError('SOURCE_NOT_FOUND', msg, { ...(req.source.table ? { table: req.source.table } : {}), cause: e });
    }
    throw toPipelineError(e, 'EXPORT_FAILED', { node: req.node });
  }
}

function describeStatement(stmt: Statement): ColumnSchema[] {
  return stmt.columns().map((c) => ({
    name: c.name,
    nullable: true,
    ...portableFromSqlite(c.type),
    ...(c.type ? { source_type: c.type } : {}),
  }));
}

export function cellOf(v: unknown): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return fromNumber(v);
  if (v instanceof Uint8Array) return fromBuffer(v);
  return String(v);
}

/** Native value → exchange text. SQLite stores by value, so encode by the value's own type, except booleans. */
function encoderFor(c: ColumnSchema): (v: unknown) => Cell {
  if (c.type === 'boolean') {
    return (v) => (v === null ? null : typeof v === 'bigint' || typeof v === 'number' ? (Number(v) !== 0 ? 'true' : 'false') : cellOf(v));
  }
  return cellOf;
}


