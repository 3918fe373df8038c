import { PipelineError, type ErrorCode } from '../../errors/pipeline-error.js';
import type { SearchOptions } from './search-config.js';
import type { SearchServer } from './search-flavor.js';
import type { SearchHttp } from './search-http.js';
import { JsonComposite, parseLossless } from './search-json.js';

/** What a scan needs of its connection. */
export interface SearchContext {
  readonly http: SearchHttp;
  readonly server: SearchServer;
  readonly options: SearchOptions;
  readonly connection: string;
}

export interface ScanRequest {
  readonly index: string;
  readonly query: unknown;
  /** `_source` filtering: the paths to return, or false for none. */
  readonly source: readonly string[] | boolean;
  /** One slice of `max`; none when the scan is whole. */
  readonly slice?: { readonly id: number; readonly max: number };
  /** The code a failure becomes. */
  readonly code: ErrorCode;
}

const KEEP_ALIVE = '5m';

/**
 * Reads every hit of a search, page by page, in a consistent view: a point in time with search_after where the
 * server has one (Elasticsearch 7.12+, OpenSearch 2.4+), else a scroll; `options.export: scroll` forces the scroll.
 * A point in time falls back to a scroll when the server refuses its sort (OpenSearch without `_id` field data).
 * Each page is handed to `onPage` and awaited before the next is asked for, so a slow sink holds the scan. The point
 * in time or scroll is released at the end, also after a failure or an abort.
 */
export async function scan(ctx: SearchContext, r: ScanRequest, onPage: (hits: readonly JsonComposite[]) => Promise<void>, signal?: AbortSignal): Promise<void> {
  if (ctx.server.pit && ctx.options.export === 'pit') {
    const done = await scanPit(ctx, r, onPage, signal);
    if (done) return;
  }
  await scanScroll(ctx, r, onPage, signal);
}

function pageBody(ctx: SearchContext, r: ScanRequest, extra: Record<string, unknown>, countHits = false): Record<string, unknown> {
  return {
    size: ctx.options.pageSize,
    query: r.query,
    _source: r.source,
    // A scroll refuses not to count.
    ...(countHits ? {} : { track_total_hits: false }),
    ...(r.slice && r.slice.max > 1 ? { slice: r.slice } : {}),
    ...extra,
  };
}

function hitsOf(text: string): { hits: JsonComposite[]; body: JsonComposite } {
  const body = parseLossless(text);
  if (!(body instanceof JsonComposite)) throw new Error('a search answered something other than an object');
  const outer = body.get('hits');
  const hits = outer instanceof JsonComposite ? outer.get('hits') : undefined;
  return { hits: hits instanceof JsonComposite ? (hits.items() as JsonComposite[]) : [], body };
}

/** Returns false when the server refused the point in time's sort before any hit was handed on (scroll instead). */
async function scanPit(ctx: SearchContext, r: ScanRequest, onPage: (hits: readonly JsonComposite[]) => Promise<void>, signal?: AbortSignal): Promise<boolean> {
  const { http, server } = ctx;
  const flavor = server.flavor;
  const opened = await http.json<Record<string, unknown>>('POST', flavor.pitOpen(r.index, KEEP_ALIVE), undefined, { code: r.code, signal, context: {} });
  let id = String(opened[flavor.pitIdKey]);
  try {
    let after: string | undefined;
    let first = true;
    for (;;) {
      const body = JSON.stringify(pageBody(ctx, r, { pit: { id, keep_alive: KEEP_ALIVE }, sort: flavor.pitSort }));
      // search_after goes in as the server wrote it: sort values may be longs beyond 2^53.
      const text = after === undefined ? body : `${body.slice(0, -1)},"search_after":${after}}`;
      let reply;
      try {
        reply = await http.call('POST', '/_search', text, { code: r.code, signal });
      } catch (e) {
        if (first && e instanceof PipelineError && /field ?data|_id field/i.test(e.message)) return false;
        throw e;
      }
      first = false;
      const { hits, body: answer } = hitsOf(reply.text);
      const newer = answer.get('pit_id');
      if (typeof newer === 'string') id = newer;
      if (hits.length === 0) return true;
      await onPage(hits);
      const sort = hits[hits.length - 1]!.get('sort');
      if (!(sort instanceof JsonComposite)) throw new PipelineError(r.code, 'a point-in-time search answered hits without sort values', { connection: ctx.connection });
      after = sort.raw();
      if (hits.length < ctx.options.pageSize) return true;
    }
  } finally {
    const close = flavor.pitClose(id);
    await http.send('DELETE', close.path, JSON.stringify(close.body)).catch(() => {});
  }
}

async function scanScroll(ctx: SearchContext, r: ScanRequest, onPage: (hits: readonly JsonComposite[]) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const { http } = ctx;
  // A scroll page moves the cursor on the server: it is never repeated (a failure fails the chunk, which is retried).
  const first = await http.call('POST', `/${encodeURIComponent(r.index)}/_search?scroll=${KEEP_ALIVE}`, JSON.stringify(pageBody(ctx, r, { sort: ['_doc'] }, true)), {
    code: r.code,
    signal,
    once: true,
  });
  let page = hitsOf(first.text);
  let id = page.body.get('_scroll_id');
  try {
    for (;;) {
      if (page.hits.length === 0) return;
      await onPage(page.hits);
      if (typeof id !== 'string') throw new PipelineError(r.code, 'a scroll search answered without a scroll id', { connection: ctx.connection });
      const next = await http.call('POST', '/_search/scroll', JSON.stringify({ scroll: KEEP_ALIVE, scroll_id: id }), { code: r.code, signal, once: true });
      page = hitsOf(next.text);
      const newer = page.body.get('_scroll_id');
      if (typeof newer === 'string') id = newer;
    }
  } finally {
    if (typeof id === 'string') await http.send('DELETE', '/_search/scroll', JSON.stringify({ scroll_id: [id] })).catch(() => {});
  }
}
