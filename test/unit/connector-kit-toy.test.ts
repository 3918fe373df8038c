/**
 * A throw-away kind written from src/connectors/README.md ("Adding a connector"), to prove the guide is complete:
 * `jsonl` keeps each table as `<dir>/<table>.jsonl` (a line of columns, then one JSON array of cells per row), and
 * passes the same contract suite as the shipped kinds.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import {
  DEFAULT_CAPABILITIES,
  type ChunkFeed,
  type ChunkSpec,
  type Connector,
  type ConnectorKind,
  type CsvSink,
  type ExportRequest,
  type ImportRequest,
  type ImportResult,
} from '../../src/connectors/contract.js';
import { drainFeed } from '../../src/connectors/feed.js';
import { DirectoryStore } from '../../src/connectors/objects/directory-store.js';
import { FileLoadJournal } from '../../src/connectors/objects/file-journal.js';
import { MaxTracker, rangeFilter } from '../../src/connectors/rows/range-filter.js';
import { openCsv } from '../../src/csv/reader.js';
import type { Cell, ColumnSchema } from '../../src/csv/types.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';
import { tempDir } from '../support/cli.js';
import { connectorContract } from '../support/connector-contract.js';

const jsonlKind: ConnectorKind = {
  kind: 'jsonl',
  capabilities: { ...DEFAULT_CAPABILITIES, defaultMaxConnections: 2 },
  sourceKeys: ['table', 'columns'],
  renderExport: (req) => `read ${req.source.table}.jsonl`,
  load: async () => (config, options) => new JsonlConnector(resolve(options.cwd, String(config['dir']))),
};

class JsonlConnector implements Connector {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async open(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
  }
  async close(): Promise<void> {}

  #file(table: string): string {
    return join(this.#dir, `${table}.jsonl`);
  }

  /** The table's columns, then its rows as they are read. */
  async *#lines(table: string): AsyncGenerator<unknown> {
    if (!(await new DirectoryStore(this.#dir).stat(`${table}.jsonl`))) throw new PipelineError('SOURCE_NOT_FOUND', `no table ${table}`, { table });
    for await (const line of createInterface({ input: createReadStream(this.#file(table)) })) yield JSON.parse(line);
  }

  async describe(req: ExportRequest): Promise<readonly ColumnSchema[]> {
    for await (const first of this.#lines(req.source.table!)) return first as ColumnSchema[];
    return [];
  }

  async maxValue(req: ExportRequest, column: string): Promise<string | null> {
    const columns = await this.describe(req);
    const max = new MaxTracker(columns.find((c) => c.name === column)!);
    const inWindow = rangeFilter(req.window, columns.map((c) => c.name), columns);
    await this.#rows(req, (cells) => inWindow(cells) && max.offer(cells[columns.findIndex((c) => c.name === column)]));
    return max.value;
  }

  async planChunks(): Promise<readonly ChunkSpec[]> {
    return [{ index: 1 }];
  }

  async #rows(req: ExportRequest, each: (cells: Cell[]) => unknown): Promise<void> {
    let seen = 0;
    for await (const line of this.#lines(req.source.table!)) if (seen++ > 0) await each(line as Cell[]);
  }

  async exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink): Promise<number> {
    const columns = await this.describe(req);
    const names = columns.map((c) => c.name);
    const keep = (cells: Cell[]) => rangeFilter(req.window, names, columns)(cells) && rangeFilter(chunk.range, names, columns)(cells);
    let n = 0;
    await this.#rows(req, async (cells) => {
      if (keep(cells) && (++n, !sink.row(cells))) await sink.drain();
    });
    return n;
  }

  #journal(table: string): FileLoadJournal {
    return new FileLoadJournal(new DirectoryStore(this.#dir), `${table}.loads.json`, `${table}.jsonl`);
  }

  isCommitted(table: string, loadId: string): Promise<boolean> {
    return this.#journal(table).committed(loadId);
  }

  /** A whole new file, renamed over the old one through the load journal: append and merge copy the old rows. */
  async import(req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult> {
    const journal = this.#journal(req.table);
    const committed = await journal.recover();
    if (committed.includes(req.loadId)) return { rows: await drainFeed(feed, signal) };
    const existed = (await new DirectoryStore(this.#dir).stat(`${req.table}.jsonl`)) !== undefined;
    if (!existed && req.create === 'never') throw new PipelineError('IMPORT_FAILED', `no table ${req.table}`, { table: req.table });
    // Rows by key: a toy may hold its table in memory; a real kind streams (see the file kind's merge).
    const rows = new Map<string, Cell[]>();
    const keyOf = (cells: Cell[]) => (req.mode === 'merge' ? JSON.stringify(req.key!.map((k) => cells[req.columns.findIndex((c) => c.name === k)])) : String(rows.size));
    if (existed && req.mode !== 'overwrite') await this.#rows({ node: req.node, source: { connection: '', table: req.table } }, (c) => rows.set(keyOf(c), c));
    let loaded = 0;
    for await (const chunk of feed) {
      const csv = await openCsv(await chunk.open(), { name: chunk.name, expectColumns: req.columns.map((c) => c.name) });
      for await (const row of csv.rows) {
        loaded++;
        const key = keyOf(row.cells);
        rows.delete(key);
        rows.set(key, row.cells);
      }
      signal?.throwIfAborted();
    }
    if (loaded !== (await feed.totalRows())) throw new PipelineError('ROW_COUNT_MISMATCH', 'rows lost between export and import', { table: req.table });
    const tmp = `${req.table}.jsonl.${randomBytes(4).toString('hex')}.tmp`;
    const out = await open(join(this.#dir, tmp), 'w');
    try {
      await out.write(`${JSON.stringify(req.columns)}\n`);
      for (const cells of rows.values()) await out.write(`${JSON.stringify(cells)}\n`);
      await out.sync();
    } finally {
      await out.close();
    }
    await journal.commit(req.loadId, tmp, committed);
    return { rows: loaded };
  }
}

connectorContract({
  kind: jsonlKind,
  async place() {
    const t = tempDir('pigeon-toy-');
    return { config: { dir: t.dir }, cleanup: async () => t.cleanup() };
  },
});
