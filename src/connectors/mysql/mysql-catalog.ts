import type { PoolConnection } from 'mysql2';
import { OLD_PREFIX, STAGING_PREFIX, workTableLock, workTablePrefix } from '../sql/work-tables.js';
import type { Holds } from '../lossy.js';
import type { Reference } from '../sql/keyed-overwrite.js';
import type { TargetColumn, TargetTable } from '../sql/staged-import.js';
import { likePrefix, mysqlSql, type ColumnDef } from './mysql-sql.js';
import { query, scalar, textCast } from './mysql-session.js';

/** What the import reads about a target table from information_schema. */

export interface MysqlTargetColumn extends TargetColumn {
  readonly dataType: string;
  /** The column's full type, with its character set and collation: a staging column of the same shape. */
  readonly definition: string;
  readonly charset?: string;
  readonly nullable: boolean;
  /** Has a default, a comment or an extra attribute (auto_increment, ON UPDATE …), which MODIFY would drop. */
  readonly special: boolean;
}

export interface MysqlTarget extends TargetTable {
  readonly columns: readonly MysqlTargetColumn[];
}

/** `schema.table` → its parts, as quoteTable splits them. */
export function splitTable(table: string): { schema: string | undefined; name: string } {
  const dot = table.indexOf('.');
  return dot < 0 ? { schema: undefined, name: table } : { schema: table.slice(0, dot), name: table.slice(dot + 1) };
}

export async function loadCommitted(conn: PoolConnection, table: string, loadId: string): Promise<boolean> {
  const { rows } = await query<unknown[]>(conn, { sql: mysqlSql.loadCommitted, values: [loadId, table], rowsAsArray: true });
  return rows.length > 0;
}

/**
 * The target's columns, or undefined when the table does not exist. information_schema may compare table names
 * case-insensitively: an exact match wins.
 */
export async function describeTarget(conn: PoolConnection, schema: string | undefined, name: string): Promise<MysqlTarget | undefined> {
  const { rows } = await query<(string | null)[][]>(conn, {
    sql: mysqlSql.tableColumns,
    values: [schema ?? null, name],
    rowsAsArray: true,
    typeCast: textCast,
  });
  if (rows.length === 0) return undefined;
  const exact = rows.filter((r) => r[0] === name);
  const columns = (exact.length > 0 ? exact : rows).map(([, col, dataType, columnType, charset, collation, precision, scale, fsp, length, nullable, special]) => {
    const text = charset && collation ? ` CHARACTER SET ${charset} COLLATE ${collation}` : '';
    const holds = holdsOf(dataType!, columnType!, precision, scale, fsp, length);
    return {
      name: col!,
      dataType: dataType!,
      definition: `${columnType}${text}`,
      ...(text ? { charset: text } : {}),
      nullable: nullable === 'YES',
      special: special === '1',
      ...(holds ? { holds } : {}),
    };
  });
  return { columns };
}

/** What a column of these information_schema facts holds, in portable terms. */
function holdsOf(dataType: string, columnType: string, precision: string | null, scale: string | null, fsp: string | null, length: string | null): Holds | undefined {
  const unsigned = /unsigned/i.test(columnType);
  switch (dataType.toLowerCase()) {
    case 'tinyint':
    case 'year':
      return { type: 'int16' };
    case 'smallint':
      return { type: unsigned ? 'int32' : 'int16' };
    case 'mediumint':
      return { type: 'int32' };
    case 'int':
      return { type: unsigned ? 'int64' : 'int32' };
    case 'bigint':
      return { type: unsigned ? 'uint64' : 'int64' };
    case 'char':
    case 'varchar':
      return { type: 'string', length: Number(length) };
    case 'tinytext':
    case 'text':
    case 'mediumtext':
    case 'longtext':
      return { type: 'text' };
    case 'json':
      return { type: 'json' };
    case 'decimal':
      return { type: 'decimal', precision: Number(precision), scale: Number(scale) };
    case 'float':
      // FLOAT(p) with p > 24 is a DOUBLE; information_schema says `double` for those.
      return { type: 'float32' };
    case 'double':
      return { type: 'float64' };
    case 'date':
      return { type: 'date' };
    case 'time':
      return { type: 'time', precision: Number(fsp ?? 0) };
    case 'datetime':
    case 'timestamp':
      return { type: 'timestamp', precision: Number(fsp ?? 0) };
    default:
      return undefined;
  }
}

