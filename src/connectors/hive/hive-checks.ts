import type { ColumnSchema } from '../../csv/types.js';
import type { HiveType } from './hive-types.js';

/*
 * Hive's CAST never fails: text it cannot read becomes NULL, a number too large for the column becomes NULL, a
 * decimal with more places is rounded, a VARCHAR cut. Each staged value is therefore checked against the target
 * column's type while the chunk file is converted (hive-load.ts), so such a value fails the load naming its column,
 * chunk file and line, before the commit runs. The checks accept only text that Hive's CAST reads exactly; a
 * column whose exported type alone guarantees that (an int32 into an INT) is not checked at all.
 */

/** Why `text` would not arrive exactly in a column of type `t`; undefined when it would. */
export type ValueCheck = (text: string) => string | undefined;

const INTEGER = /^-?\d+(?:\.0+)?$/;
const DECIMAL = /^-?(\d+)(?:\.(\d+))?$/;
const FLOAT = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$|^(?:NaN|-?Infinity)$/;
const FLT_MAX = 3.4028234663852886e38;

const INT_BOUNDS: Readonly<Record<string, readonly [bigint, bigint]>> = {
  tinyint: [-128n, 127n],
  smallint: [-32768n, 32767n],
  int: [-2147483648n, 2147483647n],
  bigint: [-9223372036854775808n, 9223372036854775807n],
};
const INT_RANGE: Readonly<Record<string, number>> = { tinyint: 1, smallint: 2, int: 3, bigint: 4 };
const PORTABLE_INT: Readonly<Record<string, number>> = { int16: 2, int32: 3, int64: 4 };

/** A column's check, with its byte-level acceptance of the common values when it has one. */
export interface ColumnCheck {
  readonly check: ValueCheck;
  readonly fits?: ByteFit;
}

/**
 * valueCheck, with a byte-level acceptance for the commonest checked columns (dates and timestamps): the conversion
 * copies a value it accepts without making a string of it (csv-to-tsv.ts, `fits`); any other value still goes
 * through the check, which decides and says why. Undefined when every value fits by type.
 */
export function columnCheck(from: ColumnSchema, t: HiveType, lossy: boolean): ColumnCheck | undefined {
  const check = valueCheck(from, t, lossy);
  if (check === undefined) return undefined;
  if (t.base !== 'date' && t.base !== 'timestamp') return { check };
  const date = t.base === 'date';
  return { check, fits: (src, start, end) => isDateTimeAt(src, start, end, date) };
}

/** The check of an exported column loaded into a Hive column; undefined when every value fits by type. */
export function valueCheck(from: ColumnSchema, t: HiveType, lossy: boolean): ValueCheck | undefined {
  if (fits(from, t)) return undefined;
  const bounds = INT_BOUNDS[t.base];
  if (bounds) {
    return (s) => {
      if (!INTEGER.test(s)) return `not an integer`;
      const n = BigInt(s.replace(/\.0+$/, ''));
      return n < bounds[0] || n > bounds[1] ? `out of the range of ${t.text.toUpperCase()}` : undefined;
    };
  }
  switch (t.base) {
    case 'boolean':
      return (s) => (s === 'true' || s === 'false' ? undefined : 'not true or false');
    case 'varchar':
    case 'char': {
      const n = t.length;
      if (n === undefined) return undefined;
      // Hive counts characters (code points); only a long text can exceed n.
      return (s) => (s.length > n && [...s].length > n ? `longer than ${n} characters` : undefined);
    }
    case 'decimal':
      return decimalCheck(t.precision ?? 10, t.scale ?? 0, lossy);
    case 'float':
    case 'double':
      return (s) => {
        if (!FLOAT.test(s)) return 'not a number';
        const v = Number(s);
        return t.base === 'float' && Number.isFinite(v) && Math.abs(v) > FLT_MAX ? 'out of the range of FLOAT' : undefined;
      };
    case 'date':
      return (s) => (isDateTime(s, true) ? undefined : 'not a date Hive can hold (0001-01-01 to 9999-12-31)');
    case 'timestamp':
      return (s) => (isDateTime(s, false) ? undefined : 'not a timestamp Hive can hold (YYYY-MM-DD HH:MM:SS[.fffffffff], years 0001 to 9999)');
    default:
      return undefined;
  }
}

