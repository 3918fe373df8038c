import { randomBytes } from 'node:crypto';
import { ChunkFileWriter, decodeChunk, type ChunkFileResult } from '../../csv/chunk-file.js';
import { openCsv, type CsvFile } from '../../csv/reader.js';
import type { ColumnSchema, SchemaSidecar } from '../../csv/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { ChunkFeed, ImportRequest, ImportResult, RangePredicate } from '../contract.js';
import { abortable, abortableChunks, drainFeed } from '../feed.js';
import { rangeFilter } from '../rows/range-filter.js';
import { FileLoadJournal } from './file-journal.js';
import { readJson, writeJson } from './object-json.js';
import { isGzipKey, KEEP_LOADS, TableKeys, type ManifestPart, type ObjectSettings, type TableManifest } from './object-layout.js';
import { mergeRows } from './object-merge.js';
import { folderOf, objectError, type ObjectStore } from './object-store.js';

/**
 * The import half of every object kind: a load becomes new objects that replace the table's as one atomic step for
 * readers, in the connection's layout (see object-layout.ts), with the load's id recorded in the same step (the
 * `file` layout's journal, the `prefix` layout's manifest), so a retry never loads the same data twice.
 *
 * - overwrite: the load's rows only; append: the table's rows (without those of a window append's interval), then
 *   the load's; merge: on disk (object-merge.ts), the last row of a key wins. The `prefix` layout appends by
 *   adding the load's parts to the manifest, without reading the table.
 */
export class ObjectTarget {
  readonly #store: ObjectStore;
  readonly #settings: ObjectSettings;
  readonly #tmpDir: string;
  readonly #sweep: (t: TableKeys) => Promise<unknown>;

  /**
   * `tmpDir`: a local directory for a merge's work database. `sweep`: removes what killed writers left around one
   * table (default: the store's sweep of the table's folder); a store whose listing is costly narrows it.
   */
  constructor(store: ObjectStore, settings: ObjectSettings, tmpDir: string, sweep?: (t: TableKeys) => Promise<unknown>) {
    this.#store = store;
    this.#settings = settings;
    this.#tmpDir = tmpDir;
    this.#sweep = sweep ?? (async (t) => store.sweep?.(settings.layout === 'prefix' ? t.folder : folderOf(t.data)));
  }

