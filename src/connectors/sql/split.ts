import type { ChunkSpec, ExportRequest } from '../contract.js';

/** A value of the split column and its 0-based rank among the non-NULL values, in the column's order. */
export interface Ranked {
  readonly value: string;
  readonly rank: number;
}

/** What an engine answers to cut a request's rows at quantiles of the split column. */
export interface QuantileSource {
  /** Non-NULL values of the column in the request's rows. */
  count(): Promise<number>;
  /**
   * The value at 0-based `rank`. `after`, when given, is a smaller boundary already found: an engine that knows the
   * column holds no duplicates may search from there (`c > after.value … OFFSET rank - after.rank - 1`) instead of
   * from the start; the answer is the same.
   */
  nth(rank: number, after: Ranked | undefined): Promise<string | null>;
  /**
   * The request's rows by the table's statistics (cheap, approximate), or undefined. Asked only for a whole table
   * (see `wholeTable`): the first boundary is then taken at a quantile of this estimate, so the first chunk can
   * export while `count()` runs. Any value keeps the chunks exact (ranges cover everything once); a poor estimate
   * only makes the first chunk larger or smaller than the others.
   */
  estimate?(): Promise<number | undefined>;
}

/** Whether a request reads a whole table (no query, filter or window), whose statistics estimate its rows. */
export function wholeTable(req: ExportRequest): boolean {
  return req.source.table !== undefined && req.source.query === undefined && req.source.where === undefined && req.window === undefined;
}

/**
 * The chunks of an export: one, or with `split: {column, chunks}` key ranges cut at quantiles of the column, so
 * skewed keys still give chunks of similar size. Equal quantiles (a value repeated over a whole chunk's worth of
 * rows) collapse into one boundary: ranges stay disjoint and cover everything.
 *
 * `announce`, when given, is told each chunk as soon as its range is final: chunk i once the i-th boundary is found
 * (every later boundary is larger), the last one when the walk ends. Its export may start while later boundaries are
 * still being looked for. The result lists the same chunks, announced or not.
 */
export async function planSplitChunks(
  req: ExportRequest,
  source: (column: string) => QuantileSource,
  announce?: (chunk: ChunkSpec) => void,
): Promise<ChunkSpec[]> {
  const split = req.source.split;
  if (!split || split.chunks <= 1) return announced([{ index: 1 }], announce);
  const q = source(split.column);
  const boundaries: Ranked[] = [];
  const chunks: ChunkSpec[] = [];
  const found = (b: Ranked): void => {
    // Each chunk holds the ranks from its lower boundary to the next (NULL keys, which count() leaves out, aside).
    const chunk = rangeChunk(split.column, chunks.length + 1, boundaries[boundaries.length - 1], b, 0);
    boundaries.push(b);
    chunks.push(chunk);
    announce?.(chunk);
  };
  // The first boundary from the table's statistics, before the exact count: the first chunk exports meanwhile.
  const guess = q.estimate ? await q.estimate() : undefined;
  if (guess !== undefined && guess >= split.chunks) {
    const rank = Math.floor(guess / split.chunks);
    const value = await q.nth(rank, undefined);
    if (value !== null) found({ value, rank });
  }
  const total = await q.count();
  // The other boundaries cut the ranks after the first one (all of them, without it) into equal parts.
  const from = boundaries[0]?.rank ?? 0;
  const parts = split.chunks - boundaries.length;
  for (let i = 1; i < parts && total > from; i++) {
    const rank = from + Math.floor((i * (total - from)) / parts);
    const previous = boundaries[boundaries.length - 1];
    // Fewer rows than chunks: the same rank again is the same value again.
    if (previous !== undefined && rank <= previous.rank) continue;
    const value = await q.nth(rank, previous);
    if (value === null || previous?.value === value) continue;
    found({ value, rank });
  }
  const last = boundaries.length === 0 ? { index: 1, estimate: total } : rangeChunk(split.column, chunks.length + 1, boundaries[boundaries.length - 1], undefined, total);
  chunks.push(last);
  announce?.(last);
  return chunks;
}

function announced(chunks: ChunkSpec[], announce: ((chunk: ChunkSpec) => void) | undefined): ChunkSpec[] {
  for (const c of chunks) announce?.(c);
  return chunks;
}

/** The chunk [lower, upper) (unbounded where one is missing, with the NULL keys when it is the first). */
function rangeChunk(column: string, index: number, lower: Ranked | undefined, upper: Ranked | undefined, total: number): ChunkSpec {
  return {
    index,
    range: {
      column,
      ...(lower ? { lower: { value: lower.value, inclusive: true } } : {}),
      ...(upper ? { upper: { value: upper.value, inclusive: false } } : {}),
      ...(index === 1 ? { includeNull: true } : {}),
    },
    estimate: Math.max(0, (upper?.rank ?? total) - (lower?.rank ?? 0)),
  };
}
