import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openCsv } from '../../csv/reader.js';
import type { ColumnSchema } from '../../csv/types.js';
import { utcNaive } from '../../csv/values.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import type { StagedChunk } from '../contract.js';
import { CsvToTsv, TsvMode, escapeTable, type TsvColumn } from '../sql/csv-to-tsv.js';
import type { ColumnCheck } from './hive-checks.js';

/*
 * A chunk file as the staging table's text: Hive's LazySimpleSerDe with FIELDS TERMINATED BY '\t' ESCAPED BY '\\'
 * and `serialization.escape.crlf`: NULL is `\N`, the empty string is an empty field, a backslash, tab, CR or LF of a
 * value is escaped (`\\`, backslash-tab, `\r`, `\n`; the reader splits lines before it unescapes, so a raw line
 * feed may never appear inside a value). Every other byte, NUL included, is written as it is. Each row ends with
 * its chunk number and the line of the chunk file where its record starts.
 */

const BACKSLASH = 0x5c;
const HIVE_ESCAPES = escapeTable({ [BACKSLASH]: BACKSLASH, 0x09: 0x09, 0x0a: 0x6e, 0x0d: 0x72 });

/** The row the load record is made from (see hiveSql.commit): every column NULL, chunk 0. */
export function sentinelRow(columns: number): string {
  return `${Array.from({ length: columns }, () => '\\N').join('\t')}\t0\t0\n`;
}

/**
 * Writes `chunk` as staging text to `path`, each value checked against its target column (`checks`, by export
 * column; see hive-checks.ts); returns its rows. The file is written through pipeline(): backpressure.
 */
export async function stageChunk(
  chunk: StagedChunk,
  columns: readonly ColumnSchema[],
  checks: readonly (ColumnCheck | undefined)[],
  path: string,
  table: string,
  signal?: AbortSignal,
): Promise<number> {
  const tsvColumns: TsvColumn[] = columns.map((c, i) => {
    const check = checks[i];
    const zoned = c.type === 'timestamptz';
    if (!check && !zoned) return { mode: TsvMode.Copy, convert: (text) => text };
    // A value the check's quick fit accepts (for a zoned one: after its +00 is cut) is copied; any other converts.
    // A zoned column's +00 values need no look when nothing is checked, and always one when no quick fit exists.
    const fits = check === undefined ? undefined : (check.fits ?? (zoned ? () => false : undefined));
    return {
      mode: zoned ? TsvMode.Utc : TsvMode.Convert,
      ...(fits === undefined ? {} : { fits }),
      convert: (text, line) =>
        located(
          () => {
            // A timestamp with a time zone goes in as UTC (the target's TIMESTAMP has no zone).
            const value = !zoned ? text : text.endsWith('+00') && text.length >= 22 && text.charCodeAt(10) === 32 ? text.slice(0, -3) : utcNaive(text);
            const why = check?.check(value);
            if (why !== undefined) throw new Error(`${why}: Hive would store it as NULL or change it`);
            return value;
          },
          c,
          chunk,
          line,
          table,
          text,
        ),
    };
  });
  const tsv = new CsvToTsv(
    tsvColumns,
    columns.map((c) => c.name),
    { escapes: HIVE_ESCAPES, suffix: (_, line) => `\t${chunk.index}\t${line}` },
  );
  const input = await chunk.open();
  const encode = new Transform({
    transform(piece: Buffer, _enc, done) {
      try {
        tsv.push(piece);
        done(null, tsv.size > 0 ? tsv.take() : undefined);
      } catch (e) {
        done(e as Error);
      }
    },
    flush(done) {
      try {
        tsv.end();
        done(null, tsv.size > 0 ? tsv.take() : undefined);
      } catch (e) {
        done(e as Error);
      }
    },
  });
  try {
    await pipeline(input, encode, createWriteStream(path, { mode: 0o644 }), ...(signal ? [{ signal }] : []));
  } catch (e) {
    if (!(e instanceof CsvToTsv.Unusual)) throw e;
    // Not what the exchange format's writer produces: the general reader names the problem and its line.
    const csv = await openCsv(await chunk.open(), { name: chunk.name, expectColumns: columns.map((c) => c.name) });
    try {
      for await (const _ of csv.rows) {
        // only its error matters
      }
    } finally {
      await csv.close();
    }
    throw new PipelineError('BAD_CSV', `${chunk.name} is not in the exchange format (${e.message})`, { table, chunk: chunk.name });
  }
  return tsv.rows;
}

function located(f: () => string, c: ColumnSchema, chunk: StagedChunk, line: number, table: string, text: string): string {
  try {
    return f();
  } catch (e) {
    throw new PipelineError('BAD_VALUE', `${e instanceof Error ? e.message : String(e)} (value ${JSON.stringify(text.slice(0, 40))})`, {
      table,
      column: c.name,
      chunk: chunk.name,
      chunkLine: line,
    });
  }
}
