import type { Cell, ColumnSchema } from '../../csv/types.js';
import { fromNumber, shortestFloat32 } from '../../csv/values.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { Tinyint1Rule, ZeroDateRule } from './mysql-config.js';

/*
 * MySQL/MariaDB types ↔ portable types, and values each way.
 *
 * | MySQL source type                              | portable            | MySQL type pigeon creates            |
 * | ---------------------------------------------- | ------------------- | ------------------------------------ |
 * | TINYINT(1) (`options.tinyint1: boolean`)        | boolean             | TINYINT(1)                           |
 * | TINYINT, TINYINT UNSIGNED, SMALLINT, YEAR       | int16               | SMALLINT                             |
 * | SMALLINT UNSIGNED, MEDIUMINT (UNSIGNED), INT    | int32               | INT                                  |
 * | INT UNSIGNED, BIGINT                            | int64               | BIGINT                               |
 * | BIGINT UNSIGNED                                 | uint64              | BIGINT UNSIGNED                      |
 * | FLOAT                                           | float32             | FLOAT                                |
 * | DOUBLE                                          | float64             | DOUBLE                               |
 * | DECIMAL(p,s)                                    | decimal(p,s)        | DECIMAL(p,s); none: DECIMAL(65,30)   |
 * | CHAR(n), VARCHAR(n), ENUM, SET                  | string(n)           | VARCHAR(n); n > 16383: LONGTEXT      |
 * | TINYTEXT … LONGTEXT                             | text                | LONGTEXT                             |
 * | BINARY, VARBINARY, BLOBs, BIT(n), GEOMETRY (WKB) | binary             | LONGBLOB                             |
 * | DATE                                            | date                | DATE                                 |
 * | TIME(fsp)                                       | time                | TIME(6)                              |
 * | DATETIME(fsp)                                   | timestamp           | DATETIME(6)                          |
 * | TIMESTAMP(fsp) (exported in UTC)                | timestamptz         | DATETIME(6) (UTC, offset removed)    |
 * | JSON (MariaDB: LONGTEXT flagged json)           | json                | JSON (MariaDB: LONGTEXT + JSON_VALID)|
 * | UUID (MariaDB 10.7+)                            | uuid                | CHAR(36)                             |
 *
 * Tables pigeon creates use utf8mb4 with the utf8mb4_bin collation, so keys compare exactly as in the source.
 */

/** Protocol column type codes (include/mysql_com.h `enum_field_types`). */
export const T = {
  DECIMAL: 0x00,
  TINY: 0x01,
  SHORT: 0x02,
  LONG: 0x03,
  FLOAT: 0x04,
  DOUBLE: 0x05,
  NULL: 0x06,
  TIMESTAMP: 0x07,
  LONGLONG: 0x08,
  INT24: 0x09,
  DATE: 0x0a,
  TIME: 0x0b,
  DATETIME: 0x0c,
  YEAR: 0x0d,
  NEWDATE: 0x0e,
  VARCHAR: 0x0f,
  BIT: 0x10,
  VECTOR: 0xf2,
  JSON: 0xf5,
  NEWDECIMAL: 0xf6,
  ENUM: 0xf7,
  SET: 0xf8,
  TINY_BLOB: 0xf9,
  MEDIUM_BLOB: 0xfa,
  LONG_BLOB: 0xfb,
  BLOB: 0xfc,
  VAR_STRING: 0xfd,
  STRING: 0xfe,
  GEOMETRY: 0xff,
} as const;

const NOT_NULL_FLAG = 1;
const UNSIGNED_FLAG = 32;
const ENUM_FLAG = 256;
const SET_FLAG = 2048;
/** The `binary` character set: the column holds bytes, not text. */
export const BINARY_CHARSET = 63;
/** Sessions use utf8mb4, so a text column's length in the metadata is 4 bytes per character. */
export const RESULT_BYTES_PER_CHAR = 4;

/** The column metadata the server sends with a result (mysql2's ColumnDefinition). */
export interface FieldMeta {
  readonly name: string;
  readonly columnType: number;
  readonly characterSet: number;
  readonly flags: number;
  readonly columnLength: number;
  readonly decimals: number;
  readonly extendedTypeName?: string;
  readonly extendedFormat?: string;
}

/**
 * mysql2 typeCast type names whose values the export takes as bytes (`field.buffer()`): text columns are decoded
 * as UTF-8 afterwards, binary ones become base64. Every other type is read as the server's text (`field.string()`).
 */
export const BYTE_TYPE_NAMES: ReadonlySet<string> = new Set([
  'STRING', 'VAR_STRING', 'VARCHAR', 'TINY_BLOB', 'MEDIUM_BLOB', 'LONG_BLOB', 'BLOB', 'BIT', 'GEOMETRY', 'ENUM', 'SET', 'VECTOR',
]);

