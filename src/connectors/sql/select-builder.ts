import type { ChunkSpec, ExportRequest, RangePredicate } from '../contract.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import { quoteTable, type SqlDialect } from './dialect.js';

export interface BuiltQuery {
  readonly sql: string;
  readonly params: readonly string[];
}

/**
 * The SELECT of an export: the table (with its columns and where) or the user's query wrapped as a subquery, then
 * the incremental window and the chunk's key range ANDed on. Bounds are bound parameters, never spliced in.
 */
export function buildSelect(d: SqlDialect, req: ExportRequest, chunk?: ChunkSpec, columns?: readonly string[]): BuiltQuery {
  const params: string[] = [];
  const conditions: string[] = [];
  const cols = columns ?? req.source.columns;
  const projection = cols && cols.length > 0 ? cols.map((c) => d.quoteIdent(c)).join(', ') : '*';
  let from: string;
  if (req.source.query !== undefined) {
    if (typeof req.source.query !== 'string') throw new PipelineError('INVALID_CONFIG', `node \`${req.node}\`: a SQL source's \`query\` is a SELECT statement`, { node: req.node });
    from = `(${stripSemicolon(req.source.query)}) AS pigeon_q`;
  } else {
    from = quoteTable(d, req.source.table ?? '');
    if (req.source.where) conditions.push(`(${req.source.where})`);
  }
  if (req.window) conditions.push(rangeSql(d, req.window, params));
  if (chunk?.range) conditions.push(rangeSql(d, chunk.range, params));
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  return { sql: `SELECT ${projection} FROM ${from}${where}`, params };
}

/** `SELECT MAX(col)` over what the request selects: a watermark's frozen upper bound. */
export function buildMax(d: SqlDialect, req: ExportRequest, column: string): BuiltQuery {
  const inner = buildSelect(d, req);
  return { sql: `SELECT MAX(${d.quoteIdent(column)}) FROM (${inner.sql}) AS pigeon_m`, params: inner.params };
}

export function buildCount(d: SqlDialect, req: ExportRequest, column: string): BuiltQuery {
  const inner = buildSelect(d, req);
  return { sql: `SELECT COUNT(${d.quoteIdent(column)}) FROM (${inner.sql}) AS pigeon_c`, params: inner.params };
}

/** The value at a given rank of `column`: quantile boundaries come from these, so skewed keys still split evenly. */
export function buildNth(d: SqlDialect, req: ExportRequest, column: string, offset: number): BuiltQuery {
  const inner = buildSelect(d, req);
  const c = d.quoteIdent(column);
  return {
    sql: `SELECT ${c} FROM (${inner.sql}) AS pigeon_n WHERE ${c} IS NOT NULL ORDER BY ${c} LIMIT 1 OFFSET ${Math.max(0, Math.floor(offset))}`,
    params: inner.params,
  };
}

/**
 * The value `offset` rows after `after` in the order of `column`, for a column without duplicates: the server walks
 * the index from `after` instead of from the start (see split.ts).
 */
export function buildNthAfter(d: SqlDialect, req: ExportRequest, column: string, after: string, offset: number): BuiltQuery {
  const inner = buildSelect(d, req);
  const c = d.quoteIdent(column);
  return {
    sql: `SELECT ${c} FROM (${inner.sql}) AS pigeon_n WHERE ${c} IS NOT NULL AND ${c} > ${d.placeholder(inner.params.length, column)} ORDER BY ${c} LIMIT 1 OFFSET ${Math.max(0, Math.floor(offset))}`,
    params: [...inner.params, after],
  };
}

/** `column >= ? AND column < ?` of a range predicate, with its bound values: a WHERE condition. */
export function buildRange(d: SqlDialect, r: RangePredicate): BuiltQuery {
  const params: string[] = [];
  return { sql: rangeSql(d, r, params), params };
}

function rangeSql(d: SqlDialect, r: RangePredicate, params: string[]): string {
  const c = d.quoteIdent(r.column);
  const parts: string[] = [];
  if (r.lower) {
    parts.push(`${c} ${r.lower.inclusive ? '>=' : '>'} ${d.placeholder(params.length, r.column)}`);
    params.push(r.lower.value);
  }
  if (r.upper) {
    parts.push(`${c} ${r.upper.inclusive ? '<=' : '<'} ${d.placeholder(params.length, r.column)}`);
    params.push(r.upper.value);
  }
  const range = parts.length > 0 ? parts.join(' AND ') : `${c} IS NOT NULL`;
  return r.includeNull ? `(${range} OR ${c} IS NULL)` : `(${range})`;
}

function stripSemicolon(sql: string): string {
  return sql.trim().replace(/;\s*$/, '');
}
