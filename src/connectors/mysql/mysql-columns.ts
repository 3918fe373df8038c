import type { ColumnSchema, PortableType } from '../../csv/types.js';
import { toBoolean, toNumber, utcNaive } from '../../csv/values.js';
import { RESULT_BYTES_PER_CHAR } from './mysql-types.js';

/*
 * The import side of MySQL types: the column type of a table pigeon creates, and how each exchange value is
 * written into an existing column (see the table in mysql-types.ts).
 */

/** Portable column → the column type of a table pigeon creates. */
export function mysqlType(c: ColumnSchema): string {
  switch (c.type) {
    case 'boolean':
      return 'TINYINT(1)';
    case 'int16':
      return 'SMALLINT';
    case 'int32':
      return 'INT';
    case 'int64':
      return 'BIGINT';
    case 'uint64':
      return 'BIGINT UNSIGNED';
    case 'float32':
      return 'FLOAT';
    case 'float64':
      return 'DOUBLE';
    case 'decimal': {
      // MySQL caps DECIMAL at 65 digits and 30 decimals: wider values then fail the import rather than round.
      if (c.precision === undefined) return `DECIMAL(65,${Math.min(Math.max(c.scale ?? 30, 0), 30)})`;
      // PostgreSQL allows a negative scale (numeric(5,-2): 7 integer digits, rounded to hundreds) and a scale above
      // the precision (numeric(3,5): 5 decimals, no integer digit): the same values as integer and decimal digits.
      const scale = c.scale ?? 0;
      const decimals = Math.min(Math.max(scale, 0), 30);
      const digits = Math.max(c.precision - scale, 0) + decimals;
      return `DECIMAL(${Math.min(Math.max(digits, decimals, 1), 65)},${decimals})`;
    }
    case 'string':
      return c.length !== undefined && c.length <= MAX_VARCHAR ? `VARCHAR(${c.length})` : 'LONGTEXT';
    case 'text':
      return 'LONGTEXT';
    case 'binary':
      return 'LONGBLOB';
    case 'date':
      return 'DATE';
    case 'time':
      return 'TIME(6)';
    case 'timestamp':
    case 'timestamptz':
      return 'DATETIME(6)';
    case 'json':
      return 'JSON';
    case 'uuid':
      return 'CHAR(36)';
  }
}

/** The longest VARCHAR of utf8mb4 that fits a row (65,535 bytes, 4 per character). */
const MAX_VARCHAR = 16383;
/** Bytes of a row's VARCHAR columns MySQL allows in total; the rest of a table's columns need some room too. */
const ROW_VARCHAR_BUDGET = 60_000;

/**
 * The types of every column of a new table: as mysqlType, except that when the VARCHARs together would exceed the
 * 65,535-byte row limit ("Row size too large"), the widest become LONGTEXT (stored off-row).
 */
export function mysqlTypes(columns: readonly ColumnSchema[]): string[] {
  const types = columns.map(mysqlType);
  const varcharBytes = (i: number) => {
    const m = /^VARCHAR\((\d+)\)$/.exec(types[i]!);
    return m ? Number(m[1]) * RESULT_BYTES_PER_CHAR + 2 : 0;
  };
  let total = types.reduce((n, _t, i) => n + varcharBytes(i), 0);
  while (total > ROW_VARCHAR_BUDGET) {
    let widest = 0;
    for (let i = 1; i < types.length; i++) if (varcharBytes(i) > varcharBytes(widest)) widest = i;
    total -= varcharBytes(widest);
    types[widest] = 'LONGTEXT';
  }
  return types;
}

/** How a target column takes a value: decides the conversions of an import. */
export type TargetKind = 'numeric' | 'float' | 'year' | 'bit' | 'text' | 'binary' | 'geometry' | 'temporal';

/** information_schema DATA_TYPE → kind. */
export function targetKind(dataType: string): TargetKind {
  const t = dataType.toLowerCase();
  if (t === 'bit') return 'bit';
  if (t === 'year') return 'year';
  if (t === 'float' || t === 'double' || t === 'real') return 'float';
  if (/^(tinyint|smallint|mediumint|int|integer|bigint|decimal|numeric|float|double|real|year|bool|boolean)$/.test(t)) return 'numeric';
  if (/^(binary|varbinary|tinyblob|blob|mediumblob|longblob|vector)$/.test(t)) return 'binary';
  if (/^(geometry|point|linestring|polygon|multipoint|multilinestring|multipolygon|geometrycollection|geomcollection)$/.test(t)) return 'geometry';
  if (/^(date|time|datetime|timestamp)$/.test(t)) return 'temporal';
  return 'text';
}

