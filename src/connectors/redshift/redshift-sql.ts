/**
 * Every statement pigeon runs against Redshift, in one place: compare it with postgres-sql.ts to see where the two
 * engines differ. What Redshift shares with PostgreSQL is written so that PostgreSQL accepts it too (and the tests run
 * it there); what only Redshift has (COPY … FROM 's3://…', UNLOAD, VARBYTE, SUPER) is marked and tested as text.
 *
 * Differences from PostgreSQL that shape this file:
 * - no COPY FROM STDIN: rows arrive through S3 (COPY … MANIFEST), and no COPY TO STDOUT: rows leave through UNLOAD or
 *   a cursor;
 * - no E'' strings, no IS NOT DISTINCT FROM, no DISTINCT ON, no ON CONFLICT, no SAVEPOINT, no UNLOGGED tables;
 *   TRUNCATE commits the transaction, so an overwrite deletes;
 * - MERGE's match condition must be equalities, so keys that may be NULL merge by UPDATE … FROM and INSERT;
 * - COPY loads files in parallel in no order: the load order that "the last row of a key wins" needs travels in the
 *   files as an extra `_pigeon_seq` column;
 * - VARCHAR lengths count bytes, and 65535 is the most.
 */
import type { ChunkSpec, ExportRequest } from '../contract.js';
import type { SqlDialect } from '../sql/dialect.js';
import { buildSelect } from '../sql/select-builder.js';
import { LOADS_TABLE, SEQ_COLUMN } from '../sql/work-tables.js';
import type { ColumnSource, StagingColumn } from '../postgres/postgres-sql.js';
import type { RedshiftAccess } from './redshift-config.js';

export const rsDialect: SqlDialect = {
  quoteIdent: (name) => `"${name.replaceAll('"', '""')}"`,
  placeholder: (i) => `$${i + 1}`,
};

const q = rsDialect.quoteIdent;

/** `"schema"."name"`. */
export function qualified(schema: string, name: string): string {
  return `${q(schema)}.${q(name)}`;
}

/**
 * A Redshift string literal: `'` doubled, and `\` doubled because Redshift reads backslash escapes in literals.
 * Only Redshift-only statements (COPY, UNLOAD) use it: everything else binds parameters.
 */
