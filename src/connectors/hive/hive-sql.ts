import type { ColumnSchema } from '../../csv/types.js';
import type { ChunkSpec, ExportRequest, RangePredicate } from '../contract.js';
import type { SqlDialect } from '../sql/dialect.js';
import { buildCount, buildMax, buildNth, buildRange, buildSelect, type BuiltQuery } from '../sql/select-builder.js';
import { LOADS_TABLE, STAGING_PREFIX } from '../sql/work-tables.js';
import type { HiveType } from './hive-types.js';

/**
 * Every statement pigeon runs against HiveServer2, in one place so engines can be compared side by side. Hive takes
 * no bind parameters: values are inlined as escaped literals (`literal`), typed by the column they compare with.
 */
export const hiveDialect: SqlDialect = {
  quoteIdent: (name) => `\`${name.replaceAll('`', '``')}\``,
  placeholder: () => '?',
};

const q = hiveDialect.quoteIdent;

/**
 * Hive's work tables: the kit's names (work-tables.ts) without the leading `_`, because Hadoop's input formats
 * skip every path whose name starts with `_` or `.` as hidden: a table stored in `_pigeon_loads/` reads as empty.
 */
export const HIVE_LOADS_TABLE = LOADS_TABLE.replace(/^_+/, '');
export const HIVE_STAGING_PREFIX = STAGING_PREFIX.replace(/^_+/, '');

/** The staging columns that keep each row's place in the chunk files (the load order, and where a bad value is). */
export const CHUNK_COLUMN = '_pigeon_chunk';
export const LINE_COLUMN = '_pigeon_line';

/**
 * A string literal that means exactly `value`: Hive unescapes backslash sequences in literals, so `\` and `'`
 * are escaped, and control characters are written as escapes (`\n`, `\u0001`) rather than raw.
 */
export function literal(value: string): string {
  let out = "'";
  for (const ch of value) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}'`;
}

const INTEGER = /^-?\d+$/;
const NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * A literal of `value` typed like the column it is compared with, so a comparison is made in the column's type
 * (a BIGINT against a string would be compared as doubles): integers bare, decimals as `…BD`, dates and timestamps
 * cast, the rest as strings.
 */
export function typedLiteral(value: string, t: HiveType | undefined): string {
  switch (t?.base) {
    case 'tinyint':
    case 'smallint':
    case 'int':
    case 'bigint':
      if (INTEGER.test(value)) return BigInt(value) > 2147483647n || BigInt(value) < -2147483648n ? `${value}L` : value;
      return `CAST(${literal(value)} AS DECIMAL(38,10))`;
    case 'decimal':
      return NUMBER.test(value) ? `${value}BD` : `CAST(${literal(value)} AS DECIMAL(38,10))`;
    case 'float':
    case 'double':
      return `CAST(${literal(value)} AS DOUBLE)`;
    case 'date':
    case 'timestamp':
      return value.length > 10 ? `CAST(${literal(value)} AS TIMESTAMP)` : `CAST(${literal(value)} AS DATE)`;
    case 'boolean':
      return value === 'true' || value === 'false' ? value.toUpperCase() : literal(value);
    default:
      return literal(value);
  }
}

/** `db`.`table` */
export function qualified(database: string, table: string): string {
  return `${q(database)}.${q(table)}`;
}

/** The export's SELECT with its bounds inlined as literals typed by `types` (column name → Hive type). */
export function inlinedSelect(
  req: ExportRequest,
  chunk: ChunkSpec | undefined,
  types: ReadonlyMap<string, HiveType>,
  build: (d: SqlDialect, req: ExportRequest) => BuiltQuery = (d, r) => buildSelect(d, r, chunk),
): string {
  const bound = build(recording(), req);
  return build(inlining(bound.params, types), req).sql;
}

