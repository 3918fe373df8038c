import type { Cell, ColumnSchema, PortableType } from '../../csv/types.js';
import { toBoolean, toNumber } from '../../csv/values.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { Holds } from '../lossy.js';
import { JsonComposite, JsonNumber, parseLossless, type JsonValue } from './search-json.js';

/*
 * Portable types to Elasticsearch/OpenSearch fields and back. pigeon reads `_source`, which keeps every document
 * exactly as it was sent, so a value's text survives a round trip whatever the field indexes; the mapping decides what
 * searches see.
 *
 * | portable            | field pigeon creates                              | in the document                          |
 * | ------------------- | ------------------------------------------------- | ---------------------------------------- |
 * | boolean             | boolean                                           | true / false                             |
 * | int16, int32, int64 | short, integer, long                              | a number, every digit                    |
 * | uint64              | unsigned_long (keyword where the server has none) | a number                                 |
 * | float32, float64    | float, double                                     | a number (NaN and ±Infinity refused)     |
 * | decimal(p,s)        | double up to 15 digits, else keyword              | a number, as written                     |
 * | string, text        | text with a `keyword` subfield (ignore_above 256) | a string                                 |
 * | uuid, time          | keyword                                           | a string                                 |
 * | binary              | binary                                            | base64                                   |
 * | date                | date (strict_date)                                | YYYY-MM-DD                               |
 * | timestamp           | date (strict_date_optional_time)                  | YYYY-MM-DDTHH:MM:SS.ffffff (no zone)     |
 * | timestamptz         | date (strict_date_optional_time)                  | YYYY-MM-DDTHH:MM:SS.ffffffZ              |
 * | json                | object, enabled: false (kept, not indexed)        | the JSON value itself                    |
 */

export type Mapping = { readonly [key: string]: unknown };

/** The field pigeon creates for a column. */
export function fieldFor(c: ColumnSchema, unsignedLong: boolean): Mapping {
  switch (c.type) {
    case 'boolean':
      return { type: 'boolean' };
    case 'int16':
      return { type: 'short' };
    case 'int32':
      return { type: 'integer' };
    case 'int64':
      return { type: 'long' };
    case 'uint64':
      return unsignedLong ? { type: 'unsigned_long' } : { type: 'keyword' };
    case 'float32':
      return { type: 'float' };
    case 'float64':
      return { type: 'double' };
    case 'decimal':
      return c.precision !== undefined && c.precision <= 15 ? { type: 'double' } : { type: 'keyword' };
    case 'string':
    case 'text':
      return { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } };
    case 'uuid':
    case 'time':
      return { type: 'keyword' };
    case 'binary':
      return { type: 'binary' };
    case 'date':
      return { type: 'date', format: 'strict_date' };
    case 'timestamp':
    case 'timestamptz':
      return { type: 'date', format: 'strict_date_optional_time' };
    case 'json':
      return { type: 'object', enabled: false };
  }
}

/** The portable type of a field of an index pigeon did not write (no `_meta.pigeon.columns`). */
export function portableOfField(field: Mapping): PortableType {
  switch (field['type']) {
    case 'boolean':
      return 'boolean';
    case 'byte':
    case 'short':
      return 'int16';
    case 'integer':
      return 'int32';
    case 'long':
      return 'int64';
    case 'unsigned_long':
      return 'uint64';
    case 'float':
    case 'half_float':
      return 'float32';
    case 'double':
    case 'scaled_float':
      return 'float64';
    case 'date':
    case 'date_nanos':
      return 'timestamptz';
    case 'binary':
      return 'binary';
    case 'keyword':
    case 'text':
    case 'match_only_text':
    case 'wildcard':
    case 'constant_keyword':
    case 'ip':
    case 'version':
    case 'search_as_you_type':
      return 'text';
    default:
      return 'json';
  }
}

/** What an existing field holds, for the lossy check (lossy.ts): numeric fields only (dates keep `_source`). */
export function holdsOfField(field: Mapping): Holds | undefined {
  switch (field['type']) {
    case 'byte':
    case 'short':
      return { type: 'int16' };
    case 'integer':
      return { type: 'int32' };
    case 'long':
      return { type: 'int64' };
    case 'float':
    case 'half_float':
      return { type: 'float32' };
    case 'double':
      return { type: 'float64' };
    case 'scaled_float': {
      const f = Number(field['scaling_factor']);
      const scale = Number.isFinite(f) && f >= 1 ? Math.round(Math.log10(f)) : 0;
      return { type: 'decimal', precision: 18, scale };
    }
    default:
      return undefined;
  }
}

