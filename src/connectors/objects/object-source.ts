import type { ColumnSchema, SchemaSidecar } from '../../csv/types.js';
import { openCsv, type CsvFile } from '../../csv/reader.js';
import { decodeChunk } from '../../csv/chunk-file.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { ChunkSpec, CsvSink, ExportRequest } from '../contract.js';
import { MaxTracker, rangeFilter } from '../rows/range-filter.js';
import { keyPattern } from './glob.js';
import { readJson } from './object-json.js';
import { isGzipKey, TableKeys, type ObjectSettings, type TableManifest } from './object-layout.js';
import { folderOf, objectError, type ObjectStore } from './object-store.js';

/** What a source request reads: objects in order, and the columns when a manifest or sidecar says them. */
interface SourceObjects {
  readonly keys: readonly string[];
  /** From a `prefix` layout manifest: the exact columns. */
  readonly columns?: readonly ColumnSchema[];
  /** From a schema sidecar: types by column name. */
  readonly sidecar?: readonly ColumnSchema[];
  /** What was asked for, for messages. */
  readonly what: string;
}

/** What a source on an object kind may say (ConnectorKind.sourceKeys): one of table, prefix and pattern. */
export const OBJECT_SOURCE_KEYS: readonly string[] = ['table', 'prefix', 'pattern', 'columns'];

/** An object whose name ends like this is CSV in the exchange format (`.gz`: gzip-compressed). */
const CSV_OBJECT = /\.csv(?:\.gz)?$/;

/**
 * The export half of every object kind: CSV objects in the exchange format (gzip or not, with or without a schema
 * sidecar) read from an ObjectStore, one chunk per object (`ChunkSpec.part.key`). A source names
 * - `table`: what an object target wrote for that table (its layout's data object, or the parts its manifest lists);
 * - `prefix`: every `*.csv` / `*.csv.gz` object whose key starts with it (`schema.json` in that folder, if there, is
 *   the sidecar);
 * - `pattern`: every object whose key matches the glob (see glob.ts), the sidecar `schema.json` in the folder where
 *   the pattern's literal part ends.
 * Keys are relative to the connection's root. Without a sidecar every column is `text`. Rows are filtered by the
 * incremental window here (objects cannot filter), so a window scans every object.
 */
export class ObjectSource {
  readonly #store: ObjectStore;
  readonly #settings: ObjectSettings;
  readonly #listed = new Map<string, Promise<SourceObjects>>();

  constructor(store: ObjectStore, settings: ObjectSettings) {
    this.#store = store;
    this.#settings = settings;
  }

  #where(req: ExportRequest): { connection: string; node: string; table?: string } {
    return { connection: this.#settings.name, node: req.node, ...(req.source.table !== undefined ? { table: req.source.table } : {}) };
  }

  /** Listed once per request and run: a prefix of many objects is not listed again for every chunk. */
  #objects(req: ExportRequest, signal?: AbortSignal): Promise<SourceObjects> {
    const id = JSON.stringify([req.source.table, req.source.prefix, req.source.pattern, req.source.query, req.source.where]);
    let found = this.#listed.get(id);
    if (!found) {
      found = this.#find(req, signal);
      this.#listed.set(id, found);
      found.catch(() => this.#listed.delete(id));
    }
    return found;
  }

