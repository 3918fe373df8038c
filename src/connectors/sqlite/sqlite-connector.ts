import { mkdir, access } from 'node:fs/promises';
import { dirname } from 'node:path';
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
} from '../contract.js';
import { planSplitChunks } from '../sql/split.js';
import { stagedImport, type StagedLoad, type TargetTable } from '../sql/staged-import.js';
import { STAGING_PREFIX, workTableName, workTablePrefix } from '../sql/work-tables.js';
import { buildCount, buildMax, buildNth, buildSelect } from '../sql/select-builder.js';
import { loadDriver } from '../driver.js';
import { openCsv } from '../../csv/reader.js';
import { fromNumber, fromBuffer, toBuffer, toNumber, toBoolean } from '../../csv/values.js';
import { sqliteConfig, type SqliteConfig } from './sqlite-config.js';
import { portableFromSqlite, sqliteDialect, sqliteSql, sqliteType } from './sqlite-sql.js';

type DatabaseCtor = typeof import('better-sqlite3');

/** Rows inserted per synchronous transaction: big enough to be fast, small enough to let the event loop breathe. */
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
    const transient = sqliteCode.startsWith('SQLITE_BUSY') || sqliteCode.startsWith('SQLITE_LOCKED');
    if (e instanceof PipelineError) return e.withContext({ connection: this.#config.name, ...extra });
    return toPipelineError(e, code, { connection: this.#config.name, transient, ...extra });
  }

  async describe(req: ExportRequest): Promise<readonly ColumnSchema[]> {
    const db = await this.#handle(false);
    try {
      return describeStatement(prepare(db, buildSelect(sqliteDialect, req).sql, req));
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

  async planChunks(req: ExportRequest): Promise<readonly ChunkSpec[]> {
    const db = await this.#handle(false);
    try {
      const one = (q: { sql: string; params: readonly string[] }): unknown => prepare(db, q.sql, req).pluck().get(...q.params);
      return await planSplitChunks(req, (column) => ({
        count: async () => Number(one(buildCount(sqliteDialect, req, column))),
        nth: async (rank) => {
          const v = one(buildNth(sqliteDialect, req, column, rank));
          return v === null || v === undefined ? null : cellOf(v);
        },
      }));
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

interface SqliteTarget extends TargetTable {
  /** Declared type by column name. */
  readonly declared: ReadonlyMap<string, string>;
}

/** Rows go into a staging table in batches of synchronous transactions; the commit is one IMMEDIATE transaction. */
class SqliteLoad implements StagedLoad<SqliteTarget> {
  readonly #db: Db;
  readonly #req: ImportRequest;
  readonly #signal: AbortSignal | undefined;
  readonly #staging: string;

  constructor(db: Db, req: ImportRequest, signal: AbortSignal | undefined) {
    this.#db = db;
    this.#req = req;
    this.#signal = signal;
    this.#staging = workTableName(STAGING_PREFIX, req.table, req.loadId);
  }

  async committed(): Promise<boolean> {
    this.#db.exec(sqliteSql.createLoads);
    return this.#db.prepare(sqliteSql.loadCommitted).get(this.#req.loadId, this.#req.table) !== undefined;
  }

  async target(): Promise<SqliteTarget | undefined> {
    const rows = this.#db.prepare(sqliteSql.tableInfo(this.#req.table)).all() as { name: string; type: string }[];
    if (rows.length === 0) return undefined;
    return { columns: rows.map((r) => ({ name: r.name })), declared: new Map(rows.map((r) => [r.name, r.type || 'TEXT'])) };
  }

  /**
   * Drops staging tables left by crashed loads into the same target table. Only one load writes a given target at a
   * time (one run per pipeline holds the lock), so any such table belongs to a dead process.
   */
  async dropLeftovers(): Promise<void> {
    const prefix = workTablePrefix(STAGING_PREFIX, this.#req.table);
    for (const { name } of this.#db.prepare(sqliteSql.stagingTables).all() as { name: string }[]) {
      if (!name.startsWith(prefix)) continue;
      try {
        this.#db.exec(sqliteSql.dropTable(name));
      } catch {
        // In use by another writer: leave it.
      }
    }
  }

  async load(target: SqliteTarget | undefined, feed: ChunkFeed): Promise<number> {
    const db = this.#db;
    const req = this.#req;
    const names = req.columns.map((c) => c.name);
    db.exec(sqliteSql.createStaging(this.#staging, req.columns.map((c) => ({ name: c.name, declared: target?.declared.get(c.name) ?? sqliteType(c) }))));
    const insert = db.prepare(sqliteSql.insert(this.#staging, names));
    // Values are checked against the target's own column types when it exists: SQLite would store 'abc' in an
    // INTEGER column without complaint, and the target's types are what its readers rely on.
    const decoders = req.columns.map((c) => decoderFor(target ? { ...c, ...portableFromSqlite(target.declared.get(c.name) ?? null) } : c));
    const insertBatch = db.transaction((batch: unknown[][]) => {
      for (const r of batch) insert.run(r);
    });
    let loaded = 0;
    for await (const chunk of feed) {
      const csv = await openCsv(await chunk.open(), { name: chunk.name, expectColumns: names });
      let batch: unknown[][] = [];
      for await (const row of csv.rows) {
        const values: unknown[] = new Array(row.cells.length + 1);
        for (let i = 0; i < row.cells.length; i++) {
          const cell = row.cells[i]!;
          try {
            values[i] = cell === null ? null : decoders[i]!(cell);
          } catch (e) {
            throw new PipelineError('BAD_VALUE', `${(e as Error).message} (value ${preview(cell)})`, {
              table: req.table,
              column: names[i]!,
              chunk: chunk.name,
              chunkLine: row.line,
            });
          }
        }
        values[row.cells.length] = ++loaded;
        batch.push(values);
        if (batch.length >= BATCH) {
          insertBatch(batch);
          batch = [];
          await yieldToLoop();
          this.#signal?.throwIfAborted();
        }
      }
      if (batch.length > 0) insertBatch(batch);
    }
    return loaded;
  }

  async commit(target: SqliteTarget | undefined, rows: number): Promise<void> {
    commit(this.#db, this.#req, this.#staging, this.#req.columns.map((c) => c.name), !target, rows);
  }

  async abandon(): Promise<void> {
    this.#db.exec(sqliteSql.dropTable(this.#staging));
  }
}

/** The swap, append or merge: one IMMEDIATE transaction together with the load record, so it happens once or not at all. */
function commit(db: Db, req: ImportRequest, staging: string, names: readonly string[], create: boolean, rows: number): void {
  const tx = db.transaction(() => {
    if (db.prepare(sqliteSql.loadCommitted).get(req.loadId, req.table)) return;
    if (create) db.exec(sqliteSql.createTable(req.table, req.columns));
    switch (req.mode) {
      case 'overwrite':
        db.exec(sqliteSql.deleteAll(req.table));
        db.exec(sqliteSql.copyAll(req.table, staging, names));
        break;
      case 'append':
        db.exec(sqliteSql.copyAll(req.table, staging, names));
        break;
      case 'merge': {
        const key = req.key ?? [];
        db.exec(sqliteSql.stagingIndex(staging, key));
        db.exec(sqliteSql.mergeDelete(req.table, staging, key));
        db.exec(sqliteSql.mergeInsert(req.table, staging, names, key));
        break;
      }
    }
    db.prepare(sqliteSql.recordLoad).run(req.loadId, req.table, rows, new Date().toISOString());
    db.exec(sqliteSql.dropTable(staging));
  });
  tx.immediate();
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

function cellOf(v: unknown): Cell {
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

/** Exchange text → the value bound for a column of this portable type. */
function decoderFor(c: ColumnSchema): (s: string) => unknown {
  switch (c.type) {
    case 'int16':
    case 'int32':
    case 'int64':
      return (s) => {
        if (!/^-?\d+$/.test(s)) throw new Error(`not an integer`);
        return BigInt(s);
      };
    case 'float32':
    case 'float64':
      return (s) => {
        const n = toNumber(s);
        if (Number.isNaN(n) && s !== 'NaN') throw new Error('not a number');
        return n;
      };
    case 'boolean':
      return (s) => (toBoolean(s) ? 1 : 0);
    case 'binary':
      return (s) => toBuffer(s);
    default:
      return (s) => s;
  }
}

function preview(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

function yieldToLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
