import { RecordCounter } from '../../csv/record-counter.js';
import { toPipelineError } from '../../errors/pipeline-error.js';
import type { ColumnSchema } from '../../csv/types.js';
import type { ChunkSpec, CsvSink, ExportRequest } from '../contract.js';
import { buildCount, buildMax, buildNth, buildNthAfter, buildSelect } from '../sql/select-builder.js';
import { planSplitChunks, wholeTable } from '../sql/split.js';
import { firstValue, rows, type PgSessions, type Session } from './postgres-session.js';
import { quoteTable, type SqlDialect } from '../sql/dialect.js';
import { withComments, withSourceKey } from '../sql/new-table.js';
import {
  copyToStatement,
  describeTypes,
  sourceKeyAndComments,
  openSessions,
  openXids,
  pgDialect,
  estimatedRows,
  regclassText,
  stillOpenSessions,
  stillOpenXids,
  uniqueSplitColumn,
} from './postgres-sql.js';
import { waitForTransactions } from '../sql/open-transactions.js';
import { exportWrapper, portableFromPg, type PgTypeFacts } from './postgres-types.js';

/** How long an aborted COPY may take to end after its backend was told to terminate, before its stream is cut. */
const ABORT_GRACE_MS = 10_000;

interface TypeRow {
  source_type: string;
  base_name: string;
  typtype: string;
  typcategory: string;
  base_typmod: string;
}

export function factsOf(r: TypeRow): PgTypeFacts {
  return { sourceType: r.source_type, baseName: r.base_name, typtype: r.typtype, category: r.typcategory, typmod: Number(r.base_typmod) };
}

/**
 * Exports are `COPY (SELECT …) TO STDOUT` in CSV, written to the chunk file as they arrive: PostgreSQL's CSV is the
 * exchange format once a few types are wrapped in the select (see postgres-types.ts).
 */
export class PgExport {
  readonly #sessions: PgSessions;

  constructor(sessions: PgSessions) {
    this.#sessions = sessions;
  }

  async #describe(s: Session, req: ExportRequest, chunk?: ChunkSpec): Promise<{ columns: ColumnSchema[]; facts: PgTypeFacts[] }> {
    const bound = buildSelect(pgDialect, req, chunk);
    const probe = await s.client.query({ text: `${bound.sql} LIMIT 0`, values: [...bound.params] });
    const fields = probe.fields;
    if (fields.length === 0) return { columns: [], facts: [] };
    const types = await rows<TypeRow & { not_null: string }>(s, describeTypes, [
      fields.map((f) => f.dataTypeID),
      fields.map((f) => f.dataTypeModifier),
      fields.map((f) => f.tableID),
      fields.map((f) => f.columnID),
    ]);
    const facts = types.map((r) => factsOf(r));
    const columns = fields.map((f, i) => {
      const t = facts[i]!;
      return { name: f.name, nullable: types[i]!.not_null !== 't', ...portableFromPg(t), source_type: t.sourceType };
    });
    return { columns, facts };
  }

  describe(req: ExportRequest, signal?: AbortSignal): Promise<readonly ColumnSchema[]> {
    return this.#sessions.exporting(req, signal, async (s) => {
      const { columns } = await this.#describe(s, req);
      const table = req.source.query === undefined ? req.source.table : undefined;
      if (table === undefined) return columns;
      // What a table pigeon creates from this export can carry over: the primary key and the column comments.
      const facts = await rows<{ name: string; key: string | null; comment: string | null }>(s, sourceKeyAndComments, [quoteTable(pgDialect, table)]);
      const key = facts.filter((f) => f.key !== null).sort((a, b) => Number(a.key) - Number(b.key)).map((f) => f.name);
      return withComments(withSourceKey(columns, key), new Map(facts.filter((f) => f.comment !== null).map((f) => [f.name, f.comment!])));
    });
  }

  maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null> {
    return this.#sessions.exporting(req, signal, (s) => firstValue(s, buildMax(pgDialect, req, column)));
  }

  /** See Connector.awaitOpenTransactions: sessions in a transaction and in-progress transaction ids, polled. */
  async awaitOpenTransactions(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const sessions = this.#sessions;
    const s = await sessions.take();
    const stop = sessions.onAbort(s, signal);
    try {
      const own = [...sessions.ownPids];
      const open = await rows<{ pid: string; started: string; who: string }>(s, openSessions, [own]);
      const xids = (await rows<{ xid: string }>(s, openXids, [own])).map((r) => r.xid);
      const who = new Map(open.map((o) => [o.pid, `pid ${o.pid} (${o.who}, since ${o.started})`]));
      await waitForTransactions(
        async () => [
          ...(await rows<{ pid: string }>(s, stillOpenSessions, [open.map((o) => Number(o.pid)), open.map((o) => o.started)])).map((r) => who.get(r.pid)!),
          ...(await rows<{ xid: string }>(s, stillOpenXids, [xids])).map((r) => `transaction ${r.xid}`),
        ],
        timeoutMs,
        signal,
      );
    } catch (e) {
      if (signal?.aborted) throw toPipelineError(signal.reason, 'ABORTED', { connection: sessions.config.name });
      throw sessions.error(e, 'EXPORT_FAILED');
    } finally {
      stop();
      sessions.release(s);
    }
  }

  planChunks(req: ExportRequest, signal?: AbortSignal, announce?: (chunk: ChunkSpec) => void): Promise<ChunkSpec[]> {
    return this.#sessions.exporting(req, signal, (s) =>
      planQuantileChunks(s, pgDialect, req, announce, {
        unique: (column) => uniqueColumn(s, req, column),
        estimate: () => estimateRows(s, req),
      }),
    );
  }

  exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    const sessions = this.#sessions;
    return this.#sessions.exporting(req, signal, async (s) => {
      const { facts } = await this.#describe(s, req, chunk);
      const sql = copyToStatement(req, chunk, facts.map(exportWrapper));
      const stream = s.client.query(sessions.copy.to(sql));
      // On abort the backend is terminated, and the rest of what it sent is read and dropped until the stream
      // ends: a backend blocked writing to a client that stopped reading would otherwise hang on.
      let timer: NodeJS.Timeout | undefined;
      const stop = sessions.onAbort(s, signal, () => {
        timer = setTimeout(() => stream.destroy(), ABORT_GRACE_MS);
        timer.unref();
      });
      const records = new RecordCounter();
      try {
        for await (const bytes of stream as AsyncIterable<Buffer>) {
          if (signal?.aborted) continue;
          if (!sink.raw(bytes, records.count(bytes))) await sink.drain();
        }
      } catch (e) {
        // The sink failed or the stream broke: the backend may still be running the query, end it.
        s.broken = true;
        if (!signal?.aborted) await sessions.terminate(s.pid);
        throw e;
      } finally {
        stop();
        clearTimeout(timer);
      }
      signal?.throwIfAborted();
      return stream.rowCount;
    });
  }
}

