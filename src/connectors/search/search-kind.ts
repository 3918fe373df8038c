import { DEFAULT_CAPABILITIES, type ConnectorKind } from '../contract.js';
import type { SearchFlavor } from './search-flavor.js';
import { rangeClause, SEARCH_SOURCE_KEYS, searchSource } from './search-source.js';

/** `elasticsearch` and `opensearch`: one implementation, the differences as data (search-flavor.ts). */
function searchKind(kind: SearchFlavor['kind']): ConnectorKind {
  return {
    kind,
    capabilities: {
      ...DEFAULT_CAPABILITIES,
      split: false,
      defaultMaxConnections: 4,
      // The target cannot delete an interval's documents in the step that adds the new ones.
      replaceWindow: false,
      rejects: true,
    },
    sourceKeys: SEARCH_SOURCE_KEYS,
    requiredSourceKeys: ['index'],
    renderExport: (req, chunk) => {
      const src = searchSource(req.source, req.node);
      const filters = [src.query, req.window ? rangeClause(req.window, undefined) : undefined].filter(Boolean);
      const part = chunk?.part as { slice?: number; max?: number } | undefined;
      return `search ${src.index}${filters.length > 0 ? ` filter ${JSON.stringify(filters)}` : ''}${src.fields ? ` fields ${src.fields.join(', ')}` : ''}${part?.max ? ` slice ${(part.slice ?? 0) + 1}/${part.max}` : ''} (point in time + search_after, or scroll)`;
    },
    load: async () => {
      const { SearchConnector } = await import('./search-connector.js');
      return (config, options) => new SearchConnector(kind, config, options);
    },
  };
}

export const elasticsearchKind = searchKind('elasticsearch');
export const opensearchKind = searchKind('opensearch');
