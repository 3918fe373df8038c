import type { NodeConfig } from '../config/types.js';
import type { ChunkSpec, ExportRequest, RangePredicate } from '../connectors/contract.js';
import type { PortableType } from '../csv/types.js';
import { watermarkBounds } from './watermark-bounds.js';

/** The data interval of a run as 'YYYY-MM-DD HH:MM:SS' bounds. */
export interface Interval {
  readonly start: string;
  readonly end: string;
}

/** What a load reads, before its chunks are cut. */
export interface ExportWindow {
  /** The incremental window (timestamp interval or watermark range); absent for a full export. */
  readonly window?: RangePredicate;
  /** The watermark this load advances to once committed (watermark nodes only). */
  readonly watermarkTo?: string | null;
  /** No row above the watermark: the load has no chunk at all (and still commits, so overwrite means "empty"). */
  readonly nothingNew: boolean;
}

/**
 * The part of a node's export window that needs no source: `window` nodes read the data interval `[start, end)`;
 * `watermark` nodes read from the saved watermark `from` (bounds per mode and column type, see watermark-bounds.ts),
 * and `maxSource` is what asks the source for the upper bound, frozen when the load starts so that rows arriving
 * during the export wait for the next run. `pigeon plan` answers it offline with a placeholder.
 */
export async function exportWindow(
  node: NodeConfig,
  interval: Interval,
  from: string | null,
  columnType: PortableType | undefined,
  maxSource: (lowerOnly: RangePredicate) => Promise<string | null>,
): Promise<ExportWindow> {
  const inc = node.incremental;
  if (inc?.strategy === 'window') {
    return { window: { column: inc.column, lower: { value: interval.start, inclusive: true }, upper: { value: interval.end, inclusive: false } }, nothingNew: false };
  }
  if (inc?.strategy !== 'watermark') return { nothingNew: false };
  const bounds = watermarkBounds(node.target.mode, columnType);
  const lowerOnly: RangePredicate = { column: inc.column, ...(from !== null ? { lower: { value: from, inclusive: bounds.lowerInclusive } } : {}) };
  const to = await maxSource(lowerOnly);
  if (to === null) return { window: lowerOnly, watermarkTo: from, nothingNew: true };
  return { window: { ...lowerOnly, upper: { value: to, inclusive: bounds.upperInclusive } }, watermarkTo: to, nothingNew: false };
}

/** The export request of a node for a window. */
export function exportRequest(node: NodeConfig, window: RangePredicate | undefined): ExportRequest {
  return { node: node.name, source: node.source, ...(window ? { window } : {}) };
}

/** Chunk file names in the staging area: `chunk-00001.csv[.gz]`. */
export function chunkFile(chunk: ChunkSpec, gzip: boolean): string {
  return `chunk-${String(chunk.index).padStart(5, '0')}${gzip ? '.csv.gz' : '.csv'}`;
}
