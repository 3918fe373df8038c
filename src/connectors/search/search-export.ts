import type { Cell, ColumnSchema } from '../../csv/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { ChunkSpec, CsvSink, ExportRequest } from '../contract.js';
import { JsonComposite, parseLossless, type JsonValue } from './search-json.js';
import { scan, type SearchContext } from './search-scan.js';
import { searchQuery, searchSource, type SearchSource } from './search-source.js';
import { cellReader, portableOfField, type Mapping } from './search-types.js';

/** What pigeon keeps in the `_meta` of an index it writes: the portable columns, and the load that wrote it. */
export interface PigeonMeta {
  readonly columns?: readonly ColumnSchema[];
  /** The load that filled this index (overwrite), recorded before the alias is swapped to it. */
  readonly load?: string;
  /** The alias this index was made for. */
  readonly alias?: string;
}

export interface IndexMapping {
  readonly mappings?: { readonly _meta?: { readonly pigeon?: PigeonMeta }; readonly properties?: Record<string, Mapping> };
}

/** `GET /<index>/_mapping`: per concrete index; undefined when nothing matches. */
export async function getMappings(ctx: SearchContext, index: string, signal?: AbortSignal): Promise<Record<string, IndexMapping> | undefined> {
  const reply = await ctx.http.call('GET', `/${encodeURIComponent(index)}/_mapping`, undefined, { code: 'EXPORT_FAILED', accept: [404], signal, context: { table: index } });
  if (reply.status === 404) return undefined;
  return JSON.parse(reply.text) as Record<string, IndexMapping>;
}

/** Leaf fields of a mapping as dotted paths; objects that are not indexed, nested objects and the rest are JSON. */
export function leafFields(properties: Record<string, Mapping> | undefined, prefix = ''): [string, Mapping][] {
  const out: [string, Mapping][] = [];
  for (const [name, field] of Object.entries(properties ?? {})) {
    const sub = field['properties'] as Record<string, Mapping> | undefined;
    const isObject = (field['type'] === undefined || field['type'] === 'object') && field['enabled'] !== false;
    if (sub && isObject) out.push(...leafFields(sub, `${prefix}${name}.`));
    else out.push([`${prefix}${name}`, field]);
  }
  return out;
}

const ID_COLUMN: ColumnSchema = { name: '_id', type: 'text', nullable: false };

/**
 * The columns of a search source: the portable columns pigeon recorded when it wrote the index, else one per leaf
 * field of the mapping; `fields` picks and orders them (`_id` is the document id).
 */
export async function describeSource(ctx: SearchContext, src: SearchSource, signal?: AbortSignal): Promise<ColumnSchema[]> {
  const mappings = await getMappings(ctx, src.index, signal);
  if (!mappings || Object.keys(mappings).length === 0) {
    throw new PipelineError('SOURCE_NOT_FOUND', `no index matches \`${src.index}\``, { connection: ctx.connection, table: src.index });
  }
  const known = new Map<string, ColumnSchema>();
  const order: string[] = [];
  for (const m of Object.values(mappings)) {
    const meta = m.mappings?._meta?.pigeon?.columns;
    const fields = leafFields(m.mappings?.properties);
    const columns = meta ?? fields.map(([name, f]): ColumnSchema => ({ name, type: portableOfField(f), nullable: true, source_type: String(f['type'] ?? 'object') }));
    for (const c of columns) {
      if (known.has(c.name)) continue;
      known.set(c.name, c);
      order.push(c.name);
    }
  }
  if (!src.fields) return order.map((n) => known.get(n)!);
  return src.fields.map((f) => {
    if (f === '_id') return ID_COLUMN;
    const c = known.get(f);
    if (!c) {
      throw new PipelineError('SOURCE_NOT_FOUND', `field \`${f}\` is not in the mapping of \`${src.index}\``, {
        connection: ctx.connection,
        table: src.index,
        column: f,
        hint: `fields: ${order.slice(0, 20).join(', ')}${order.length > 20 ? ', …' : ''}`,
      });
    }
    return c;
  });
}

/** The value at a `_source` path: the key as written (`a.b`), else object by object. */
export function valueAt(source: JsonComposite | undefined, path: string): JsonValue | undefined {
  if (!source) return undefined;
  const direct = source.get(path);
  if (direct !== undefined) return direct;
  let dot = path.indexOf('.');
  while (dot > 0) {
    const head = source.get(path.slice(0, dot));
    if (head instanceof JsonComposite && !head.isArray) {
      const found = valueAt(head, path.slice(dot + 1));
      if (found !== undefined) return found;
    }
    dot = path.indexOf('.', dot + 1);
  }
  return undefined;
}

