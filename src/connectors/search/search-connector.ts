import type { ConnectionConfig } from '../../config/types.js';
import type { ColumnSchema } from '../../csv/types.js';
import type { ChunkFeed, ChunkSpec, Connector, ConnectorOptions, CsvSink, ExportRequest, ImportRequest, ImportResult, TargetAccess } from '../contract.js';
import { searchTargetAccess } from './search-access.js';
import { searchConfig, type SearchConfig } from './search-config.js';
import { SearchExport } from './search-export.js';
import { serverOf, type SearchFlavor } from './search-flavor.js';
import { SearchHttp } from './search-http.js';
import { SearchImport } from './search-import.js';
import type { SearchContext } from './search-scan.js';

/**
 * An Elasticsearch or OpenSearch cluster over plain HTTP: `open` asks the server what it is (`GET /`) and refuses a
 * product or version the kind does not cover; export and import are search-export.ts and search-import.ts.
 */
export class SearchConnector implements Connector {
  readonly #kind: SearchFlavor['kind'];
  readonly #config: SearchConfig;
  readonly #http: SearchHttp;
  #ctx: SearchContext | undefined;

  constructor(kind: SearchFlavor['kind'], config: ConnectionConfig, options: ConnectorOptions) {
    this.#kind = kind;
    this.#config = searchConfig(config, options.cwd);
    this.#http = new SearchHttp(this.#config);
  }

  async open(signal?: AbortSignal): Promise<void> {
    const info = await this.#http.json<{ version?: { number?: string; distribution?: string } }>('GET', '/', undefined, { code: 'CONNECT_FAILED', signal });
    const server = serverOf(this.#kind, this.#config.name, info);
    this.#ctx = { http: this.#http, server, options: this.#config.options, connection: this.#config.name };
  }

  async close(): Promise<void> {
    this.#http.close();
  }

  get #context(): SearchContext {
    if (!this.#ctx) throw new Error('the search connector is not open');
    return this.#ctx;
  }

  describe(req: ExportRequest, signal?: AbortSignal): Promise<readonly ColumnSchema[]> {
    return new SearchExport(this.#context).describe(req, signal);
  }

  maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null> {
    return new SearchExport(this.#context).maxValue(req, column, signal);
  }

  planChunks(req: ExportRequest, signal?: AbortSignal): Promise<readonly ChunkSpec[]> {
    return new SearchExport(this.#context).planChunks(req, signal);
  }

  exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    return new SearchExport(this.#context).exportChunk(req, chunk, sink, signal);
  }

  import(req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    return new SearchImport(this.#context).import(req, feed, signal);
  }

  probeTarget(table: string, signal?: AbortSignal): Promise<'missing' | 'empty' | 'filled'> {
    return new SearchImport(this.#context).probe(table, signal);
  }

  targetAccess(table: string, signal?: AbortSignal): Promise<TargetAccess> {
    return searchTargetAccess(this.#context, table, signal);
  }

  isCommitted(table: string, loadId: string, signal?: AbortSignal): Promise<boolean> {
    return new SearchImport(this.#context).isCommitted(table, loadId, signal);
  }
}