type Portable = Pick<ColumnSchema, 'type' | 'precision' | 'scale' | 'length'>;

/** A result column → its portable type and a readable source type name, from the metadata alone. */
export function columnFromField(f: FieldMeta, tinyint1: Tinyint1Rule): ColumnSchema {
  const p = portableOf(f, tinyint1);
  return {
    name: f.name,
    nullable: (f.flags & NOT_NULL_FLAG) === 0,
    ...p,
    source_type: sourceTypeName(f),
  };
}

function portableOf(f: FieldMeta, tinyint1: Tinyint1Rule): Portable {
  const unsigned = (f.flags & UNSIGNED_FLAG) !== 0;
  const ext = f.extendedTypeName?.toLowerCase();
  if (f.extendedFormat === 'json') return { type: 'json' };
  if (ext === 'uuid') return { type: 'uuid' };
  switch (f.columnType) {
    case T.TINY:
      return f.columnLength === 1 && tinyint1 === 'boolean' ? { type: 'boolean' } : { type: 'int16' };
    case T.SHORT:
      return { type: unsigned ? 'int32' : 'int16' };
    case T.YEAR:
      return { type: 'int16' };
    case T.INT24:
      return { type: 'int32' };
    case T.LONG:
      return { type: unsigned ? 'int64' : 'int32' };
    case T.LONGLONG:
      return { type: unsigned ? 'uint64' : 'int64' };
    case T.FLOAT:
      return { type: 'float32' };
    case T.DOUBLE:
      return { type: 'float64' };
    case T.DECIMAL:
    case T.NEWDECIMAL: {
      const { precision, scale } = decimalOf(f);
      return { type: 'decimal', precision, scale };
    }
    case T.DATE:
    case T.NEWDATE:
      return { type: 'date' };
    case T.TIME:
      return { type: 'time', precision: fsp(f) };
    case T.DATETIME:
      return { type: 'timestamp', precision: fsp(f) };
    case T.TIMESTAMP:
      return { type: 'timestamptz', precision: fsp(f) };
    case T.JSON:
      return { type: 'json' };
    case T.BIT:
    case T.GEOMETRY:
    case T.VECTOR:
      return { type: 'binary' };
    case T.TINY_BLOB:
    case T.MEDIUM_BLOB:
    case T.LONG_BLOB:
    case T.BLOB:
      return { type: f.characterSet === BINARY_CHARSET ? 'binary' : 'text' };
    case T.STRING:
    case T.VAR_STRING:
    case T.VARCHAR:
    case T.ENUM:
    case T.SET:
      if (f.characterSet === BINARY_CHARSET && (f.flags & (ENUM_FLAG | SET_FLAG)) === 0) return { type: 'binary' };
      return { type: 'string', length: Math.floor(f.columnLength / RESULT_BYTES_PER_CHAR) };
    default:
      return { type: 'text' };
  }
}

/** Fractional-second digits of a TIME, DATETIME or TIMESTAMP column. */
function fsp(f: FieldMeta): number {
  return f.decimals >= 0 && f.decimals <= 6 ? f.decimals : 6;
}

/** DECIMAL(p,s) from the display length: p digits, plus a point when s > 0, plus a sign unless UNSIGNED. */
function decimalOf(f: FieldMeta): { precision: number; scale: number } {
  const unsigned = (f.flags & UNSIGNED_FLAG) !== 0;
  const scale = f.decimals;
  const precision = f.columnLength - (scale > 0 ? 1 : 0) - (unsigned ? 0 : 1);
  return { precision: Math.max(precision, 1), scale };
}