/** SELECT MAX, COUNT and the n-th value (the kit's split) with inlined bounds. */
export const inlined = {
  max: (req: ExportRequest, column: string, types: ReadonlyMap<string, HiveType>) => inlinedSelect(req, undefined, types, (d, r) => buildMax(d, r, column)),
  count: (req: ExportRequest, column: string, types: ReadonlyMap<string, HiveType>) => inlinedSelect(req, undefined, types, (d, r) => buildCount(d, r, column)),
  nth: (req: ExportRequest, column: string, offset: number, types: ReadonlyMap<string, HiveType>) => inlinedSelect(req, undefined, types, (d, r) => buildNth(d, r, column, offset)),
};

/** A predicate on one column as a Hive condition with inlined, typed bounds. */
export function rangeCondition(r: RangePredicate, alias: string, types: ReadonlyMap<string, HiveType>): string {
  const bound = buildRange(recording(), r);
  const d: SqlDialect = { quoteIdent: (n) => `${alias}.${q(n)}`, placeholder: (i, column) => typedLiteral(bound.params[i]!, column === undefined ? undefined : types.get(column.toLowerCase())) };
  return buildRange(d, r).sql;
}

function recording(): SqlDialect {
  return { quoteIdent: q, placeholder: () => '?' };
}

function inlining(params: readonly string[], types: ReadonlyMap<string, HiveType>): SqlDialect {
  return { quoteIdent: q, placeholder: (i, column) => typedLiteral(params[i]!, column === undefined ? undefined : types.get(column.toLowerCase())) };
}

/** A static partition's values: `dt = '2026-01-01'` conditions, ANDed onto an export's `where`. */
export function partitionWhere(partition: Readonly<Record<string, string>>, types: ReadonlyMap<string, HiveType>): string {
  return Object.entries(partition)
    .map(([c, v]) => `${q(c)} = ${typedLiteral(v, types.get(c.toLowerCase()))}`)
    .join(' AND ');
}

/** One column of the target as the commit writes it. */
export interface CommitColumn {
  readonly name: string;
  readonly type: HiveType;
  /** 0-based index of the export column that fills it (staging column `c<i+1>`); undefined: not carried. */
  readonly from?: number;
  /** A partition column: with its value when static. */
  readonly partition?: { readonly value?: string };
}

export interface CommitPlan {
  readonly target: string;
  readonly staging: string;
  readonly loads: string;
  /** Data columns in table order, then partition columns in the table's partition order. */
  readonly columns: readonly CommitColumn[];
  /** The export's columns (staging column i+1 holds export column i). */
  readonly exported: readonly ColumnSchema[];
  readonly mode: 'append' | 'merge' | 'overwrite';
  /** Merge: the key's target columns. */
  readonly key: readonly string[];
  /** A window append: the interval whose rows are replaced, and the target's types for its bounds. */
  readonly window?: { readonly range: RangePredicate; readonly types: ReadonlyMap<string, HiveType> };
  /** `lossy: allow`: values the column would round are loaded rounded (only the checks for rounding are off). */
  readonly lossy: boolean;
  readonly loadId: string;
  readonly table: string;
  readonly rows: number;
  /**
   * A work table to compute a merge or window append into first, for servers that cannot overwrite a table the
   * same statement reads (Spark SQL); the commit then copies it.
   */
  readonly work?: string;
  /**
   * `deletes: detect`: the staging table of the source's whole key set (staging column i+1 holds key column i): a
   * merge rewrites the target without the rows whose key is not in it.
   */
  readonly keys?: string;
}

