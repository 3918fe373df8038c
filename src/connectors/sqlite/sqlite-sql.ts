import type { ColumnSchema, PortableType } from '../../csv/types.js';
import type { SqlDialect } from '../sql/dialect.js';
import type { Reference } from '../sql/keyed-overwrite.js';
import { LOADS_TABLE, SEQ_COLUMN } from '../sql/work-tables.js';

/** Every statement pigeon runs against SQLite, in one place so engines can be compared side by side. */
export const sqliteDialect: SqlDialect = {
  quoteIdent: (name) => `"${name.replaceAll('"', '""')}"`,
  placeholder: () => '?',
};

const q = sqliteDialect.quoteIdent;


export const sqliteSql = {
  tableInfo: (table: string) => `SELECT name, type FROM pragma_table_info(${literal(table)})`,
  tableExists: `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`,
  /** A table pigeon creates: the columns, NOT NULL where the source has it, and the primary key. */
  createTable: (table: string, columns: readonly ColumnSchema[], key?: readonly string[]) =>
    `CREATE TABLE ${q(table)} (${[
      ...columns.map((c) => `${q(c.name)} ${sqliteType(c)}${c.nullable ? '' : ' NOT NULL'}`),
      ...(key && key.length > 0 ? [`PRIMARY KEY (${key.map(q).join(', ')})`] : []),
    ].join(', ')})`,
  primaryKeyOf: (table: string) => `SELECT name FROM pragma_table_info(${literal(table)}) WHERE pk > 0 ORDER BY pk`,
  createStaging: (staging: string, columns: readonly { name: string; declared: string }[]) =>
    `CREATE TABLE ${q(staging)} (${columns.map((c) => `${q(c.name)} ${c.declared}`).join(', ')}, ${q(SEQ_COLUMN)} INTEGER NOT NULL)`,
  dropTable: (table: string) => `DROP TABLE IF EXISTS ${q(table)}`,
  anyRow: (table: string) => `SELECT 1 FROM ${q(table)} LIMIT 1`,
  addColumn: (table: string, column: string, type: string) => `ALTER TABLE ${q(table)} ADD COLUMN ${q(column)} ${type}`,
  insert: (table: string, columns: readonly string[]) =>
    `INSERT INTO ${q(table)} (${[...columns, SEQ_COLUMN].map(q).join(', ')}) VALUES (${columns.map(() => '?').join(', ')}, ?)`,
  stagingIndex: (staging: string, key: readonly string[]) =>
    `CREATE INDEX ${q(`${staging}_key`)} ON ${q(staging)} (${key.map(q).join(', ')})`,
  deleteAll: (table: string) => `DELETE FROM ${q(table)}`,
  deleteWhere: (table: string, where: string) => `DELETE FROM ${q(table)} WHERE ${where}`,
  copyAll: (target: string, staging: string, columns: readonly string[]) =>
    `INSERT INTO ${q(target)} (${columns.map(q).join(', ')}) SELECT ${columns.map(q).join(', ')} FROM ${q(staging)} ORDER BY ${q(SEQ_COLUMN)}`,
  /**
   * Merge: the target rows of every loaded key take the loaded values of the columns the load carries (the target's
   * other columns are kept; `IS` matches NULL keys too)…
   */
  mergeUpdate: (target: string, staging: string, columns: readonly string[], key: readonly string[]) =>
    updateFrom(target, `(SELECT * FROM ${q(staging)} WHERE ${q(SEQ_COLUMN)} IN (${lastSeqs(staging, key)}))`, columns, key),
  /** …and the last row of each key that the target lacks is inserted, in load order. */
  mergeInsert: (target: string, staging: string, columns: readonly string[], key: readonly string[]) =>
    `INSERT INTO ${q(target)} (${columns.map(q).join(', ')}) SELECT ${columns.map((c) => `s.${q(c)}`).join(', ')} FROM ${q(staging)} AS s ` +
    `WHERE s.${q(SEQ_COLUMN)} IN (${lastSeqs(staging, key)}) AND NOT EXISTS (SELECT 1 FROM ${q(target)} AS t WHERE ${keyMatch(key)}) ` +
    `ORDER BY s.${q(SEQ_COLUMN)}`,

  /** deletes: detect: the target's rows whose key is not in the source's key set (`IS`: NULL matches NULL). */
  deleteMissing: (target: string, keys: string, key: readonly string[]) =>
    `DELETE FROM ${q(target)} AS t WHERE NOT EXISTS (SELECT 1 FROM ${q(keys)} AS s WHERE ${keyMatch(key)})`,
  /** Tables whose foreign keys reference `?` (one row per column pair; `to` is NULL for the implicit primary key). */
  referencingKeys:
    `SELECT m.name AS child, f.id AS id, f."from" AS "from", f."to" AS "to", f.on_delete AS on_delete ` +
    `FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS f WHERE m.type = 'table' AND f."table" = ? COLLATE NOCASE ORDER BY m.name, f.id, f.seq`,
  primaryKey: `SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`,
  duplicateKey: (staging: string, key: readonly string[]) =>
    `SELECT ${key.map(q).join(', ')} FROM ${q(staging)} GROUP BY ${key.map(q).join(', ')} HAVING COUNT(*) > 1 LIMIT 1`,
  /** A row of `child` that references a target row the overwrite would remove or change. */
  orphanedReference: (child: string, target: string, staging: string, fk: Reference, key: readonly string[]) =>
    `SELECT 1 FROM ${q(child)} AS c JOIN ${q(target)} AS t ON ${fk.columns.map((col, i) => `c.${q(col)} = t.${q(fk.referenced[i]!)}`).join(' AND ')} ` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${q(staging)} AS s WHERE ${keyMatch(key)} AND ${fk.referenced.map((r) => `s.${q(r)} IS t.${q(r)}`).join(' AND ')}) LIMIT 1`,
  /** Overwrite by key, for a table that others reference: rows whose key is not loaded go, the others are updated… */
  replaceDelete: (target: string, staging: string, key: readonly string[]) =>
    `DELETE FROM ${q(target)} AS t WHERE NOT EXISTS (SELECT 1 FROM ${q(staging)} AS s WHERE ${keyMatch(key)})`,
  replaceUpdate: (target: string, staging: string, columns: readonly string[], key: readonly string[]) => updateFrom(target, q(staging), columns, key),
  /** …and the new keys are inserted. */
  replaceInsert: (target: string, staging: string, columns: readonly string[], key: readonly string[]) =>
    `INSERT INTO ${q(target)} (${columns.map(q).join(', ')}) SELECT ${columns.map((c) => `s.${q(c)}`).join(', ')} FROM ${q(staging)} AS s ` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${q(target)} AS t WHERE ${keyMatch(key)}) ORDER BY s.${q(SEQ_COLUMN)}`,
  createLoads: `CREATE TABLE IF NOT EXISTS ${q(LOADS_TABLE)} (load_id TEXT NOT NULL, target TEXT NOT NULL, rows INTEGER NOT NULL, committed_at TEXT NOT NULL, PRIMARY KEY (load_id, target))`,
  loadCommitted: `SELECT 1 FROM ${q(LOADS_TABLE)} WHERE load_id = ? AND target = ?`,
  recordLoad: `INSERT INTO ${q(LOADS_TABLE)} (load_id, target, rows, committed_at) VALUES (?, ?, ?, ?)`,
  stagingTables: `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '\\_pigeon\\_stg\\_%' ESCAPE '\\'`,
  /**
   * Who made each work table (SQLite has no session locks): the process, by pid and host. A leftover is dropped
   * only when its process is provably gone; a table another live process is loading is left alone.
   */
  createOwners: `CREATE TABLE IF NOT EXISTS ${q('_pigeon_work_owners')} (name TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL)`,
  claimOwner: `INSERT OR REPLACE INTO ${q('_pigeon_work_owners')} (name, pid, host) VALUES (?, ?, ?)`,
  ownerOf: `SELECT pid, host FROM ${q('_pigeon_work_owners')} WHERE name = ?`,
  releaseOwner: `DELETE FROM ${q('_pigeon_work_owners')} WHERE name = ?`,
};

