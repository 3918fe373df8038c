/**
 * A source kind for the connector contract suite: it exports a dataset held in memory, cut into a given number of
 * chunks, and can fail or stall at a chunk, so a target's behaviour on a failed or aborted load can be provoked
 * at the moment the test wants. Test-only; the kind under test is driven for real.
 */
import type { ChunkSpec, Connector, ConnectorKind, CsvSink, ExportRequest } from '../../src/connectors/contract.js';
import { DEFAULT_CAPABILITIES } from '../../src/connectors/contract.js';
import type { Cell, ColumnSchema } from '../../src/csv/types.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';
import { MaxTracker, rangeFilter } from '../../src/connectors/rows/range-filter.js';

export interface Dataset {
  readonly columns: readonly ColumnSchema[];
  readonly rows: readonly (readonly Cell[])[];
}

/** How the source behaves; the connection config carries it (`behaviour`), the node's `table` names the dataset. */
export interface SourceBehaviour {
  readonly datasets: ReadonlyMap<string, Dataset>;
  /** Chunks each export is cut into (fewer when there are fewer rows). */
  readonly chunks: number;
  /** This chunk's export fails after writing half its rows. */
  readonly failAt?: number;
  /** This chunk's export waits until the export is aborted; `stalled` is called when it starts waiting. */
  readonly stallAt?: number;
  readonly stalled?: () => void;
}

export const contractSourceKind: ConnectorKind = {
  kind: 'contract-source',
  capabilities: { ...DEFAULT_CAPABILITIES, canImport: false, modes: [] },
  sourceKeys: ['table', 'columns'],
  renderExport: (req) => `dataset ${req.source.table ?? '?'}`,
  load: async () => (config) => new ContractSource(config['behaviour'] as SourceBehaviour),
};

class ContractSource implements Connector {
  readonly #b: SourceBehaviour;

  constructor(behaviour: SourceBehaviour) {
    this.#b = behaviour;
  }

  #dataset(req: ExportRequest): Dataset {
    const d = this.#b.datasets.get(req.source.table ?? '');
    if (!d) throw new PipelineError('SOURCE_NOT_FOUND', `no dataset ${req.source.table}`);
    return d;
  }

  /** The dataset's columns the request selects (`source.columns`), as indexes. */
  #projection(req: ExportRequest): number[] {
    const { columns } = this.#dataset(req);
    return (req.source.columns ?? columns.map((c) => c.name)).map((n) => columns.findIndex((c) => c.name === n));
  }

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  async describe(req: ExportRequest): Promise<readonly ColumnSchema[]> {
    const { columns } = this.#dataset(req);
    return this.#projection(req).map((i) => columns[i]!);
  }

  async maxValue(req: ExportRequest, column: string): Promise<string | null> {
    const { columns, rows } = this.#dataset(req);
    const at = columns.findIndex((c) => c.name === column);
    const max = new MaxTracker(columns[at]!);
    const inWindow = rangeFilter(req.window, columns.map((c) => c.name), columns);
    for (const r of rows) if (inWindow(r)) max.offer(r[at]);
    return max.value;
  }

  async planChunks(req: ExportRequest): Promise<readonly ChunkSpec[]> {
    const n = Math.max(1, Math.min(this.#b.chunks, this.#dataset(req).rows.length));
    return Array.from({ length: n }, (_, i) => ({ index: i + 1, part: { of: n } }));
  }

  async exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    const { columns, rows: all } = this.#dataset(req);
    const inWindow = rangeFilter(req.window, columns.map((c) => c.name), columns);
    const rows = all.filter((r) => inWindow(r));
    const pick = this.#projection(req);
    const of = Number(chunk.part?.['of'] ?? 1);
    const size = Math.ceil(rows.length / of);
    const mine = rows.slice((chunk.index - 1) * size, chunk.index * size);
    if (chunk.index === this.#b.stallAt) {
      this.#b.stalled?.();
      await new Promise<void>((_, reject) => {
        if (signal?.aborted) reject(signal.reason);
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    let n = 0;
    for (const row of mine) {
      if (chunk.index === this.#b.failAt && n === Math.floor(mine.length / 2)) {
        throw new PipelineError('EXPORT_FAILED', `the contract source fails chunk ${chunk.index} on purpose`);
      }
      if (!sink.row(pick.map((i) => row[i] ?? null))) await sink.drain();
      n++;
    }
    return n;
  }

  async import(): Promise<never> {
    throw new PipelineError('UNSUPPORTED', 'the contract source is not a target');
  }

  async isCommitted(): Promise<boolean> {
    return false;
  }
}
