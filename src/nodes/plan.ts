import type { NodeConfig } from '../config/types.js';
import type { ChunkSpec, ExportRequest, RangePredicate } from '../connectors/contract.js';
import type { PortableType } from '../csv/types.js';
import { parseDuration } from '../config/duration.js';
import { PipelineError } from '../errors/pipeline-error.js';
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
  if (from !== null && inc.lookback !== undefined && node.target.mode === 'merge') from = lookBack(from, inc.lookback, columnType);
  const lowerOnly: RangePredicate = { column: inc.column, ...(from !== null ? { lower: { value: from, inclusive: bounds.lowerInclusive } } : {}) };
  const to = await maxSource(lowerOnly);
  if (to === null) return { window: lowerOnly, watermarkTo: from, nothingNew: true };
  return { window: { ...lowerOnly, upper: { value: to, inclusive: bounds.upperInclusive } }, watermarkTo: to, nothingNew: false };
}

const INTEGERS = new Set(['int16', 'int32', 'int64', 'uint64']);

/**
 * The saved watermark moved back by `lookback`: a number of values on an integer column, a duration on a date or
 * timestamp (exchange text, `YYYY-MM-DD[ HH:MM:SS[.f]][±HH]`, computed in UTC). Unknown offline (`pigeon plan`).
 */
export function lookBack(from: string, lookback: string | number, columnType: PortableType | undefined): string {
  if (columnType === undefined) return `${from} − ${lookback}`;
  if (INTEGERS.has(columnType)) {
    if (typeof lookback !== 'number' || !Number.isInteger(lookback)) {
      throw new PipelineError('INVALID_CONFIG', `incremental.lookback on an integer column must be a whole number of values, not ${JSON.stringify(lookback)}`);
    }
    return String(BigInt(from) - BigInt(lookback));
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?)?(.*)$/.exec(from);
  if (!m) throw new PipelineError('INVALID_CONFIG', `incremental.lookback needs a date, a timestamp or an integer watermark, not ${JSON.stringify(from)}`);
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', rest = ''] = m;
  const t = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)) - parseDuration(lookback));
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const date = `${p(t.getUTCFullYear(), 4)}-${p(t.getUTCMonth() + 1)}-${p(t.getUTCDate())}`;
  return m[4] === undefined ? date : `${date} ${p(t.getUTCHours())}:${p(t.getUTCMinutes())}:${p(t.getUTCSeconds())}${frac}${rest}`;
}

/** The export request of a node for a window. */
export function exportRequest(node: NodeConfig, window: RangePredicate | undefined): ExportRequest {
  return { node: node.name, source: node.source, ...(window ? { window } : {}) };
}

/** Chunk file names in the staging area: `chunk-00001.csv[.gz]` (the key set of `deletes: detect`: `keys-…`). */
export function chunkFile(chunk: ChunkSpec, gzip: boolean, prefix = 'chunk'): string {
  return `${prefix}-${String(chunk.index).padStart(5, '0')}${gzip ? '.csv.gz' : '.csv'}`;
}
