import { Readable, type Writable } from 'node:stream';
import type { PoolConnection, ResultSetHeader, SqlValue } from 'mysql2';
import { openCsv, type CsvFile } from '../../csv/reader.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { ChunkFeed, ImportRequest, StagedChunk } from '../contract.js';
import { spreadChunks } from '../feed.js';
import { lineOfRecord } from '../sql/record-lines.js';
import { failOnWarnings, localInfileRefused, serverValueError, type LoadInto } from './mysql-errors.js';
import { CsvToTsv, LOAD_DATA_ESCAPES, TsvMode, type TsvColumn } from '../sql/csv-to-tsv.js';
import { query, scalar, withImportSqlMode, type MysqlError, type MysqlSessions } from './mysql-session.js';
import { mysqlSql } from './mysql-sql.js';
import { keepText, type ImportColumn } from './mysql-columns.js';
import { utcNaive } from '../../csv/values.js';

/** Rows per INSERT of the fallback path (fewer when max_allowed_packet says so). */
const INSERT_BATCH = 1000;
/** Bytes a LOAD DATA stream may leave unsent in the socket before it waits. */
const SOCKET_BACKLOG = 256 * 1024;
/** Bytes gathered before one write into a LOAD DATA stream. */
const LOAD_PIECE = 64 * 1024;
/** mysql2 sends each piece of a LOCAL INFILE stream as one packet: keep them far below the 16 MiB packet limit. */
const MAX_PACKET_PIECE = 1024 * 1024;

/** The staging table chunks load into. */
export interface LoadTarget extends LoadInto {
  readonly staging: string;
  readonly plan: readonly ImportColumn[];
  /** The staging table has the load-order column, numbered by the load. */
  readonly seq: boolean;
}

/**
 * Loads every chunk into staging: LOAD DATA, or batched INSERTs once the server refuses local infile. With
 * `spareSession`, a backlog of exported chunks is spread over spare sessions as well (see spreadChunks; the server
 * parses and inserts each load in its own thread). Returns the rows loaded.
 */
export function loadChunks(
  sessions: MysqlSessions,
  conn: PoolConnection,
  into: LoadTarget,
  feed: ChunkFeed,
  signal: AbortSignal | undefined,
  spareSession: ImportRequest['spareSession'],
): Promise<number> {
  let useInsert = !sessions.config.options.localInfile;
  let maxPacket: number | undefined;
  let loaded = 0;
  const load = async (c: PoolConnection, chunk: StagedChunk, stop: AbortSignal): Promise<number> => {
    // The first row's load sequence number (only on one session, where chunks load in order).
    const seqBase = loaded;
    let n: number | undefined;
    if (!useInsert) {
      try {
        n = await loadData(c, into, chunk, seqBase, stop);
      } catch (e) {
        if (!localInfileRefused(e)) throw e;
        // Refused before any byte was sent: this chunk and the next go through INSERTs.
        useInsert = true;
      }
    }
    if (n === undefined) {
      maxPacket ??= Number(await scalar(c, mysqlSql.maxAllowedPacket));
      n = await insertRows(sessions, c, into, chunk, seqBase, maxPacket);
    }
    loaded += n;
    return n;
  };
  return spreadChunks<PoolConnection>({
    feed,
    signal,
    session: conn,
    maxSessions: sessions.config.maxConnections,
    spare: spareSession && ((use, stop) => spareSession(() => sessions.run(stop, (h) => withImportSqlMode(h, stop, () => use(h))))),
    load,
  });
}

