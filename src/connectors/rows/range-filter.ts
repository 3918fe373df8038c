import type { Cell, ColumnSchema } from '../../csv/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { RangePredicate } from '../contract.js';

/*
 * For kinds that read rows themselves (files, objects, documents) rather than asking a server to filter: the
 * incremental window, a chunk's key range and a watermark's maximum, evaluated on exchange text by column type.
 */

/** Compares exchange text the way the column's type orders: integers exactly, floats as numbers, the rest as text. */
export function comparatorFor(c: ColumnSchema): (a: string, b: string) => number {
  switch (c.type) {
    case 'int16':
    case 'int32':
    case 'int64':
    case 'uint64':
      return (a, b) => {
        const x = BigInt(a);
        const y = BigInt(b);
        return x < y ? -1 : x > y ? 1 : 0;
      };
    case 'float32':
    case 'float64':
    case 'decimal':
      return (a, b) => Number(a) - Number(b);
    default:
      return (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  }
}

export function rangeFilter(range: RangePredicate | undefined, header: readonly string[], columns: readonly ColumnSchema[]): (cells: readonly Cell[]) => boolean {
  if (!range) return () => true;
  const i = header.indexOf(range.column);
  if (i < 0) throw new PipelineError('SOURCE_NOT_FOUND', `column \`${range.column}\` is not in the file`, { column: range.column });
  const cmp = comparatorFor(columns[i]!);
  return (cells) => {
    const v = cells[i];
    if (v === null || v === undefined) return range.includeNull === true;
    if (range.lower) {
      const c = cmp(v, range.lower.value);
      if (c < 0 || (c === 0 && !range.lower.inclusive)) return false;
    }
    if (range.upper) {
      const c = cmp(v, range.upper.value);
      if (c > 0 || (c === 0 && !range.upper.inclusive)) return false;
    }
    return true;
  };
}

/** The largest value of `column` among the rows `inWindow` accepts, compared by the column's type; null when none. */
export class MaxTracker {
  readonly #cmp: (a: string, b: string) => number;
  value: string | null = null;

  constructor(column: ColumnSchema) {
    this.#cmp = comparatorFor(column);
  }

  offer(v: Cell | undefined): void {
    if (v === null || v === undefined) return;
    if (this.value === null || this.#cmp(v, this.value) > 0) this.value = v;
  }
}
