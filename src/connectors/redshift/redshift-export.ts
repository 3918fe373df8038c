import { createGunzip } from 'node:zlib';
import { pipeline as pipelineCallback } from 'node:stream';
import type { ColumnSchema } from '../../csv/types.js';
import { openCsv, type CsvFile } from '../../csv/reader.js';
import type { ChunkSpec, CsvSink, ExportRequest } from '../contract.js';
import { planQuantileChunks } from '../postgres/postgres-export.js';
import { firstValue, type PgSessions, type Session } from '../postgres/postgres-session.js';
import { buildMax, buildSelect } from '../sql/select-builder.js';
import type { RedshiftConfig } from './redshift-config.js';
import type { RedshiftFiles } from './redshift-s3.js';
import { exportSelect, inlineParams, rsDialect, rsSql } from './redshift-sql.js';
import type { RedshiftStatements } from './redshift-statements.js';
import { exportWrapper, portableFromRs, type RsTypeFacts } from './redshift-types.js';

/** Rows a cursor export fetches at a time: memory is bounded by this many rows. */
const FETCH_ROWS = 5000;
const CURSOR = 'pigeon_export';

export interface RedshiftExportContext {
  readonly sessions: PgSessions;
  readonly config: RedshiftConfig;
  readonly files: RedshiftFiles | undefined;
  readonly statements: RedshiftStatements;
}

/**
 * Exports from Redshift, which has no COPY TO STDOUT: `UNLOAD` of each chunk's SELECT to the connection's `s3`
 * folder (gzip CSV files in parallel, read back and removed), or without `s3` a cursor fetched in batches over the
 * connection. Either way the SELECT writes each value as the exchange format wants it (see redshift-types.ts).
 */
export class RsExport {
  readonly #ctx: RedshiftExportContext;

  constructor(ctx: RedshiftExportContext) {
    this.#ctx = ctx;
  }

  async #describe(s: Session, req: ExportRequest, chunk?: ChunkSpec): Promise<{ columns: ColumnSchema[]; facts: RsTypeFacts[] }> {
    const bound = buildSelect(rsDialect, req, chunk);
    const probe = await s.client.query({ text: `${bound.sql} LIMIT 0`, values: [...bound.params] });
    const facts = probe.fields.map((f) => ({ oid: f.dataTypeID, typmod: f.dataTypeModifier }));
    // A result does not say whether a column may be NULL: nullable, as a created table's columns are anyway.
    return { columns: probe.fields.map((f, i) => ({ name: f.name, nullable: true, ...portableFromRs(facts[i]!) })), facts };
  }

  describe(req: ExportRequest, signal?: AbortSignal): Promise<readonly ColumnSchema[]> {
    return this.#ctx.sessions.exporting(req, signal, async (s) => (await this.#describe(s, req)).columns);
  }

  maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null> {
    return this.#ctx.sessions.exporting(req, signal, (s) => firstValue(s, buildMax(rsDialect, req, column)));
  }

  planChunks(req: ExportRequest, signal?: AbortSignal, announce?: (chunk: ChunkSpec) => void): Promise<ChunkSpec[]> {
    // Redshift does not enforce unique indexes: each quantile is found from the start.
    return this.#ctx.sessions.exporting(req, signal, (s) => planQuantileChunks(s, rsDialect, req, announce));
  }

  exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    return this.#ctx.sessions.exporting(req, signal, async (s) => {
      const { columns, facts } = await this.#describe(s, req, chunk);
      const wrappers = facts.map(exportWrapper);
      // Without a value to rewrite, the request's own SELECT (no column list on a derived table needed).
      const select = wrappers.some((w) => w !== undefined) ? exportSelect(req, chunk, columns.map((c) => c.name), wrappers) : buildSelect(rsDialect, req, chunk);
      return this.#ctx.config.export === 'unload' ? this.#unload(s, req, chunk, select, sink, signal) : this.#cursor(s, select, sink, signal);
    });
  }

  /** A cursor in a transaction, fetched in batches; the sink's backpressure holds the next fetch. */
  async #cursor(s: Session, select: { sql: string; params: readonly string[] }, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    let n = 0;
    await s.client.query('BEGIN');
    try {
      await s.client.query({ text: rsSql.declareCursor(CURSOR, select.sql), values: [...select.params] });
      for (;;) {
        const batch = await s.client.query({ text: rsSql.fetch(CURSOR, FETCH_ROWS), rowMode: 'array' });
        if (batch.rows.length === 0) break;
        for (const cells of batch.rows as (string | null)[][]) {
          n++;
          if (!sink.row(cells)) await sink.drain();
        }
        signal?.throwIfAborted();
      }
      await s.client.query(rsSql.closeCursor(CURSOR));
      await s.client.query('COMMIT');
    } catch (e) {
      await s.client.query('ROLLBACK').catch(() => {
        s.broken = true;
      });
      throw e;
    }
    return n;
  }

  /** UNLOAD to a folder of its own, then every file it wrote read back in order, then the folder removed. */
  async #unload(s: Session, req: ExportRequest, chunk: ChunkSpec, select: { sql: string; params: readonly string[] }, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    const files = this.#ctx.files!;
    const { url, prefix } = files.unloadFolder(`${req.node}:${chunk.index}:${Date.now()}`);
    const statement = rsSql.unload(inlineParams(select.sql, select.params), url, this.#ctx.config.access!, this.#ctx.config.s3?.region);
    try {
      await this.#ctx.statements.unload(s, { statement, select: select.sql, params: select.params, to: url });
      let n = 0;
      for (const key of await files.unloaded(prefix, signal)) {
        const stored = await files.read(key, signal);
        const plain = pipelineCallback(stored, createGunzip(), () => {});
        const csv: CsvFile = await openCsv(plain, { name: `${url}${key.slice(prefix.length)}` });
        for await (const row of csv.rows) {
          n++;
          if (!sink.row(row.cells)) {
            await sink.drain();
            signal?.throwIfAborted();
          }
        }
      }
      return n;
    } finally {
      await files.clear(prefix).catch(() => {});
    }
  }
}
