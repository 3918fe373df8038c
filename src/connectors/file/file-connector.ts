import { createReadStream } from 'node:fs';
import { access, mkdir, rm } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { Database as Db } from 'better-sqlite3';
import type { ConnectionConfig } from '../../config/types.js';
import type { Cell, ColumnSchema, SchemaSidecar } from '../../csv/types.js';
import { ChunkFileWriter } from '../../csv/chunk-file.js';
import { openCsv } from '../../csv/reader.js';
import { PipelineError, toPipelineError } from '../../errors/pipeline-error.js';
import { readJsonIfExists, writeJsonAtomic } from '../../state/atomic-file.js';
import { loadDriver } from '../driver.js';
import { drainFeed } from '../feed.js';
import {
  type ChunkFeed,
  type ChunkSpec,
  type Connector,
  type ConnectorOptions,
  type CsvSink,
  type ExportRequest,
  type ImportRequest,
  type ImportResult,
  type RangePredicate,
  type TargetAccess,
} from '../contract.js';
import { exists, FileLoadJournal } from '../objects/file-journal.js';
import { MaxTracker, rangeFilter } from '../rows/range-filter.js';
import { fileConfig, tablePath, type FileConfig } from './file-config.js';
import { pathWritable } from '../fs-access.js';

/**
 * A directory of CSV files in the exchange format, one `<table>.csv` per table, with a `<table>.schema.json`
 * sidecar when pigeon wrote it. Every import writes a complete new file and renames it over the old one, with a
 * small journal so a crash between "committed" and the rename is rolled forward, never loaded twice.
 */
export class FileConnector implements Connector {
  readonly #config: FileConfig;
  readonly #tmpDir: string;

  constructor(config: ConnectionConfig, options: ConnectorOptions) {
    this.#config = fileConfig(config, options.cwd);
    this.#tmpDir = options.tmpDir;
  }

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  #sourcePath(req: ExportRequest): string {
    if (req.source.query !== undefined || req.source.where !== undefined) {
      throw new PipelineError('UNSUPPORTED', 'a file source reads a whole table: `query` and `where` are not supported (use `columns` and `incremental`)', {
        node: req.node,
        connection: this.#config.name,
      });
    }
    return tablePath(this.#config, req.source.table ?? '', '.csv');
  }