/** The kind of a column pigeon creates from a portable type. */
export function kindOfPortable(t: PortableType): TargetKind {
  switch (t) {
    case 'binary':
      return 'binary';
    case 'float32':
    case 'float64':
      return 'float';
    case 'date':
    case 'time':
    case 'timestamp':
    case 'timestamptz':
      return 'temporal';
    case 'string':
    case 'text':
    case 'json':
    case 'uuid':
      return 'text';
    default:
      return 'numeric';
  }
}

/**
 * How one column's exchange text reaches the target: `text` turns it into what the server parses (throws a
 * message on a bad value), `via` says the loaded text is base64 for FROM_BASE64 (optionally made a geometry from
 * WKB) or digits for a BIT column.
 */
export interface ImportColumn {
  readonly name: string;
  readonly text: (s: string) => string;
  readonly via?: 'base64' | 'geometry' | 'bits';
}

/** The conversion of the columns whose exchange text the server takes as it is (the import copies their bytes). */
export const keepText = (s: string): string => s;

/** What the server cannot store, beyond what strict mode refuses by itself. */
export interface ServerLimits {
  /** MariaDB stores -0 in a FLOAT or DOUBLE as 0. */
  readonly negativeZero: boolean;
}

/** The conversion of a portable column into a target column of `kind` (`single`: a FLOAT, not a DOUBLE). */
export function importColumn(c: ColumnSchema, kind: TargetKind, limits: ServerLimits = { negativeZero: true }, single = false): ImportColumn {
  // A YEAR column reads '0' to '99' as 2000 to 2099 and 1970 to 1999: four digits say the year itself ('0000').
  if (kind === 'year') return { name: c.name, text: (s) => (/^\d{1,3}$/.test(s) ? s.padStart(4, '0') : s) };
  if (kind === 'float' && (c.type === 'float32' || c.type === 'float64')) return { name: c.name, text: floatText(c, limits, single) };
  return convertInto(c, kind === 'float' ? 'numeric' : kind, limits);
}

function convertInto(c: ColumnSchema, kind: TargetKind, limits: ServerLimits): ImportColumn {
  const same = keepText;
  switch (c.type) {
    case 'boolean':
      if (kind === 'numeric' || kind === 'bit') return { name: c.name, text: (s) => (toBoolean(s) ? '1' : '0'), ...(kind === 'bit' ? { via: 'bits' } : {}) };
      return { name: c.name, text: same };
    case 'binary':
      if (kind === 'binary' || kind === 'bit') return { name: c.name, text: checkBase64, via: 'base64' };
      if (kind === 'geometry') return { name: c.name, text: checkBase64, via: 'geometry' };
      return { name: c.name, text: same };
    case 'timestamptz':
      return { name: c.name, text: kind === 'temporal' ? utcNaive : same };
    case 'float32':
    case 'float64':
      if (kind !== 'numeric') return { name: c.name, text: same };
      return { name: c.name, text: floatText(c, limits, false) };
    default:
      if (kind === 'bit') return { name: c.name, text: same, via: 'bits' };
      return { name: c.name, text: same };
  }
}

const FLT_MAX = 3.4028234663852886e38;

/**
 * A number into a FLOAT or DOUBLE column: NaN and the infinities are refused (MySQL stores none of them), -0 where
 * the server would store 0; into a FLOAT, a value that rounds to the largest float (PostgreSQL prints it as
 * 3.4028235e+38, above FLT_MAX as a double, which MySQL refuses as out of range) is written as that float.
 */
function floatText(c: ColumnSchema, limits: ServerLimits, single: boolean): (s: string) => string {
  return (s) => {
    const n = toNumber(s);
    if (!Number.isFinite(n)) throw new Error(`${s} cannot be stored in a MySQL number column`);
    if (!limits.negativeZero && Object.is(n, -0)) throw new Error('-0 cannot be stored in a MariaDB FLOAT or DOUBLE column (it becomes 0)');
    if (single && Math.abs(n) > FLT_MAX && Number.isFinite(Math.fround(n))) return String(Math.fround(n));
    return s;
  };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function checkBase64(s: string): string {
  if (s.length % 4 !== 0 || !BASE64.test(s)) throw new Error('not base64');
  return s;
}