/** One chunk through LOAD DATA LOCAL INFILE; returns its rows. Warnings (LOCAL turns errors into them) fail it. */
async function loadData(conn: PoolConnection, into: LoadTarget, chunk: StagedChunk, seqBase: number, signal?: AbortSignal): Promise<number> {
  const counter = { rows: 0 };
  const file = await chunk.open();
  const pieces = fastTsvPieces(file, into, chunk, seqBase, counter);
  const input = Readable.from(paced(pieces, (conn as { stream?: Writable }).stream), { objectMode: false });
  // The file is closed whatever happens: also when the server never asks for it (the pieces never start) or an
  // abort leaves the query unsettled.
  const close = () => {
    input.destroy();
    file.destroy();
  };
  signal?.addEventListener('abort', close, { once: true });
  const sql = mysqlSql.loadData(into.staging, into.plan, into.seq);
  let result: ResultSetHeader;
  try {
    result = (await query<ResultSetHeader>(conn, { sql, infileStreamFactory: () => input })).rows;
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw await serverValueError(e as MysqlError, into, chunk, (n) => lineOfRecord(chunk, n));
  } finally {
    signal?.removeEventListener('abort', close);
    close();
  }
  if (result.warningStatus > 0) {
    await failOnWarnings(conn, into, chunk, (n) => lineOfRecord(chunk, n));
  }
  if (result.affectedRows !== counter.rows) {
    throw new PipelineError('IMPORT_FAILED', `LOAD DATA stored ${result.affectedRows} of the ${counter.rows} rows of the chunk`, {
      table: into.table,
      chunk: chunk.name,
    });
  }
  return counter.rows;
}

/** One chunk through multi-row INSERTs of at most INSERT_BATCH rows and max_allowed_packet bytes. */
async function insertRows(sessions: MysqlSessions, conn: PoolConnection, into: LoadTarget, chunk: StagedChunk, seqBase: number, maxPacket: number): Promise<number> {
  const mysql = sessions.mysql;
  const head = mysqlSql.insertHead(into.staging, into.names, into.seq);
  const limit = maxPacket - 1024;
  let tuples: string[] = [];
  let lines: number[] = [];
  let bytes = Buffer.byteLength(head);
  let rows = 0;
  const flush = async () => {
    if (tuples.length === 0) return;
    const at = (n: number) => Promise.resolve(lines[n - 1]);
    let result: ResultSetHeader;
    try {
      result = (await query<ResultSetHeader>(conn, { sql: head + tuples.join(',') })).rows;
    } catch (e) {
      throw await serverValueError(e as MysqlError, into, chunk, at);
    }
    if (result.warningStatus > 0) await failOnWarnings(conn, into, chunk, at);
    tuples = [];
    lines = [];
    bytes = Buffer.byteLength(head);
  };
  const csv = await openCsv(await chunk.open(), { name: chunk.name, expectColumns: into.names });
  try {
    for await (const row of csv.rows) {
      const values: SqlValue[] = row.cells.map((cell, i): SqlValue => {
        if (cell === null) return null;
        const col = into.plan[i]!;
        const text = convert(col, cell, into, chunk, row.line);
        switch (col.via) {
          case 'base64':
            return Buffer.from(text, 'base64');
          case 'geometry':
            return mysql.raw(`ST_GeomFromWKB(${mysql.escape(Buffer.from(text, 'base64'))})`);
          case 'bits':
            return mysql.raw(`CAST(${mysql.escape(text)} AS UNSIGNED)`);
          default:
            return text;
        }
      });
      rows++;
      if (into.seq) values.push(seqBase + rows);
      const tuple = mysql.format('(?)', [values]);
      const size = Buffer.byteLength(tuple) + 1;
      if (tuples.length >= INSERT_BATCH || (tuples.length > 0 && bytes + size > limit)) await flush();
      if (bytes + size > limit) {
        throw new PipelineError('IMPORT_FAILED', `the row is larger than the server's max_allowed_packet (${maxPacket} bytes), which INSERT needs it to fit in`, {
          table: into.table,
          chunk: chunk.name,
          chunkLine: row.line,
        });
      }
      tuples.push(tuple);
      lines.push(row.line);
      bytes += size;
    }
    await flush();
  } finally {
    await csv.close();
  }
  return rows;
}

const TSV_SPECIAL = /[\\\t\n\r\0]/;
const TSV_SPECIAL_ALL = /[\\\t\n\r\0]/g;
const TSV_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' };

/**
 * The chunk's rows in LOAD DATA's own format (FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'):
 * a bare `\N` is NULL and every tab, newline, carriage return, NUL and backslash of a value is escaped, so NULL, the
 * empty string and the text `\N` stay distinct. Yields pieces of at most MAX_PACKET_PIECE bytes, one at a time,
 * as the connection asks for them.
 */
