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
  const total = await q.count();
  const boundaries: Ranked[] = [];
  const chunks: ChunkSpec[] = [];
  for (let i = 1; i < split.chunks && total > 0; i++) {
    const rank = Math.floor((i * total) / split.chunks);
    const previous = boundaries[boundaries.length - 1];
    // Fewer rows than chunks: the same rank again is the same value again.
    if (previous !== undefined && rank <= previous.rank) continue;
    const value = await q.nth(rank, previous);
    if (value === null || previous?.value === value) continue;
    const found = { value, rank };
    boundaries.push(found);
    // Each chunk holds the ranks from its lower boundary to the next (NULL keys, which count() leaves out, aside).
    const chunk = rangeChunk(split.column, chunks.length + 1, previous, found, total);
    chunks.push(chunk);
    announce?.(chunk);
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
    estimate: (upper?.rank ?? total) - (lower?.rank ?? 0),
  };
}