/** How hits become rows: one reader per column. */
export function rowReader(columns: readonly ColumnSchema[]): (hit: JsonComposite) => Cell[] {
  const readers = columns.map((c) => ({ c, read: cellReader(c), id: c.name === '_id' && c === ID_COLUMN }));
  return (hit) => {
    const source = hit.get('_source');
    const src = source instanceof JsonComposite ? source : undefined;
    return readers.map(({ c, read, id }) => {
      if (id) return String(hit.get('_id'));
      try {
        return read(valueAt(src, c.name));
      } catch (e) {
        const message = `document ${String(hit.get('_id'))}: field \`${c.name}\`: ${e instanceof Error ? e.message : String(e)}`;
        throw new PipelineError(e instanceof PipelineError ? e.code : 'BAD_VALUE', message, { column: c.name, cause: e });
      }
    });
  };
}

/**
 * Whole `_source` or none: the server returns it byte for byte only unfiltered (a filtered `_source` is re-written
 * through doubles: `12345678901234.123456` comes back as `1.2345678901234123E13`).
 */
function sourceFilter(columns: readonly ColumnSchema[]): boolean {
  return columns.some((c) => c !== ID_COLUMN);
}

export class SearchExport {
  readonly #ctx: SearchContext;

  constructor(ctx: SearchContext) {
    this.#ctx = ctx;
  }

  describe(req: ExportRequest, signal?: AbortSignal): Promise<ColumnSchema[]> {
    return describeSource(this.#ctx, searchSource(req.source, req.node), signal);
  }

  /** The largest value of `column` in the request's documents: the first hit sorted on it, read from `_source`. */
  async maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null> {
    const src = searchSource(req.source, req.node);
    const all = await describeSource(this.#ctx, { index: src.index }, signal);
    const c = all.find((x) => x.name === column);
    if (!c) throw new PipelineError('SOURCE_NOT_FOUND', `field \`${column}\` is not in the mapping of \`${src.index}\``, { column, table: src.index });
    const body = { size: 1, query: searchQuery(src, all, req.window, { column, lower: undefined, includeNull: false }), sort: [{ [column]: { order: 'desc' } }], track_total_hits: false };
    const reply = await this.#ctx.http.call('POST', `/${encodeURIComponent(src.index)}/_search`, JSON.stringify(body), { code: 'EXPORT_FAILED', signal, context: { table: src.index, column } });
    const answer = parseLossless(reply.text);
    const hits = answer instanceof JsonComposite ? (answer.get('hits') as JsonComposite | undefined)?.get('hits') : undefined;
    const first = hits instanceof JsonComposite ? hits.items()[0] : undefined;
    if (!(first instanceof JsonComposite)) return null;
    return rowReader([c])(first)[0] ?? null;
  }

  /** One chunk per slice: `slices`, else the index's primary shard count (at most 8). */
  async planChunks(req: ExportRequest, signal?: AbortSignal): Promise<ChunkSpec[]> {
    const src = searchSource(req.source, req.node);
    let max = src.slices;
    if (max === undefined) {
      const reply = await this.#ctx.http.call('GET', `/${encodeURIComponent(src.index)}/_settings/index.number_of_shards`, undefined, {
        code: 'EXPORT_FAILED',
        signal,
        accept: [404],
        context: { table: src.index },
      });
      if (reply.status === 404) throw new PipelineError('SOURCE_NOT_FOUND', `no index matches \`${src.index}\``, { connection: this.#ctx.connection, table: src.index });
      const settings = JSON.parse(reply.text) as Record<string, { settings?: { index?: { number_of_shards?: string } } }>;
      max = Math.min(8, Math.max(1, ...Object.values(settings).map((s) => Number(s.settings?.index?.number_of_shards ?? 1))));
    }
    if (max === 1) return [{ index: 1 }];
    return Array.from({ length: max }, (_, i) => ({ index: i + 1, part: { slice: i, max } }));
  }

  async exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    const src = searchSource(req.source, req.node);
    const columns = await describeSource(this.#ctx, src, signal);
    const all = src.fields ? await describeSource(this.#ctx, { index: src.index }, signal) : columns;
    const toRow = rowReader(columns);
    const part = chunk.part as { slice?: number; max?: number } | undefined;
    let rows = 0;
    await scan(
      this.#ctx,
      {
        index: src.index,
        query: searchQuery(src, all, req.window, chunk.range),
        source: sourceFilter(columns),
        ...(part?.slice !== undefined && part.max !== undefined ? { slice: { id: part.slice, max: part.max } } : {}),
        code: 'EXPORT_FAILED',
      },
      async (hits) => {
        for (const hit of hits) {
          rows++;
          if (!sink.row(toRow(hit))) await sink.drain();
        }
        signal?.throwIfAborted();
      },
      signal,
    );
    return rows;
  }
}
