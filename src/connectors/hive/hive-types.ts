import type { ColumnSchema } from '../../csv/types.js';
import { fromNumber, shortestFloat32 } from '../../csv/values.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { Holds } from '../lossy.js';
import type { ResultColumn, ThriftTypes } from './hive-session.js';

/** A Hive column type: its base name in lower case and its parameters. */
export interface HiveType {
  /** `int`, `decimal`, `varchar`, `array`, … */
  readonly base: string;
  /** As Hive writes it: `decimal(10,2)`, `array<int>`. */
  readonly text: string;
  readonly precision?: number;
  readonly scale?: number;
  readonly length?: number;
}

const COMPLEX = new Set(['array', 'map', 'struct', 'uniontype']);

/** `decimal(10,2)`, `varchar(20)`, `array<struct<a:int>>` as DESCRIBE prints them. */
export function parseHiveType(text: string): HiveType {
  const t = text.trim().toLowerCase();
  const m = /^([a-z_ ]+?)\s*(?:\((\d+)\s*(?:,\s*(\d+))?\))?$/.exec(t);
  const base = m ? m[1]!.trim() : (/^[a-z]+/.exec(t)?.[0] ?? t);
  const a = m?.[2] === undefined ? undefined : Number(m[2]);
  const b = m?.[3] === undefined ? undefined : Number(m[3]);
  if (base === 'decimal') return { base, text: t, precision: a ?? 10, scale: b ?? 0 };
  if (base === 'varchar' || base === 'char') return { base, text: t, ...(a === undefined ? {} : { length: a }) };
  return { base, text: t };
}

/** A result column's type from the Thrift metadata (TTypeDesc). */
export function hiveTypeOf(c: ResultColumn, types: ThriftTypes): HiveType {
  const entry = c.typeDesc.types[0];
  const p = entry?.primitiveEntry;
  if (!p) {
    const base = entry?.arrayEntry ? 'array' : entry?.mapEntry ? 'map' : entry?.structEntry ? 'struct' : 'uniontype';
    return { base, text: base };
  }
  const name = Object.entries(types.TTypeId).find(([, v]) => v === p.type)?.[0] ?? 'STRING_TYPE';
  const base = name.replace(/_TYPE$/, '').toLowerCase().replace('timestamplocaltz', 'timestamp with local time zone').replace('interval_', 'interval ');
  const q = p.typeQualifiers?.qualifiers ?? {};
  const num = (k: string) => q[k]?.i32Value ?? undefined;
  if (base === 'decimal') {
    const precision = num('precision') ?? 10;
    const scale = num('scale') ?? 0;
    return { base, text: `decimal(${precision},${scale})`, precision, scale };
  }
  if (base === 'varchar' || base === 'char') {
    const length = num('characterMaximumLength');
    return { base, text: length === undefined ? base : `${base}(${length})`, ...(length === undefined ? {} : { length }) };
  }
  return { base, text: base };
}

/** The portable type of a Hive column (the schema sidecar's, and what an existing target column holds). */
export function portableFromHive(t: HiveType): Holds {
  switch (t.base) {
    case 'boolean':
      return { type: 'boolean' };
    case 'tinyint':
    case 'smallint':
      return { type: 'int16' };
    case 'int':
    case 'integer':
      return { type: 'int32' };
    case 'bigint':
      return { type: 'int64' };
    case 'float':
      return { type: 'float32' };
    case 'double':
    case 'double precision':
      return { type: 'float64' };
    case 'decimal':
    case 'numeric':
      return { type: 'decimal', precision: t.precision ?? 10, scale: t.scale ?? 0 };
    case 'varchar':
    case 'char':
      return t.length === undefined ? { type: 'text' } : { type: 'string', length: t.length };
    case 'binary':
      return { type: 'binary' };
    case 'date':
      return { type: 'date' };
    case 'timestamp':
      // Hive keeps nanoseconds.
      return { type: 'timestamp', precision: 9 };
    case 'timestamp with local time zone':
      return { type: 'timestamptz', precision: 9 };
    default:
      return COMPLEX.has(t.base) ? { type: 'json' } : { type: 'text' };
  }
}

