import type { ChunkFeed, StagedChunk } from '../../src/connectors/contract.js';

/** A feed over chunks that are all exported already: its backlog is what the import has not taken yet. */
export function readyFeed(chunks: readonly StagedChunk[], total: number): ChunkFeed {
  let taken = 0;
  return {
    async *[Symbol.asyncIterator]() {
      for (const c of chunks) {
        taken++;
        yield c;
      }
    },
    totalRows: async () => total,
    backlog: () => chunks.length - taken,
  };
}
