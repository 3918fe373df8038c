import type { PoolConnection, ResultSetHeader } from 'mysql2';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { ChunkFeed, ImportRequest, ImportResult } from '../contract.js';
import { stagedImport, targetColumn, type StagedLoad } from '../sql/staged-import.js';
import { newTableKey } from '../sql/new-table.js';
import { duplicateKeyError, orphanError, replacementKey, type Reference } from '../sql/keyed-overwrite.js';
import { LOADS_TABLE, OLD_PREFIX, STAGING_PREFIX, workTableLock, workTableName } from '../sql/work-tables.js';
import {
  describeTarget,
  dropLeftovers,
  indexable,
  loadCommitted,
  primaryKey,
  referencesTo,
  splitTable,
  swappable,
  upsertsOnKey,
  type MysqlTarget,
} from './mysql-catalog.js';
import { mysqlError } from './mysql-errors.js';
import { loadChunks, type LoadTarget } from './mysql-load-chunks.js';
import { query, scalar, textCast, withImportSqlMode, type MysqlSessions } from './mysql-session.js';
import { buildRange } from '../sql/select-builder.js';
import { mysqlDialect, mysqlSql, type ColumnDef } from './mysql-sql.js';
import { importColumn, kindOfPortable, mysqlType, mysqlTypes, targetKind, type ImportColumn } from './mysql-columns.js';
import { describeHolds } from '../lossy.js';
import { widenedColumn, type SchemaChanges } from '../sql/schema-changes.js';

/** Tables a failed import must drop, as far as it got. */
interface Created {
  staging?: string;
  /** deletes: detect: the source's key set. */
  keys?: string;
  old?: string;
  target?: string;
}

/**
 * One import into MySQL: chunks re-encoded into LOAD DATA LOCAL INFILE (or batched INSERTs) into a staging table,
 * then one commit. `overwrite` swaps the staging table in with one atomic RENAME (a copy of the target made with
 * CREATE TABLE … LIKE, so it keeps indexes and defaults) unless the table has triggers or foreign keys; everything
 * else runs in one transaction with the load record.
 */
export async function mysqlImport(sessions: MysqlSessions, req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
  const created: Created = {};
  try {
    return await sessions.run(signal, async (conn) => {
      if (!(await scalar(conn, mysqlSql.currentDatabase))) {
        throw new PipelineError('IMPORT_FAILED', `connection \`${sessions.config.name}\` names no database: an import needs one for \`${LOADS_TABLE}\``, {
          table: req.table,
        });
      }
      await query(conn, { sql: mysqlSql.createLoads });
      try {
        return await withImportSqlMode(conn, signal, () => stagedImport(req, feed, signal, new MysqlLoad(sessions, conn, req, signal, created)));
      } finally {
        // The locks on this load's work tables go with them (a lost session releases them by itself).
        if (!signal?.aborted) await query(conn, { sql: mysqlSql.releaseLocks }).catch(() => {});
      }
    });
  } catch (e) {
    // On a fresh connection: the import's own may be gone (killed on abort, lost with the server).
    await sessions
      .run(undefined, async (conn) => {
        for (const t of [created.staging, created.keys, created.old, created.target]) {
          if (t !== undefined) await query(conn, { sql: mysqlSql.dropTable(t) }).catch(() => {});
        }
      })
      .catch(() => {
        // The real error matters more; the next import of this table drops leftovers.
      });
    throw mysqlError(e, 'IMPORT_FAILED', { connection: sessions.config.name, table: req.table, password: sessions.config.password });
  }
}

export async function mysqlIsCommitted(sessions: MysqlSessions, table: string, loadId: string, signal?: AbortSignal): Promise<boolean> {
  try {
    return await sessions.run(signal, async (conn) => {
      const exists = await query<unknown[]>(conn, { sql: mysqlSql.loadsExists, rowsAsArray: true });
      return exists.rows.length > 0 && (await loadCommitted(conn, table, loadId));
    });
  } catch (e) {
    throw mysqlError(e, 'IMPORT_FAILED', { connection: sessions.config.name, table, password: sessions.config.password });
  }
}

