import type { ColumnSchema, PortableType } from '../../csv/types.js';
import type { SqlDialect } from '../sql/dialect.js';
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
  createTable: (table: string, columns: readonly ColumnSchema[]) =>
    `CREATE TABLE ${q(table)} (${columns.map((c) => `${q(c.name)} ${sqliteType(c)}`).join(', ')})`,
  createStaging: (staging: string, columns: readonly { name: string; declared: string }[]) =>
    `CREATE TABLE ${q(staging)} (${columns.map((c) => `${q(c.name)} ${c.declared}`).join(', ')}, ${q(SEQ_COLUMN)} INTEGER NOT NULL)`,
  dropTable: (table: string) => `DROP TABLE IF EXISTS ${q(table)}`,
  insert: (table: string, columns: readonly string[]) =>
    `INSERT INTO ${q(table)} (${[...columns, SEQ_COLUMN].map(q).join(', ')}) VALUES (${columns.map(() => '?').join(', ')}, ?)`,
  stagingIndex: (staging: string, key: readonly string[]) =>
    `CREATE INDEX ${q(`${staging}_key`)} ON ${q(staging)} (${key.map(q).join(', ')})`,
  deleteAll: (table: string) => `DELETE FROM ${q(table)}`,
  copyAll: (target: string, staging: string, columns: readonly string[]) =>
    `INSERT INTO ${q(target)} (${columns.map(q).join(', ')}) SELECT ${columns.map(q).join(', ')} FROM ${q(staging)} ORDER BY ${q(SEQ_COLUMN)}`,
  /** Merge without relying on a unique index: delete the keys being loaded, then insert the last row per key. */
  mergeDelete: (target: string, staging: string, key: readonly string[]) =>
    `DELETE FROM ${q(target)} WHERE EXISTS (SELECT 1 FROM ${q(staging)} s WHERE ${key
      .map((k) => `s.${q(k)} IS ${q(target)}.${q(k)}`)
      .join(' AND ')})`,
  mergeInsert: (target: string, staging: string, columns: readonly string[], key: readonly string[]) =>
    `INSERT INTO ${q(target)} (${columns.map(q).join(', ')}) SELECT ${columns.map(q).join(', ')} FROM ${q(staging)} ` +
    `WHERE ${q(SEQ_COLUMN)} IN (SELECT MAX(${q(SEQ_COLUMN)}) FROM ${q(staging)} GROUP BY ${key.map(q).join(', ')}) ` +
    `ORDER BY ${q(SEQ_COLUMN)}`,
  createLoads: `CREATE TABLE IF NOT EXISTS ${q(LOADS_TABLE)} (load_id TEXT NOT NULL, target TEXT NOT NULL, rows INTEGER NOT NULL, committed_at TEXT NOT NULL, PRIMARY KEY (load_id, target))`,
  loadCommitted: `SELECT 1 FROM ${q(LOADS_TABLE)} WHERE load_id = ? AND target = ?`,
  recordLoad: `INSERT INTO ${q(LOADS_TABLE)} (load_id, target, rows, committed_at) VALUES (?, ?, ?, ?)`,
  stagingTables: `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '\\_pigeon\\_stg\\_%' ESCAPE '\\'`,
};

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
