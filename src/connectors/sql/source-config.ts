/** What a node's `source` may say on a SQL connection, and the offline checks of it. */
import type { ConfigProblem } from '../contract.js';

/** The source keys of every SQL kind (ConnectorKind.sourceKeys). */
export const SQL_SOURCE_KEYS: readonly string[] = ['table', 'query', 'columns', 'where', 'split'];

/** A SQL source's `query` is a statement (other kinds may take a query as a map: the pipeline schema allows both). */
export function sqlSourceProblems(source: Readonly<Record<string, unknown>>): readonly ConfigProblem[] {
  const query = source['query'];
  if (query === undefined || (typeof query === 'string' && query.trim() !== '')) return [];
  return [{ path: ['query'], message: '`query` must be a SQL statement (a non-empty string)' }];
}
