import type { SourceConfig } from '../../config/types.js';
import type { ColumnSchema } from '../../csv/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { RangePredicate } from '../contract.js';
import { isoTimestamp } from './search-types.js';

/** The keys a search source takes besides `connection`. */
export const SEARCH_SOURCE_KEYS = ['index', 'query', 'fields', 'slices'] as const;

/** A node's source on a search connection. */
export interface SearchSource {
  /** An index, an alias or a pattern (`logs-*`). */
  readonly index: string;
  /** The query clause of a search (`{ term: { status: paid } }`); default every document. */
  readonly query?: { readonly [key: string]: unknown };
  /** `_source` paths to read as columns, in this order (`customer.city`, `_id` for the document id); default all. */
  readonly fields?: readonly string[];
  /** Parallel slices of the export (one chunk each); default the index's primary shard count, at most 8. */
  readonly slices?: number;
}

/** The source keys as a SearchSource; refuses the keys of table sources, naming the ones to use. */
export function searchSource(source: SourceConfig, node: string): SearchSource {
  const s = source as SourceConfig & { index?: unknown; fields?: unknown; slices?: unknown };
  const fail = (message: string, hint?: string) => new PipelineError('INVALID_CONFIG', `node \`${node}\`: ${message}`, { node, ...(hint ? { hint } : {}) });
  for (const key of ['table', 'columns', 'where', 'split'] as const) {
    if (source[key] !== undefined) throw fail(`a search source does not take \`${key}\``, 'use `index`, `query` (a query clause as a map), `fields` and `slices`');
  }
  if (typeof s.index !== 'string' || s.index === '') throw fail('a search source needs `index` (an index, alias or pattern)');
  let query: SearchSource['query'];
  if (typeof source.query === 'string') {
    try {
      query = JSON.parse(source.query) as SearchSource['query'];
    } catch {
      throw fail('`query` must be a query clause: a map, or its JSON text');
    }
  } else if (source.query !== undefined) {
    query = source.query;
  }
  if (query !== undefined && (typeof query !== 'object' || query === null || Array.isArray(query))) throw fail('`query` must be a query clause (a map)');
  if (s.fields !== undefined && (!Array.isArray(s.fields) || s.fields.some((f) => typeof f !== 'string' || f === ''))) throw fail('`fields` must be a list of field paths');
  if (s.slices !== undefined && (typeof s.slices !== 'number' || !Number.isInteger(s.slices) || s.slices < 1)) throw fail('`slices` must be a positive integer');
  return {
    index: s.index,
    ...(query ? { query } : {}),
    ...(s.fields ? { fields: s.fields as string[] } : {}),
    ...(s.slices ? { slices: s.slices } : {}),
  };
}

/** The query of a search: the user's clause, the incremental window and a range, all as filters. */
export function searchQuery(source: SearchSource, columns: readonly ColumnSchema[], ...ranges: (RangePredicate | undefined)[]): Record<string, unknown> {
  const filter: unknown[] = [];
  if (source.query) filter.push(source.query);
  for (const r of ranges) if (r) filter.push(rangeClause(r, columns.find((c) => c.name === r.column)));
  return filter.length === 0 ? { match_all: {} } : { bool: { filter } };
}

/** A range on a column; bounds are exchange text, dates spelt as ISO date-times. */
export function rangeClause(r: RangePredicate, column: ColumnSchema | undefined): Record<string, unknown> {
  const spell = (v: string) => (column?.type === 'timestamp' || column?.type === 'timestamptz' ? isoTimestamp(v, column.type === 'timestamptz') : v);
  const bounds: Record<string, string> = {};
  if (r.lower) bounds[r.lower.inclusive ? 'gte' : 'gt'] = spell(r.lower.value);
  if (r.upper) bounds[r.upper.inclusive ? 'lte' : 'lt'] = spell(r.upper.value);
  const dated = column?.type === 'timestamp' || column?.type === 'timestamptz' || column?.type === 'date';
  const range = { range: { [r.column]: { ...bounds, ...(dated ? { format: 'strict_date_optional_time' } : {}) } } };
  const missing = { bool: { must_not: { exists: { field: r.column } } } };
  if (!r.lower && !r.upper) return r.includeNull ? missing : { exists: { field: r.column } };
  return r.includeNull ? { bool: { should: [range, missing], minimum_should_match: 1 } } : range;
}