export const hiveSql = {
  /** Every session: result columns without `table.` prefixes, dynamic partitions, UTC for zoned timestamps. */
  sessionSetup: [
    'SET hive.resultset.use.unique.column.names=false',
    'SET hive.exec.dynamic.partition=true',
    'SET hive.exec.dynamic.partition.mode=nonstrict',
    'SET hive.exec.max.dynamic.partitions=100000',
    'SET hive.exec.max.dynamic.partitions.pernode=100000',
    'SET hive.local.time.zone=UTC',
    // COUNT(*) and MIN/MAX from the metastore's statistics, which loads without statistics leave stale.
    'SET hive.compute.query.using.stats=false',
  ],
  /** Every table of the database: Hive 4 takes SQL patterns in SHOW TABLES LIKE, Hive 3 and Spark globs. */
  showTables: (database: string) => `SHOW TABLES IN ${q(database)}`,
  describe: (table: string) => `DESCRIBE ${table}`,
  /** One row of a table, if it has any (a fetch task: no job). */
  anyRow: (table: string) => `SELECT 1 FROM ${table} LIMIT 1`,
  probe: (select: string) => `SELECT * FROM (${select}) pigeon_p LIMIT 0`,
  dropTable: (table: string) => `DROP TABLE IF EXISTS ${table} PURGE`,

  /**
   * The staging table: every export column as STRING in Hive's delimited text, which keeps NULL (`\N`) apart from
   * the empty string and any character of text (tab, CR and LF escaped, see hive-load.ts), then the place of each
   * row in the chunk files.
   */
  createStaging: (staging: string, columns: number) =>
    `CREATE TABLE ${staging} (${[...Array.from({ length: columns }, (_, i) => `${q(`c${i + 1}`)} STRING`), `${q(CHUNK_COLUMN)} INT`, `${q(LINE_COLUMN)} BIGINT`].join(', ')}) ` +
    `ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' NULL DEFINED AS '\\\\N' ` +
    `STORED AS TEXTFILE TBLPROPERTIES ('serialization.escape.crlf'='true')`,
  /** Marks a staging table whose commit is about to run (a retry after a crash reads it back). */
  markCommitting: (staging: string) => `ALTER TABLE ${staging} SET TBLPROPERTIES ('pigeon.commit'='started')`,
  committing: (staging: string) => `SHOW TBLPROPERTIES ${staging}('pigeon.commit')`,
  loadData: (serverPath: string, staging: string) => `LOAD DATA LOCAL INPATH ${literal(serverPath)} INTO TABLE ${staging}`,

  /** `schema_changes: add_columns`: new columns at the end, then each widened column's new type. */
  addColumns: (table: string, columns: readonly { name: string; type: string }[], partitioned: boolean) =>
    `ALTER TABLE ${table} ADD COLUMNS (${columns.map((c) => `${q(c.name)} ${c.type}`).join(', ')})${partitioned ? ' CASCADE' : ''}`,
  changeColumn: (table: string, name: string, type: string, partitioned: boolean) =>
    `ALTER TABLE ${table} CHANGE COLUMN ${q(name)} ${q(name)} ${type}${partitioned ? ' CASCADE' : ''}`,
  renameTable: (from: string, to: string) => `ALTER TABLE ${from} RENAME TO ${to}`,
  createLoads: (database: string) =>
    `CREATE TABLE IF NOT EXISTS ${qualified(database, HIVE_LOADS_TABLE)} (load_id STRING, table_name STRING, rows_loaded BIGINT, loaded_at TIMESTAMP) STORED AS TEXTFILE`,
  loadCommitted: (database: string, loadId: string, table: string) =>
    `SELECT load_id FROM ${qualified(database, HIVE_LOADS_TABLE)} WHERE load_id = ${literal(loadId)} AND table_name = ${literal(table)}`,

  createTable: (table: string, columns: readonly { name: string; type: string }[], partitions: readonly { name: string; type: string }[], format: string) =>
    `CREATE TABLE ${table} (${columns.map((c) => `${q(c.name)} ${c.type}`).join(', ')})` +
    (partitions.length > 0 ? ` PARTITIONED BY (${partitions.map((c) => `${q(c.name)} ${c.type}`).join(', ')})` : '') +
    ` STORED AS ${format.toUpperCase()}`,

  /**
   * The commit: one multi-insert that writes the target (overwrite, append or merge) and the load record from the
   * same scan. The staging table's sentinel row (chunk 0, loaded with the rows) is what the record is made from, so
   * an empty load is recorded too. A row outside the static partition it is loaded into fails the job
   * (`assert_true`) before any file of the target is replaced.
   */
  commit(p: CommitPlan): string {
    const data = p.columns.filter((c) => c.partition?.value === undefined);
    const spec = partitionSpec(p.columns);
    const into = `${p.mode === 'append' && !p.window ? 'INSERT INTO' : 'INSERT OVERWRITE'} TABLE ${p.target}${spec}`;
    const record = `INSERT INTO TABLE ${p.loads} SELECT ${literal(p.loadId)}, ${literal(p.table)}, ${p.rows}L, current_timestamp() WHERE ${q(CHUNK_COLUMN)} = 0`;
    const out = data.map((c) => q(c.name)).join(', ');
    const source = p.work !== undefined && rewrites(p) ? `${p.work} pigeon_w` : commitSource(p, data);
    return `FROM ${source} ${into} SELECT ${out} WHERE ${q(CHUNK_COLUMN)} <> 0 ${record}`;
  },

  /** The work table of a merge or window append on a server that cannot overwrite what it reads (see CommitPlan.work). */
  computeWork(p: CommitPlan): string | undefined {
    if (p.work === undefined || !rewrites(p)) return undefined;
    const data = p.columns.filter((c) => c.partition?.value === undefined);
    return `CREATE TABLE ${p.work} STORED AS ORC AS SELECT * FROM ${commitSource(p, data)}`;
  },

  /** `deletes: detect`: the target's rows whose key the source's key set does not hold (a NULL key never matches). */
  countMissingKeys(p: CommitPlan): string {
    const key = keyColumns(p);
    return `SELECT COUNT(*) FROM ${p.target} pigeon_t LEFT OUTER JOIN (${keySet(p, key)}) pigeon_k ON ${key.map((k, i) => `pigeon_t.${q(k.name)} = pigeon_k.${q(`k${i}`)}`).join(' AND ')} WHERE pigeon_k.${q('k0')} IS NULL`;
  },

  /** How many staged rows the target holds already (NULL-safe on every column the export carries). */
  stagedRowsInTarget(p: CommitPlan): string {
    const data = p.columns.filter((c) => c.partition?.value === undefined);
    const carried = data.filter((c) => c.from !== undefined);
    const on = carried.map((c) => `pigeon_s.${q(c.name)} <=> pigeon_t.${q(c.name)}`).join(' AND ');
    return `SELECT COUNT(*) FROM (${stagedRows(p, data)}) pigeon_s LEFT SEMI JOIN (${targetRows(p, data, 'pigeon_o')}) pigeon_t ON ${on} WHERE pigeon_s.${q(CHUNK_COLUMN)} <> 0`;
  },

  /**
   * The first staged row that fails a check of the commit: its chunk, its line, then 1 for each check (about
   * `columns`, in order) it fails. Undefined when the commit checks nothing.
   */
  badValues(p: CommitPlan): { sql: string; columns: readonly string[] } | undefined {
    const checks = rowChecks(p);
    if (checks.length === 0) return undefined;
    const flags = checks.map((c, i) => `CASE WHEN ${c.ok} THEN 0 ELSE 1 END AS ${q(`pigeon_bad_${i}`)}`);
    return {
      sql: `SELECT ${q(CHUNK_COLUMN)}, ${q(LINE_COLUMN)}, ${flags.join(', ')} FROM ${p.staging} pigeon_v WHERE ${q(CHUNK_COLUMN)} > 0 AND NOT (${allValid(p)}) LIMIT 1`,
      columns: checks.map((c) => c.column),
    };
  },
};

