import type { ColumnSchema } from '../csv/types.js';

/** What an existing target column holds, in portable terms (see ColumnSchema; `precision` of a time type: digits). */
export type Holds = Pick<ColumnSchema, 'type' | 'precision' | 'scale' | 'length'>;

const INT_DIGITS: Readonly<Record<string, number>> = { int16: 5, int32: 10, int64: 19, uint64: 20 };
/** Integers a float's mantissa holds exactly: 2^24 and 2^53, as digits that always fit. */
const FLOAT_INT_DIGITS = { float32: 7, float64: 15 } as const;

/**
 * Why writing values of `source` into a column that holds `target` would change some of them silently (a target
 * rounds them without an error), or undefined when every value either fits exactly or fails loudly (a value too
 * long or out of range is the target's error to raise). Decided from the types alone, before a row is loaded.
 */
export function lossyInto(source: ColumnSchema, target: Holds): string | undefined {
  const digits = source.type in INT_DIGITS ? INT_DIGITS[source.type] : undefined;
  switch (target.type) {
    case 'decimal': {
      if (target.precision === undefined) return undefined;
      if (target.scale === undefined) {
        // A floating number of significant digits (SQLite's NUMERIC affinity keeps 15).
        const p = source.type === 'decimal' ? source.precision : (digits ?? (isFloat(source) ? 17 : undefined));
        if (source.type !== 'decimal' && digits === undefined && !isFloat(source)) return undefined;
        return p === undefined || p > target.precision ? `it keeps ${target.precision} significant digits` : undefined;
      }
      if (source.type === 'decimal') {
        if (source.scale === undefined) return `it keeps ${target.scale} decimal places and the export's are not bounded`;
        return source.scale > target.scale ? `it keeps ${target.scale} decimal places, the export has ${source.scale}` : undefined;
      }
      return isFloat(source) ? `it keeps ${target.scale} decimal places of a floating-point value` : undefined;
    }
    case 'float32':
    case 'float64': {
      const keeps = FLOAT_INT_DIGITS[target.type];
      if (source.type === 'float64' && target.type === 'float32') return 'it is single precision and the export is double';
      if (digits !== undefined && digits > keeps) return `it is ${target.type === 'float32' ? 'single' : 'double'} precision and holds integers exactly only up to ${keeps} digits`;
      if (source.type === 'decimal' && (source.precision === undefined || source.precision > keeps)) {
        return `it is ${target.type === 'float32' ? 'single' : 'double'} precision and the export's decimals have ${source.precision ?? 'unbounded'} digits`;
      }
      return undefined;
    }
    case 'time':
    case 'timestamp':
    case 'timestamptz': {
      if (!isTemporal(source)) return undefined;
      const have = source.precision ?? 6;
      const keeps = target.precision ?? 6;
      return have > keeps ? `it keeps ${keeps} fractional-second digits, the export has ${have}` : undefined;
    }
    case 'date':
      return source.type === 'timestamp' || source.type === 'timestamptz' ? 'it is a date and the export has times of day' : undefined;
    default:
      return undefined;
  }
}

function isFloat(c: Holds): boolean {
  return c.type === 'float32' || c.type === 'float64';
}

function isTemporal(c: Holds): boolean {
  return c.type === 'time' || c.type === 'timestamp' || c.type === 'timestamptz';
}

/** `decimal(10,2)`, `timestamp(0)`, `float32`: a type as people read it in a message. */
export function describeHolds(c: Holds): string {
  if (c.type === 'decimal' && c.precision !== undefined) return `decimal(${c.precision}${c.scale === undefined ? '' : `,${c.scale}`})`;
  if (isTemporal(c) && c.precision !== undefined) return `${c.type}(${c.precision})`;
  if (c.type === 'string' && c.length !== undefined) return `string(${c.length})`;
  return c.type;
}
