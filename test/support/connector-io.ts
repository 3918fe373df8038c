import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ChunkSpec, Connector, CsvSink, ExportRequest, ImportRequest, StagedChunk } from '../../src/connectors/contract.js';
import { ChunkFileWriter, openChunkFile } from '../../src/csv/chunk-file.js';
import type { Cell, ColumnSchema } from '../../src/csv/types.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';

/** What a connector exported into chunk files, as the import's feed would hand it over. */
export interface Exported {
  readonly columns: readonly ColumnSchema[];
  readonly chunks: readonly StagedChunk[];
  readonly total: number;
  /** What the export counted (CsvSink.count). */
  readonly counts: Readonly<Record<string, number>>;
}

/**
 * Exports like the runner does, straight through the connector: describe, the chunks the connector plans (or the
 * given ones), one real chunk file per chunk in `dir`.
 */
export async function exportToFiles(c: Connector, req: ExportRequest, dir: string, specs?: readonly ChunkSpec[]): Promise<Exported> {
  const columns = await c.describe(req);
  const chunks: StagedChunk[] = [];
  const counts: Record<string, number> = {};
  let total = 0;
  for (const spec of specs ?? (await c.planChunks(req))) {
    const path = join(dir, `chunk-${randomBytes(4).toString('hex')}-${String(spec.index).padStart(5, '0')}.csv`);
    const writer = await ChunkFileWriter.create(path, columns.map((x) => x.name), { gzip: false });
    const sink: CsvSink = {
      row: (values: readonly Cell[]) => writer.row(values),
      raw: (bytes: Buffer | string, rows?: number) => writer.raw(bytes, rows),
      drain: () => writer.drain(),
      count: (what: string, n = 1) => {
        counts[what] = (counts[what] ?? 0) + n;
      },
    };
    let rows: number;
    try {
      rows = await c.exportChunk(req, spec, sink);
    } catch (e) {
      await writer.abort();
      throw e;
    }
    // The rows given with each piece (raw CSV bytes included) add up to the count the connector returns.
    assert.equal((await writer.finish()).rows, rows);
    total += rows;
    chunks.push({ index: spec.index, name: path, rows, open: () => openChunkFile(path, false) });
  }
  return { columns, chunks, total, counts };
}

export function importRequest(table: string, columns: readonly ColumnSchema[], mode: ImportRequest['mode'], extra: Partial<ImportRequest> = {}): ImportRequest {
  return { node: 'n', table, mode, create: 'if_missing', columns, loadId: `load-${randomBytes(4).toString('hex')}`, ...extra };
}

/** The PipelineError `p` rejects with (fails the test when it resolves or rejects with anything else). */
export async function expectError(p: Promise<unknown>): Promise<PipelineError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PipelineError, `expected a PipelineError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a failure');
}