/** The merge key's target columns. */
function keyColumns(p: CommitPlan): CommitColumn[] {
  return p.key.map((k) => p.columns.find((c) => c.name.toLowerCase() === k.toLowerCase())!);
}

/** The source's key set (`deletes: detect`) in the key's target types, as columns k0, k1, … */
function keySet(p: CommitPlan, key: readonly CommitColumn[]): string {
  // Key column i is the key-set staging table's column i+1: converted as the export's column it comes from.
  const value = (k: CommitColumn, i: number) => convert(p, k, 'pigeon_y').replace(`pigeon_y.${q(`c${k.from! + 1}`)}`, `pigeon_y.${q(`c${i + 1}`)}`);
  return `SELECT DISTINCT ${key.map((k, i) => `${value(k, i)} AS ${q(`k${i}`)}`).join(', ')} FROM ${p.keys} pigeon_y`;
}

/** A merge and a window append read the target they overwrite. */
function rewrites(p: CommitPlan): boolean {
  return p.mode === 'merge' || p.window !== undefined;
}

function commitSource(p: CommitPlan, data: readonly CommitColumn[]): string {
  return p.mode === 'merge' ? mergeSource(p, data) : p.window ? windowSource(p, data) : `(${stagedRows(p, data)}) pigeon_s`;
}

