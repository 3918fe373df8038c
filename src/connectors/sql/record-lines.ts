import type { Readable } from 'node:stream';
import { openCsv } from '../../csv/reader.js';
import type { StagedChunk } from '../contract.js';

/**
 * Servers report a bad value by record number or by physical line; a person needs the line of the chunk file where
 * that record starts (records may span lines: quoted newlines). Both read the chunk again, only on failure.
 */

/** The line of the chunk file where its n-th record (1-based, header not counted) starts. */
export function lineOfRecord(chunk: StagedChunk, n: number): Promise<number | undefined> {
  let i = 0;
  return scan(chunk, (line) => (++i === n ? line : undefined));
}

/** The line where the record holding physical line `line` starts (a server counting lines reports the last one). */
export async function recordStartOfLine(chunk: StagedChunk, line: number): Promise<number | undefined> {
  let start: number | undefined;
  await scan(chunk, (at) => {
    if (at > line) return at;
    start = at;
    return undefined;
  });
  return start;
}

/** The cells of the record that holds physical line `line`, or undefined when the file cannot be read. */
export async function recordAtLine(chunk: StagedChunk, line: number): Promise<readonly (string | null)[] | undefined> {
  let last: readonly (string | null)[] | undefined;
  await scan(chunk, (at, cells) => {
    if (at > line) return at;
    last = cells;
    return undefined;
  });
  return last;
}

/**
 * Calls `visit` with the start line and cells of each record until it returns a line; undefined when the file
 * cannot be read.
 */
async function scan(chunk: StagedChunk, visit: (line: number, cells: readonly (string | null)[]) => number | undefined): Promise<number | undefined> {
  let input: Readable | undefined;
  try {
    input = await chunk.open();
    const csv = await openCsv(input, { name: chunk.name });
    try {
      for await (const row of csv.rows) {
        const found = visit(row.line, row.cells);
        if (found !== undefined) return found;
      }
    } finally {
      await csv.close();
    }
    return undefined;
  } catch {
    input?.destroy();
    return undefined;
  }
}