  async isCommitted(table: string, loadId: string): Promise<boolean> {
    const t = new TableKeys(this.#settings, table);
    try {
      if (this.#settings.layout === 'prefix') return ((await readJson<TableManifest>(this.#store, t.manifest))?.loads ?? []).includes(loadId);
      return await new FileLoadJournal(this.#store, t.journal(t.data), t.data).committed(loadId);
    } catch (e) {
      throw objectError(e, 'IMPORT_FAILED', { connection: this.#settings.name, table });
    }
  }

  /** Whether the table exists and holds a row (see Connector.probeTarget). */
  async probeTarget(table: string): Promise<'missing' | 'empty' | 'filled'> {
    const t = new TableKeys(this.#settings, table);
    try {
      if (this.#settings.layout === 'prefix') {
        const manifest = await readJson<TableManifest>(this.#store, t.manifest);
        return !manifest ? 'missing' : manifest.rows === 0 ? 'empty' : 'filled';
      }
      if (!(await this.#store.stat(t.data))) return 'missing';
      const csv = await openCsv(decodeChunk(await this.#store.read(t.data), t.gzip), { name: this.#store.describe(t.data) });
      try {
        return (await csv.rows.next()).done ? 'empty' : 'filled';
      } finally {
        await csv.close();
      }
    } catch (e) {
      throw objectError(e, 'IMPORT_FAILED', { connection: this.#settings.name, table });
    }
  }

  async import(req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    const where = { connection: this.#settings.name, table: req.table };
    try {
      const t = new TableKeys(this.#settings, req.table);
      return this.#settings.layout === 'prefix' ? await this.#importPrefix(t, req, feed, signal) : await this.#importFile(t, req, feed, signal);
    } catch (e) {
      if (signal?.aborted && !(e instanceof PipelineError)) throw objectError(signal.reason, 'ABORTED', where);
      throw objectError(e, 'IMPORT_FAILED', where);
    }
  }

  /** One data object replaced whole: written under a temporary name, then moved into place by the journal. */
  async #importFile(t: TableKeys, req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    const names = req.columns.map((c) => c.name);
    const journal = new FileLoadJournal(this.#store, t.journal(t.data), t.data);
    const committed = await journal.recover();
    // After the journal rolled a cut commit forward (its temp object moved into place), what killed writers left
    // beside the data object goes: nobody will ever move it.
    await this.#sweep(t).catch(() => []);
    if (committed.includes(req.loadId)) return { rows: await drainFeed(feed, signal) };
    const existing = (await this.#store.stat(t.data)) !== undefined;
    if (!existing && req.create === 'never') {
      throw new PipelineError('IMPORT_FAILED', `target file ${this.#store.describe(t.data)} does not exist and create is \`never\``, { table: req.table });
    }
    const tmp = t.temp(req.loadId);
    try {
      let loaded = 0;
      await this.#writeObject(tmp, names, t.gzip, signal, async (out) => {
        if (req.mode === 'merge') {
          loaded = await mergeRows(
            { names, key: req.key ?? [], existing: existing ? this.#stored([t.data], names) : none(), loaded: chunksOf(feed, names, signal), tmpDir: this.#tmpDir, signal },
            out,
          );
        } else {
          // A window append replaces the interval's rows: the old object's rows in it are not copied.
          if (req.mode === 'append' && existing) await copyRows(this.#stored([t.data], names), out, without(req.replaceWindow, names, req.columns), signal);
          loaded = await copyRows(chunksOf(feed, names, signal), out, undefined, signal);
        }
        await checkRows(req, feed, loaded, signal);
        return loaded;
      });
      const sidecar = { format: 'pigeon-csv/1', columns: req.columns } satisfies SchemaSidecar;
      await journal.commit(req.loadId, tmp, committed, () => writeJson(this.#store, t.sidecar, sidecar));
      return { rows: loaded };
    } catch (e) {
      await this.#store.delete([tmp]).catch(() => {});
      throw e;
    }
  }

  /** Parts under a new version folder, then one atomic replacement of the manifest. */
  async #importPrefix(t: TableKeys, req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    const names = req.columns.map((c) => c.name);
    const old = await readJson<TableManifest>(this.#store, t.manifest, signal);
    await this.#sweep(t).catch(() => []);
    if (old?.loads.includes(req.loadId)) return { rows: await drainFeed(feed, signal) };
    if (!old && req.create === 'never') {
      throw new PipelineError('IMPORT_FAILED', `target table ${this.#store.describe(t.folder)} has no manifest.json and create is \`never\``, { table: req.table });
    }
    if (old && req.mode !== 'overwrite' && !sameNames(old.columns, names)) {
      throw new PipelineError('IMPORT_FAILED', `the export's columns (${names.join(', ')}) are not the table's (${old.columns.map((c) => c.name).join(', ')}, in ${this.#store.describe(t.manifest)})`, { table: req.table });
    }
    const version = t.version(req.loadId, randomBytes(3).toString('hex'));
    const parts: ManifestPart[] = [];
    const add = (key: string, r: ChunkFileResult | undefined) => {
      if (r) parts.push({ key, rows: r.rows, bytes: r.bytes, sha256: r.sha256 });
    };
    let loaded = 0;
    let manifest: TableManifest;
    try {
      if (req.mode === 'merge') {
        const key = t.part(version, 1);
        add(key, await this.#writeObject(key, names, t.gzip, signal, async (out) => {
          loaded = await mergeRows(
            { names, key: req.key ?? [], existing: this.#stored(old?.parts.map((p) => p.key) ?? [], names), loaded: chunksOf(feed, names, signal), tmpDir: this.#tmpDir, signal },
            out,
          );
          return loaded;
        }));
      } else {
        if (req.mode === 'append' && old && req.replaceWindow) {
          const key = t.part(version, 0);
          add(key, await this.#writeObject(key, names, t.gzip, signal, (out) => copyRows(this.#stored(old.parts.map((p) => p.key), names), out, without(req.replaceWindow, names, req.columns), signal)));
        } else if (req.mode === 'append' && old) {
          parts.push(...old.parts);
        }
        for await (const chunk of abortableChunks(feed, signal)) {
          const key = t.part(version, chunk.index);
          add(key, await this.#writeObject(key, names, t.gzip, signal, async (out) => {
            const n = await copyRows(one(await openCsv(await chunk.open(), { name: chunk.name, expectColumns: names })), out, undefined, signal);
            loaded += n;
            return n;
          }));
        }
      }
      await checkRows(req, feed, loaded, signal);
      manifest = {
        format: 'pigeon-objects/1',
        columns: req.columns,
        parts,
        rows: parts.reduce((n, p) => n + p.rows, 0),
        loads: [...(old?.loads ?? []), req.loadId].slice(-KEEP_LOADS),
        committed_at: new Date().toISOString(),
      };
      signal?.throwIfAborted();
      await writeJson(this.#store, t.manifest, manifest);
    } catch (e) {
      await this.#removeUnder(version).catch(() => {});
      throw e;
    }
    // Committed. What neither this manifest nor the one before lists is left over (an older version, a crashed
    // load's parts): readers of the previous manifest may still be reading its parts, so those stay until next time.
    await this.#collect(t, manifest, old).catch(() => {});
    return { rows: loaded };
  }

  /**
   * Writes one object through `fill`; nothing is stored when `fill` fails or writes no row (undefined then).
   * The object is complete and visible once this resolves.
   */
  async #writeObject(key: string, names: readonly string[], gzip: boolean, signal: AbortSignal | undefined, fill: (out: ChunkFileWriter) => Promise<number>): Promise<ChunkFileResult | undefined> {
    const out = new ChunkFileWriter(this.#store.describe(key), names, { gzip, failure: 'IMPORT_FAILED' }, (body, stop) =>
      this.#store.write(key, body, signal ? AbortSignal.any([signal, stop]) : stop),
    );
    try {
      const rows = await fill(out);
      signal?.throwIfAborted();
      // The `file` layout writes even an empty table (its header); a part without rows is left out.
      if (rows === 0 && out.rows === 0 && this.#settings.layout === 'prefix') {
        await out.abort();
        return undefined;
      }
      return await out.finish();
    } catch (e) {
      await out.abort().catch(() => {});
      throw e;
    }
  }

  /** The table's stored objects, opened one after the other, each with the load's columns. */
  async *#stored(keys: readonly string[], names: readonly string[]): AsyncIterable<CsvFile> {
    for (const key of keys) {
      yield await openCsv(decodeChunk(await this.#store.read(key), isGzipKey(key)), { name: this.#store.describe(key), expectColumns: names });
    }
  }

  async #removeUnder(prefix: string): Promise<void> {
    const keys: string[] = [];
    for await (const o of this.#store.list(prefix)) keys.push(o.key);
    await this.#store.delete(keys);
  }

  async #collect(t: TableKeys, now: TableManifest, before: TableManifest | undefined): Promise<void> {
    const keep = new Set([t.manifest, ...now.parts.map((p) => p.key), ...(before?.parts.map((p) => p.key) ?? [])]);
    const garbage: string[] = [];
    for await (const o of this.#store.list(t.folder)) if (!keep.has(o.key) && o.key.slice(t.folder.length).startsWith('v-')) garbage.push(o.key);
    await this.#store.delete(garbage);
  }
}

/** The rows of a window append's interval, which are not copied from the table (undefined: copy every row). */
function without(window: RangePredicate | undefined, names: readonly string[], columns: readonly ColumnSchema[]): ((cells: readonly (string | null)[]) => boolean) | undefined {
  return window ? rangeFilter(window, names, columns) : undefined;
}

/** Copies every row of `files` into `out` except those `skip` accepts; returns the rows copied. */
async function copyRows(files: AsyncIterable<CsvFile>, out: ChunkFileWriter, skip: ((cells: readonly (string | null)[]) => boolean) | undefined, signal?: AbortSignal): Promise<number> {
  let n = 0;
  for await (const csv of files) {
    for await (const row of csv.rows) {
      if (skip?.(row.cells)) continue;
      n++;
      if (!out.row(row.cells)) {
        await out.drain();
        signal?.throwIfAborted();
      }
    }
  }
  return n;
}

/** The feed's chunks as CSV files with the load's columns, in order. */
async function* chunksOf(feed: ChunkFeed, names: readonly string[], signal?: AbortSignal): AsyncIterable<CsvFile> {
  for await (const chunk of abortableChunks(feed, signal)) yield await openCsv(await chunk.open(), { name: chunk.name, expectColumns: names });
}

async function checkRows(req: ImportRequest, feed: ChunkFeed, loaded: number, signal?: AbortSignal): Promise<void> {
  const expected = await abortable(feed.totalRows(), signal);
  if (loaded !== expected) {
    throw new PipelineError('ROW_COUNT_MISMATCH', `read ${loaded} rows from the chunks but the export wrote ${expected}`, { table: req.table });
  }
}

function sameNames(columns: readonly ColumnSchema[], names: readonly string[]): boolean {
  return columns.length === names.length && columns.every((c, i) => c.name === names[i]);
}

async function* one(csv: CsvFile): AsyncIterable<CsvFile> {
  yield csv;
}

async function* none(): AsyncIterable<CsvFile> {}