export async function mysqlProbeTarget(sessions: MysqlSessions, table: string, signal?: AbortSignal): Promise<'missing' | 'empty' | 'filled'> {
  try {
    return await sessions.run(signal, async (conn) => {
      const { schema, name } = splitTable(table);
      if (!(await describeTarget(conn, schema, name))) return 'missing';
      return (await query<unknown[]>(conn, { sql: mysqlSql.anyRow(table), rowsAsArray: true })).rows.length > 0 ? 'filled' : 'empty';
    });
  } catch (e) {
    throw mysqlError(e, 'IMPORT_FAILED', { connection: sessions.config.name, table, password: sessions.config.password });
  }
}

class MysqlLoad implements StagedLoad<MysqlTarget> {
  readonly caseInsensitiveNames = true;
  readonly #sessions: MysqlSessions;
  readonly #conn: PoolConnection;
  readonly #req: ImportRequest;
  readonly #signal: AbortSignal | undefined;
  readonly #created: Created;
  readonly #schema: string | undefined;
  readonly #name: string;
  #defs: ColumnDef[] = [];
  #plan: ImportColumn[] = [];
  #staging = '';
  /** Overwrite by RENAME (else, in one transaction, by DELETE and INSERT). */
  #swap = false;
  /** schema_changes recreate: the existing table is replaced by the one the load builds. */
  #replacing = false;