/** Integer fields hold no fractions: a decimal with a scale or a float would be truncated where it is indexed. */
export function integerFieldLoses(source: ColumnSchema, field: Mapping): string | undefined {
  const t = field['type'];
  if (t !== 'byte' && t !== 'short' && t !== 'integer' && t !== 'long' && t !== 'unsigned_long') return undefined;
  if (source.type === 'float32' || source.type === 'float64') return `it is ${String(t)} and the export has floating-point values`;
  if (source.type === 'decimal' && (source.scale === undefined || source.scale > 0)) return `it is ${String(t)} and the export has decimal places`;
  return undefined;
}

const JSON_INT = /^-?(?:0|[1-9]\d*)$/;
const JSON_NUM = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** Why a cell cannot be written; the caller adds the column and the chunk line. */
function bad(message: string): PipelineError {
  return new PipelineError('BAD_VALUE', message);
}

/**
 * Writes one column's cells as JSON values of a document. Built once per column; `lossyJsonNull` says that a JSON
 * `null` value may be written (it reads back as NULL: the node allowed lossy loads).
 */
export function jsonWriter(c: ColumnSchema, lossyJsonNull: boolean): (cell: string) => string {
  switch (c.type) {
    case 'boolean':
      return (v) => (toBoolean(v) ? 'true' : 'false');
    case 'int16':
    case 'int32':
    case 'int64':
    case 'uint64':
      return (v) => {
        if (JSON_INT.test(v)) return v;
        const m = /^([+-]?)0*(\d+)$/.exec(v);
        if (!m) throw bad(`${quote(v)} is not an integer`);
        return `${m[1] === '-' && m[2] !== '0' ? '-' : ''}${m[2]}`;
      };
    case 'float32':
    case 'float64':
    case 'decimal':
      return (v) => {
        if (JSON_NUM.test(v)) return v;
        const n = toNumber(v);
        if (!Number.isFinite(n)) throw bad(`${v} cannot be stored: Elasticsearch and OpenSearch numbers are finite`);
        return jsonNumberText(v);
      };
    case 'timestamp':
      return (v) => JSON.stringify(isoTimestamp(v, false));
    case 'timestamptz':
      return (v) => JSON.stringify(isoTimestamp(v, true));
    case 'json':
      return (v) => {
        let parsed: JsonValue;
        try {
          parsed = parseLossless(v);
        } catch (e) {
          throw bad(`not JSON: ${(e as Error).message}`);
        }
        if (parsed === null && !lossyJsonNull) {
          throw new PipelineError('LOSSY_VALUE', 'the JSON value `null` would read back as NULL (a field set to null is a missing value)', {
            hint: 'set `lossy: allow` on the target to load it as NULL',
          });
        }
        return compact(parsed);
      };
    default:
      return (v) => JSON.stringify(v);
  }
}

/** `+1.5`, `.5`, `5.`, `007` as JSON numbers. */
function jsonNumberText(v: string): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?([eE][+-]?\d+)?$/.exec(v);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw bad(`${quote(v)} is not a number`);
  const int = (m[2] ?? '').replace(/^0+(?=\d)/, '') || '0';
  const frac = m[3] ? `.${m[3]}` : '';
  return `${m[1] === '-' ? '-' : ''}${int}${frac}${m[4] ?? ''}`;
}

/** A JSON value as compact text (numbers and key order as read). */
export function compact(v: JsonValue): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof JsonNumber) return v.text;
  const inner = v.entries.map(([k, x]) => (k === null ? compact(x) : `${JSON.stringify(k)}:${compact(x)}`)).join(',');
  return v.isArray ? `[${inner}]` : `{${inner}}`;
}

const TS = /^(\d{4,})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?(\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Exchange timestamp text as an ISO date-time Elasticsearch parses: `T` between date and time, a `timestamptz`'s
 * offset as `Z` or `±hh:mm`. No value changes, only its spelling.
 */
export function isoTimestamp(v: string, zoned: boolean): string {
  const m = TS.exec(v);
  if (!m) throw bad(`${quote(v)} is not a timestamp`);
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone] = m;
  const base = `${y}-${mo}-${d}T${h}:${mi}:${s}${frac}`;
  if (!zoned) {
    if (zone) throw bad(`${quote(v)} has a time zone but the column is a timestamp without one`);
    return base;
  }
  return `${base}${isoOffset(zone ?? 'Z')}`;
}