/** ` PARTITION (dt='2026-01-01', country)`, or nothing for a table without partitions. */
function partitionSpec(columns: readonly CommitColumn[]): string {
  const parts = columns.filter((c) => c.partition);
  if (parts.length === 0) return '';
  return ` PARTITION (${parts.map((c) => (c.partition!.value === undefined ? q(c.name) : `${q(c.name)}=${literal(c.partition!.value)}`)).join(', ')})`;
}

/** Staging column `c<i+1>` of alias `a`. */
function staged(i: number, a = 'pigeon_v'): string {
  return `${a}.${q(`c${i + 1}`)}`;
}

/** Staging text → the target column's type. */
function convert(p: CommitPlan, c: CommitColumn, a = 'pigeon_v'): string {
  const s = staged(c.from!, a);
  const from = p.exported[c.from!]!;
  switch (c.type.base) {
    case 'string':
      return s;
    case 'boolean':
      return `CASE ${s} WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE END`;
    case 'binary':
      return from.type === 'binary' ? `unbase64(${s})` : `CAST(${s} AS BINARY)`;
    default:
      return `CAST(${s} AS ${c.type.text.toUpperCase()})`;
  }
}

/**
 * The conditions a staged row must meet in the commit, each with the target column it is about: a static
 * partition the export also carries must hold the partition's value in every row. (Each value's fit to its column
 * is checked while the chunk files are converted, see hive-checks.ts.)
 */
function rowChecks(p: CommitPlan, a = 'pigeon_v'): { column: string; ok: string }[] {
  return p.columns.flatMap((c) =>
    c.partition?.value !== undefined && c.from !== undefined
      ? [{ column: c.name, ok: `COALESCE(${convert(p, c, a)} = CAST(${literal(c.partition.value)} AS ${c.type.text.toUpperCase()}), FALSE)` }]
      : [],
  );
}

/** Every staged value of the row fits its column. */
function allValid(p: CommitPlan, a = 'pigeon_v'): string {
  const parts = rowChecks(p, a).map((c) => c.ok);
  return parts.length === 0 ? 'TRUE' : parts.join(' AND ');
}

/** `assert_true` fails the job on a row with a bad value; it answers NULL otherwise. */
function assertion(p: CommitPlan, a = 'pigeon_v'): string {
  const all = allValid(p, a);
  return all === 'TRUE' ? '' : ` AND assert_true(${q(CHUNK_COLUMN)} = 0 OR (${all})) IS NULL`;
}

/** The staged rows in the target's columns (NULL for a column the export lacks), and the sentinel row. */
function stagedRows(p: CommitPlan, data: readonly CommitColumn[]): string {
  const cols = data.map((c) => `${c.from === undefined ? `CAST(NULL AS ${c.type.text.toUpperCase()})` : convert(p, c)} AS ${q(c.name)}`);
  return `SELECT ${[...cols, `pigeon_v.${q(CHUNK_COLUMN)}`, `pigeon_v.${q(LINE_COLUMN)}`].join(', ')} FROM ${p.staging} pigeon_v WHERE TRUE${assertion(p)}`;
}

/** The target's rows of the static partition being written, or of the whole table. */
function targetRows(p: CommitPlan, data: readonly CommitColumn[], alias: string): string {
  const statics = p.columns.filter((c) => c.partition?.value !== undefined);
  const where = statics.length === 0 ? '' : ` WHERE ${statics.map((c) => `${alias}.${q(c.name)} = ${typedLiteral(c.partition!.value!, c.type)}`).join(' AND ')}`;
  return `SELECT ${data.map((c) => `${alias}.${q(c.name)}`).join(', ')} FROM ${p.target} ${alias}${where}`;
}

