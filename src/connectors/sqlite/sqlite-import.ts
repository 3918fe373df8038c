import { hostname } from 'node:os';
import { processAlive } from '../../state/process.js';
import type { Database as Db } from 'better-sqlite3';
import { openCsv } from '../../csv/reader.js';
import type { ColumnSchema } from '../../csv/types.js';
import { toBoolean, toBuffer, toNumber } from '../../csv/values.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { ChunkFeed, ImportRequest } from '../contract.js';
import type { Holds } from '../lossy.js';
import { duplicateKeyError, orphanError, replacementKey, type Reference } from '../sql/keyed-overwrite.js';
import type { StagedLoad, TargetTable } from '../sql/staged-import.js';
import { newTableKey } from '../sql/new-table.js';
import type { SchemaChanges } from '../sql/schema-changes.js';
import { STAGING_PREFIX, workTableName, workTablePrefix } from '../sql/work-tables.js';
import { buildRange } from '../sql/select-builder.js';
import { portableFromSqlite, sqliteDialect, sqliteSql, sqliteType } from './sqlite-sql.js';

/**
 * What a column of this declared type holds where SQLite would change a value silently: NUMERIC affinity (DECIMAL,
 * NUMERIC) turns a number written as text into an integer or a double, keeping 15 significant digits; REAL
 * affinity stores doubles.
 */