  constructor(sessions: MysqlSessions, conn: PoolConnection, req: ImportRequest, signal: AbortSignal | undefined, created: Created) {
    this.#sessions = sessions;
    this.#conn = conn;
    this.#req = req;
    this.#signal = signal;
    this.#created = created;
    ({ schema: this.#schema, name: this.#name } = splitTable(req.table));
  }

  committed(): Promise<boolean> {
    return loadCommitted(this.#conn, this.#req.table, this.#req.loadId);
  }

  target(): Promise<MysqlTarget | undefined> {
    return describeTarget(this.#conn, this.#schema, this.#name);
  }

  dropLeftovers(): Promise<void> {
    return dropLeftovers(this.#conn, this.#schema, this.#req.table);
  }

  /**
   * Takes the named lock of a work table before it exists (see workTableLock). A table of that name is then this
   * load's own, left by an earlier attempt of it: the lock waited for that attempt's session to end, and it goes.
   */
  async #claim(table: string): Promise<void> {
    const name = table.slice(table.lastIndexOf('.') + 1);
    if ((await scalar(this.#conn, mysqlSql.claim, [workTableLock(name)])) !== '1') {
      throw new PipelineError('IMPORT_FAILED', `work table ${name} is still held by an earlier attempt of this load after 60 s`, { table: this.#req.table, transient: true });
    }
    await query(this.#conn, { sql: mysqlSql.dropTable(table) });
  }

  /**
   * schema_changes add_columns: one ALTER TABLE before the load (MySQL commits DDL at once; an added column is
   * nullable, so a load that fails after it leaves the table's rows as they were). A column with a default, a
   * comment or an extra attribute is not widened: MODIFY would drop them.
   */
  async evolve(target: MysqlTarget, changes: SchemaChanges): Promise<MysqlTarget> {
    const modify = changes.widened.map(({ column, from }) => {
      const t = targetColumn(target.columns, column.name, true)!;
      if (t.special) {
        throw new PipelineError('SCHEMA_CHANGED', `column \`${t.name}\` of \`${this.#req.table}\` would have to be widened to hold the export's ${describeHolds(column)}, but it has a default, a comment or another attribute that MODIFY COLUMN would drop`, {
          table: this.#req.table,
          column: t.name,
          hint: 'widen the column by hand',
        });
      }
      return { name: t.name, definition: `${mysqlType(widenedColumn(column, from))}${t.charset ?? ''}${t.nullable ? ' NULL' : ' NOT NULL'}` };
    });
    const add = changes.added.map((c) => ({ name: c.name, definition: mysqlType(c) }));
    await query(this.#conn, { sql: mysqlSql.alterTable(this.#req.table, add, modify) });
    return (await this.target())!;
  }

  /** schema_changes recreate: a new table swapped in by RENAME; not for a table with triggers or foreign keys. */
  async replace(): Promise<void> {
    if (!(await swappable(this.#conn, this.#schema, this.#name))) {
      throw new PipelineError('SCHEMA_CHANGED', `\`${this.#req.table}\` has triggers or foreign keys, which recreating it would drop`, {
        table: this.#req.table,
        hint: 'change the table by hand, or use `schema_changes: add_columns`',
      });
    }
    this.#replacing = true;
  }

  async load(target: MysqlTarget | undefined, feed: ChunkFeed): Promise<number> {
    const req = this.#req;
    const conn = this.#conn;
    const created = mysqlTypes(req.columns);
    const plan = (this.#plan = req.columns.map((c, i) => {
      const existing = target && targetColumn(target.columns, c.name, true);
      this.#defs.push(
        existing
          ? { name: c.name, definition: existing.definition }
          : { name: c.name, definition: created[i]!, ...(c.nullable ? {} : { notNull: true }), ...(c.comment ? { comment: c.comment } : {}) },
      );
      const single = existing ? existing.dataType.toLowerCase() === 'float' : c.type === 'float32';
      return importColumn(c, existing ? targetKind(existing.dataType) : kindOfPortable(c.type), this.#sessions.limits, single);
    }));
    const inSchema = (t: string) => (this.#schema === undefined ? t : `${this.#schema}.${t}`);
    this.#staging = inSchema(workTableName(STAGING_PREFIX, req.table, req.loadId));
    this.#swap = req.mode === 'overwrite' && (!target || (await swappable(conn, this.#schema, this.#name)));
    if (this.#replacing) this.#swap = true;
    const withSeq = !this.#swap;
    this.#created.staging = this.#staging;
    await this.#claim(this.#staging);
    if (withSeq) await query(conn, { sql: mysqlSql.createStaging(this.#staging, this.#defs) });
    else if (target) await query(conn, { sql: mysqlSql.createStagingLike(this.#staging, req.table) });
    else await query(conn, { sql: mysqlSql.createTable(this.#staging, this.#defs, newTableKey(req)) });

    const into: LoadTarget = {
      table: req.table,
      staging: this.#staging,
      names: req.columns.map((c) => c.name),
      plan,
      seq: withSeq,
      allowRounding: req.lossy === 'allow',
    };
    // Rows keep their load order only on one session: spare ones are for a staging table without that column.
    return loadChunks(this.#sessions, conn, into, feed, this.#signal, withSeq ? undefined : req.spareSession);
  }

  /** deletes: detect: the source's key set, loaded like the rows into a staging table of the key's columns. */
  async loadKeys(_target: MysqlTarget | undefined, feed: ChunkFeed): Promise<number> {
    const req = this.#req;
    const key = req.key ?? [];
    const defs = key.map((k) => this.#defs.find((d) => d.name.toLowerCase() === k.toLowerCase())!);
    const plan = key.map((k) => this.#plan.find((p) => p.name.toLowerCase() === k.toLowerCase())!);
    const name = workTableName(STAGING_PREFIX, req.table, `${req.loadId}#keys`);
    await this.#claim(name);
    const keys = (this.#created.keys = `${this.#schema === undefined ? '' : `${this.#schema}.`}${name}`);
    await query(this.#conn, { sql: mysqlSql.createStaging(keys, defs) });
    const n = await loadChunks(this.#sessions, this.#conn, { table: req.table, staging: keys, names: key, plan, seq: true }, feed, this.#signal, undefined);
    if (defs.every(indexable)) await query(this.#conn, { sql: mysqlSql.stagingKeyIndex(keys, key) });
    return n;
  }

  async commit(target: MysqlTarget | undefined, rows: number): Promise<void | { deleted: number }> {
    const req = this.#req;
    const conn = this.#conn;
    const staging = this.#staging;
    const created = this.#created;
    const names = req.columns.map((c) => c.name);
    const key = req.key ?? [];
    const record = { sql: mysqlSql.recordLoad, values: [req.loadId, req.table, rows] };
    if (this.#swap) {
      // RENAME is DDL and commits by itself, so the load record follows it rather than sharing a transaction. A
      // crash in between only means a retry finds no record and overwrites again with the same rows: overwrite is
      // idempotent.
      if (target || this.#replacing) {
        const old = workTableName(OLD_PREFIX, req.table, req.loadId);
        await this.#claim(old);
        created.old = `${this.#schema === undefined ? '' : `${this.#schema}.`}${old}`;
        await query(conn, { sql: mysqlSql.swap(req.table, created.old, staging) });
        created.staging = undefined;
        await query(conn, { sql: mysqlSql.dropTable(created.old) });
        created.old = undefined;
      } else {
        await query(conn, { sql: mysqlSql.rename(staging, req.table) });
        created.staging = undefined;
      }
      await query(conn, record);
      return;
    }

    let upsert = false;
    let byKey: Keyed | undefined;
    if (target) {
      if (req.mode === 'merge') upsert = await upsertsOnKey(conn, this.#schema, this.#name, key);
      if (req.mode === 'overwrite') byKey = await this.#keyedOverwrite();
    } else {
      // Created just before the transaction (CREATE TABLE commits implicitly) and dropped again if it fails.
      await query(conn, { sql: mysqlSql.createTable(req.table, this.#defs, newTableKey(req)) });
      created.target = req.table;
    }
    const indexKey = byKey?.key ?? (req.mode === 'merge' ? key : undefined);
    if (indexKey && indexKey.every((k) => indexable(this.#defs.find((d) => d.name.toLowerCase() === k.toLowerCase())))) {
      await query(conn, { sql: mysqlSql.stagingKeyIndex(staging, indexKey) });
    }
    let deleted: number | undefined;
    await query(conn, { sql: mysqlSql.begin });
    try {
      if (byKey) {
        await this.#replaceByKey(byKey, names);
      } else if (req.mode === 'overwrite') {
        await query(conn, { sql: mysqlSql.deleteAll(req.table) });
        await query(conn, { sql: mysqlSql.copyAll(req.table, staging, names) });
      } else if (req.mode === 'append') {
        if (req.replaceWindow) {
          const w = buildRange(mysqlDialect, req.replaceWindow);
          await query(conn, { sql: mysqlSql.deleteWhere(req.table, w.sql), values: [...w.params] });
        }
        await query(conn, { sql: mysqlSql.copyAll(req.table, staging, names) });
      } else if (upsert) {
        await query(conn, { sql: mysqlSql.mergeUpsert(req.table, staging, names, key) });
      } else {
        const update = mysqlSql.mergeUpdate(req.table, staging, names, key);
        if (update) await query(conn, { sql: update });
        await query(conn, { sql: mysqlSql.mergeInsert(req.table, staging, names, key) });
      }
      if (created.keys !== undefined) {
        deleted = (await query<ResultSetHeader>(conn, { sql: mysqlSql.deleteMissing(req.table, created.keys, key) })).rows.affectedRows;
      }
      await query(conn, record);
      await query(conn, { sql: mysqlSql.commit });
    } catch (e) {
      await query(conn, { sql: mysqlSql.rollback }).catch(() => {});
      throw e;
    }
    created.target = undefined;
    await query(conn, { sql: mysqlSql.dropTable(staging) });
    created.staging = undefined;
    if (created.keys !== undefined) {
      await query(conn, { sql: mysqlSql.dropTable(created.keys) });
      created.keys = undefined;
    }
    return deleted === undefined ? undefined : { deleted };
  }

  /** For an overwrite of a table that other tables reference: the key its rows are replaced by (keyed-overwrite.ts). */
  async #keyedOverwrite(): Promise<Keyed | undefined> {
    const references = await referencesTo(this.#conn, this.#schema, this.#name);
    if (references.length === 0) return undefined;
    const key = replacementKey(this.#req, await primaryKey(this.#conn, this.#schema, this.#name), references, true);
    return { key, references };
  }

  async #replaceByKey(k: Keyed, names: readonly string[]): Promise<void> {
    const req = this.#req;
    const conn = this.#conn;
    const staging = this.#staging;
    const { rows: dup } = await query<unknown[][]>(conn, { sql: mysqlSql.duplicateKey(staging, k.key), rowsAsArray: true, typeCast: textCast });
    if (dup.length > 0) throw duplicateKeyError(req, k.key, dup[0] as unknown[]);
    for (const r of k.references) {
      const { rows } = await query<unknown[]>(conn, { sql: mysqlSql.orphanedReference(r.table, req.table, staging, r, k.key), rowsAsArray: true });
      if (rows.length > 0) throw orphanError(req, r);
    }
    await query(conn, { sql: mysqlSql.replaceDelete(req.table, staging, k.key) });
    const update = mysqlSql.replaceUpdate(req.table, staging, names, k.key);
    if (update) await query(conn, { sql: update });
    await query(conn, { sql: mysqlSql.replaceInsert(req.table, staging, names, k.key) });
  }
}

/** How an overwrite replaces a referenced table's rows: by this key, keeping these references whole. */
interface Keyed {
  readonly key: readonly string[];
  readonly references: readonly Reference[];
}
