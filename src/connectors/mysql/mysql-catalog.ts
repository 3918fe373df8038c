import type { PoolConnection } from 'mysql2';
import { OLD_PREFIX, STAGING_PREFIX, workTablePrefix } from '../sql/work-tables.js';
import type { TargetColumn, TargetTable } from '../sql/staged-import.js';
import { likePrefix, mysqlSql, type ColumnDef } from './mysql-sql.js';
import { query, textCast } from './mysql-session.js';

/** What the import reads about a target table from information_schema. */

export interface MysqlTargetColumn extends TargetColumn {
  readonly dataType: string;
  /** The column's full type, with its character set and collation: a staging column of the same shape. */
  readonly definition: string;
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
  const columns = (exact.length > 0 ? exact : rows).map(([, col, dataType, columnType, charset, collation]) => {
    const text = charset && collation ? ` CHARACTER SET ${charset} COLLATE ${collation}` : '';
    return { name: col!, dataType: dataType!, definition: `${columnType}${text}` };
  });
  return { columns };
}

/** Whether a PRIMARY KEY or UNIQUE index covers exactly the merge key, so ON DUPLICATE KEY UPDATE upserts on it. */
export async function hasUniqueKeyOn(conn: PoolConnection, schema: string | undefined, name: string, key: readonly string[]): Promise<boolean> {
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

/**
 * Staging (and swapped-out) tables of the same target left by crashed loads. Only one load writes a given target at
 * a time (one run per pipeline holds the lock), so they belong to dead processes.
 */
export async function dropLeftovers(conn: PoolConnection, schema: string | undefined, table: string): Promise<void> {
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