export function literal(value: string): string {
  if (value.includes('\0')) throw new Error('a NUL character cannot be written in a Redshift literal');
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/** Settings of every session: UTC, ISO dates, floats that read back to the same double, the connection's schema. */
export function sessionSetup(schema: string | undefined): string {
  return [`SET TIME ZONE 'UTC'`, `SET datestyle TO 'ISO, YMD'`, `SET extra_float_digits TO 2`, ...(schema === undefined ? [] : [`SET search_path TO ${q(schema)}`])].join('; ');
}

/** Redshift says "PostgreSQL 8.0.2 on …, Redshift 1.0.…"; the version is only logged. */
export const serverVersion = `SELECT version() AS v`;

/** A table by schema and name (Redshift's catalog has no array_position to follow the search path with). */
export const findTable = `SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`;

export const currentSchema = `SELECT current_schema() AS schema`;

/** The columns of a table: type oid and typmod (mapped in redshift-types.ts), the declared type, NOT NULL. */
export const tableColumns = `
SELECT a.attname AS name, a.atttypid::int AS oid, a.atttypmod AS typmod, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`;

/**
 * What keeps an overwrite from swapping a new table in: privileges granted on the table, or views that depend on it
 * (late-binding views do not). Empty: swap.
 */
export const swapBlockers = `
SELECT CASE WHEN c.relacl IS NOT NULL THEN 'privileges' ELSE '' END ||
       CASE WHEN EXISTS (SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid WHERE d.refobjid = c.oid AND r.ev_class <> c.oid) THEN ' views' ELSE '' END AS blockers
FROM pg_class c WHERE c.oid = $1`;

export const workTables = `
SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'r' AND substring(c.relname, 1, $3) = $2`;

export type { ColumnSource, StagingColumn } from '../postgres/postgres-sql.js';

/** The COPY options every load uses: the files are chunk files in the exchange format (see README). */
export interface CopyFiles {
  /** s3://… of the manifest listing every file. */
  readonly manifest: string;
  readonly gzip: boolean;
  /** The bucket's region, when it is not the cluster's. */
  readonly region?: string;
}

export const rsSql = {
  createLoads: (schema: string) =>
    `CREATE TABLE IF NOT EXISTS ${qualified(schema, LOADS_TABLE)} (load_id VARCHAR(256) NOT NULL, target VARCHAR(1024) NOT NULL, rows BIGINT NOT NULL, committed_at TIMESTAMP NOT NULL)`,
  loadCommitted: (schema: string) => `SELECT 1 FROM ${qualified(schema, LOADS_TABLE)} WHERE load_id = $1 AND target = $2`,
  recordLoad: (schema: string) => `INSERT INTO ${qualified(schema, LOADS_TABLE)} (load_id, target, rows, committed_at) VALUES ($1, $2, $3, $4)`,

  createTable: (table: string, columns: readonly StagingColumn[]) => `CREATE TABLE ${table} (${columns.map((c) => `${q(c.name)} ${c.type}`).join(', ')})`,
  /** Staging that becomes the target in an overwrite swap: its columns, defaults, distribution and sort keys. */
  createLike: (table: string, like: string) => `CREATE TABLE ${table} (LIKE ${like} INCLUDING DEFAULTS)`,
  /** Staging for the other loads: the export's columns (text where a conversion follows), and the load order. */
  createStaging: (table: string, columns: readonly StagingColumn[], seq: boolean) =>
    `CREATE TABLE ${table} (${[...columns.map((c) => `${q(c.name)} ${c.type}`), ...(seq ? [`${q(SEQ_COLUMN)} BIGINT NOT NULL`] : [])].join(', ')})`,
  dropTable: (table: string) => `DROP TABLE IF EXISTS ${table}`,
  count: (table: string) => `SELECT count(*) AS n FROM ${table}`,
  anyRow: (table: string) => `SELECT 1 FROM ${table} LIMIT 1`,

  /**
   * Redshift only: loads the files the manifest lists into staging. The files are the exchange format: CSV with a
   * header, NULL as a bare `\N` (a quoted "\N" is the string), ISO dates and times, `true`/`false`.
   */
  copy: (staging: string, columns: readonly string[], files: CopyFiles, access: RedshiftAccess) =>
    [
      `COPY ${staging} (${columns.map(q).join(', ')})`,
      `FROM ${literal(files.manifest)}`,
      credentials(access),
      ...(files.region !== undefined ? [`REGION ${literal(files.region)}`] : []),
      `MANIFEST FORMAT AS CSV`,
      ...(files.gzip ? ['GZIP'] : []),
      `IGNOREHEADER 1 NULL AS '\\\\N' DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF`,
    ].join(' '),
  /** Redshift only: what the last COPY of this session rejected, first error first. */
  loadErrors: `SELECT TRIM(filename) AS file, line_number AS line, TRIM(colname) AS col, TRIM(err_reason) AS reason FROM stl_load_errors WHERE query = pg_last_copy_id() ORDER BY starttime LIMIT 1`,

  /**
   * Redshift only: writes a query's rows as gzip CSV files under `to` (a prefix), with a header, NULL as `\N`, and a
   * manifest `<to>manifest` listing them. The query is a literal: its own literals are escaped once more.
   */
  unload: (select: string, to: string, access: RedshiftAccess, region: string | undefined) =>
    [
      `UNLOAD (${literal(select)})`,
      `TO ${literal(to)}`,
      credentials(access),
      ...(region !== undefined ? [`REGION ${literal(region)}`] : []),
      `FORMAT AS CSV HEADER NULL AS '\\\\N' GZIP MANIFEST ALLOWOVERWRITE PARALLEL ON MAXFILESIZE 256 MB`,
    ].join(' '),

  declareCursor: (name: string, select: string) => `DECLARE ${q(name)} CURSOR FOR ${select}`,
  fetch: (name: string, rows: number) => `FETCH FORWARD ${rows} FROM ${q(name)}`,
  closeCursor: (name: string) => `CLOSE ${q(name)}`,

  /** INSERT INTO target … SELECT from staging (converted), every row. */
  insertSelect: (target: string, staging: string, columns: readonly ColumnSource[]) =>
    `INSERT INTO ${target} (${columns.map((c) => q(c.name)).join(', ')}) SELECT ${selectList(columns, 's')} FROM ${staging} AS s`,
  deleteAll: (table: string) => `DELETE FROM ${table}`,
  /** The rows of a window append's interval, replaced in the commit (`where` from buildRange). */
  deleteWhere: (table: string, where: string) => `DELETE FROM ${table} WHERE ${where}`,
  renameTable: (table: string, to: string) => `ALTER TABLE ${table} RENAME TO ${q(to)}`,

  /** The last row of each key in load order, as a table of its own (MERGE's source must be a table). */
  lastPerKey: (into: string, staging: string, columns: readonly ColumnSource[], key: readonly string[]) =>
    `CREATE TABLE ${into} AS SELECT ${columns.map((c) => q(c.name)).join(', ')} FROM (` +
    `SELECT d.*, ROW_NUMBER() OVER (PARTITION BY ${key.map((k) => `d.${q(k)}`).join(', ')} ORDER BY d.${q(SEQ_COLUMN)} DESC) AS pigeon_rn FROM ${staging} AS d` +
    `) AS x WHERE x.pigeon_rn = 1`,
  /** Merge when every key column is NOT NULL: equalities, as MERGE requires. The target's other columns stay. */
  merge: (target: string, name: string, source: string, columns: readonly ColumnSource[], key: readonly string[]) => {
    const rest = columns.filter((c) => !key.includes(c.name));
    const set = (rest.length > 0 ? rest : columns.filter((c) => key.includes(c.name))).map((c) => `${q(c.name)} = ${value(c, 's')}`);
    return (
      `MERGE INTO ${target} USING ${source} AS s ON ${key.map((k) => `${q(name)}.${q(k)} = s.${q(k)}`).join(' AND ')} ` +
      `WHEN MATCHED THEN UPDATE SET ${set.join(', ')} ` +
      `WHEN NOT MATCHED THEN INSERT (${columns.map((c) => q(c.name)).join(', ')}) VALUES (${columns.map((c) => value(c, 's')).join(', ')})`
    );
  },
  /** Merge when a key may be NULL and the load carries every column: the loaded keys' rows go, … */
  deleteUsing: (target: string, name: string, source: string, key: readonly string[]) => `DELETE FROM ${target} USING ${source} AS s WHERE ${keyMatch(name, key)}`,
  /** … or, when the target has columns the load does not carry, their rows take the loaded values, … */
  updateFrom: (target: string, name: string, source: string, columns: readonly ColumnSource[], key: readonly string[]) => {
    const rest = columns.filter((c) => !key.includes(c.name));
    if (rest.length === 0) return undefined;
    return `UPDATE ${target} SET ${rest.map((c) => `${q(c.name)} = ${value(c, 's')}`).join(', ')} FROM ${source} AS s WHERE ${keyMatch(name, key)}`;
  },
  /** … and the keys the target lacks are inserted. */
  insertMissing: (target: string, source: string, columns: readonly ColumnSource[], key: readonly string[]) =>
    `INSERT INTO ${target} (${columns.map((c) => q(c.name)).join(', ')}) SELECT ${selectList(columns, 's')} FROM ${source} AS s ` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${target} AS t WHERE ${key.map((k) => nullSafe(`t.${q(k)}`, `s.${q(k)}`)).join(' AND ')})`,
};

/** The SELECT of an export with each column written as the exchange format wants it (see redshift-types.ts). */
export function exportSelect(req: ExportRequest, chunk: ChunkSpec | undefined, names: readonly string[], wrap: readonly (((expr: string) => string) | undefined)[]): { sql: string; params: readonly string[] } {
  const inner = buildSelect(rsDialect, req, chunk);
  const cols = names.map((n, i) => {
    const ref = `pigeon_e.${q(`c${i + 1}`)}`;
    return `${wrap[i] ? wrap[i]!(ref) : ref} AS ${q(n)}`;
  });
  return { sql: `SELECT ${cols.join(', ')} FROM (${inner.sql}) AS pigeon_e(${names.map((_, i) => q(`c${i + 1}`)).join(', ')})`, params: inner.params };
}

/**
 * The same SELECT with its bound values written as literals, for UNLOAD (which takes no parameters). Values are
 * the window's and chunk's bounds: timestamps, numbers and keys.
 */
export function inlineParams(sql: string, params: readonly string[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => literal(params[Number(n) - 1]!));
}

function credentials(access: RedshiftAccess): string {
  if ('role' in access) return `IAM_ROLE ${literal(access.role)}`;
  return [
    `ACCESS_KEY_ID ${literal(access.accessKeyId)}`,
    `SECRET_ACCESS_KEY ${literal(access.secretAccessKey)}`,
    ...(access.sessionToken !== undefined ? [`SESSION_TOKEN ${literal(access.sessionToken)}`] : []),
  ].join(' ');
}

function value(c: ColumnSource, alias: string): string {
  const ref = `${alias}.${q(c.name)}`;
  return c.convert ? c.convert(ref) : ref;
}

function selectList(columns: readonly ColumnSource[], alias: string): string {
  return columns.map((c) => value(c, alias)).join(', ');
}

/** Equal, or both NULL (Redshift has no IS NOT DISTINCT FROM). */
function nullSafe(a: string, b: string): string {
  return `(${a} = ${b} OR (${a} IS NULL AND ${b} IS NULL))`;
}

/** Every key column of the target (by its unqualified name) matches the source row's. */
function keyMatch(name: string, key: readonly string[]): string {
  return key.map((k) => nullSafe(`${q(name)}.${q(k)}`, `s.${q(k)}`)).join(' AND ');
}