function isoOffset(zone: string): string {
  if (zone === 'Z') return 'Z';
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
  const mins = `${m[2]}:${m[3] ?? '00'}`;
  return mins === '00:00' ? 'Z' : `${m[1]}${mins}`;
}

/** How a hit's value becomes a cell, per column type (`_source` as pigeon wrote it, or as others did). */
export function cellReader(c: ColumnSchema): (v: JsonValue | undefined) => Cell {
  const what = (v: JsonValue) => (v instanceof JsonComposite ? (v.isArray ? 'a list' : 'an object') : quote(String(v instanceof JsonNumber ? v.text : v)));
  const scalar = (v: JsonValue): string => {
    if (v instanceof JsonNumber) return v.text;
    if (typeof v === 'string') return v;
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    throw bad(`${what(v)} is not a value of a ${c.type} column`);
  };
  switch (c.type) {
    case 'json':
      return (v) => (v === undefined || v === null ? null : compactOrRaw(v));
    case 'string':
    case 'text':
    case 'uuid':
    case 'time':
    case 'binary':
      return (v) => (v === undefined || v === null ? null : v instanceof JsonComposite ? v.raw() : scalar(v));
    case 'boolean':
      return (v) => (v === undefined || v === null ? null : toBoolean(scalar(v)) ? 'true' : 'false');
    case 'int16':
    case 'int32':
    case 'int64':
    case 'uint64':
      return (v) => {
        if (v === undefined || v === null) return null;
        const t = scalar(v);
        if (JSON_INT.test(t)) return t;
        const m = /^(-?\d+)(?:\.0*)?$/.exec(t);
        if (m) return m[1] === '-0' ? '0' : m[1]!;
        throw bad(`${quote(t)} is not an integer`);
      };
    case 'float32':
    case 'float64':
    case 'decimal':
      return (v) => {
        if (v === undefined || v === null) return null;
        const t = scalar(v);
        toNumber(t);
        return t;
      };
    case 'date':
      return (v) => {
        if (v === undefined || v === null) return null;
        if (v instanceof JsonNumber) return fromEpochMillis(v.text).slice(0, 10);
        const t = scalar(v);
        if (/^\d{4,}-\d{2}-\d{2}$/.test(t)) return t;
        return exchangeTimestamp(t, false).slice(0, 10);
      };
    case 'timestamp':
    case 'timestamptz': {
      const zoned = c.type === 'timestamptz';
      return (v) => {
        if (v === undefined || v === null) return null;
        if (v instanceof JsonNumber) return `${fromEpochMillis(v.text)}${zoned ? '+00' : ''}`;
        return exchangeTimestamp(scalar(v), zoned);
      };
    }
  }
}

function compactOrRaw(v: JsonValue): string {
  // pigeon writes compact JSON; another writer's spacing is kept as it was.
  return v instanceof JsonComposite ? v.raw() : compact(v);
}

/**
 * An ISO date-time from `_source` as exchange text: `YYYY-MM-DD HH:MM:SS[.f]`, and for timestamptz in UTC with
 * `+00` (an offset is applied, the fraction kept digit for digit); a timestamp column keeps wall-clock time.
 */
export function exchangeTimestamp(v: string, zoned: boolean): string {
  const m = TS.exec(v);
  if (!m) throw bad(`${quote(v)} is not a date-time`);
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone] = m;
  if (!zone || zone === 'Z' || /^[+-]00(?::?00)?$/.test(zone) || !zoned) {
    return `${y}-${mo}-${d} ${h}:${mi}:${s}${frac}${zoned ? '+00' : ''}`;
  }
  const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
  const offset = (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3] ?? 0));
  const t = new Date(0);
  t.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  t.setUTCHours(Number(h), Number(mi) - offset, Number(s), 0);
  return `${utcText(t)}${frac}+00`;
}

function fromEpochMillis(text: string): string {
  if (!JSON_INT.test(text)) throw bad(`${quote(text)} is not epoch milliseconds`);
  const t = new Date(Number(text));
  const ms = t.getUTCMilliseconds();
  return `${utcText(t)}${ms === 0 ? '' : `.${String(ms).padStart(3, '0')}`}`;
}

function utcText(t: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(t.getUTCFullYear(), 4)}-${p(t.getUTCMonth() + 1)}-${p(t.getUTCDate())} ${p(t.getUTCHours())}:${p(t.getUTCMinutes())}:${p(t.getUTCSeconds())}`;
}

function quote(s: string): string {
  return s.length > 40 ? `${JSON.stringify(s.slice(0, 40))}…` : JSON.stringify(s);
}
