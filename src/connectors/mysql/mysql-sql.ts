import { quoteTable, type SqlDialect } from '../sql/dialect.js';
import type { Reference } from '../sql/keyed-overwrite.js';
import { LOADS_TABLE, SEQ_COLUMN } from '../sql/work-tables.js';

/** Every statement pigeon runs against MySQL/MariaDB, in one place so engines can be compared side by side. */
export const mysqlDialect: SqlDialect = {
  quoteIdent: (name) => `\`${name.replaceAll('`', '``')}\``,
  placeholder: () => '?',
};

const q = mysqlDialect.quoteIdent;
const qt = (table: string) => quoteTable(mysqlDialect, table);
const list = (columns: readonly string[], prefix = '') => columns.map((c) => prefix + q(c)).join(', ');


/**
 * The session of an import: strict, so a value the column cannot hold fails instead of being truncated or rounded
 * (LOAD DATA LOCAL still only warns: the import checks SHOW WARNINGS), zero dates refused, and no
 * NO_BACKSLASH_ESCAPES, which would change what `ESCAPED BY '\\'` and mysql2's value quoting mean.
 */
export const IMPORT_SQL_MODE = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';

/** A column of a staging or new table: its name and full SQL type. */
export interface ColumnDef {
  readonly name: string;
  readonly definition: string;
  /** Only for a table pigeon creates (staging tables take any value and check nothing). */
  readonly notNull?: boolean;
  readonly comment?: string;
}