/** Integer digits within p - s; more than s places only when the node allows rounding them (`lossy: allow`). */
function decimalCheck(p: number, s: number, lossy: boolean): ValueCheck {
  return (text) => {
    const m = DECIMAL.exec(text);
    if (!m) return 'not a decimal number';
    const whole = m[1]!.replace(/^0+/, '');
    const frac = (m[2] ?? '').replace(/0+$/, '');
    if (frac.length > s && !lossy) return `more than ${s} decimal places`;
    // Rounded half up to s places, as Hive does; then the integer digits must fit.
    let digits = BigInt(`${whole}${frac.padEnd(s, '0').slice(0, s)}` || '0');
    if (frac.length > s && Number(frac[s]) >= 5) digits += 1n;
    return digits !== 0n && digits.toString().length > p ? `more than ${p - s} digits before the decimal point` : undefined;
  };
}

/** Whether a value's bytes `src[start, end)` surely arrive exactly (false: the check must look). */
export type ByteFit = (src: Buffer, start: number, end: number) => boolean;

/** isDateTimeAt of a string: its UTF-8 bytes (any character beyond ASCII is then no digit and fails). */
function isDateTime(s: string, date: boolean): boolean {
  const b = Buffer.from(s, 'utf8');
  return isDateTimeAt(b, 0, b.length, date);
}

/**
 * `YYYY-MM-DD` (a date column also takes a timestamp's text) or `YYYY-MM-DD HH:MM:SS[.f…]` with up to 9 digits: a
 * real calendar day and time in Hive's years 0001 to 9999. On bytes: it runs for every value loaded.
 */
function isDateTimeAt(src: Buffer, start: number, end: number, date: boolean): boolean {
  const n = end - start;
  if (n !== 10 && (n < 19 || n === 20 || n > 29)) return false;
  if (n === 10 && !date) return false;
  const d = (i: number) => {
    const c = src[start + i]! - 48;
    return c >= 0 && c <= 9 ? c : -100;
  };
  if (src[start + 4] !== 45 || src[start + 7] !== 45) return false;
  const y = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3);
  const mo = d(5) * 10 + d(6);
  const day = d(8) * 10 + d(9);
  if (y < 1 || mo < 1 || mo > 12 || day < 1) return false;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (day > (mo === 2 ? (leap ? 29 : 28) : mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31)) return false;
  if (n === 10) return true;
  if (src[start + 10] !== 32 || src[start + 13] !== 58 || src[start + 16] !== 58) return false;
  const h = d(11) * 10 + d(12);
  const mi = d(14) * 10 + d(15);
  const sec = d(17) * 10 + d(18);
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return false;
  if (n === 19) return true;
  if (src[start + 19] !== 46) return false;
  for (let i = 20; i < n; i++) if (d(i) < 0) return false;
  return true;
}

/**
 * Every value of the export's column fits the target type exactly by the types alone (an int32 into an INT, a
 * decimal(12,2) into DECIMAL(12,2) or wider, a string(n) into VARCHAR(n) or longer). Dates and timestamps are always
 * checked: a source's range may exceed Hive's.
 */
function fits(from: ColumnSchema, t: HiveType): boolean {
  const to = INT_RANGE[t.base];
  if (to !== undefined) return (PORTABLE_INT[from.type] ?? 99) <= to;
  switch (t.base) {
    case 'boolean':
      return from.type === 'boolean';
    case 'double':
      return from.type === 'float64' || from.type === 'float32';
    case 'float':
      return from.type === 'float32';
    case 'varchar':
      return from.type === 'string' && from.length !== undefined && t.length !== undefined && from.length <= t.length;
    case 'decimal': {
      const p = t.precision ?? 10;
      const s = t.scale ?? 0;
      if (from.type === 'decimal') {
        return from.precision !== undefined && from.scale !== undefined && from.scale >= 0 && from.scale <= s && from.precision - from.scale <= p - s;
      }
      const digits = from.type === 'int16' ? 5 : from.type === 'int32' ? 10 : from.type === 'int64' ? 19 : from.type === 'uint64' ? 20 : undefined;
      return digits !== undefined && digits <= p - s;
    }
    default:
      return false;
  }
}