/**
 * The chunks of a request, at quantiles of its split column, asked on one session in `dialect` (see split.ts).
 * `unique`, when it says the column holds no duplicates, lets each quantile be found from the one before
 * (`c > previous … OFFSET k`): the server walks the index once instead of from the start for every boundary.
 */
export function planQuantileChunks(
  s: Session,
  dialect: SqlDialect,
  req: ExportRequest,
  announce?: (chunk: ChunkSpec) => void,
  catalog: { readonly unique?: (column: string) => Promise<boolean>; readonly estimate?: () => Promise<number | undefined> } = {},
): Promise<ChunkSpec[]> {
  let walk: boolean | undefined;
  const { unique, estimate } = catalog;
  return planSplitChunks(req, (column) => ({
    count: async () => Number(await firstValue(s, buildCount(dialect, req, column))),
    nth: async (rank, after) => {
      if (after !== undefined && unique) walk ??= await unique(column);
      return firstValue(s, walk && after ? buildNthAfter(dialect, req, column, after.value, rank - after.rank - 1) : buildNth(dialect, req, column, rank));
    },
    ...(estimate ? { estimate } : {}),
  }), announce);
}

/** A whole table's rows by the planner's statistics; undefined for anything else or before the first ANALYZE. */
async function estimateRows(s: Session, req: ExportRequest): Promise<number | undefined> {
  if (!wholeTable(req)) return undefined;
  const [r] = await rows<{ rows: string | null }>(s, estimatedRows, [regclassText(req.source.table!).text]);
  const n = Number(r?.rows ?? -1);
  return n >= 0 ? n : undefined;
}

/** Whether the split column of a table (not a query) has a unique index of its own. */
async function uniqueColumn(s: Session, req: ExportRequest, column: string): Promise<boolean> {
  if (req.source.table === undefined || req.source.query !== undefined) return false;
  const [r] = await rows<{ found: boolean }>(s, uniqueSplitColumn, [regclassText(req.source.table).text, column]);
  return r?.found === true;
}
