import { PipelineError } from '../errors/pipeline-error.js';
import type { Cell } from './types.js';

/*
 * Native values to exchange text and back, without loss. Connectors use these so that every engine writes the same
 * text for the same value. Text that cannot be read back throws a PipelineError `BAD_VALUE`.
 */

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

/**
 * The shortest text that reads back to the same double: `0.1`, `1e+21`, `5e-324`, `NaN`, `Infinity`,
 * `-Infinity`, and `-0` for negative zero (which `String()` would turn into `0`).
 */
export function fromNumber(n: number): string {
  return n === 0 && 1 / n < 0 ? '-0' : String(n);
}

/**
 * Reads a decimal or exponent number, or `NaN`, `Infinity`, `+Infinity`, `-Infinity`, `inf`, `-inf` (any case).
 * Unlike `Number()`, rejects the empty string, surrounding spaces, hex and binary forms.
 */
export function toNumber(s: string): number {
  if (DECIMAL.test(s)) return Number(s);
  switch (s.toLowerCase()) {
    case 'nan':
      return Number.NaN;
    case 'infinity':
    case '+infinity':
    case 'inf':
    case '+inf':
      return Number.POSITIVE_INFINITY;
    case '-infinity':
    case '-inf':
      return Number.NEGATIVE_INFINITY;
    default:
      throw badValue(s, 'a number');
  }
}

export function fromBigInt(n: bigint): string {
  return n.toString();
}

/** Reads an integer of any size (optional sign, decimal digits only). */
export function toBigInt(s: string): bigint {
  if (!INTEGER.test(s)) throw badValue(s, 'an integer');
  return BigInt(s);
}

/** Standard base64 with padding. */
export function fromBuffer(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/**
 * Reads standard padded base64, strictly: no whitespace, no URL-safe alphabet, no missing padding, no stray bits
 * (Buffer.from alone would silently skip anything it does not understand).
 */
export function toBuffer(s: string): Buffer {
  const bytes = Buffer.from(s, 'base64');
  if (bytes.toString('base64') !== s) throw badValue(s, 'base64');
  return bytes;
}

export function fromBoolean(b: boolean): 'true' | 'false' {
  return b ? 'true' : 'false';
}

/** Accepts `true`/`false`, `t`/`f` and `1`/`0`, in any case. */
export function toBoolean(s: string): boolean {
  switch (s.toLowerCase()) {
    case 'true':
    case 't':
    case '1':
      return true;
    case 'false':
    case 'f':
    case '0':
      return false;
    default:
      throw badValue(s, 'a boolean');
  }
}

/**
 * The exchange text of a value a driver returned: null/undefined → NULL, strings as they are, numbers via
 * `fromNumber`, bigints in decimal, booleans as `true`/`false`, bytes as base64, other objects as JSON.
 *
 * A `Date` is refused: by the time a driver has made one, the wall-clock text of the source has already been
 * shifted through the process's time zone (and lost its precision beyond milliseconds). Connectors must ask their
 * driver for date and time values as strings, exactly as the source stores them.
 */
export function cellFromValue(v: unknown): Cell {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'number':
      return fromNumber(v);
    case 'bigint':
      return v.toString();
    case 'boolean':
      return fromBoolean(v);
    case 'object':
      if (v instanceof Uint8Array) return fromBuffer(v);
      if (v instanceof Date) {
        throw new PipelineError('BAD_VALUE', 'a driver returned a Date object; date and time values must be read as text', {
          hint: 'configure the driver to return dates as strings, so no time-zone shift can happen',
        });
      }
      try {
        const json = JSON.stringify(v) as string | undefined;
        if (json !== undefined) return json;
      } catch (e) {
        throw new PipelineError('BAD_VALUE', `cannot write a value as JSON: ${e instanceof Error ? e.message : String(e)}`, {
          cause: e,
        });
      }
      throw new PipelineError('BAD_VALUE', 'cannot write a value as JSON: it serialises to nothing');
    default:
      throw new PipelineError('BAD_VALUE', `cannot write a value of type ${typeof v}`);
  }
}

function badValue(s: string, what: string): PipelineError {
  const shown = s.length > 40 ? JSON.stringify(s.slice(0, 40)) + '…' : JSON.stringify(s);
  return new PipelineError('BAD_VALUE', `${shown} is not ${what}`);
}

const TIMESTAMPTZ = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:Z|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/**
 * `YYYY-MM-DD HH:MM:SS[.f]±HH[:MM]` → the same instant as UTC wall-clock text without an offset (for a target column without an offset, read as UTC). Fractions are kept as text, so no precision is lost.
 */
export function utcNaive(s: string): string {
  const m = TIMESTAMPTZ.exec(s);
  if (!m) throw new Error('not a timestamp with time zone');
  const [, y, mo, d, h, mi, sec, frac = '', sign, oh = '00', om = '00'] = m;
  const wall = `${y}-${mo}-${d} ${h}:${mi}:${sec}${frac}`;
  const offset = sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  if (offset === 0) return wall;
  // UTC arithmetic only: no process time zone is involved.
  const t = new Date(0);
  t.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  t.setUTCHours(Number(h), Number(mi) - offset, Number(sec), 0);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(t.getUTCFullYear(), 4)}-${p(t.getUTCMonth() + 1)}-${p(t.getUTCDate())} ${p(t.getUTCHours())}:${p(t.getUTCMinutes())}:${p(t.getUTCSeconds())}${frac}`;
}

/**
 * The shortest text that reads back (through a double, then rounded to float) to the same float32: `0.1` for
 * the float nearest 0.1, where the double's own shortest text would be `0.10000000149011612`.
 */
export function shortestFloat32(n: number): string {
  if (!Number.isFinite(n) || n === 0 || Math.fround(n) !== n) return fromNumber(n);
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(n.toPrecision(digits));
    // Engines read the text as a double (MySQL refuses one beyond FLT_MAX before rounding it to a float).
    if (Math.fround(candidate) === n && Math.abs(candidate) <= FLT_MAX) return String(candidate);
  }
  return String(n);
}

const FLT_MAX = 3.4028234663852886e38;
