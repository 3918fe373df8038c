import type { ChunkSpec, ExportRequest } from '../contract.js';
import type { SqlDialect } from '../sql/dialect.js';
import { buildSelect } from '../sql/select-builder.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { Reference } from '../sql/keyed-overwrite.js';
import { LOADS_TABLE, SEQ_COLUMN } from '../sql/work-tables.js';

/** Every statement pigeon runs against PostgreSQL, in one place so engines can be compared side by side. */
export const pgDialect: SqlDialect = {
  quoteIdent: (name) => `"${name.replaceAll('"', '""')}"`,
  placeholder: (i) => `$${i + 1}`,
};

const q = pgDialect.quoteIdent;


/**
 * A string literal that means exactly `value` whatever `standard_conforming_strings` says: the E'' form, where
 * only `\` and `'` are special, both escaped. Used where PostgreSQL takes no bind parameters (COPY, COMMENT).
 * The session's client encoding is UTF8, where no multi-byte character contains a `\` or `'` byte.
 */
export function literal(value: string): string {
  if (value.includes('\0')) {
    throw new PipelineError('BAD_VALUE', 'a value contains a NUL character, which PostgreSQL text cannot hold');
  }
  return `E'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/** `"schema"."name"`. */
export function qualified(schema: string, name: string): string {
  return `${q(schema)}.${q(name)}`;
}

/** Session settings of every pooled connection: values come out in the exchange format (see postgres-types.ts). */
export function sessionSetup(schema: string | undefined, extraFloatDigits: boolean): string {
  return [
    `SET client_encoding TO 'UTF8'`,
    `SET TIME ZONE 'UTC'`,
    `SET datestyle TO 'ISO, YMD'`,
    `SET intervalstyle TO 'iso_8601'`,
    `SET bytea_output TO 'hex'`,
    // PostgreSQL 12 and later print the shortest text that reads back to the same float with the default (1).
    ...(extraFloatDigits ? [`SET extra_float_digits TO 3`] : []),
    ...(schema === undefined ? [] : [`SET search_path TO ${q(schema)}`]),
  ].join('; ');
}

export const serverVersion = `SELECT current_setting('server_version_num') AS v`;

/**
 * The transactions open now, but this pool's own ($1): sessions with a transaction start (whose `now()` may already
 * lie below a maximum read just before), and the snapshot's in-progress transaction ids, which are visible even
 * where another user's session details are not.
 */
export const openSessions = `
SELECT pid::text AS pid, xact_start::text AS started, COALESCE(NULLIF(application_name, ''), usename::text, '?') AS who
FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND NOT (pid = ANY ($1::int[])) AND xact_start IS NOT NULL AND backend_type = 'client backend'`;
export const openXids = `
SELECT x::text AS xid FROM pg_snapshot_xip(pg_current_snapshot()) AS x
WHERE (x::text::numeric % 4294967296)::text NOT IN (
  SELECT backend_xid::text FROM pg_stat_activity WHERE pid = ANY ($1::int[]) AND backend_xid IS NOT NULL)`;
/** Which of the noted sessions are still in the same transaction, and which noted ids are still in progress. */
export const stillOpenSessions = `
SELECT a.pid::text AS pid FROM pg_stat_activity a JOIN unnest($1::int[], $2::text[]) AS w(pid, started)
ON a.pid = w.pid AND a.xact_start::text = w.started`;
export const stillOpenXids = `SELECT x::text AS xid FROM unnest($1::xid8[]) AS x WHERE pg_xact_status(x) = 'in progress'`;
export const schemaExists = `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS found`;
export const backendPid = `SELECT pg_backend_pid() AS pid`;
export const terminateBackend = `SELECT pg_terminate_backend($1)`;
export const oidOf = `SELECT $1::regclass::oid AS oid`;

/** Columns with a wrapper expression each (see exportExpression); `c1…cn` name the inner select's columns by position. */
export function copyToStatement(req: ExportRequest, chunk: ChunkSpec | undefined, wrap: readonly (((expr: string) => string) | undefined)[]): string {
  const bound = buildSelect(pgDialect, req, chunk);
  // COPY takes no bind parameters: the same SELECT again with each bound value as an escaped literal.
  const inlined = buildSelect({ quoteIdent: q, placeholder: (i) => literal(bound.params[i]!) }, req, chunk);
  const names = wrap.map((_, i) => q(`c${i + 1}`));
  const select = wrap.map((w, i) => {
    const ref = `pigeon_e.${names[i]}`;
    return w ? w(ref) : ref;
  });
  return `COPY (SELECT ${select.join(', ')} FROM (${inlined.sql}) AS pigeon_e(${names.join(', ')})) TO STDOUT WITH (FORMAT csv, NULL E'\\\\N')`;
}

/**
 * Types of a statement's result columns from their OIDs and typmods (as RowDescription gives them), domains resolved
 * to their base type, and NOT NULL when a column comes straight from a table column.
 */
export const describeTypes = `
WITH RECURSIVE cols AS (
  SELECT u.i, u.typ, u.typmod, u.rel, u.att
  FROM unnest($1::oid[], $2::int4[], $3::oid[], $4::int2[]) WITH ORDINALITY AS u(typ, typmod, rel, att, i)
), chain AS (
  SELECT c.i, t.oid AS typ, c.typmod, t.typtype, t.typbasetype, t.typtypmod, 0 AS depth
  FROM cols c JOIN pg_type t ON t.oid = c.typ
  UNION ALL
  SELECT ch.i, t.oid, CASE WHEN ch.typmod >= 0 THEN ch.typmod ELSE ch.typtypmod END, t.typtype, t.typbasetype, t.typtypmod, ch.depth + 1
  FROM chain ch JOIN pg_type t ON t.oid = ch.typbasetype
  WHERE ch.typtype = 'd' AND ch.depth < 32
)
SELECT format_type(c.typ, c.typmod) AS source_type, bt.typname AS base_name, bt.typtype, bt.typcategory,
       b.typmod AS base_typmod, COALESCE(a.attnotnull, false) AS not_null
FROM cols c
JOIN chain b ON b.i = c.i AND b.typtype <> 'd'
JOIN pg_type bt ON bt.oid = b.typ
LEFT JOIN pg_attribute a ON a.attrelid = c.rel AND a.attnum = c.att AND c.rel <> 0
ORDER BY c.i`;

/**
 * The table a name means: in `schema` when given, else the first schema of the search path that has it (as
 * PostgreSQL resolves an unqualified name).
 */
export const findTable = `
SELECT c.oid, n.nspname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = $2
  AND CASE WHEN $1::text IS NULL THEN n.nspname = ANY (current_schemas(false)) ELSE n.nspname = $1::text END
ORDER BY array_position(current_schemas(false), n.nspname)
LIMIT 1`;

export const currentSchema = `SELECT current_schema() AS schema`;

/** A source table's primary key positions and column comments ($1: the table's name, quoted, as regclass text). */
export const sourceKeyAndComments = `
SELECT a.attname AS name, array_position(i.indkey::int2[], a.attnum)::text AS key, col_description(a.attrelid, a.attnum) AS comment
FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`;

/** The columns of a table with their types, domains resolved to the base type. */
export const tableColumns = `
WITH RECURSIVE cols AS (
  SELECT a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull
  FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
), chain AS (
  SELECT c.attnum, t.oid AS typ, c.atttypmod AS typmod, t.typtype, t.typbasetype, t.typtypmod, 0 AS depth
  FROM cols c JOIN pg_type t ON t.oid = c.atttypid
  UNION ALL
  SELECT ch.attnum, t.oid, CASE WHEN ch.typmod >= 0 THEN ch.typmod ELSE ch.typtypmod END, t.typtype, t.typbasetype, t.typtypmod, ch.depth + 1
  FROM chain ch JOIN pg_type t ON t.oid = ch.typbasetype
  WHERE ch.typtype = 'd' AND ch.depth < 32
)
SELECT c.attname AS name, format_type(c.atttypid, c.atttypmod) AS source_type, bt.typname AS base_name, bt.typtype,
       bt.typcategory, b.typmod AS base_typmod, c.attnotnull AS not_null
FROM cols c
JOIN chain b ON b.attnum = c.attnum AND b.typtype <> 'd'
JOIN pg_type bt ON bt.oid = b.typ
ORDER BY c.attnum`;

/**
 * Why swapping in a new table would lose something the old one has, comma-separated (empty: the swap is safe). The new table is
 * made with LIKE … INCLUDING ALL, which copies columns, defaults, identity, generated columns, NOT NULL and CHECK
 * constraints, indexes (with PRIMARY KEY, UNIQUE, EXCLUDE), column storage, compression and comments; it does not
 * copy what is listed here.
 */
export const swapBlockers = `
SELECT array_to_string(ARRAY[
  CASE WHEN c.relkind <> 'r' THEN 'not a plain table' END,
  CASE WHEN c.relispartition OR EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid) THEN 'inheritance' END,
  CASE WHEN c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user) THEN 'owned by another role' END,
  CASE WHEN c.relacl IS NOT NULL OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL) THEN 'privileges' END,
  CASE WHEN c.reloptions IS NOT NULL THEN 'storage parameters' END,
  CASE WHEN c.reltablespace <> 0 THEN 'tablespace' END,
  CASE WHEN c.relpersistence <> 'p' THEN 'unlogged' END,
  CASE WHEN c.relrowsecurity OR c.relforcerowsecurity THEN 'row level security' END,
  CASE WHEN c.relreplident <> 'd' THEN 'replica identity' END,
  CASE WHEN EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal) THEN 'triggers' END,
  CASE WHEN EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.ev_class = c.oid) THEN 'rules' END,
  CASE WHEN EXISTS (SELECT 1 FROM pg_constraint k WHERE k.contype = 'f' AND (k.conrelid = c.oid OR k.confrelid = c.oid)) THEN 'foreign keys' END,
  CASE WHEN EXISTS (SELECT 1 FROM pg_publication_rel p WHERE p.prrelid = c.oid) THEN 'publication' END,
  CASE WHEN EXISTS (SELECT 1 FROM pg_statistic_ext s WHERE s.stxrelid = c.oid) THEN 'extended statistics' END,
  CASE WHEN EXISTS (SELECT 1 FROM pg_seclabel l WHERE l.objoid = c.oid AND l.classoid = 'pg_class'::regclass) THEN 'security labels' END,
  CASE WHEN EXISTS (
    SELECT 1 FROM pg_depend d
    WHERE d.deptype = 'n'
      AND ((d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid) OR (d.refclassid = 'pg_type'::regclass AND d.refobjid = c.reltype))
      -- the table's own CHECK constraints, defaults and indexes depend on its columns: LIKE copies them
      AND NOT (d.classid = 'pg_constraint'::regclass AND EXISTS (SELECT 1 FROM pg_constraint k WHERE k.oid = d.objid AND k.conrelid = c.oid AND k.contype <> 'f'))
      AND NOT (d.classid = 'pg_attrdef'::regclass AND EXISTS (SELECT 1 FROM pg_attrdef ad WHERE ad.oid = d.objid AND ad.adrelid = c.oid))
      AND NOT (d.classid = 'pg_class'::regclass AND EXISTS (SELECT 1 FROM pg_index ix WHERE ix.indexrelid = d.objid AND ix.indrelid = c.oid))
  ) THEN 'dependent objects (views, functions, columns of its row type)' END
], ', ') AS blockers
FROM pg_class c WHERE c.oid = $1`;

/** Foreign keys of other tables (or of the table itself) that reference the table; names as JSON arrays. */
export const referencingKeys = `
SELECT k.conname AS name, k.conrelid::regclass::text AS child, k.confdeltype AS on_delete,
       (SELECT json_agg(a.attname ORDER BY u.ord) FROM unnest(k.conkey) WITH ORDINALITY AS u(n, ord)
          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n)::text AS columns,
       (SELECT json_agg(a.attname ORDER BY u.ord) FROM unnest(k.confkey) WITH ORDINALITY AS u(n, ord)
          JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n)::text AS referenced
