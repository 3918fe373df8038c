import type { ColumnSchema } from '../../csv/types.js';
import type { Holds } from '../lossy.js';

/**
 * Redshift types ↔ portable types, by the type oid the server describes a column with (Redshift's catalog is
 * PostgreSQL 8's, with types of its own: SUPER 4000, VARBYTE 6551, GEOMETRY 3000).
 *
 * | Redshift                   | portable          | exchange text written by the export SELECT       |
 * | -------------------------- | ----------------- | ------------------------------------------------ |
 * | BOOLEAN                    | boolean           | `CASE … 'true' / 'false'`                        |
 * | SMALLINT / INTEGER / BIGINT| int16/int32/int64 | as printed                                       |
 * | DECIMAL(p,s)               | decimal(p,s)      | as printed                                       |
 * | REAL / DOUBLE PRECISION    | float32 / float64 | extra_float_digits 2 (reads back the same)       |
 * | CHAR(n) / VARCHAR(n)       | string(n bytes)   | as stored                                        |
 * | DATE / TIME / TIMESTAMP    | date/time/timestamp | ISO                                            |
 * | TIMESTAMPTZ                | timestamptz       | UTC with `+00`                                   |
 * | SUPER                      | json              | `JSON_SERIALIZE(col)`                            |
 * | VARBYTE                    | binary            | `FROM_VARBYTE(col, 'base64')`                    |
 * | anything else (GEOMETRY, INTERVAL, TIMETZ, …) | text | as printed                                |
 *
 * Tables pigeon creates (`create: if_missing`): boolean BOOLEAN, int16 SMALLINT, int32 INTEGER, int64 BIGINT,
 * uint64 DECIMAL(20,0), float32 REAL, float64 DOUBLE PRECISION, decimal(p,s) DECIMAL(p,s) up to 38 digits (else
 * VARCHAR(65535), exact text), string(n) VARCHAR(4n bytes, at most 65535), text VARCHAR(65535), binary
 * VARBYTE(1024000), date DATE, time TIME, timestamp TIMESTAMP, timestamptz TIMESTAMPTZ, json SUPER, uuid CHAR(36).
 * A value longer than 65535 bytes does not fit a Redshift VARCHAR: COPY fails naming it.
 */

export const OID = {
  bool: 16,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  super: 4000,
  varbyte: 6551,
} as const;

/** A column as the catalog or a result describes it. */
export interface RsTypeFacts {
  readonly oid: number;
  readonly typmod: number;
}

type Portable = Pick<ColumnSchema, 'type' | 'precision' | 'scale' | 'length'>;

export function portableFromRs(t: RsTypeFacts): Portable {
  switch (t.oid) {
    case OID.bool:
      return { type: 'boolean' };
    case OID.int2:
      return { type: 'int16' };
    case OID.int4:
      return { type: 'int32' };
    case OID.int8:
      return { type: 'int64' };
    case OID.float4:
      return { type: 'float32' };
    case OID.float8:
      return { type: 'float64' };
    case OID.numeric: {
      if (t.typmod < 4) return { type: 'decimal' };
      const m = t.typmod - 4;
      return { type: 'decimal', precision: (m >> 16) & 0xffff, scale: m & 0xffff };
    }
    case OID.varchar:
    case OID.bpchar:
      return t.typmod >= 4 ? { type: 'string', length: t.typmod - 4 } : { type: 'text' };
    case OID.date:
      return { type: 'date' };
    case OID.time:
      return { type: 'time', precision: 6 };
    case OID.timestamp:
      return { type: 'timestamp', precision: 6 };
    case OID.timestamptz:
      return { type: 'timestamptz', precision: 6 };
    case OID.super:
      return { type: 'json' };
    case OID.varbyte:
      return { type: 'binary' };
    default:
      return { type: 'text' };
  }
}

/** How the export SELECT writes a column so that its text is the exchange format (undefined: as printed). */
export function exportWrapper(t: RsTypeFacts): ((expr: string) => string) | undefined {
  switch (t.oid) {
    case OID.bool:
      return (x) => `CASE WHEN ${x} THEN 'true' WHEN NOT ${x} THEN 'false' END`;
    case OID.super:
      return (x) => `JSON_SERIALIZE(${x})`;
    case OID.varbyte:
      return (x) => `FROM_VARBYTE(${x}, 'base64')`;
    default:
      return undefined;
  }
}

const MAX_VARCHAR = 65535;

/** Portable column → the type of a column pigeon creates (see the table above). */
export function rsTypeFor(c: ColumnSchema): string {
  switch (c.type) {
    case 'boolean':
      return 'BOOLEAN';
    case 'int16':
      return 'SMALLINT';
    case 'int32':
      return 'INTEGER';
    case 'int64':
      return 'BIGINT';
    case 'uint64':
      return 'DECIMAL(20,0)';
    case 'float32':
      return 'REAL';
    case 'float64':
      return 'DOUBLE PRECISION';
    case 'decimal': {
      const p = c.precision;
      const s = c.scale ?? 0;
      if (p === undefined || !Number.isInteger(p) || p < 1 || p > 38 || !Number.isInteger(s) || s < 0 || s > p) return `VARCHAR(${MAX_VARCHAR})`;
      return `DECIMAL(${p},${s})`;
    }
    case 'string':
      return c.length !== undefined && Number.isInteger(c.length) && c.length > 0 ? `VARCHAR(${Math.min(MAX_VARCHAR, c.length * 4)})` : `VARCHAR(${MAX_VARCHAR})`;
    case 'text':
      return `VARCHAR(${MAX_VARCHAR})`;
    case 'binary':
      return 'VARBYTE(1024000)';
    case 'date':
      return 'DATE';
    case 'time':
      return 'TIME';
    case 'timestamp':
      return 'TIMESTAMP';
    case 'timestamptz':
      return 'TIMESTAMPTZ';
    case 'json':
      return 'SUPER';
    case 'uuid':
      return 'CHAR(36)';
  }
}

/** Exchange text that Redshift's COPY does not take as is for this column: loaded as text, then converted. */
export function conversion(portable: ColumnSchema['type'], target: RsTypeFacts | undefined, created: string | undefined): ((expr: string) => string) | undefined {
  const oid = target?.oid;
  if (portable === 'binary' && (oid === OID.varbyte || created === 'VARBYTE(1024000)')) return (x) => `TO_VARBYTE(${x}, 'base64')`;
  if (portable === 'json' && (oid === OID.super || created === 'SUPER')) return (x) => `JSON_PARSE(${x})`;
  return undefined;
}

/** What a target column holds (for the lossy check), from its type. */
export function holdsOf(t: RsTypeFacts): Holds {
  return portableFromRs(t);
}
