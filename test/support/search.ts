import { serviceEndpoint } from './services.js';
import type { ContractPlace } from './connector-contract.js';

export type SearchKindName = 'elasticsearch' | 'opensearch';

/** The test server of a search kind: OpenSearch 2.19 or Elasticsearch 7.17 (scripts/services/). */
export function searchEndpoint(kind: SearchKindName): string {
  return serviceEndpoint(kind);
}

/** Plain HTTP to a test search server, for setting up and looking: JSON in, JSON out, any status. */
export class SearchAdmin {
  constructor(readonly url: string) {}

  async req<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const ndjson = Array.isArray(body);
    const r = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' },
      ...(body === undefined ? {} : { body: ndjson ? body.map((l) => `${JSON.stringify(l)}\n`).join('') : JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: (text === '' ? {} : JSON.parse(text)) as T };
  }

  /** Every document's `_source` of an index or alias, by `_id`. */
  async docs(index: string): Promise<Map<string, Record<string, unknown>>> {
    await this.req('POST', `/${index}/_refresh`);
    const r = await this.req<{ hits: { hits: { _id: string; _source: Record<string, unknown> }[] } }>('POST', `/${index}/_search`, { size: 10000, query: { match_all: {} } });
    return new Map(r.body.hits.hits.map((h) => [h._id, h._source]));
  }

  async count(index: string): Promise<number> {
    const r = await this.req<{ count: number }>('GET', `/${index}/_count`);
    return r.body.count;
  }

  /** Deletes every (non-hidden) index: each test starts on an empty cluster. */
  async wipe(): Promise<void> {
    const r = await this.req<{ index: string }[]>('GET', '/_cat/indices?format=json&h=index');
    const names = r.body.map((x) => x.index).filter((n) => !n.startsWith('.'));
    if (names.length > 0) await this.req('DELETE', `/${names.join(',')}`);
  }

  /** Work indices pigeon made (`_meta.pigeon.alias`) that no alias of that name points to. */
  async leftovers(): Promise<string[]> {
    const mappings = await this.req<Record<string, { mappings?: { _meta?: { pigeon?: { alias?: string } } } }>>('GET', '/_all/_mapping');
    const aliases = await this.req<Record<string, { aliases: Record<string, unknown> }>>('GET', '/_alias');
    return Object.entries(mappings.body)
      .filter(([index, m]) => {
        const alias = m.mappings?._meta?.pigeon?.alias;
        return alias !== undefined && !Object.keys(aliases.body[index]?.aliases ?? {}).includes(alias);
      })
      .map(([index]) => index);
  }

  /** Search contexts (scrolls, points in time) open on the server. */
  async openContexts(): Promise<number> {
    const r = await this.req<{ nodes: Record<string, { indices: { search: { open_contexts: number } } }> }>('GET', '/_nodes/stats/indices/search');
    return Object.values(r.body.nodes).reduce((n, x) => n + x.indices.search.open_contexts, 0);
  }
}

/** A contract place: the test server wiped, its URL as the connection. */
export async function searchPlace(kind: SearchKindName): Promise<ContractPlace> {
  const admin = new SearchAdmin(searchEndpoint(kind));
  await admin.wipe();
  return {
    config: { url: admin.url },
    leftovers: () => admin.leftovers(),
    sessions: () => admin.openContexts(),
    cleanup: () => admin.wipe(),
  };
}