FROM pg_constraint k WHERE k.contype = 'f' AND k.confrelid = $1 ORDER BY k.conname`;

/** The primary key's columns, in key order, as a JSON array (empty without a primary key). */
export const primaryKeyColumns = `
SELECT COALESCE((SELECT json_agg(a.attname ORDER BY u.ord) FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY AS u(n, ord)
  JOIN pg_attribute a ON a.attrelid = $1 AND a.attnum = u.n WHERE i.indrelid = $1 AND i.indisprimary), '[]')::text AS columns`;

/** A table name as written (`t`, `schema.t`) as the text `to_regclass` reads, each part quoted. */
export function regclassText(table: string): { text: string; schema: string | null } {
  const dot = table.indexOf('.');
  const parts = dot < 0 ? [table] : [table.slice(0, dot), table.slice(dot + 1)];
  return { text: parts.map(pgDialect.quoteIdent).join('.'), schema: dot < 0 ? null : parts[0]! };
}

/** A table's rows by the planner's statistics (`reltuples`, -1 before the first ANALYZE): a split's first boundary. */
export const estimatedRows = `SELECT reltuples::bigint::text AS rows FROM pg_class WHERE oid = to_regclass($1)`;

/**
 * Whether a split column ($2) of a table ($1, regclass text) holds no duplicates: a valid unique index on exactly
 * that column, without predicate or expression. The split's quantile walk may then go from one boundary to the next.
 */
export const uniqueSplitColumn = `
SELECT EXISTS (
  SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
  WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
    AND i.indnkeyatts = 1 AND a.attname = $2
) AS found`;

/**
 * A unique index usable as an ON CONFLICT arbiter on exactly these columns: valid, immediate, not partial, no
 * expressions, every key column NOT NULL (so "same key" means the same thing as in the DELETE-then-INSERT merge).
 */
export const uniqueIndexOnKey = `
SELECT EXISTS (
  SELECT 1 FROM pg_index i
  WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indimmediate
    AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = cardinality($2::text[])
    AND (
      SELECT array_agg(a.attname::text) FILTER (WHERE a.attnotnull)
      FROM generate_series(0, i.indnkeyatts - 1) k JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k]
    ) @> $2::text[]
) AS found`;

/** Sequences owned by a column of the table (serial columns): `regclass` text is already quoted and qualified. */
export const ownedSequences = `
SELECT s.oid::regclass::text AS seq, a.attname AS column
FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND d.deptype = 'a'`;

export const identityColumns = `SELECT attname AS column FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attidentity <> ''`;

/**
 * An identity column of the new table continues at least where the old one was (the new table has its own
 * sequence, started at 1). $1, $2: the old and new tables' qualified names; $3 the column.
 */
export const carryIdentity = `
SELECT setval(pg_get_serial_sequence($2, $3), o, true)
FROM (SELECT pg_sequence_last_value(pg_get_serial_sequence($1, $3)::regclass) AS o,
             pg_sequence_last_value(pg_get_serial_sequence($2, $3)::regclass) AS n) s
