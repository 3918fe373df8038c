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
 */
export async function planSplitChunks(req: ExportRequest, source: (column: string) => QuantileSource): Promise<ChunkSpec[]> {
  const split = req.source.split;
  if (!split || split.chunks <= 1) return [{ index: 1 }];
  const q = source(split.column);
  const total = await q.count();
  const boundaries: Ranked[] = [];
  for (let i = 1; i < split.chunks && total > 0; i++) {
    const rank = Math.floor((i * total) / split.chunks);
    const previous = boundaries[boundaries.length - 1];
    // Fewer rows than chunks: the same rank again is the same value again.
    if (previous !== undefined && rank <= previous.rank) continue;
    const value = await q.nth(rank, previous);
    if (value !== null && previous?.value !== value) boundaries.push({ value, rank });
  }
  const chunks = chunksFromBoundaries(split.column, boundaries.map((b) => b.value));
  // Each chunk holds the ranks from its lower boundary to the next (NULL keys, which count() leaves out, aside).
  const ranks = [0, ...boundaries.map((b) => b.rank), total];
  return chunks.map((c, i) => ({ ...c, estimate: ranks[i + 1]! - ranks[i]! }));
}

/**
 * Chunks from quantile boundaries b1 < b2 < … : (-∞, b1), [b1, b2), …, [bn, +∞); NULL keys go to the first chunk,
 * so every row lands in exactly one chunk.
 */
export function chunksFromBoundaries(column: string, boundaries: readonly string[]): ChunkSpec[] {
  if (boundaries.length === 0) return [{ index: 1 }];
  const chunks: ChunkSpec[] = [];
  for (let i = 0; i <= boundaries.length; i++) {
    const lower = i === 0 ? undefined : { value: boundaries[i - 1]!, inclusive: true };
    const upper = i === boundaries.length ? undefined : { value: boundaries[i]!, inclusive: false };
    chunks.push({
      index: i + 1,
      range: {
        column,
        ...(lower ? { lower } : {}),
        ...(upper ? { upper } : {}),
        ...(i === 0 ? { includeNull: true } : {}),
      },
    });
  }
  return chunks;
}
