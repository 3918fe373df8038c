import type { ColumnSchema, PortableType } from '../../csv/types.js';

/**
 * PostgreSQL types ↔ portable types.
 *
 * Export (what `describe` reports, after resolving domains to their base type; `source_type` is always
 * `format_type(oid, typmod)`, e.g. `numeric(38,10)`, `character varying(5)`, `integer[]`, the domain's own name):
 *
 * | PostgreSQL (base type)                       | portable                    | exchange text (COPY … CSV, session UTC/ISO)          |
 * | -------------------------------------------- | --------------------------- | ----------------------------------------------------- |
 * | boolean                                      | boolean                     | `CASE … 'true'/'false'` in the COPY select            |
 * | smallint / integer / bigint                  | int16 / int32 / int64       | as printed                                            |
 * | oid                                          | int64                       | as printed                                            |
 * | numeric(p,s) / numeric                       | decimal(p,s) / decimal      | as printed (also NaN, ±Infinity)                      |
 * | money                                        | decimal                     | `col::numeric::text` (no currency symbol, no locale)  |
 * | real / double precision                      | float32 / float64           | shortest round-trip (PG ≥ 12), NaN, ±Infinity, -0     |
 * | character varying(n) / character(n)          | string(n)                   | as stored (char(n) keeps its padding)                 |
 * | text, varchar, name, "char", citext, …       | text                        | as stored                                             |
 * | enum                                         | string                      | the label                                             |
 * | inet / cidr / macaddr / macaddr8             | string                      | as printed                                            |
 * | bytea                                        | binary                      | `translate(encode(col, 'base64'), E'\n', '')`          |
 * | date / time / timestamp / timestamptz        | date / time / timestamp / timestamptz | ISO, timestamptz in UTC with `+00`          |
 * | time with time zone                          | text                        | `HH:MM:SS[.ffffff]+hh[:mm]` (not the portable `time`) |
 * | interval                                     | text                        | ISO 8601 (`P1Y2M3DT4H5M6.5S`, intervalstyle iso_8601) |
 * | json / jsonb                                 | json                        | as stored (jsonb: normalised)                         |
 * | uuid                                         | uuid                        | as printed                                            |
 * | arrays, composite types                      | json                        | `to_json(col)::text`                                  |
 * | anything else (xml, ranges, bit, tsvector, …)| text                        | as printed                                            |
 *
 * Import, when pigeon creates the table (`create: if_missing`):
 *
 * | portable      | PostgreSQL column             |
 * | ------------- | ----------------------------- |
 * | boolean       | boolean                       |
 * | int16         | smallint                      |
 * | int32         | integer                       |
 * | int64         | bigint                        |
 * | uint64        | numeric(20,0)                 |
 * | float32       | real                          |
 * | float64       | double precision              |
 * | decimal(p,s)  | numeric(p,s) (numeric without precision) |
 * | string(n)     | varchar(n) (text without n)   |
 * | text          | text                          |
 * | binary        | bytea                         |
 * | date          | date                          |
 * | time          | time(6)                       |
 * | timestamp     | timestamp(6)                  |
 * | timestamptz   | timestamptz(6)                |
 * | json          | json (jsonb only when the source column was jsonb: jsonb reorders keys and drops duplicates) |
 * | uuid          | uuid                          |
 *
 * A few PostgreSQL-only types come back as themselves when the source was PostgreSQL (the `source_type` names a
 * built-in type whose text form is what the export wrote): interval, inet, cidr, macaddr, macaddr8,
 * time with time zone, jsonb. Arrays and composite types land as `json` in a created table; loading into an
 * existing array or composite column converts the JSON back (`json_to_record`, any number of dimensions).
 */

/** What the catalog says about a column's type, domains already resolved to their base type. */
export interface PgTypeFacts {
  /** `format_type(oid, typmod)` of the column's declared type (a domain keeps its own name). */
  readonly sourceType: string;
  /** `pg_type.typname` of the base type: `int4`, `bytea`, `_int4` … */
  readonly baseName: string;
  /** `pg_type.typtype` of the base type: b(ase), c(omposite), e(num), r(ange), m(ultirange), p(seudo). */
  readonly typtype: string;
  /** `pg_type.typcategory` of the base type: `A` for arrays. */
  readonly category: string;
  /** The typmod that applies to the base type (a domain's own typmod when the column has none). */
  readonly typmod: number;
}

type Portable = Pick<ColumnSchema, 'type' | 'precision' | 'scale' | 'length'>;