  async #open(req: ExportRequest) {
    const path = this.#sourcePath(req);
    try {
      await access(path);
    } catch {
      throw new PipelineError('SOURCE_NOT_FOUND', `file ${path} does not exist`, { connection: this.#config.name, table: req.source.table ?? '' });
    }
    const csv = await openCsv(createReadStream(path, { highWaterMark: 1 << 20 }), { name: path });
    const sidecar = await readJsonIfExists<SchemaSidecar>(tablePath(this.#config, req.source.table ?? '', '.schema.json'));
    const known = new Map((sidecar?.columns ?? []).map((c) => [c.name, c]));
    const all: ColumnSchema[] = csv.header.map((name) => known.get(name) ?? { name, type: 'text', nullable: true });
    const wanted = req.source.columns ?? csv.header;
    const indexes = wanted.map((name) => {
      const i = csv.header.indexOf(name);
      if (i < 0) throw new PipelineError('SOURCE_NOT_FOUND', `column \`${name}\` is not in ${path}`, { column: name, table: req.source.table ?? '' });
      return i;
    });
    return { path, csv, all, columns: indexes.map((i) => all[i]!), indexes };
  }

  async describe(req: ExportRequest): Promise<readonly ColumnSchema[]> {
    const src = await this.#open(req);
    await src.csv.close();
    return src.columns;
  }

  async maxValue(req: ExportRequest, column: string): Promise<string | null> {
    const src = await this.#open(req);
    const ci = src.csv.header.indexOf(column);
    if (ci < 0) throw new PipelineError('SOURCE_NOT_FOUND', `column \`${column}\` is not in ${src.path}`, { column });
    const max = new MaxTracker(src.all[ci]!);
    const inWindow = rangeFilter(req.window, src.csv.header, src.all);
    for await (const row of src.csv.rows) if (inWindow(row.cells)) max.offer(row.cells[ci]);
    return max.value;
  }

  /** A file is read sequentially: cutting it into key ranges would read it once per chunk. */
  async planChunks(): Promise<readonly ChunkSpec[]> {
    return [{ index: 1 }];
  }

  async exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    const src = await this.#open(req);
    const inWindow = rangeFilter(req.window, src.csv.header, src.all);
    const inChunk = rangeFilter(chunk.range, src.csv.header, src.all);
    let rows = 0;
    for await (const row of src.csv.rows) {
      if (!inWindow(row.cells) || !inChunk(row.cells)) continue;
      rows++;
      if (!sink.row(src.indexes.map((i) => row.cells[i]!))) {
        await sink.drain();
        signal?.throwIfAborted();
      }
    }
    return rows;
  }

  #journal(table: string): FileLoadJournal {
    const data = tablePath(this.#config, table, '.csv');
    return new FileLoadJournal(join(dirname(data), '.pigeon', `${basename(data)}.loads.json`), data);
  }

  async targetAccess(table: string): Promise<TargetAccess> {
    return pathWritable(tablePath(this.#config, table, '.csv'));
  }

  async probeTarget(table: string): Promise<'missing' | 'empty' | 'filled'> {
    const data = tablePath(this.#config, table, '.csv');
    if (!(await exists(data))) return 'missing';
    const csv = await openCsv(createReadStream(data), { name: data });
    try {
      return (await csv.rows.next()).done ? 'empty' : 'filled';
    } finally {
      await csv.close();
    }
  }

  isCommitted(table: string, loadId: string): Promise<boolean> {
    return this.#journal(table).committed(loadId);
  }

  async import(req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    const data = tablePath(this.#config, req.table, '.csv');
    const names = req.columns.map((c) => c.name);
    let tmp: string | undefined;
    try {
      await mkdir(dirname(data), { recursive: true });
      const journal = this.#journal(req.table);
      const committed = await journal.recover();
      if (committed.includes(req.loadId)) {
        return { rows: await drainFeed(feed, signal) };
      }
      const existing = await exists(data);
      if (!existing && req.create === 'never') {
        throw new PipelineError('IMPORT_FAILED', `target file ${data} does not exist and create is \`never\``, { table: req.table });
      }
      tmp = `${data}.${createHash('sha256').update(req.loadId).digest('hex').slice(0, 10)}.${randomBytes(3).toString('hex')}.tmp`;
      const writer = await ChunkFileWriter.create(tmp, names, { gzip: false });
      let loaded = 0;
      try {
        if (req.mode === 'merge') {
          loaded = await this.#merge(req, feed, existing ? data : undefined, writer, signal);
        } else {
          // A window append replaces the interval's rows: the old file's rows in it are not copied.
          if (req.mode === 'append' && existing) await copyRows(data, names, writer, req.columns, req.replaceWindow, signal);
          for await (const chunk of feed) {
            const csv = await openCsv(await chunk.open(), { name: chunk.name, expectColumns: names });
            for await (const row of csv.rows) {
              loaded++;
              if (!writer.row(row.cells)) {
                await writer.drain();
                signal?.throwIfAborted();
              }
            }
          }
        }
        const expected = await feed.totalRows();
        if (loaded !== expected) {
          throw new PipelineError('ROW_COUNT_MISMATCH', `read ${loaded} rows from the chunks but the export wrote ${expected}`, { table: req.table });
        }
        signal?.throwIfAborted();
        await writer.finish();
      } catch (e) {
        await writer.abort().catch(() => {});
        throw e;
      }
      const sidecar = { format: 'pigeon-csv/1', columns: req.columns } satisfies SchemaSidecar;
      await journal.commit(req.loadId, tmp, committed, () => writeJsonAtomic(tablePath(this.#config, req.table, '.schema.json'), sidecar));
      tmp = undefined;
      return { rows: loaded };
    } catch (e) {
      if (tmp) await rm(tmp, { force: true }).catch(() => {});
      if (e instanceof PipelineError) throw e.withContext({ connection: this.#config.name, table: req.table });
      throw toPipelineError(e, 'IMPORT_FAILED', { connection: this.#config.name, table: req.table });
    }
  }

  /**
   * Merge on disk, not in memory: existing rows, then the new ones, go into a temporary SQLite table; the last row
   * of each key wins and is written out in load order.
   */
  async #merge(req: ImportRequest, feed: ChunkFeed, existing: string | undefined, writer: ChunkFileWriter, signal?: AbortSignal): Promise<number> {
    const names = req.columns.map((c) => c.name);
    const keyIdx = (req.key ?? []).map((k) => {
      const i = names.indexOf(k);
      if (i < 0) throw new PipelineError('IMPORT_FAILED', `merge key \`${k}\` is not a column of the export`, { column: k });
      return i;
    });
    const Database = await loadDriver<typeof import('better-sqlite3')>('better-sqlite3', 'file (merge)');
    await mkdir(this.#tmpDir, { recursive: true });
    const dbPath = join(this.#tmpDir, `merge-${randomBytes(6).toString('hex')}.db`);
    const db: Db = new Database(dbPath);
    try {
      db.pragma('journal_mode = OFF');
      db.pragma('synchronous = OFF');
      const cols = names.map((_, i) => `c${i}`);
      db.exec(`CREATE TABLE t (seq INTEGER PRIMARY KEY, k TEXT NOT NULL, ${cols.map((c) => `${c} TEXT`).join(', ')})`);
      const insert = db.prepare(`INSERT INTO t (k, ${cols.join(', ')}) VALUES (?, ${cols.map(() => '?').join(', ')})`);
      const insertBatch = db.transaction((rows: Cell[][]) => {
        for (const r of rows) insert.run(JSON.stringify(keyIdx.map((i) => r[i])), ...r);
      });
      const load = async (csv: Awaited<ReturnType<typeof openCsv>>) => {
        let n = 0;
        let batch: Cell[][] = [];
        for await (const row of csv.rows) {
          batch.push(row.cells);
          n++;
          if (batch.length >= 2000) {
            insertBatch(batch);
            batch = [];
            signal?.throwIfAborted();
          }
        }
        if (batch.length > 0) insertBatch(batch);
        return n;
      };
      if (existing) await load(await openCsv(createReadStream(existing), { name: existing, expectColumns: names }));
      let loaded = 0;
      for await (const chunk of feed) loaded += await load(await openCsv(await chunk.open(), { name: chunk.name, expectColumns: names }));
      db.exec('CREATE INDEX t_k ON t (k)');
      const select = db.prepare(`SELECT ${cols.join(', ')} FROM t WHERE seq IN (SELECT MAX(seq) FROM t GROUP BY k) ORDER BY seq`).raw(true);
      let i = 0;
      for (const r of select.iterate() as IterableIterator<Cell[]>) {
        if (!writer.row(r)) await writer.drain();
        if (++i % 2000 === 0) signal?.throwIfAborted();
      }
      return loaded;
    } finally {
      db.close();
      await rm(dbPath, { force: true });
    }
  }
}

async function copyRows(
  path: string,
  names: readonly string[],
  writer: ChunkFileWriter,
  columns: readonly ColumnSchema[],
  without: RangePredicate | undefined,
  signal?: AbortSignal,
): Promise<void> {
  const csv = await openCsv(createReadStream(path, { highWaterMark: 1 << 20 }), { name: path, expectColumns: names });
  const replaced = without ? rangeFilter(without, names, columns) : () => false;
  for await (const row of csv.rows) {
    if (replaced(row.cells)) continue;
    if (!writer.row(row.cells)) {
      await writer.drain();
      signal?.throwIfAborted();
    }
  }
}

