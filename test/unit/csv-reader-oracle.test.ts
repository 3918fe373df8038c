import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { parse } from 'csv-parse/sync';
import { openCsv } from '../../src/csv/reader.js';
import type { Cell } from '../../src/csv/types.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';

/** Pieces that make CSV syntax and its corner cases likely when strung together at random. */
const TOKENS = ['a', 'b', 'xyz', ',', ',', '"', '""', '\n', '\n', '\r\n', '\r', '\\N', '\\', ' ', 'é', '😀', '\ufeff'];

type Outcome = { readonly ok: true; readonly records: Cell[][] } | { readonly ok: false };

/** What csv-parse, configured for the exchange format, makes of the text. */
function oracle(text: string): Outcome {
  let records: Cell[][];
  try {
    records = parse(text, {
      bom: true,
      delimiter: ',',
      quote: '"',
      escape: '"',
      record_delimiter: ['\n', '\r\n'],
      relax_column_count: false,
      skip_empty_lines: false,
      cast: (value, context) => (value === '\\N' && !context.quoting ? null : value),
    }) as Cell[][];
  } catch {
    return { ok: false };
  }
  // openCsv also needs a header whose names are present and distinct.
  const header = records[0];
  if (header === undefined || header.includes(null) || new Set(header).size !== header.length) return { ok: false };
  return { ok: true, records };
}

async function ours(pieces: readonly Buffer[]): Promise<Outcome> {
  try {
    const file = await openCsv(Readable.from(pieces), { name: 'oracle.csv' });
    const records: Cell[][] = [[...file.header]];
    for await (const row of file.rows) records.push(row.cells);
    return { ok: true, records };
  } catch (e) {
    assert.ok(e instanceof PipelineError && e.code === 'BAD_CSV', `unexpected ${String(e)}`);
    return { ok: false };
  }
}

function split(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length] as number;
    pieces.push(bytes.subarray(at, at + size));
    at += size;
  }
  return pieces;
}

describe('the CSV reader agrees with csv-parse', () => {
  it('accepts and rejects the same random text, with the same records, however the input is cut', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 10 }),
        async (tokens, sizes) => {
          const text = tokens.join('');
          const expected = oracle(text);
          const bytes = Buffer.from(text, 'utf8');
          assert.deepEqual(await ours([bytes]), expected, JSON.stringify(text));
          assert.deepEqual(await ours(split(bytes, sizes)), expected, JSON.stringify(text));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