async function* tsvPieces(csv: CsvFile, into: LoadTarget, chunk: StagedChunk, seqBase: number, counter: { rows: number }): AsyncGenerator<Buffer> {
  let text = '';
  try {
    for await (const row of csv.rows) {
      let line = '';
      const cells = row.cells;
      for (let i = 0; i < cells.length; i++) {
        if (i > 0) line += '\t';
        const cell = cells[i]!;
        if (cell === null) {
          line += '\\N';
          continue;
        }
        const v = convert(into.plan[i]!, cell, into, chunk, row.line);
        line += TSV_SPECIAL.test(v) ? v.replace(TSV_SPECIAL_ALL, (ch) => TSV_ESCAPES[ch]!) : v;
      }
      counter.rows++;
      if (into.seq) line += `\t${seqBase + counter.rows}`;
      text += `${line}\n`;
      if (text.length >= LOAD_PIECE) {
        yield* pieces(text);
        text = '';
      }
    }
    if (text.length > 0) yield* pieces(text);
  } finally {
    await csv.close();
  }
}

/**
 * tsvPieces on the byte-level fast path (mysql-load.ts). A file the fast path does not expect is read by
 * tsvPieces instead: from the start when nothing was sent yet, else only to find the precise error to report.
 */
async function* fastTsvPieces(input: Readable, into: LoadTarget, chunk: StagedChunk, seqBase: number, counter: { rows: number }): AsyncGenerator<Buffer> {
  const columns: TsvColumn[] = into.plan.map((column) => ({ mode: tsvMode(column), convert: (text, line) => convert(column, text, into, chunk, line) }));
  const tsv = new CsvToTsv(columns, into.names, { escapes: LOAD_DATA_ESCAPES, ...(into.seq ? { suffix: (row) => `\t${seqBase + row}` } : {}) });
  let sent = false;
  try {
    for await (const piece of input as AsyncIterable<Buffer>) {
      tsv.push(piece);
      counter.rows = tsv.rows;
      if (tsv.size >= LOAD_PIECE) {
        sent = true;
        yield tsv.take();
      }
    }
    tsv.end();
    counter.rows = tsv.rows;
    if (tsv.size > 0) yield tsv.take();
  } catch (e) {
    if (!(e instanceof CsvToTsv.Unusual)) throw e;
    input.destroy();
    const csv = await openCsv(await chunk.open(), { name: chunk.name, expectColumns: into.names });
    if (!sent) {
      counter.rows = 0;
      yield* tsvPieces(csv, into, chunk, seqBase, counter);
      return;
    }
    for await (const _ of tsvPieces(csv, into, chunk, seqBase, { rows: 0 })) {
      // only its error matters
    }
    throw new PipelineError('BAD_CSV', `${chunk.name} is not in the exchange format (${e.message})`, { table: into.table, chunk: chunk.name });
  } finally {
    input.destroy();
  }
}

/**
 * mysql2 writes a LOCAL INFILE stream to the socket as fast as the stream gives (it pauses only when the socket's
 * reading is paused): without this, a chunk would pile up in the socket's write buffer while the server is slower.
 * Each piece waits until the socket has sent most of what it holds.
 */
async function* paced(pieces: AsyncGenerator<Buffer>, socket: Writable | undefined): AsyncGenerator<Buffer> {
  for await (const piece of pieces) {
    if (socket && !socket.destroyed && socket.writableLength > SOCKET_BACKLOG) {
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
    }
    yield piece;
  }
}

function* pieces(text: string): Generator<Buffer> {
  const bytes = Buffer.from(text, 'utf8');
  for (let at = 0; at < bytes.length; at += MAX_PACKET_PIECE) yield bytes.subarray(at, at + MAX_PACKET_PIECE);
}

function tsvMode(c: ImportColumn): TsvMode {
  if (c.text === keepText && c.via === undefined) return TsvMode.Copy;
  return c.text === utcNaive ? TsvMode.Utc : TsvMode.Convert;
}

function convert(col: ImportColumn, cell: string, into: LoadTarget, chunk: StagedChunk, line: number): string {
  try {
    return col.text(cell);
  } catch (e) {
    const shown = JSON.stringify(cell.length > 40 ? `${cell.slice(0, 40)}…` : cell);
    throw new PipelineError('BAD_VALUE', `${e instanceof Error ? e.message : String(e)} (value ${shown})`, {
      table: into.table,
      column: col.name,
      chunk: chunk.name,
      chunkLine: line,
    });
  }
}