function holdsOf(declared: string): Holds | undefined {
  const t = declared.toUpperCase();
  if (t.includes('INT') || t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT') || t.includes('BLOB') || t === '') return undefined;
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return { type: 'float64' };
  if (t.includes('DEC') || t.includes('NUMERIC')) return { type: 'decimal', precision: 15 };
  return undefined;
}

/** Work tables this process is loading now (two nodes may append to one table at once). */
const LIVE = new Set<string>();

/**
 * Whether the process that made a work table is provably gone: it ran on this host and its pid is not alive, or
 * nobody recorded it (a pigeon from before the owners table). A table of a process on another host is kept.
 */
function ownerGone(db: Db, name: string): boolean {
  if (LIVE.has(name)) return false;
  const owner = db.prepare(sqliteSql.ownerOf).get(name) as { pid: number | bigint; host: string } | undefined;
  if (!owner) return true;
  const pid = Number(owner.pid);
  // This process's own table of a load it no longer runs (not in LIVE) is a leftover too.
  return owner.host === hostname() && (pid === process.pid || !processAlive(pid, owner.host));
}

/** Rows inserted per synchronous transaction: big enough to be fast, small enough to let the event loop breathe. */
const BATCH = 2000;

interface SqliteTarget extends TargetTable {
  /** Declared type by column name. */
  readonly declared: ReadonlyMap<string, string>;
}

/** Rows go into a staging table in batches of synchronous transactions; the commit is one IMMEDIATE transaction. */
export class SqliteLoad implements StagedLoad<SqliteTarget> {
  readonly #db: Db;
  readonly #req: ImportRequest;
  readonly #signal: AbortSignal | undefined;
  readonly #staging: string;
  /** Schema changes the commit makes first, in its transaction (schema_changes). */
  readonly #before: string[] = [];
  /** deletes: detect: the staging table of the source's key set. */
  #keys: string | undefined;

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
    return {
      columns: rows.map((r) => {
        const holds = holdsOf(r.type);
        return { name: r.name, ...(holds ? { holds } : {}) };
      }),
      declared: new Map(rows.map((r) => [r.name, r.type || 'TEXT'])),
    };
  }

  /**
   * Drops staging tables left by crashed loads into the same target table. Only one load writes a given target at a
   * time (one run per pipeline holds the lock), so any such table belongs to a dead process.
   */
  async dropLeftovers(): Promise<void> {
    const prefix = workTablePrefix(STAGING_PREFIX, this.#req.table);
    this.#db.exec(sqliteSql.createOwners);
    for (const { name } of this.#db.prepare(sqliteSql.stagingTables).all() as { name: string }[]) {
      if (!name.startsWith(prefix) || !ownerGone(this.#db, name)) continue;
      try {
        this.#db.exec(sqliteSql.dropTable(name));
        this.#db.prepare(sqliteSql.releaseOwner).run(name);
      } catch {
        // In use by another writer: leave it.
      }
    }
  }

  /** Records this process as the maker of a work table before it exists (see ownerGone). */
  #claim(name: string): void {
    this.#db.exec(sqliteSql.createOwners);
    this.#db.prepare(sqliteSql.claimOwner).run(name, process.pid, hostname());
    LIVE.add(name);
  }

  load(target: SqliteTarget | undefined, feed: ChunkFeed): Promise<number> {
    return this.#fill(this.#staging, this.#req.columns, target, feed);
  }

  /** deletes: detect: the source's key set, into a staging table of the key's columns. */
  loadKeys(target: SqliteTarget | undefined, feed: ChunkFeed): Promise<number> {
    const key = this.#req.key ?? [];
    this.#keys = workTableName(STAGING_PREFIX, this.#req.table, `${this.#req.loadId}#keys`);
    return this.#fill(this.#keys, key.map((k) => this.#req.columns.find((c) => c.name === k)!), target, feed, key);
  }

  /** Creates `staging` with these columns (and the load order) and inserts every row of the feed in batches. */
  async #fill(staging: string, columns: readonly ColumnSchema[], target: SqliteTarget | undefined, feed: ChunkFeed, index?: readonly string[]): Promise<number> {
    const db = this.#db;
    const req = this.#req;
    const names = columns.map((c) => c.name);
    this.#claim(staging);
    db.exec(sqliteSql.createStaging(staging, columns.map((c) => ({ name: c.name, declared: target?.declared.get(c.name) ?? sqliteType(c) }))));
    if (index) db.exec(sqliteSql.stagingIndex(staging, index));
    const insert = db.prepare(sqliteSql.insert(staging, names));
    // Values are checked against the target's own column types when it exists: SQLite would store 'abc' in an
    // INTEGER column without complaint, and the target's types are what its readers rely on.
    const decoders = columns.map((c) => decoderFor(target ? { ...c, ...portableFromSqlite(target.declared.get(c.name) ?? null) } : c));
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

  /** schema_changes add_columns: the columns are added inside the commit's transaction (SQLite has no column widths). */
  async evolve(target: SqliteTarget, changes: SchemaChanges): Promise<SqliteTarget> {
    const declared = new Map(target.declared);
    for (const c of changes.added) {
      this.#before.push(sqliteSql.addColumn(this.#req.table, c.name, sqliteType(c)));
      declared.set(c.name, sqliteType(c));
    }
    return { columns: [...target.columns, ...changes.added.map((c) => ({ name: c.name }))], declared };
  }

  /** schema_changes recreate: dropped and created anew inside the commit's transaction; not when it is referenced. */
  async replace(): Promise<void> {
    const references = referencesTo(this.#db, this.#req.table);
    if (references.length > 0) {
      throw new PipelineError('SCHEMA_CHANGED', `\`${this.#req.table}\` is referenced by a foreign key of \`${references[0]!.table}\`: recreating it would delete the rows it references`, {
        table: this.#req.table,
        hint: 'use `schema_changes: add_columns`',
      });
    }
    this.#before.push(sqliteSql.dropTable(this.#req.table));
  }

  async commit(target: SqliteTarget | undefined, rows: number): Promise<void | { deleted: number }> {
    return commit(this.#db, this.#req, this.#staging, this.#req.columns.map((c) => c.name), !target, rows, this.#before, this.#keys);
  }

  async abandon(): Promise<void> {
    for (const name of [this.#staging, this.#keys]) {
      if (name === undefined) continue;
      this.#db.exec(sqliteSql.dropTable(name));
      this.#db.prepare(sqliteSql.releaseOwner).run(name);
      LIVE.delete(name);
    }
  }
}

/** The swap, append or merge: one IMMEDIATE transaction together with the load record, so it happens once or not at all. */
function commit(
  db: Db,
  req: ImportRequest,
  staging: string,
  names: readonly string[],
  create: boolean,
  rows: number,
  before: readonly string[],
  keys: string | undefined,
): { deleted: number } | undefined {
  let deleted: number | undefined;
  const tx = db.transaction(() => {
    if (db.prepare(sqliteSql.loadCommitted).get(req.loadId, req.table)) return;
    for (const sql of before) db.exec(sql);
    if (create) db.exec(sqliteSql.createTable(req.table, req.columns, newTableKey(req)));
    switch (req.mode) {
      case 'overwrite': {
        const references = create ? [] : referencesTo(db, req.table);
        if (references.length > 0) {
          replaceByKey(db, req, staging, names, references);
        } else {
          db.exec(sqliteSql.deleteAll(req.table));
          db.exec(sqliteSql.copyAll(req.table, staging, names));
        }
        break;
      }
      case 'append':
        if (req.replaceWindow) {
          const w = buildRange(sqliteDialect, req.replaceWindow);
          db.prepare(sqliteSql.deleteWhere(req.table, w.sql)).run(...w.params);
        }
        db.exec(sqliteSql.copyAll(req.table, staging, names));
        break;
      case 'merge': {
        const key = req.key ?? [];
        db.exec(sqliteSql.stagingIndex(staging, key));
        const update = sqliteSql.mergeUpdate(req.table, staging, names, key);
        if (update !== undefined) db.exec(update);
        db.exec(sqliteSql.mergeInsert(req.table, staging, names, key));
        break;
      }
    }
    if (keys !== undefined) {
      deleted = db.prepare(sqliteSql.deleteMissing(req.table, keys, req.key ?? [])).run().changes;
      db.exec(sqliteSql.dropTable(keys));
      db.prepare(sqliteSql.releaseOwner).run(keys);
      LIVE.delete(keys);
    }
    db.prepare(sqliteSql.recordLoad).run(req.loadId, req.table, rows, new Date().toISOString());
    db.exec(sqliteSql.dropTable(staging));
    db.prepare(sqliteSql.releaseOwner).run(staging);
    LIVE.delete(staging);
  });
  tx.immediate();
  return deleted === undefined ? undefined : { deleted };
}

/** Foreign keys of the database's tables that reference `table` (SQLite enforces them when foreign_keys is on). */
function referencesTo(db: Db, table: string): Reference[] {
  const rows = db.prepare(sqliteSql.referencingKeys).all(table) as { child: string; id: number; from: string; to: string | null; on_delete: string }[];
  const primary = () => (db.prepare(sqliteSql.primaryKey).all(table) as { name: string }[]).map((r) => r.name);
  const out = new Map<string, { constraint: string; table: string; onDelete: string; columns: string[]; referenced: string[] }>();
  for (const r of rows) {
    const id = `${r.child}#${r.id}`;
    const ref = out.get(id) ?? { constraint: `${r.child} foreign key ${r.id}`, table: r.child, onDelete: r.on_delete, columns: [], referenced: [] };
    ref.columns.push(r.from);
    // A foreign key that names no column references the primary key.
    ref.referenced.push(r.to ?? primary()[ref.columns.length - 1]!);
    out.set(id, ref);
  }
  return [...out.values()];
}

/** An overwrite of a referenced table, by key: see keyed-overwrite.ts. */
function replaceByKey(db: Db, req: ImportRequest, staging: string, names: readonly string[], references: readonly Reference[]): void {
  const primary = (db.prepare(sqliteSql.primaryKey).all(req.table) as { name: string }[]).map((r) => r.name);
  const key = replacementKey(req, primary, references);
  const dup = db.prepare(sqliteSql.duplicateKey(staging, key)).raw(true).get() as unknown[] | undefined;
  if (dup) throw duplicateKeyError(req, key, dup);
  for (const r of references) {
    if (db.prepare(sqliteSql.orphanedReference(r.table, req.table, staging, r, key)).get()) throw orphanError(req, r);
  }
  db.exec(sqliteSql.replaceDelete(req.table, staging, key));
  const update = sqliteSql.replaceUpdate(req.table, staging, names, key);
  if (update !== undefined) db.exec(update);
  db.exec(sqliteSql.replaceInsert(req.table, staging, names, key));
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

/** Lets timers, Ctrl-C and other nodes run between synchronous batches. */
export function yieldToLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