WHERE o IS NOT NULL AND (n IS NULL OR o > n)`;

/** The name of the old table's identity sequence, and the qualified name of the new table's ($1 old, $2 new, $3 column). */
export const identitySequences = `
SELECT (SELECT relname FROM pg_class WHERE oid = pg_get_serial_sequence($1, $3)::regclass) AS old_name,
       pg_get_serial_sequence($2, $3) AS fresh`;

/**
 * Pairs each index of the old table ($1) with its copy on the new one ($2): LIKE names copies after the new
 * table, so after the swap they get the old names back (renaming an index renames its constraint too).
 */
export const indexPairs = `
WITH sig AS (
  SELECT i.indrelid AS rel, c.relname AS name, i.indexrelid,
         concat_ws('|', i.indisunique, i.indisprimary, i.indisexclusion, i.indnkeyatts, i.indclass::text, i.indoption::text,
                   i.indcollation::text, c.relam,
                   (SELECT string_agg(COALESCE(a.attname::text, '-'), ',' ORDER BY k.ord)
                    FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, ord)
                    LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n),
                   pg_get_expr(i.indexprs, i.indrelid), pg_get_expr(i.indpred, i.indrelid)) AS key
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  WHERE i.indrelid IN ($1, $2)
), numbered AS (
  SELECT *, row_number() OVER (PARTITION BY rel, key ORDER BY indexrelid) AS n FROM sig
)
SELECT o.name AS old_name, w.name AS new_name
FROM numbered o JOIN numbered w ON w.key = o.key AND w.n = o.n AND w.rel = $2
WHERE o.rel = $1`;

/**
 * The target's indexes, to build on a staging table after the load (a bulk build is much faster than keeping an
 * index up to date row by row). An index behind a primary key, unique or exclusion constraint comes back as that
 * constraint; any other as its CREATE INDEX text, of which \`prefix\` is the part naming the index and the table.
 * \`special\`: something LIKE … INCLUDING INDEXES would carry over that rebuilding from this text would not.
 */
export const targetIndexes = `
SELECT i.indisunique AS is_unique,
       con.oid IS NOT NULL AS is_constraint,
       CASE WHEN con.oid IS NOT NULL THEN pg_get_constraintdef(con.oid) ELSE pg_get_indexdef(i.indexrelid) END AS def,
       'CREATE ' || CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END || 'INDEX ' || quote_ident(c.relname) || ' ON '
         || quote_ident(n.nspname) || '.' || quote_ident(t.relname) || ' ' AS prefix,
       (c.reltablespace <> 0 OR NOT i.indisvalid OR NOT i.indisready OR obj_description(c.oid, 'pg_class') IS NOT NULL
         OR (con.oid IS NOT NULL AND obj_description(con.oid, 'pg_constraint') IS NOT NULL)
         OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attstattarget >= 0)) AS special
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
WHERE i.indrelid = $1
ORDER BY i.indexrelid`;

export const tableComment = `SELECT obj_description($1::oid, 'pg_class') AS comment`;

/** A load's advisory lock on one of its work tables (see workTableLock), for the session's life or until released. */
export const claimWorkTable = `SELECT pg_advisory_lock(hashtextextended($1, 0))`;
/** Takes the lock of a leftover work table when nobody holds it (its load is dead); 't' when taken. */
export const claimLeftover = `SELECT pg_try_advisory_lock(hashtextextended($1, 0))::text AS free`;
export const releaseWorkTable = `SELECT pg_advisory_unlock(hashtextextended($1, 0))`;
export const releaseWorkTables = `SELECT pg_advisory_unlock_all()`;

export const stagingTables = `
SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'r' AND starts_with(c.relname, $2)`;

export const loadsTableExists = `
SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = '${LOADS_TABLE}') AS found`;

export interface StagingColumn {
  readonly name: string;
  /** The staging column's type: the target's, or text for values converted on the way in. */
  readonly type: string;
}

/** One target column in an INSERT … SELECT: its name and the staging expression that yields its value. */
export interface ColumnSource {
  readonly name: string;
  /** `expr` is the quoted reference to the staging column. */
  readonly convert?: (expr: string) => string;
}

export const pgSql = {
  createLoads: (schema: string) =>
    `CREATE TABLE IF NOT EXISTS ${qualified(schema, LOADS_TABLE)} (load_id text NOT NULL, target text NOT NULL, rows bigint NOT NULL, committed_at timestamptz NOT NULL, PRIMARY KEY (load_id, target))`,
  loadCommitted: (schema: string) => `SELECT 1 FROM ${qualified(schema, LOADS_TABLE)} WHERE load_id = $1 AND target = $2`,
  recordLoad: (schema: string) =>
    `INSERT INTO ${qualified(schema, LOADS_TABLE)} (load_id, target, rows, committed_at) VALUES ($1, $2, $3, now())`,

  /** A table pigeon creates: the columns, NOT NULL where given, and the primary key. */
  createTable: (table: string, columns: readonly (StagingColumn & { notNull?: boolean })[], key?: readonly string[]) =>
    `CREATE TABLE ${table} (${[
      ...columns.map((c) => `${q(c.name)} ${c.type}${c.notNull ? ' NOT NULL' : ''}`),
      ...(key && key.length > 0 ? [`PRIMARY KEY (${key.map(q).join(', ')})`] : []),
    ].join(', ')})`,
  commentOnColumn: (table: string, column: string, comment: string) => `COMMENT ON COLUMN ${table}.${q(column)} IS ${literal(comment)}`,
  /** Staging for append, merge and most overwrites: export columns plus the load order. */
  createStaging: (staging: string, columns: readonly StagingColumn[]) =>
    `CREATE UNLOGGED TABLE ${staging} (${columns.map((c) => `${q(c.name)} ${c.type}`).join(', ')}, ${q(SEQ_COLUMN)} bigserial NOT NULL)`,
  /** Staging that becomes the target itself in an overwrite swap. */
  createLike: (table: string, like: string) => `CREATE TABLE ${table} (LIKE ${like} INCLUDING ALL)`,
  /** A copy of the target without its indexes, which are built after the load (see targetIndexes). */
  createLikeWithoutIndexes: (table: string, like: string) => `CREATE TABLE ${table} (LIKE ${like} INCLUDING ALL EXCLUDING INDEXES)`,
  dropTable: (table: string) => `DROP TABLE IF EXISTS ${table}`,
  anyRow: (table: string) => `SELECT 1 FROM ${table} LIMIT 1`,
  addColumn: (table: string, column: string, type: string) => `ALTER TABLE ${table} ADD COLUMN ${q(column)} ${type}`,
  alterColumnType: (table: string, column: string, type: string) => `ALTER TABLE ${table} ALTER COLUMN ${q(column)} TYPE ${type}`,
  analyze: (table: string) => `ANALYZE ${table}`,
  stagingIndex: (table: string, key: readonly string[]) => `CREATE INDEX ON ${table} (${key.map(q).join(', ')})`,
  copyFrom: (staging: string, columns: readonly string[]) =>
    `COPY ${staging} (${columns.map(q).join(', ')}) FROM STDIN WITH (FORMAT csv, HEADER true, NULL E'\\\\N')`,

  /** INSERT INTO target … SELECT from staging in load order (OVERRIDING: values for identity columns are data). */
  insertSelect: (target: string, source: string, columns: readonly ColumnSource[], order: boolean) =>
    `INSERT INTO ${target} (${columns.map((c) => q(c.name)).join(', ')}) OVERRIDING SYSTEM VALUE ` +
    `SELECT ${selectList(columns, 's')} FROM ${source} AS s${order ? ` ORDER BY s.${q(SEQ_COLUMN)}` : ''}`,
  truncate: (table: string) => `TRUNCATE ${table}`,
  deleteAll: (table: string) => `DELETE FROM ${table}`,
  /** The rows of a window append's interval, replaced in the commit (`where` from buildRange). */
  deleteWhere: (table: string, where: string) => `DELETE FROM ${table} WHERE ${where}`,

  /** Merge with an arbiter index: the last row of each key in load order, upserted. */
  upsert: (target: string, staging: string, columns: readonly ColumnSource[], key: readonly string[]) => {
    const rest = columns.filter((c) => !key.includes(c.name));
    const action = rest.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${rest.map((c) => `${q(c.name)} = EXCLUDED.${q(c.name)}`).join(', ')}`;
    return (
      `INSERT INTO ${target} (${columns.map((c) => q(c.name)).join(', ')}) OVERRIDING SYSTEM VALUE ` +
      `SELECT ${selectList(columns, 's')} FROM (${lastPerKey(staging, key)}) AS s ORDER BY s.${q(SEQ_COLUMN)} ` +
      `ON CONFLICT (${key.map(q).join(', ')}) ${action}`
    );
  },
  /**
   * Merge without an arbiter: the target rows of every loaded key take the loaded values of the columns the load
   * carries, the target's other columns are kept. Keys without a NULL part match by equality (indexes and hash
   * joins help)…
   */
  mergeUpdate: (target: string, staging: string, columns: readonly ColumnSource[], key: readonly string[]) =>
    updateFrom(target, `(${lastPerKey(staging, key)})`, columns, key, `${noNullKey(key)} AND ${keyMatch(columns, key, '=')}`),
  /** …those with a NULL part with IS NOT DISTINCT FROM, over the few such keys… */
  mergeUpdateNullKeys: (target: string, staging: string, columns: readonly ColumnSource[], key: readonly string[]) =>
    updateFrom(target, `(${lastPerKey(staging, key)})`, columns, key, `NOT (${noNullKey(key)}) AND ${keyMatch(columns, key, 'IS NOT DISTINCT FROM')}`),
  /** …and the last row of each key that the target lacks is inserted (keys without, then with, a NULL part). */
  mergeInsert: (target: string, staging: string, columns: readonly ColumnSource[], key: readonly string[], nullKeys: boolean) =>
    `INSERT INTO ${target} (${columns.map((c) => q(c.name)).join(', ')}) OVERRIDING SYSTEM VALUE ` +
    `SELECT ${selectList(columns, 's')} FROM (${lastPerKey(staging, key)}) AS s WHERE ${nullKeys ? `NOT (${noNullKey(key)})` : noNullKey(key)} ` +
    `AND NOT EXISTS (SELECT 1 FROM ${target} AS t WHERE ${keyMatch(columns, key, nullKeys ? 'IS NOT DISTINCT FROM' : '=')}) ORDER BY s.${q(SEQ_COLUMN)}`,

  /**
   * deletes: detect: the target's rows whose key is not in the source's key set; rows whose key has no NULL part
   * (by equality, so an index on the key helps), then those with one (IS NOT DISTINCT FROM).
   */
  deleteMissing: (target: string, keys: string, columns: readonly ColumnSource[], key: readonly string[], nullKeys: boolean) => {
    const whole = key.map((k) => `t.${q(k)} IS NOT NULL`).join(' AND ');
    return (
      `DELETE FROM ${target} AS t WHERE ${nullKeys ? `NOT (${whole})` : whole} ` +
      `AND NOT EXISTS (SELECT 1 FROM ${keys} AS s WHERE ${keyMatch(columns, key, nullKeys ? 'IS NOT DISTINCT FROM' : '=')})`
    );
  },
  /** A key that appears twice in the staging table (an overwrite by key needs each once). */
  duplicateKey: (staging: string, columns: readonly ColumnSource[], key: readonly string[]) =>
    `SELECT ${key.map((k) => `(${keyExpr(columns, k)})::text`).join(', ')} FROM ${staging} AS s GROUP BY ${key.map((k) => keyExpr(columns, k)).join(', ')} HAVING count(*) > 1 LIMIT 1`,
  /** A row of `child` that references a target row the overwrite would remove or change. */
  orphanedReference: (child: string, target: string, staging: string, columns: readonly ColumnSource[], fk: Reference, key: readonly string[]) =>
    `SELECT 1 FROM ${child} AS c JOIN ${target} AS t ON ${fk.columns.map((col, i) => `c.${q(col)} = t.${q(fk.referenced[i]!)}`).join(' AND ')} ` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${staging} AS s WHERE ${keyMatch(columns, key, '=')} AND ` +
    `${fk.referenced.map((r) => `t.${q(r)} IS NOT DISTINCT FROM ${keyExpr(columns, r)}`).join(' AND ')}) LIMIT 1`,
  /** Overwrite by key, for a table that others reference: rows whose key is not loaded go… */
  replaceDelete: (target: string, staging: string, columns: readonly ColumnSource[], key: readonly string[]) =>
    `DELETE FROM ${target} AS t WHERE NOT EXISTS (SELECT 1 FROM ${staging} AS s WHERE ${keyMatch(columns, key, '=')})`,
  /** …rows whose key is loaded take its values (a key never changes, so no referential action fires)… */
  replaceUpdate: (target: string, staging: string, columns: readonly ColumnSource[], key: readonly string[]) =>
    updateFrom(target, staging, columns, key, keyMatch(columns, key, '=')),
  /** …and the new keys are inserted. */
  replaceInsert: (target: string, staging: string, columns: readonly ColumnSource[], key: readonly string[]) =>
    `INSERT INTO ${target} (${columns.map((c) => q(c.name)).join(', ')}) OVERRIDING SYSTEM VALUE SELECT ${selectList(columns, 's')} FROM ${staging} AS s ` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${target} AS t WHERE ${keyMatch(columns, key, '=')}) ORDER BY s.${q(SEQ_COLUMN)}`,

  lockExclusive: (table: string) => `LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`,
  renameTable: (table: string, to: string) => `ALTER TABLE ${table} RENAME TO ${q(to)}`,
  renameIndex: (schema: string, from: string, to: string) => `ALTER INDEX ${qualified(schema, from)} RENAME TO ${q(to)}`,
  sequenceOwnedBy: (sequence: string, table: string, column: string) => `ALTER SEQUENCE ${sequence} OWNED BY ${table}.${q(column)}`,
  /** `sequence` as pg_get_serial_sequence returns it: already quoted and qualified by the server. */
  renameSequence: (sequence: string, to: string) => `ALTER SEQUENCE ${sequence} RENAME TO ${q(to)}`,
  lockTimeout: (value: string) => `SET LOCAL lock_timeout = ${literal(value)}`,
  commentOn: (table: string, comment: string) => `COMMENT ON TABLE ${table} IS ${literal(comment)}`,
  dropOld: (table: string) => `DROP TABLE ${table}`,
};

