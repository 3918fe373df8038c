import type { ImportMode } from '../config/types.js';
import type { PortableType } from '../csv/types.js';

export interface WatermarkBounds {
  readonly lowerInclusive: boolean;
  readonly upperInclusive: boolean;
}

const INTEGER_TYPES: ReadonlySet<PortableType> = new Set(['int16', 'int32', 'int64', 'uint64']);

/**
 * Which ends of the watermark range `(saved, max at start)` a load includes, so that rows tying on the watermark
 * value are neither lost nor loaded twice:
 * - `merge`: both ends. Rows at the saved watermark are read again, which the upsert makes harmless, and a row
 *   that arrives later with the same value is still picked up.
 * - otherwise, an integer column (an increasing id: values do not repeat): `> saved` and `<= max`.
 * - otherwise (timestamps, where many rows share a value): `>= saved` and `< max`. Rows at the newest value wait
 *   for the next run, when they are loaded together with any row that arrives later with the same value.
 */
export function watermarkBounds(mode: ImportMode, columnType: PortableType | undefined): WatermarkBounds {
  if (mode === 'merge') return { lowerInclusive: true, upperInclusive: true };
  if (columnType !== undefined && INTEGER_TYPES.has(columnType)) return { lowerInclusive: false, upperInclusive: true };
  return { lowerInclusive: true, upperInclusive: false };
}