/** PostgreSQL column type → portable type (see the table above). */
export function portableFromPg(t: PgTypeFacts): Portable {
  if (t.category === 'A' || t.typtype === 'c') return { type: 'json' };
  if (t.typtype === 'e') return { type: 'string' };
  switch (t.baseName) {
    case 'bool':
      return { type: 'boolean' };
    case 'int2':
      return { type: 'int16' };
    case 'int4':
      return { type: 'int32' };
    case 'int8':
    case 'oid':
      return { type: 'int64' };
    case 'float4':
      return { type: 'float32' };
    case 'float8':
      return { type: 'float64' };
    case 'numeric':
      return numericPortable(t.typmod);
    case 'money':
      return { type: 'decimal' };
    case 'varchar':
    case 'bpchar':
      return t.typmod >= 4 ? { type: 'string', length: t.typmod - 4 } : { type: 'text' };
    case 'inet':
    case 'cidr':
    case 'macaddr':
    case 'macaddr8':
      return { type: 'string' };
    case 'bytea':
      return { type: 'binary' };
    case 'date':
      return { type: 'date' };
    case 'time':
      return { type: 'time', precision: fractional(t.typmod) };
    case 'timestamp':
      return { type: 'timestamp', precision: fractional(t.typmod) };
    case 'timestamptz':
      return { type: 'timestamptz', precision: fractional(t.typmod) };
    case 'json':
    case 'jsonb':
      return { type: 'json' };
    case 'uuid':
      return { type: 'uuid' };
    default:
      return { type: 'text' };
  }
}

/** Fractional-second digits of time and timestamp types: the typmod, or 6 when the type has none. */
function fractional(typmod: number): number {
  return typmod >= 0 && typmod <= 6 ? typmod : 6;
}

/** numeric's typmod is ((precision << 16) | scale) + 4; scale is a signed 16-bit value since PostgreSQL 15. */
function numericPortable(typmod: number): Portable {
  if (typmod < 4) return { type: 'decimal' };
  const m = typmod - 4;
  const precision = (m >> 16) & 0xffff;
  const scale = ((m & 0x7ff) ^ 1024) - 1024;
  return { type: 'decimal', precision, scale };
}

/**
 * How the COPY select writes a column so that PostgreSQL's own CSV output is already the exchange format: a wrapper
 * around the column reference, or undefined when the text output is already right.
 */
export function exportWrapper(t: PgTypeFacts): ((expr: string) => string) | undefined {
  if (t.category === 'A' || t.typtype === 'c') return (x) => `to_json(${x})::text`;
  switch (t.baseName) {
    case 'bytea':
      // encode() breaks base64 lines every 76 characters; the exchange format has none.
      return (x) => `translate(encode(${x}, 'base64'), E'\\n', '')`;
    case 'bool':
      return (x) => `CASE WHEN ${x} THEN 'true' WHEN NOT ${x} THEN 'false' END`;
    case 'money':
      return (x) => `${x}::numeric::text`;
    default:
      return undefined;
  }
}

/**
 * Built-in types that a PostgreSQL source writes as their own input text: a table created from such a column gets
 * the same type back. Strict patterns: `source_type` comes from a file and is spliced into DDL only if it matches.
 */
const SAME_ENGINE_TYPES: readonly RegExp[] = [
  /^interval(?: (?:year|month|day|hour|minute|second)(?: to (?:month|hour|minute|second))?)?(?:\([0-6]\))?$/,
  /^(?:inet|cidr|macaddr8?)$/,
  /^time(?:\([0-6]\))? with time zone$/,
];

/** Portable column → the type of a column pigeon creates (see the table above). */
export function pgTypeFor(c: ColumnSchema): string {
  const source = c.source_type?.trim().toLowerCase();
  if ((c.type === 'text' || c.type === 'string') && source !== undefined && SAME_ENGINE_TYPES.some((r) => r.test(source))) {
    return source;
  }
  switch (c.type) {
    case 'boolean':
      return 'boolean';
    case 'int16':
      return 'smallint';
    case 'int32':
      return 'integer';
    case 'int64':
      return 'bigint';
    case 'uint64':
      return 'numeric(20,0)';
    case 'float32':
      return 'real';
    case 'float64':
      return 'double precision';
    case 'decimal':
      return decimalType(c);
    case 'string':
      return c.length !== undefined && Number.isInteger(c.length) && c.length > 0 ? `varchar(${c.length})` : 'text';
    case 'text':
      return 'text';
    case 'binary':
      return 'bytea';
    case 'date':
      return 'date';
    case 'time':
      return 'time(6)';
    case 'timestamp':
      return 'timestamp(6)';
    case 'timestamptz':
      return 'timestamptz(6)';
    case 'json':
      return source === 'jsonb' ? 'jsonb' : 'json';
    case 'uuid':
      return 'uuid';
  }
}

/** numeric(p,s) within PostgreSQL's limits (precision 1..1000, scale -1000..1000); plain numeric otherwise. */
function decimalType(c: ColumnSchema): string {
  const p = c.precision;
  const s = c.scale ?? 0;
  if (p === undefined || !Number.isInteger(p) || !Number.isInteger(s) || p < 1 || p > 1000 || s < -1000 || s > 1000) return 'numeric';
  return `numeric(${p},${s})`;
}

/** A portable type whose exchange text PostgreSQL's input functions do not accept as is for this column. */
export function needsConversion(portable: PortableType, target: PgTypeFacts): 'base64' | 'json' | undefined {
  if (portable === 'binary' && target.baseName === 'bytea') return 'base64';
  if (portable === 'json' && (target.category === 'A' || target.typtype === 'c')) return 'json';
  return undefined;
}