/**
 * A window append: the target (or its partition) without the interval's rows, and the staged rows; written back
 * with INSERT OVERWRITE, so a rerun of the interval replaces it instead of adding it twice.
 */
function windowSource(p: CommitPlan, data: readonly CommitColumn[]): string {
  const w = p.window!;
  const keep = `NOT COALESCE(${rangeCondition(w.range, 'pigeon_t', w.types)}, FALSE)`;
  const old = `SELECT ${data.map((c) => `pigeon_t.${q(c.name)}`).join(', ')}, -1 AS ${q(CHUNK_COLUMN)}, 0L AS ${q(LINE_COLUMN)} FROM (${targetRows(p, data, 'pigeon_o')}) pigeon_t WHERE ${keep}`;
  return `(${old} UNION ALL ${stagedRows(p, data)}) pigeon_s`;
}

/**
 * A merge without ACID: the target (or its partitions) FULL OUTER JOIN the last staged row of each key, preferring
 * the staged values of the columns the export carries and keeping the target's others; written back whole with
 * INSERT OVERWRITE. Keys compare NULL-safely (`<=>`), as the other engines' merges do.
 */
function mergeSource(p: CommitPlan, data: readonly CommitColumn[]): string {
  const key = keyColumns(p);
  const dynamic = p.columns.filter((c) => c.partition && c.partition.value === undefined);
  // The last staged row of each key wins; the sentinel row (chunk 0) is kept apart from a row with NULL keys.
  const ranked = `SELECT pigeon_r.*, ROW_NUMBER() OVER (PARTITION BY ${[...key.map((k) => q(k.name)), `${q(CHUNK_COLUMN)} = 0`].join(', ')} ORDER BY ${q(CHUNK_COLUMN)} DESC, ${q(LINE_COLUMN)} DESC) AS pigeon_n FROM (${stagedRows(p, data)}) pigeon_r`;
  const last = `SELECT * FROM (${ranked}) pigeon_k WHERE pigeon_n = 1`;
  let old = `(${targetRows(p, data, 'pigeon_o')})`;
  if (dynamic.length > 0) {
    // Only the partitions the load touches are read and written back; the others stay as they are.
    const touched = `SELECT DISTINCT ${dynamic.map((c) => q(c.name)).join(', ')} FROM (${stagedRows(p, data)}) pigeon_d WHERE ${q(CHUNK_COLUMN)} <> 0`;
    old = `(SELECT pigeon_o.* FROM (${targetRows(p, data, 'pigeon_x')}) pigeon_o LEFT SEMI JOIN (${touched}) pigeon_u ON ${dynamic.map((c) => `pigeon_o.${q(c.name)} <=> pigeon_u.${q(c.name)}`).join(' AND ')})`;
  }
  if (p.keys !== undefined) {
    // deletes: detect: only the target rows whose key the source still has take part.
    old = `(SELECT pigeon_z.* FROM ${old} pigeon_z LEFT SEMI JOIN (${keySet(p, key)}) pigeon_y ON ${key.map((k, i) => `pigeon_z.${q(k.name)} = pigeon_y.${q(`k${i}`)}`).join(' AND ')})`;
  }
  const hit = `pigeon_s.${q(CHUNK_COLUMN)} IS NOT NULL`;
  const cols = data.map((c) => (c.from === undefined ? `pigeon_t.${q(c.name)}` : `CASE WHEN ${hit} THEN pigeon_s.${q(c.name)} ELSE pigeon_t.${q(c.name)} END`) + ` AS ${q(c.name)}`);
  const on = [...key.map((k) => `pigeon_t.${q(k.name)} <=> pigeon_s.${q(k.name)}`), `pigeon_s.${q(CHUNK_COLUMN)} <> 0`].join(' AND ');
  return `(SELECT ${cols.join(', ')}, COALESCE(pigeon_s.${q(CHUNK_COLUMN)}, -1) AS ${q(CHUNK_COLUMN)} FROM ${old} pigeon_t FULL OUTER JOIN (${last}) pigeon_s ON ${on}) pigeon_m`;
}