/** The PRIMARY KEY and UNIQUE indexes of a table, each as its lower-cased columns. */
async function uniqueIndexes(conn: PoolConnection, schema: string | undefined, name: string): Promise<string[][]> {
  const { rows } = await query<(string | null)[][]>(conn, { sql: mysqlSql.uniqueKeys, values: [schema ?? null, name], rowsAsArray: true, typeCast: textCast });
  const exact = rows.filter((r) => r[0] === name);
  const indexes = new Map<string, string[]>();
  for (const [, index, col] of exact.length > 0 ? exact : rows) {
    // A functional key part (MySQL 8) has no column name and so never equals the merge key.
    indexes.set(index!, [...(indexes.get(index!) ?? []), col === null || col === undefined ? '\0' : col.toLowerCase()]);
  }
  return [...indexes.values()];
}

function sameColumns(cols: readonly string[], key: readonly string[]): boolean {
  const wanted = new Set(key.map((k) => k.toLowerCase()));
  return cols.length === wanted.size && cols.every((c) => wanted.has(c));
}

/** Whether a PRIMARY KEY or UNIQUE index covers exactly these columns. */
export async function hasUniqueKeyOn(conn: PoolConnection, schema: string | undefined, name: string, key: readonly string[]): Promise<boolean> {
  return (await uniqueIndexes(conn, schema, name)).some((cols) => sameColumns(cols, key));
}

/**
 * Whether INSERT … ON DUPLICATE KEY UPDATE upserts on the merge key: only when the key's unique index is the only
 * unique index of the table. With another one (a primary key beside a unique merge key), a row could collide on
 * that one and update a row with another key.
 */
export async function upsertsOnKey(conn: PoolConnection, schema: string | undefined, name: string, key: readonly string[]): Promise<boolean> {
  const indexes = await uniqueIndexes(conn, schema, name);
  return indexes.length === 1 && sameColumns(indexes[0]!, key);
}

export async function primaryKey(conn: PoolConnection, schema: string | undefined, name: string): Promise<string[]> {
  const { rows } = await query<string[][]>(conn, { sql: mysqlSql.primaryKey, values: [schema ?? null, name], rowsAsArray: true, typeCast: textCast });
  return rows.map((r) => r[0]!);
}

export async function referencesTo(conn: PoolConnection, schema: string | undefined, name: string): Promise<Reference[]> {
  const { rows } = await query<string[][]>(conn, { sql: mysqlSql.referencingKeys, values: [schema ?? null, name], rowsAsArray: true, typeCast: textCast });
  const out = new Map<string, { constraint: string; table: string; onDelete: string; columns: string[]; referenced: string[] }>();
  for (const [constraint, childSchema, childTable, column, referenced, onDelete] of rows) {
    const id = `${childSchema}.${childTable}.${constraint}`;
    const ref = out.get(id) ?? { constraint: constraint!, table: `${childSchema}.${childTable}`, onDelete: onDelete!, columns: [], referenced: [] };
    ref.columns.push(column!);
    ref.referenced.push(referenced!);
    out.set(id, ref);
  }
  return [...out.values()];
}

/** A table without triggers and foreign keys, which RENAME can replace by a copy made with CREATE TABLE … LIKE. */
export async function swappable(conn: PoolConnection, schema: string | undefined, name: string): Promise<boolean> {
  const s = schema ?? null;
  const { rows } = await query<string[][]>(conn, { sql: mysqlSql.swapBlockers, values: [s, name, s, name, s, name], rowsAsArray: true, typeCast: textCast });
  return Number(rows[0]?.[0]) === 0;
}

/** Columns a plain index can cover (TEXT, BLOB, JSON and geometries need a prefix length or another index type). */
export function indexable(def: ColumnDef | undefined): boolean {
  return def !== undefined && !/text|blob|json|geometry|point|polygon|linestring/i.test(def.definition);
}

/** Staging (and swapped-out) tables of the same target left by crashed loads: those whose load's lock is free. */
export async function dropLeftovers(conn: PoolConnection, schema: string | undefined, table: string): Promise<void> {
  for (const prefix of [STAGING_PREFIX, OLD_PREFIX]) {
    const { rows } = await query<string[][]>(conn, {
      sql: mysqlSql.tablesLike,
      values: [schema ?? null, likePrefix(workTablePrefix(prefix, table))],
      rowsAsArray: true,
      typeCast: textCast,
    });
    for (const [leftover] of rows) {
      // A work table whose lock is held belongs to a load running now (another pipeline into the same table).
      if ((await scalar(conn, mysqlSql.isFreeLock, [workTableLock(leftover!)])) !== '1') continue;
      await query(conn, { sql: mysqlSql.dropTable(schema === undefined ? leftover! : `${schema}.${leftover}`) });
    }
  }
}
