import type { Cell, ColumnSchema } from '../../csv/types.js';
import type { ChunkSpec, CsvSink, ExportRequest } from '../contract.js';
import { buildSelect } from '../sql/select-builder.js';
import { planSplitChunks } from '../sql/split.js';
import { columnValues, isNullAt, rowCount, type HiveSession, type HiveSessions, type ResultColumn, type RowSet } from './hive-session.js';
import { hiveDialect, hiveSql, inlined, inlinedSelect, partitionWhere } from './hive-sql.js';
import { columnSchemaOf, hiveTypeOf, valueReader, type HiveType, type ValueReader } from './hive-types.js';

/** What a request reads: its columns with their Hive types, found with a `LIMIT 0` probe (no rows, no job). */
interface Shape {
  readonly columns: readonly ColumnSchema[];
  readonly types: ReadonlyMap<string, HiveType>;
}

/**
 * Exports are SELECTs whose result is fetched in batches (FetchResults) and written to the chunk file batch by
 * batch, each value turned into exchange text by its column's type (hive-types.ts). Bounds of windows, split
 * ranges and `source.partition` are inlined as literals typed like their column.
 */
export class HiveExport {
  readonly #sessions: HiveSessions;

  constructor(sessions: HiveSessions) {
    this.#sessions = sessions;
  }

  async #read<T>(req: ExportRequest, signal: AbortSignal | undefined, work: (s: HiveSession, shape: Shape) => Promise<T>): Promise<T> {
    try {
      return await this.#sessions.with(signal, async (s) => work(s, await shapeOf(s, req, signal)));
    } catch (e) {
      throw this.#sessions.error(e, 'EXPORT_FAILED', { node: req.node, ...(req.source.table === undefined ? {} : { table: req.source.table }) });
    }
  }

  describe(req: ExportRequest, signal?: AbortSignal): Promise<readonly ColumnSchema[]> {
    return this.#read(req, signal, async (_, shape) => shape.columns);
  }

  maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null> {
    return this.#read(req, signal, (s, shape) => first(s, inlined.max(withPartition(req, shape), column, shape.types), shape.types.get(column.toLowerCase()), signal));
  }

  planChunks(req: ExportRequest, signal?: AbortSignal, announce?: (chunk: ChunkSpec) => void): Promise<readonly ChunkSpec[]> {
    if (!req.source.split || req.source.split.chunks <= 1) return Promise.resolve([{ index: 1 }]);
    return this.#read(req, signal, (s, shape) => {
      const r = withPartition(req, shape);
      return planSplitChunks(r, (column) => ({
        count: async () => Number(await first(s, inlined.count(r, column, shape.types), undefined, signal)),
        nth: (rank) => first(s, inlined.nth(r, column, rank, shape.types), shape.types.get(column.toLowerCase()), signal),
      }), announce);
    });
  }

  exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number> {
    return this.#read(req, signal, async (s, shape) => {
      const sql = inlinedSelect(withPartition(req, shape), chunk, shape.types);
      let readers: ValueReader[] | undefined;
      let n = 0;
      await s.stream(
        sql,
        async (columns, set) => {
          readers ??= columns.map((c) => valueReader(hiveTypeOf(c, s.types), columnSchemaOf(c, hiveTypeOf(c, s.types)).name));
          for (const row of rowsOf(set, readers)) {
            n++;
            if (!sink.row(row)) await sink.drain();
          }
        },
        signal,
      );
      return n;
    });
  }
}

/** `pigeon plan`'s text of an export (bounds as `?`). */
export function renderHiveExport(req: ExportRequest, chunk?: ChunkSpec): string {
  const partition = req.source.partition;
  const r = partition === undefined ? req : withPartition(req, { columns: [], types: new Map() });
  return buildSelect(hiveDialect, r, chunk).sql;
}

async function shapeOf(s: HiveSession, req: ExportRequest, signal: AbortSignal | undefined): Promise<Shape> {
  const plain = buildSelect(hiveDialect, { node: req.node, source: { ...req.source } }).sql;
  let meta: readonly ResultColumn[] = [];
  meta = await s.stream(hiveSql.probe(plain), () => {}, signal);
  const types = new Map<string, HiveType>();
  const columns = meta.map((c) => {
    const t = hiveTypeOf(c, s.types);
    const schema = columnSchemaOf(c, t);
    types.set(schema.name.toLowerCase(), t);
    return schema;
  });
  return { columns, types };
}

/** `source.partition` ANDed onto the request's `where` (Hive prunes the partitions it does not read). */
function withPartition(req: ExportRequest, shape: Shape): ExportRequest {
  const partition = req.source.partition;
  if (partition === undefined || Object.keys(partition).length === 0) return req;
  const cond = partitionWhere(partition, shape.types);
  const where = req.source.where ? `(${req.source.where}) AND ${cond}` : cond;
  return { ...req, source: { ...req.source, where } };
}

/** The first value of a one-value query, as exchange text; null when there is none. */
async function first(s: HiveSession, sql: string, type: HiveType | undefined, signal: AbortSignal | undefined): Promise<string | null> {
  let out: string | null = null;
  await s.stream(
    sql,
    (columns, set) => {
      const c = set.columns?.[0];
      const v = c ? columnValues(c) : undefined;
      if (!v || v.values.length === 0 || isNullAt(v.nulls, 0)) return;
      const t = type ?? hiveTypeOf(columns[0]!, s.types);
      out = valueReader(t, columns[0]!.columnName)(v.values[0]);
    },
    signal,
  );
  return out;
}

/** The rows of a columnar row set as exchange cells. */
function* rowsOf(set: RowSet, readers: readonly ValueReader[]): Generator<Cell[]> {
  const cols = (set.columns ?? []).map((c) => columnValues(c));
  const n = rowCount(set);
  for (let r = 0; r < n; r++) {
    const row: Cell[] = new Array<Cell>(cols.length);
    for (let i = 0; i < cols.length; i++) {
      const c = cols[i];
      row[i] = !c || isNullAt(c.nulls, r) ? null : readers[i]!(c.values[r]);
    }
    yield row;
  }
}