/** DISTINCT ON keeps the first row per key: ordered by load sequence descending, that is the last one loaded. */
function lastPerKey(staging: string, key: readonly string[]): string {
  const k = key.map((c) => `d.${q(c)}`).join(', ');
  return `SELECT DISTINCT ON (${k}) d.* FROM ${staging} AS d ORDER BY ${k}, d.${q(SEQ_COLUMN)} DESC`;
}

function selectList(columns: readonly ColumnSource[], alias: string): string {
  return columns.map((c) => (c.convert ? c.convert(`${alias}.${q(c.name)}`) : `${alias}.${q(c.name)}`)).join(', ');
}

/** `UPDATE target SET <carried non-key columns> FROM source s WHERE …`; undefined when only key columns are carried. */
function updateFrom(target: string, source: string, columns: readonly ColumnSource[], key: readonly string[], where: string): string | undefined {
  const set = columns.filter((c) => !key.includes(c.name));
  if (set.length === 0) return undefined;
  return `UPDATE ${target} AS t SET ${set.map((c) => `${q(c.name)} = ${c.convert ? c.convert(`s.${q(c.name)}`) : `s.${q(c.name)}`}`).join(', ')} FROM ${source} AS s WHERE ${where}`;
}

/** `t.k = <s.k converted>` for every key column, with the given operator. */
function keyMatch(columns: readonly ColumnSource[], key: readonly string[], op: '=' | 'IS NOT DISTINCT FROM'): string {
  return key.map((k) => `t.${q(k)} ${op} ${keyExpr(columns, k)}`).join(' AND ');
}

/** No part of the staging row's key is NULL. */
function noNullKey(key: readonly string[]): string {
  return key.map((k) => `s.${q(k)} IS NOT NULL`).join(' AND ');
}

function keyExpr(columns: readonly ColumnSource[], k: string): string {
  const c = columns.find((x) => x.name === k);
  return c?.convert ? c.convert(`s.${q(k)}`) : `s.${q(k)}`;
}

/** Exchange text → value, for staging columns loaded as text (see needsConversion). */
export function converter(kind: 'base64' | 'json', targetType: string): (expr: string) => string {
  if (kind === 'base64') return (expr) => `decode(${expr}, 'base64')`;
  // json_to_record turns JSON arrays (of any depth) and objects into the column's array or composite type.
  return (expr) => `(SELECT r.v FROM json_to_record(json_build_object('v', (${expr})::json)) AS r(v ${targetType}))`;
}
