import type { ColumnSchema } from '../csv/types.js';
import type { ChunkFeed, ChunkSpec, Connector, CsvSink, ExportRequest, ImportRequest, ImportResult, TargetAccess } from './contract.js';

/** The export half of a connector (connectors whose halves live in files of their own compose them). */
export interface SourceHalf {
  describe(req: ExportRequest, signal?: AbortSignal): Promise<readonly ColumnSchema[]>;
  maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null>;
  awaitOpenTransactions?(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  planChunks(req: ExportRequest, signal?: AbortSignal, announce?: (chunk: ChunkSpec) => void): Promise<readonly ChunkSpec[]>;
  splitIndexed?(req: ExportRequest, column: string, signal?: AbortSignal): Promise<boolean>;
  exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number>;
}

/** The import half of a connector. */
export interface TargetHalf {
  import(req: ImportRequest, feed: ChunkFeed, signal?: AbortSignal): Promise<ImportResult>;
  isCommitted(table: string, loadId: string, signal?: AbortSignal): Promise<boolean>;
  probeTarget?(table: string, signal?: AbortSignal): Promise<'missing' | 'empty' | 'filled'>;
  targetAccess?(table: string, signal?: AbortSignal): Promise<TargetAccess>;
}

/** A connection's lifecycle: open once, close once. */
export interface Lifecycle {
  open(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** One Connector from a lifecycle and the two halves, each method handed to the half that owns it. */
export function composeConnector(life: Lifecycle, source: SourceHalf, target: TargetHalf): Connector {
  return {
    open: (signal) => life.open(signal),
    close: () => life.close(),
    describe: (req, signal) => source.describe(req, signal),
    maxValue: (req, column, signal) => source.maxValue(req, column, signal),
    ...(source.awaitOpenTransactions ? { awaitOpenTransactions: (ms: number, signal?: AbortSignal) => source.awaitOpenTransactions!(ms, signal) } : {}),
    planChunks: (req, signal, announce) => source.planChunks(req, signal, announce),
    exportChunk: (req, chunk, sink, signal) => source.exportChunk(req, chunk, sink, signal),
    import: (req, feed, signal) => target.import(req, feed, signal),
    isCommitted: (table, loadId, signal) => target.isCommitted(table, loadId, signal),
    ...(target.probeTarget ? { probeTarget: (table: string, signal?: AbortSignal) => target.probeTarget!(table, signal) } : {}),
    ...(target.targetAccess ? { targetAccess: (table: string, signal?: AbortSignal) => target.targetAccess!(table, signal) } : {}),
    ...(source.splitIndexed ? { splitIndexed: (req: ExportRequest, column: string, signal?: AbortSignal) => source.splitIndexed!(req, column, signal) } : {}),
  };
}