/** The load sequence numbers of the last row of each key. */
function lastSeqs(staging: string, key: readonly string[]): string {
  return `SELECT MAX(${q(SEQ_COLUMN)}) FROM ${q(staging)} GROUP BY ${key.map(q).join(', ')}`;
}

/** `t.k IS s.k` for every key column (IS: NULL matches NULL, as "the same key" means in a load). */
function keyMatch(key: readonly string[]): string {
  return key.map((k) => `t.${q(k)} IS s.${q(k)}`).join(' AND ');
}

/** UPDATE … FROM (SQLite 3.33+) of the carried non-key columns; undefined when only key columns are carried. */
function updateFrom(target: string, source: string, columns: readonly string[], key: readonly string[]): string | undefined {
  const set = columns.filter((c) => !key.includes(c));
  if (set.length === 0) return undefined;
  return `UPDATE ${q(target)} AS t SET ${set.map((c) => `${q(c)} = s.${q(c)}`).join(', ')} FROM ${source} AS s WHERE ${keyMatch(key)}`;
}

function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** SQLite declared type → portable type, following SQLite's own affinity rules (section 3.1 of its datatype doc). */
export function portableFromSqlite(declared: string | null): { type: PortableType; precision?: number; scale?: number; length?: number } {
  const t = (declared ?? '').toUpperCase();
  const args = /\((\d+)(?:\s*,\s*(\d+))?\)/.exec(t);
  const n1 = args?.[1] === undefined ? undefined : Number(args[1]);
  const n2 = args?.[2] === undefined ? undefined : Number(args[2]);
  if (t === '') return { type: 'text' };
  if (t.startsWith('BOOL')) return { type: 'boolean' };
  if (t.includes('BIGINT') || t.includes('INT8')) return { type: 'int64' };
  if (t.includes('SMALLINT') || t.includes('INT2') || t.includes('TINYINT')) return { type: 'int16' };
  if (t.includes('INT')) return { type: t === 'INTEGER' ? 'int64' : 'int32' };
  if (t.includes('CHAR') || t.includes('CLOB')) return n1 === undefined ? { type: 'text' } : { type: 'string', length: n1 };
  if (t.includes('TEXT')) return { type: 'text' };
  if (t.includes('BLOB')) return { type: 'binary' };
  if (t.includes('REAL') || t.includes('DOUB')) return { type: 'float64' };
  if (t.includes('FLOA')) return { type: 'float64' };
  if (t.includes('DEC') || t.includes('NUMERIC')) {
    return { type: 'decimal', ...(n1 === undefined ? {} : { precision: n1 }), ...(n2 === undefined ? {} : { scale: n2 }) };
  }
  if (t.includes('TIMESTAMPTZ')) return { type: 'timestamptz' };
  if (t.includes('DATETIME') || t.includes('TIMESTAMP')) return { type: 'timestamp' };
  if (t.includes('DATE')) return { type: 'date' };
  if (t.includes('TIME')) return { type: 'time' };
  if (t.includes('JSON')) return { type: 'json' };
  if (t.includes('UUID')) return { type: 'uuid' };
  return { type: 'text' };
}

/** Portable type → the declared type of a column pigeon creates; chosen so SQLite's affinity keeps values exact. */
export function sqliteType(c: ColumnSchema): string {
  switch (c.type) {
    case 'boolean':
      return 'BOOLEAN';
    case 'int16':
    case 'int32':
    case 'int64':
      return 'INTEGER';
    // Beyond int64, and decimals wider than a double's 15 digits, keep TEXT affinity so no digit is rounded.
    case 'uint64':
      return 'TEXT';
    case 'decimal':
      return c.precision !== undefined && c.precision <= 15 ? `DECIMAL(${c.precision},${c.scale ?? 0})` : 'TEXT';
    case 'float32':
    case 'float64':
      return 'REAL';
    case 'binary':
      return 'BLOB';
    case 'date':
      return 'DATE';
    case 'time':
      return 'TIME';
    case 'timestamp':
      return 'DATETIME';
    case 'timestamptz':
      return 'TIMESTAMPTZ';
    case 'json':
      return 'JSON';
    case 'uuid':
      return 'UUID';
    case 'string':
      return c.length !== undefined ? `VARCHAR(${c.length})` : 'TEXT';
    case 'text':
      return 'TEXT';
  }
}