  async #find(req: ExportRequest, signal?: AbortSignal): Promise<SourceObjects> {
    const s = req.source;
    if (s.query !== undefined || s.where !== undefined) {
      throw new PipelineError('UNSUPPORTED', `a ${this.#settings.name} source reads whole objects: \`query\` and \`where\` are not supported (use \`columns\` and \`incremental\`)`, this.#where(req));
    }
    try {
      if (s.table !== undefined) return await this.#table(s.table, signal);
      const pattern = s.pattern !== undefined ? keyPattern(s.pattern) : undefined;
      const prefix = pattern?.prefix ?? s.prefix ?? '';
      const keys: string[] = [];
      for await (const o of this.#store.list(prefix, signal)) {
        const name = o.key.slice(folderOf(o.key).length);
        if (name.startsWith('.') || o.key.includes('/.pigeon/') || o.key.startsWith('.pigeon/')) continue;
        if (pattern ? pattern.matches(o.key) : CSV_OBJECT.test(o.key)) keys.push(o.key);
      }
      const what = s.pattern !== undefined ? `objects matching \`${s.pattern}\`` : `objects under \`${prefix}\``;
      if (keys.length === 0) throw new PipelineError('SOURCE_NOT_FOUND', `no ${what} in ${this.#store.describe('')}`, this.#where(req));
      const sidecar = await readJson<SchemaSidecar>(this.#store, `${folderOf(prefix)}schema.json`, signal);
      return { keys, what, ...(sidecar ? { sidecar: sidecar.columns } : {}) };
    } catch (e) {
      throw objectError(e, 'EXPORT_FAILED', this.#where(req), 'SOURCE_NOT_FOUND');
    }
  }

  async #table(table: string, signal?: AbortSignal): Promise<SourceObjects> {
    const t = new TableKeys(this.#settings, table);
    const what = `table \`${table}\``;
    if (this.#settings.layout === 'prefix') {
      const manifest = await readJson<TableManifest>(this.#store, t.manifest, signal);
      if (!manifest) throw new PipelineError('SOURCE_NOT_FOUND', `${what}: no ${this.#store.describe(t.manifest)}`, { table });
      return { keys: manifest.parts.map((p) => p.key), columns: manifest.columns, what };
    }
    for (const key of t.candidates) {
      if (!(await this.#store.stat(key, signal))) continue;
      const sidecar = await readJson<SchemaSidecar>(this.#store, t.sidecar, signal);
      return { keys: [key], what, ...(sidecar ? { sidecar: sidecar.columns } : {}) };
    }
    throw new PipelineError('SOURCE_NOT_FOUND', `file ${this.#store.describe(t.candidates[0]!)} does not exist`, { table });
  }

  async #open(key: string, signal?: AbortSignal): Promise<CsvFile> {
    const name = this.#store.describe(key);
    return openCsv(decodeChunk(await this.#store.read(key, signal), isGzipKey(key)), { name });
  }

  /** The columns of an object's header, typed by the sidecar (or manifest) where it names them. */
  #typed(header: readonly string[], objects: SourceObjects): ColumnSchema[] {
    const known = new Map((objects.columns ?? objects.sidecar ?? []).map((c) => [c.name, c]));
    return header.map((name) => known.get(name) ?? { name, type: 'text', nullable: true });
  }

  async #allColumns(req: ExportRequest, objects: SourceObjects, signal?: AbortSignal): Promise<readonly ColumnSchema[]> {
    if (objects.columns) return objects.columns;
    const first = objects.keys[0]!;
    const csv = await this.#open(first, signal);
    await csv.close();
    return this.#typed(csv.header, objects);
  }

  async describe(req: ExportRequest, signal?: AbortSignal): Promise<readonly ColumnSchema[]> {
    const objects = await this.#objects(req, signal);
    try {
      const all = await this.#allColumns(req, objects, signal);
      return pick(all, req.source.columns, `${objects.what} (${this.#store.describe(objects.keys[0] ?? '')})`);
    } catch (e) {
      throw objectError(e, 'EXPORT_FAILED', this.#where(req), 'SOURCE_NOT_FOUND');
    }
  }

  async maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null> {
    const objects = await this.#objects(req, signal);
    let max: MaxTracker | undefined;
    try {
      for (const key of objects.keys) {
        const csv = await this.#open(key, signal);
        const all = this.#typed(csv.header, objects);
        const ci = csv.header.indexOf(column);
        if (ci < 0) {
          await csv.close();
          throw new PipelineError('SOURCE_NOT_FOUND', `column \`${column}\` is not in ${this.#store.describe(key)}`, { column });
        }
        max ??= new MaxTracker(all[ci]!);
        const inWindow = rangeFilter(req.window, csv.header, all);
        for await (const row of csv.rows) if (inWindow(row.cells)) max.offer(row.cells[ci]);
      }
    } catch (e) {
      throw objectError(e, 'EXPORT_FAILED', this.#where(req), 'SOURCE_NOT_FOUND');
    }
    return max?.value ?? null;
  }

  /** One chunk per object: objects are read sequentially, and a split would read each one once per chunk. */
  async planChunks(req: ExportRequest, signal?: AbortSignal): Promise<readonly ChunkSpec[]> {
    const objects = await this.#objects(req, signal);
    return objects.keys.map((key, i) => ({ index: i + 1, part: { key } }));
  }

  async exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    const key = chunk.part?.['key'];
    if (typeof key !== 'string') throw new PipelineError('INTERNAL', `chunk ${chunk.index} of an object source names no object`, this.#where(req));
    let csv: CsvFile | undefined;
    try {
      const objects = await this.#objects(req, signal);
      const wanted = (await this.describe(req, signal)).map((c) => c.name);
      csv = await this.#open(key, signal);
      const header = csv.header;
      const all = this.#typed(header, objects);
      const indexes = wanted.map((name) => {
        const i = header.indexOf(name);
        if (i < 0) throw new PipelineError('BAD_CSV', `${this.#store.describe(key)} has no column \`${name}\` (its header: ${header.join(', ')})`, { chunk: this.#store.describe(key), chunkLine: 1, column: name });
        return i;
      });
      const inWindow = rangeFilter(req.window, header, all);
      const inChunk = rangeFilter(chunk.range, header, all);
      let rows = 0;
      for await (const row of csv.rows) {
        if (!inWindow(row.cells) || !inChunk(row.cells)) continue;
        rows++;
        if (!sink.row(indexes.map((i) => row.cells[i]!))) {
          await sink.drain();
          signal?.throwIfAborted();
        }
      }
      return rows;
    } catch (e) {
      throw objectError(e, 'EXPORT_FAILED', this.#where(req), 'SOURCE_NOT_FOUND');
    } finally {
      await csv?.close();
    }
  }
}

/** The wanted columns (all when none are named), in the order asked. */
function pick(all: readonly ColumnSchema[], wanted: readonly string[] | undefined, where: string): ColumnSchema[] {
  if (!wanted) return [...all];
  return wanted.map((name) => {
    const c = all.find((x) => x.name === name);
    if (!c) throw new PipelineError('SOURCE_NOT_FOUND', `column \`${name}\` is not in ${where}`, { column: name });
    return c;
  });
}