/** The Hive type pigeon creates a target column with (see the README's type table). */
export function hiveTypeFor(c: ColumnSchema): string {
  switch (c.type) {
    case 'boolean':
      return 'BOOLEAN';
    case 'int16':
      return 'SMALLINT';
    case 'int32':
      return 'INT';
    case 'int64':
      return 'BIGINT';
    case 'uint64':
      return 'DECIMAL(20,0)';
    case 'float32':
      return 'FLOAT';
    case 'float64':
      return 'DOUBLE';
    case 'decimal': {
      if (c.precision === undefined) return 'DECIMAL(38,18)';
      const scale = c.scale ?? 0;
      if (scale < 0) return c.precision - scale <= 38 ? `DECIMAL(${c.precision - scale},0)` : 'STRING';
      return c.precision <= 38 ? `DECIMAL(${c.precision},${scale})` : 'STRING';
    }
    case 'string':
      return c.length !== undefined && c.length >= 1 && c.length <= 65535 ? `VARCHAR(${c.length})` : 'STRING';
    case 'binary':
      return 'BINARY';
    case 'date':
      return 'DATE';
    case 'timestamp':
    case 'timestamptz':
      return 'TIMESTAMP';
    default:
      // text, time (Hive has no TIME), json, uuid
      return 'STRING';
  }
}

/** Reads one value of a fetched column as exchange text. */
export type ValueReader = (v: unknown) => string;

/** How a Hive result column's values become exchange text (NULLs are handled by the caller). */
export function valueReader(t: HiveType, name: string): ValueReader {
  switch (t.base) {
    case 'boolean':
      return (v) => (v ? 'true' : 'false');
    case 'tinyint':
    case 'smallint':
    case 'int':
      return (v) => String(v);
    case 'bigint':
      return int64Text;
    case 'float':
      // Thrift carries a FLOAT as a double: the float it was, as its shortest text.
      return (v) => shortestFloat32(Math.fround(v as number));
    case 'double':
      return (v) => fromNumber(v as number);
    case 'binary':
      return (v) => Buffer.from(v as Uint8Array).toString('base64');
    case 'timestamp with local time zone':
      return (v) => zonedText(String(v));
    default:
      if (COMPLEX.has(t.base)) return (v) => jsonText(String(v), name);
      return (v) => String(v);
  }
}

/** node-int64's Int64 (8 big-endian bytes at an offset) as exact decimal text. */
function int64Text(v: unknown): string {
  const x = v as { buffer: Buffer; offset: number };
  return x.buffer.readBigInt64BE(x.offset).toString();
}

/** `2026-01-01 10:00:00.0 UTC` (the session runs in UTC) → `2026-01-01 10:00:00+00`. */
function zonedText(s: string): string {
  const m = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(\.\d+)? (?:UTC|Z|GMT|Etc\/UTC)$/.exec(s);
  if (!m) return s;
  const frac = (m[2] ?? '').replace(/0+$/, '');
  return `${m[1]}${frac === '.' ? '' : frac}+00`;
}

/**
 * Hive prints ARRAY, MAP and STRUCT values as JSON, except that map keys of non-string types are written bare
 * (`{1:"a"}`): those are quoted, so the text is JSON. Anything still not JSON fails the export naming the column.
 */
export function jsonText(s: string, column: string): string {
  let out = '';
  const stack: string[] = [];
  let expectKey = false;
  for (let i = 0; i < s.length; ) {
    const ch = s[i]!;
    if (ch === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      out += s.slice(i, j + 1);
      i = j + 1;
      expectKey = false;
      continue;
    }
    if (expectKey && ch !== '}' && ch !== ' ') {
      let j = i;
      while (j < s.length && s[j] !== ':') j++;
      out += JSON.stringify(s.slice(i, j));
      i = j;
      expectKey = false;
      continue;
    }
    if (ch === '{') {
      stack.push('{');
      expectKey = true;
    } else if (ch === '[') {
      stack.push('[');
    } else if (ch === '}' || ch === ']') {
      stack.pop();
    } else if (ch === ',' && stack[stack.length - 1] === '{') {
      expectKey = true;
    }
    out += ch;
    i++;
  }
  try {
    JSON.parse(out);
  } catch {
    throw new PipelineError('BAD_VALUE', `column \`${column}\` holds a value that is not JSON once read from Hive: ${JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s)}`, { column });
  }
  return out;
}

/** The exchange column of a result column. */
export function columnSchemaOf(c: ResultColumn, t: HiveType): ColumnSchema {
  return { name: c.columnName.includes('.') ? c.columnName.slice(c.columnName.lastIndexOf('.') + 1) : c.columnName, nullable: true, ...portableFromHive(t), source_type: t.text };
}