export const mysqlSql = {
  /** Every session reads and writes TIMESTAMP in UTC, so no value depends on the server's time zone. */
  sessionTimeZone: `SET time_zone = '+00:00'`,
  sqlMode: 'SELECT @@SESSION.sql_mode',
  setSqlMode: 'SET SESSION sql_mode = ?',
  maxAllowedPacket: 'SELECT @@max_allowed_packet',
  currentDatabase: 'SELECT DATABASE()',
  version: 'SELECT VERSION()',
  /** InnoDB transactions open now, but this session's and the pool's own (`?`: their thread ids). */
  openTransactions:
    'SELECT trx_id, trx_mysql_thread_id, trx_started FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id <> CONNECTION_ID() AND trx_mysql_thread_id NOT IN (?)',
  stillOpen: 'SELECT trx_id FROM information_schema.INNODB_TRX WHERE trx_id IN (?)',
  kill: 'KILL ?',

  /** The columns of an export without reading a row. */
  describe: (select: string) => `${select} LIMIT 0`,
  /**
   * The export with FLOAT and DOUBLE columns read as `col * 1e0`: a double expression, whose text is the shortest
   * round-trip form (the server prints FLOAT columns with 6 digits and DOUBLE(M,D) with D decimals). Multiplying
   * by one is exact and keeps -0.
   */
  exportProjection: (select: string, columns: readonly { name: string; float: boolean }[]) =>
    `SELECT ${columns.map((c) => (c.float ? `(${q(c.name)} * 1e0) AS ${q(c.name)}` : q(c.name))).join(', ')} FROM (${select}) AS pigeon_x`,

  createLoads:
    `CREATE TABLE IF NOT EXISTS ${q(LOADS_TABLE)} (load_id VARCHAR(500) NOT NULL, target VARCHAR(255) NOT NULL, ` +
    '`rows` BIGINT NOT NULL, committed_at DATETIME(6) NOT NULL, PRIMARY KEY (load_id, target)) ' +
    'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
  anyRow: (table: string) => `SELECT 1 FROM ${qt(table)} LIMIT 1`,
  loadsExists: `SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '${LOADS_TABLE}'`,
  loadCommitted: `SELECT 1 FROM ${q(LOADS_TABLE)} WHERE load_id = ? AND target = ?`,
  recordLoad: `INSERT INTO ${q(LOADS_TABLE)} (load_id, target, \`rows\`, committed_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))`,

  /** A table's columns; `?` schema NULL means the session's database. Names are compared exactly by the caller. */
  tableColumns:
    'SELECT TABLE_NAME AS tbl, COLUMN_NAME AS name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, ' +
    'CHARACTER_SET_NAME AS charset, COLLATION_NAME AS collation, NUMERIC_PRECISION AS num_precision, ' +
    'NUMERIC_SCALE AS num_scale, DATETIME_PRECISION AS dt_precision, CHARACTER_MAXIMUM_LENGTH AS max_length, ' +
    "IS_NULLABLE AS nullable, (COLUMN_DEFAULT IS NOT NULL AND COLUMN_DEFAULT <> 'NULL') OR COLUMN_COMMENT <> '' OR EXTRA <> '' AS special " +
    'FROM information_schema.COLUMNS ' +
    'WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
  uniqueKeys:
    'SELECT TABLE_NAME AS tbl, INDEX_NAME AS name, COLUMN_NAME AS col FROM information_schema.STATISTICS ' +
    'WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX',
  /**
   * Triggers on a table and foreign keys from or to it: CREATE TABLE … LIKE copies neither, and RENAME would move
   * them with the old table, so such a table is overwritten by DELETE and INSERT instead of a swap.
   */
  swapBlockers:
    'SELECT (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = COALESCE(?, DATABASE()) AND EVENT_OBJECT_TABLE = ?) + ' +
    '(SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE (CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?) ' +
    'OR (UNIQUE_CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND REFERENCED_TABLE_NAME = ?))',
  /** Tables whose names start with a prefix (given already LIKE-escaped). */
  tablesLike: 'SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME LIKE ?',
  /** A load's named lock on one of its work tables (see workTableLock), released with the session or at its end. */
  claim: 'SELECT GET_LOCK(?, 60)',
  isFreeLock: 'SELECT IS_FREE_LOCK(?)',
  releaseLocks: 'SELECT RELEASE_ALL_LOCKS()',

  /** A table pigeon creates: the columns, NOT NULL and comments where given, and the primary key. */
  createTable: (table: string, columns: readonly ColumnDef[], key?: readonly string[]) =>
    `CREATE TABLE ${qt(table)} (${[
      ...columns.map((c) => `${q(c.name)} ${c.definition}${c.notNull ? ' NOT NULL' : ''}${c.comment ? ` COMMENT ${stringLiteral(c.comment)}` : ''}`),
      ...(key && key.length > 0 ? [`PRIMARY KEY (${list(key)})`] : []),
    ].join(', ')}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  /** The primary key's columns and the comments of a source table (for the columns of an export of it). */
  sourcePrimaryKey:
    "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
  sourceComments:
    "SELECT COLUMN_NAME, COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_COMMENT <> ''",
  /** Staging of an append or merge: the load's columns, no constraints, and the load order. */
  createStaging: (staging: string, columns: readonly ColumnDef[]) =>
    `CREATE TABLE ${qt(staging)} (${columns.map((c) => `${q(c.name)} ${c.definition} NULL`).join(', ')}, ` +
    `${q(SEQ_COLUMN)} BIGINT NOT NULL PRIMARY KEY) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  /** Staging of an overwrite: the target's exact shape, indexes and defaults included. */
  createStagingLike: (staging: string, target: string) => `CREATE TABLE ${qt(staging)} LIKE ${qt(target)}`,
  stagingKeyIndex: (staging: string, key: readonly string[]) => `ALTER TABLE ${qt(staging)} ADD INDEX pigeon_key (${list(key)})`,
  dropTable: (table: string) => `DROP TABLE IF EXISTS ${qt(table)}`,
  /** schema_changes add_columns: new columns (nullable) and wider types, in one statement. */
  alterTable: (table: string, add: readonly ColumnDef[], modify: readonly ColumnDef[]) =>
    `ALTER TABLE ${qt(table)} ${[...add.map((c) => `ADD COLUMN ${q(c.name)} ${c.definition} NULL`), ...modify.map((c) => `MODIFY COLUMN ${q(c.name)} ${c.definition}`)].join(', ')}`,

  /**
   * One chunk in MySQL's own text format: tab-separated, `\N` for NULL, backslash escapes. Columns loaded through a
   * user variable are converted by SET: base64 into bytes, WKB into a geometry, digits into a BIT value.
   */
  loadData: (table: string, columns: readonly { name: string; via?: 'base64' | 'geometry' | 'bits' }[], seq: boolean) => {
    const targets = columns.map((c, i) => (c.via ? `@v${i}` : q(c.name)));
    if (seq) targets.push(q(SEQ_COLUMN));
    const sets = columns.flatMap((c, i) => {
      switch (c.via) {
        case 'base64':
          return [`${q(c.name)} = FROM_BASE64(@v${i})`];
        case 'geometry':
          return [`${q(c.name)} = ST_GeomFromWKB(FROM_BASE64(@v${i}))`];
        case 'bits':
          return [`${q(c.name)} = CAST(@v${i} AS UNSIGNED)`];
        default:
          return [];
      }
    });
    return (
      `LOAD DATA LOCAL INFILE 'pigeon-chunk' INTO TABLE ${qt(table)} CHARACTER SET utf8mb4 ` +
      `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${targets.join(', ')})` +
      (sets.length > 0 ? ` SET ${sets.join(', ')}` : '')
    );
  },
  showWarnings: 'SHOW WARNINGS',
  /** The head of a multi-row INSERT (the fallback when the server refuses LOCAL INFILE); rows are appended. */
  insertHead: (table: string, columns: readonly string[], seq: boolean) =>
    `INSERT INTO ${qt(table)} (${list(seq ? [...columns, SEQ_COLUMN] : columns)}) VALUES `,

  begin: 'START TRANSACTION',
  commit: 'COMMIT',
  rollback: 'ROLLBACK',
  /** RENAME TABLE of several pairs is atomic: readers see the old table or the new one, never none. */
  swap: (target: string, old: string, staging: string) => `RENAME TABLE ${qt(target)} TO ${qt(old)}, ${qt(staging)} TO ${qt(target)}`,
  rename: (from: string, to: string) => `RENAME TABLE ${qt(from)} TO ${qt(to)}`,
  deleteAll: (target: string) => `DELETE FROM ${qt(target)}`,
  /** The rows of a window append's interval, replaced in the commit (`where` from buildRange). */
  deleteWhere: (target: string, where: string) => `DELETE FROM ${qt(target)} WHERE ${where}`,
  copyAll: (target: string, staging: string, columns: readonly string[]) =>
    `INSERT INTO ${qt(target)} (${list(columns)}) SELECT ${list(columns)} FROM ${qt(staging)} ORDER BY ${q(SEQ_COLUMN)}`,
  /** The last row of each key in load order (NULL keys group together, as `<=>` matches them). */
  lastPerKey: (staging: string, columns: readonly string[], key: readonly string[], withSeq = false) =>
    `SELECT ${list(withSeq ? [...columns, SEQ_COLUMN] : columns, 's.')} FROM ${qt(staging)} AS s JOIN (SELECT MAX(${q(SEQ_COLUMN)}) AS m FROM ${qt(staging)} ` +
    `GROUP BY ${list(key)}) AS pigeon_last ON s.${q(SEQ_COLUMN)} = pigeon_last.m ORDER BY s.${q(SEQ_COLUMN)}`,
  /**
   * Upsert on a PRIMARY/UNIQUE key equal to the merge key. `VALUES(col)` is understood by MariaDB and MySQL 8 alike
   * (MySQL 8.0.20+ deprecates it with a warning in favour of a row alias, which MariaDB lacks).
   */
  mergeUpsert: (target: string, staging: string, columns: readonly string[], key: readonly string[]) => {
    const keys = new Set(key.map((k) => k.toLowerCase()));
    const updated = columns.filter((c) => !keys.has(c.toLowerCase()));
    const assignments = (updated.length > 0 ? updated : [key[0]!]).map((c) => `${q(c)} = VALUES(${q(c)})`).join(', ');
    return `INSERT INTO ${qt(target)} (${list(columns)}) ${mysqlSql.lastPerKey(staging, columns, key)} ON DUPLICATE KEY UPDATE ${assignments}`;
  },
  /**
   * Merge without an upsert: the target rows of every loaded key take the loaded values of the columns the load
   * carries (NULL-safe key match; the target's other columns are kept)…
   */
  mergeUpdate: (target: string, staging: string, columns: readonly string[], key: readonly string[]) => {
    const keys = new Set(key.map((k) => k.toLowerCase()));
    const set = columns.filter((c) => !keys.has(c.toLowerCase())).map((c) => `t.${q(c)} = s.${q(c)}`);
    return set.length === 0
      ? undefined
      : `UPDATE ${qt(target)} AS t JOIN (${mysqlSql.lastPerKey(staging, columns, key)}) AS s ON ${keyMatch(key, 't', 's')} SET ${set.join(', ')}`;
  },
  /** …and the last row of each key that the target does not have is inserted, in load order. */
  mergeInsert: (target: string, staging: string, columns: readonly string[], key: readonly string[]) =>
    `INSERT INTO ${qt(target)} (${list(columns)}) SELECT ${list(columns, 's.')} FROM (${mysqlSql.lastPerKey(staging, columns, key, true)}) AS s ` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${qt(target)} AS t WHERE ${keyMatch(key, 't', 's')}) ORDER BY s.${q(SEQ_COLUMN)}`,

  /**
   * Tables whose foreign keys reference the target, one row per column pair: constraint, referencing table and
   * column, referenced column, and the ON DELETE / ON UPDATE rules.
   */
  referencingKeys:
    'SELECT k.CONSTRAINT_NAME, k.TABLE_SCHEMA, k.TABLE_NAME, k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME, r.DELETE_RULE ' +
    'FROM information_schema.KEY_COLUMN_USAGE AS k JOIN information_schema.REFERENTIAL_CONSTRAINTS AS r ' +
    'ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME ' +
    'WHERE k.REFERENCED_TABLE_SCHEMA = COALESCE(?, DATABASE()) AND k.REFERENCED_TABLE_NAME = ? ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION',
  /** A table's rows by the engine's statistics (InnoDB: an estimate), for a split's first boundary. */
  estimatedRows: 'SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?',
  primaryKey:
    "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
  /** A key that appears twice in the staging table (an overwrite by key needs each once). */
  duplicateKey: (staging: string, key: readonly string[]) =>
    `SELECT ${list(key)} FROM ${qt(staging)} GROUP BY ${list(key)} HAVING COUNT(*) > 1 LIMIT 1`,
  /**
   * A row of `child` that references a target row the overwrite would remove or change (its key is not loaded, or
   * is loaded with other referenced values).
   */
  orphanedReference: (child: string, target: string, staging: string, fk: Reference, key: readonly string[]) =>
    `SELECT 1 FROM ${qt(child)} AS c JOIN ${qt(target)} AS t ON ${fk.columns.map((col, i) => `c.${q(col)} = t.${q(fk.referenced[i]!)}`).join(' AND ')} ` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${qt(staging)} AS s WHERE ${keyMatch(key, 's', 't')} AND ${fk.referenced.map((r) => `s.${q(r)} <=> t.${q(r)}`).join(' AND ')}) LIMIT 1`,
  /** deletes: detect: the target's rows whose key is not in the source's key set (NULL-safe). */
  deleteMissing: (target: string, keys: string, key: readonly string[]) =>
    `DELETE FROM ${qt(target)} WHERE NOT EXISTS (SELECT 1 FROM ${qt(keys)} AS k WHERE ${key.map((c) => `k.${q(c)} <=> ${qt(target)}.${q(c)}`).join(' AND ')})`,
  /** Overwrite by key, for a table that others reference: rows whose key is not loaded go… */
  replaceDelete: (target: string, staging: string, key: readonly string[]) =>
    `DELETE t FROM ${qt(target)} AS t LEFT JOIN ${qt(staging)} AS s ON ${keyMatch(key, 't', 's')} WHERE s.${q(SEQ_COLUMN)} IS NULL`,
  /** …rows whose key is loaded take its values (a key's value never changes, so no referential action fires)… */
  replaceUpdate: (target: string, staging: string, columns: readonly string[], key: readonly string[]) => {
    const keys = new Set(key.map((k) => k.toLowerCase()));
    const set = columns.filter((c) => !keys.has(c.toLowerCase())).map((c) => `t.${q(c)} = s.${q(c)}`);
    return set.length === 0 ? undefined : `UPDATE ${qt(target)} AS t JOIN ${qt(staging)} AS s ON ${keyMatch(key, 't', 's')} SET ${set.join(', ')}`;
  },
  /** …and the new keys are inserted. */
  replaceInsert: (target: string, staging: string, columns: readonly string[], key: readonly string[]) =>
    `INSERT INTO ${qt(target)} (${list(columns)}) SELECT ${list(columns, 's.')} FROM ${qt(staging)} AS s ` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${qt(target)} AS t WHERE ${keyMatch(key, 't', 's')}) ORDER BY s.${q(SEQ_COLUMN)}`,
};

/** A string literal (sessions never use NO_BACKSLASH_ESCAPES: backslashes are escaped). */
function stringLiteral(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/** `a.k1 <=> b.k1 AND …`: NULL-safe, as the load's "same key" means. */
function keyMatch(key: readonly string[], a: string, b: string): string {
  return key.map((k) => `${a}.${q(k)} <=> ${b}.${q(k)}`).join(' AND ');
}

/** `prefix` as a LIKE pattern matching names that start with it. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
