import type { ColumnSchema } from '../../csv/types.js';
import { describeHolds, type Holds } from '../lossy.js';
import type { TargetColumn } from './staged-import.js';

/** How an export's columns differ from an existing target table's. */
export interface SchemaChanges {
  /** Columns of the export the target lacks. */
  readonly added: readonly ColumnSchema[];
  /** Target columns the export no longer carries (loaded as NULL, or their default). */
  readonly removed: readonly string[];
  /** Target columns narrower than the export's: the export's column, and what the target holds now. */
  readonly widened: readonly { readonly column: ColumnSchema; readonly from: Holds }[];
  /** Target columns of another kind of type than the export's (neither wider nor narrower). */
  readonly retyped: readonly { readonly column: ColumnSchema; readonly from: Holds }[];
}

const INT_RANK: Readonly<Record<string, number>> = { int16: 1, int32: 2, int64: 3, uint64: 4 };

/** The differences between the export's columns and the target's (names compared as the engine compares them). */
export function schemaChanges(columns: readonly ColumnSchema[], target: readonly TargetColumn[], caseInsensitive: boolean): SchemaChanges {
  const norm = (n: string) => (caseInsensitive ? n.toLowerCase() : n);
  const byName = new Map(target.map((t) => [norm(t.name), t]));
  const exported = new Set(columns.map((c) => norm(c.name)));
  const added: ColumnSchema[] = [];
  const widened: { column: ColumnSchema; from: Holds }[] = [];
  const retyped: { column: ColumnSchema; from: Holds }[] = [];
  for (const c of columns) {
    const t = byName.get(norm(c.name));
    if (!t) {
      added.push(c);
      continue;
    }
    if (!t.holds) continue;
    const change = compare(c, t.holds);
    if (change === 'wider') widened.push({ column: c, from: t.holds });
    else if (change === 'other') retyped.push({ column: c, from: t.holds });
  }
  return { added, removed: target.filter((t) => !exported.has(norm(t.name))).map((t) => t.name), widened, retyped };
}

export function hasChanges(c: SchemaChanges): boolean {
  return c.added.length > 0 || c.removed.length > 0 || c.widened.length > 0 || c.retyped.length > 0;
}

/**
 * Whether the export's column needs the target's to be wider (so that `add_columns` widens it: more integer
 * digits, a longer string, more decimal digits on either side of the point, double precision), holds in it as it
 * is (`same`), or is another kind of value altogether.
 */
function compare(c: ColumnSchema, h: Holds): 'same' | 'wider' | 'other' {
  if (c.type in INT_RANK && h.type in INT_RANK) return INT_RANK[c.type]! > INT_RANK[h.type]! ? 'wider' : 'same';
  if (c.type in INT_RANK && (h.type === 'decimal' || h.type === 'float64' || h.type === 'text' || h.type === 'string')) return 'same';
  if (c.type === 'string' || c.type === 'text' || c.type === 'json' || c.type === 'uuid') {
    if (h.type === 'text' || h.type === 'json') return 'same';
    if (h.type !== 'string') return c.type === 'text' ? 'other' : 'same';
    if (c.type !== 'string' || c.length === undefined) return h.length === undefined ? 'same' : 'wider';
    return h.length !== undefined && c.length > h.length ? 'wider' : 'same';
  }
  if (c.type === 'decimal' && h.type === 'decimal') {
    if (h.precision === undefined) return 'same';
    if (c.precision === undefined) return 'wider';
    const s = c.scale ?? 0;
    const hs = h.scale ?? 0;
    return s > hs || c.precision - s > h.precision - hs ? 'wider' : 'same';
  }
  if (c.type === 'float32' && (h.type === 'float32' || h.type === 'float64')) return 'same';
  if (c.type === 'float64') return h.type === 'float32' ? 'wider' : h.type === 'float64' ? 'same' : 'other';
  if ((c.type === 'timestamp' || c.type === 'timestamptz') && (h.type === 'timestamp' || h.type === 'timestamptz')) return 'same';
  return c.type === h.type ? 'same' : 'other';
}

/** The column a widening gives: wide enough for both what the target holds and what the export carries. */
export function widenedColumn(c: ColumnSchema, from: Holds): ColumnSchema {
  if (c.type === 'decimal' && from.type === 'decimal' && c.precision !== undefined && from.precision !== undefined) {
    const scale = Math.max(c.scale ?? 0, from.scale ?? 0);
    const digits = Math.max(c.precision - (c.scale ?? 0), from.precision - (from.scale ?? 0));
    return { ...c, precision: digits + scale, scale };
  }
  return c;
}

/** The differences, as a person reads them in an error or a log line. */
export function describeChanges(c: SchemaChanges): string {
  const parts: string[] = [];
  if (c.added.length > 0) parts.push(`new column${c.added.length === 1 ? '' : 's'} ${c.added.map((x) => `\`${x.name}\` (${describeHolds(x)})`).join(', ')}`);
  if (c.removed.length > 0) parts.push(`no longer exported: ${c.removed.map((n) => `\`${n}\``).join(', ')}`);
  if (c.widened.length > 0) parts.push(`wider: ${c.widened.map((w) => `\`${w.column.name}\` ${describeHolds(w.from)} → ${describeHolds(w.column)}`).join(', ')}`);
  if (c.retyped.length > 0) parts.push(`another type: ${c.retyped.map((w) => `\`${w.column.name}\` ${describeHolds(w.from)} → ${describeHolds(w.column)}`).join(', ')}`);
  return parts.join('; ');
}