function sourceTypeName(f: FieldMeta): string {
  const unsigned = (f.flags & UNSIGNED_FLAG) !== 0 ? ' unsigned' : '';
  const fsp = f.decimals > 0 && f.decimals <= 6 ? `(${f.decimals})` : '';
  const chars = Math.floor(f.columnLength / RESULT_BYTES_PER_CHAR);
  const size = (n: number) => (n <= 255 ? 'tiny' : n <= 65535 ? '' : n <= 16777215 ? 'medium' : 'long');
  if (f.extendedTypeName) return f.extendedTypeName.toLowerCase();
  if (f.extendedFormat === 'json') return 'json';
  switch (f.columnType) {
    case T.TINY:
      return f.columnLength === 1 ? `tinyint(1)${unsigned}` : `tinyint${unsigned}`;
    case T.SHORT:
      return `smallint${unsigned}`;
    case T.INT24:
      return `mediumint${unsigned}`;
    case T.LONG:
      return `int${unsigned}`;
    case T.LONGLONG:
      return `bigint${unsigned}`;
    case T.YEAR:
      return 'year';
    case T.FLOAT:
      return `float${unsigned}`;
    case T.DOUBLE:
      return `double${unsigned}`;
    case T.DECIMAL:
    case T.NEWDECIMAL: {
      const d = decimalOf(f);
      return `decimal(${d.precision},${d.scale})${unsigned}`;
    }
    case T.DATE:
    case T.NEWDATE:
      return 'date';
    case T.TIME:
      return `time${fsp}`;
    case T.DATETIME:
      return `datetime${fsp}`;
    case T.TIMESTAMP:
      return `timestamp${fsp}`;
    case T.JSON:
      return 'json';
    case T.BIT:
      return `bit(${f.columnLength})`;
    case T.GEOMETRY:
      return 'geometry';
    case T.VECTOR:
      return 'vector';
    case T.TINY_BLOB:
    case T.MEDIUM_BLOB:
    case T.LONG_BLOB:
    case T.BLOB:
      return f.characterSet === BINARY_CHARSET ? `${size(f.columnLength)}blob` : `${size(chars)}text`;
    case T.ENUM:
      return 'enum';
    case T.SET:
      return 'set';
    case T.STRING:
    case T.VAR_STRING:
    case T.VARCHAR:
      if ((f.flags & ENUM_FLAG) !== 0) return 'enum';
      if ((f.flags & SET_FLAG) !== 0) return 'set';
      if (f.characterSet === BINARY_CHARSET) return `${f.columnType === T.STRING ? 'binary' : 'varbinary'}(${f.columnLength})`;
      return `${f.columnType === T.STRING ? 'char' : 'varchar'}(${chars})`;
    case T.NULL:
      return 'null';
    default:
      return `type ${f.columnType}`;
  }
}

/** Columns whose server text is not round-trip exact (FLOAT prints 6 digits) and must be read as a double. */
export function isFloatField(f: FieldMeta): boolean {
  return f.columnType === T.FLOAT || f.columnType === T.DOUBLE;
}

export interface ExportContext {
  readonly table?: string;
  readonly zeroDates: ZeroDateRule;
  /** Called for each zero date written as NULL. */
  readonly onZeroDate: () => void;
}

/** A value as the export's typeCast returned it: the server's text, or bytes for the BYTE_TYPE_NAMES. */
export type RawValue = string | Buffer | null;

/**
 * The exchange text of one column's raw values. `column` is the portable column; `f` the source metadata (the export
 * reads FLOAT and DOUBLE through `col * 1e0`, so their raw text is the exact double, see mysqlSql.exportProjection).
 */
export function exportEncoder(column: ColumnSchema, f: FieldMeta, ctx: ExportContext): (v: RawValue) => Cell {
  const bad = (message: string) =>
    new PipelineError('BAD_VALUE', message, { column: column.name, ...(ctx.table !== undefined ? { table: ctx.table } : {}) });
  const text = (v: RawValue): string => (typeof v === 'string' ? v : (v as Buffer).toString('utf8'));
  switch (column.type) {
    case 'boolean':
      return (v) => {
        if (v === null) return null;
        const s = text(v);
        if (s === '0') return 'false';
        if (s === '1') return 'true';
        throw bad(`TINYINT(1) column \`${column.name}\` holds ${s}, which is not a boolean (0 or 1); set \`options.tinyint1: integer\` to export it as a number`);
      };
    case 'float32':
      return (v) => (v === null ? null : shortestFloat32(Number(text(v))));
    case 'float64':
      return (v) => (v === null ? null : fromNumber(Number(text(v))));
    case 'binary':
      if (f.columnType === T.GEOMETRY) {
        // MySQL's internal geometry value is a 4-byte SRID followed by standard WKB: export the WKB.
        return (v) => (v === null ? null : (v as Buffer).subarray(4).toString('base64'));
      }
      return (v) => (v === null ? null : typeof v === 'string' ? Buffer.from(v, 'utf8').toString('base64') : v.toString('base64'));
    case 'date':
    case 'timestamp':
    case 'timestamptz': {
      const suffix = column.type === 'timestamptz' ? '+00' : '';
      return (v) => {
        if (v === null) return null;
        const s = text(v);
        if (!isZeroDate(s)) return s + suffix;
        if (ctx.zeroDates === 'error') {
          throw bad(`column \`${column.name}\` holds the zero date ${s}, which no other system can store (\`options.zero_dates: null\` exports it as NULL)`);
        }
        ctx.onZeroDate();
        return null;
      };
    }
    default:
      return (v) => (v === null ? null : text(v));
  }
}

/** `0000-00-00…` and dates with a zero month or day. */
export function isZeroDate(s: string): boolean {
  return (s.charCodeAt(5) === 48 && s.charCodeAt(6) === 48) || (s.charCodeAt(8) === 48 && s.charCodeAt(9) === 48);
}

