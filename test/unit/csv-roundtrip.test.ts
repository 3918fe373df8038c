import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { ChunkFileWriter, openChunkFile } from '../../src/csv/chunk-file.js';
import { openCsv, type CsvRow } from '../../src/csv/reader.js';
import type { Cell } from '../../src/csv/types.js';
import { encodeRow } from '../../src/csv/writer.js';

const NASTY = ['', '\\N', '"', ',', '\r', '\n', '\r\n', '\\', ' lead', 'trail ', '\t', '😀', '"\\N"', '\\N ', 'a""b', '\ufeff', 'ü,"\n'];

/** Well-formed text without NUL: lone surrogates cannot survive any UTF-8 file, so they are out of contract. */
const WELL_FORMED = /^(?:[^\0\uD800-\uDFFF]|[\uD800-\uDBFF][\uDC00-\uDFFF])*$/;

const text = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...NASTY), { maxLength: 6 }).map((parts) => parts.join('')) },
).filter((s) => WELL_FORMED.test(s));

const cell: fc.Arbitrary<Cell> = fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 4, arbitrary: text });

const table = fc.integer({ min: 1, max: 8 }).chain((width) =>
  fc.record({
    header: fc.uniqueArray(text, { minLength: width, maxLength: width }),
    rows: fc.array(fc.array(cell, { minLength: width, maxLength: width }), { maxLength: 40 }),
    gzip: fc.boolean(),
    /** Which rows go through raw() instead of row(). */
    raw: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
    /** Sizes of the pieces the reader is fed; small ones cut records and characters anywhere. */
    pieces: fc.array(fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 70_000 })), { minLength: 1, maxLength: 50 }),
  }),
);

function split(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length] as number;
    pieces.push(bytes.subarray(at, at + size));
    at += size;
  }
  return pieces;
}

async function readAll(input: Readable, name: string): Promise<{ header: readonly string[]; rows: CsvRow[] }> {
  const file = await openCsv(input, { name });
  const rows: CsvRow[] = [];
  for await (const row of file.rows) rows.push(row);
  return { header: file.header, rows };
}

/** The line each record starts on, counting `\n` in the cells of earlier records. */
function expectedLines(rows: readonly (readonly Cell[])[], headerNewlines: number): number[] {
  const lines: number[] = [];
  let line = 2 + headerNewlines;
  for (const row of rows) {
    lines.push(line);
    line += 1 + row.reduce((n, c) => n + (c === null ? 0 : c.split('\n').length - 1), 0);
  }
  return lines;
}

describe('CSV exchange format round trip', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pigeon-csv-roundtrip-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns every random row unchanged through writer, chunk file and reader, whole or in random pieces', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(table, async ({ header, rows, gzip, raw, pieces }) => {
        const path = join(dir, `chunk-${n++}.csv${gzip ? '.gz' : ''}`);
        const writer = await ChunkFileWriter.create(path, header, { gzip });
        rows.forEach((row, i) => {
          if (!raw[i]) writer.row(row);
          else if (i % 2 === 0) writer.raw(encodeRow(row), 1);
          else writer.raw(Buffer.from(encodeRow(row)), 1);
        });
        await writer.drain();
        const result = await writer.finish();

        const stored = await readFile(path);
        assert.equal(result.rows, rows.length);
        assert.equal(result.bytes, stored.length);
        assert.equal(result.sha256, createHash('sha256').update(stored).digest('hex'));
        const csv = gzip ? gunzipSync(stored) : stored;
        assert.ok(csv.toString('utf8').endsWith('\n' + rows.map(encodeRow).join('')));

        const lines = expectedLines(rows, header.join('').split('\n').length - 1);
        const whole = await readAll(await openChunkFile(path, gzip), path);
        assert.deepEqual(whole.header, header);
        assert.deepEqual(whole.rows.map((r) => r.cells), rows);
        assert.deepEqual(whole.rows.map((r) => r.line), lines);

        const cut = await readAll(Readable.from(split(csv, pieces)), path);
        assert.deepEqual(cut.header, header);
        assert.deepEqual(cut.rows.map((r) => r.cells), rows);
        assert.deepEqual(cut.rows.map((r) => r.line), lines);
      }),
      { numRuns: 300 },
    );
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.partial')), []);
  });

  it('reads records cut across 64 KiB read chunks of a large file, with a BOM and CRLF line ends', async () => {
    const header = ['id', 'name', 'note'];
    const rows: Cell[][] = [];
    for (let i = 0; i < 20_000; i++) {
      rows.push([String(i), `näme "${i}", 😀`, i % 7 === 0 ? null : i % 5 === 0 ? 'multi\nline\r\nnote' : 'x'.repeat(i % 97)]);
    }
    const lf = encodeRow(header) + rows.map(encodeRow).join('');
    // A CRLF file as another tool would write it: every record terminator becomes \r\n, quoted newlines stay.
    const crlf = '\ufeff' + [header, ...rows].map((r) => encodeRow(r).slice(0, -1) + '\r\n').join('');
    for (const [name, content] of [['lf', lf], ['crlf', crlf]] as const) {
      const bytes = Buffer.from(content, 'utf8');
      assert.ok(bytes.length > 10 * 65_536);
      for (const input of [Readable.from(split(bytes, [65_536])), Readable.from(split(bytes, [65_535, 3, 65_537, 1]))]) {
        const read = await readAll(input, name);
        assert.deepEqual(read.header, header);
        assert.equal(read.rows.length, rows.length);
        assert.deepEqual(read.rows.map((r) => r.cells), rows);
      }
    }
  });

  it('counts rows given with raw() and keeps row() and raw() output in order', async () => {
    const path = join(dir, 'mixed.csv');
    const writer = await ChunkFileWriter.create(path, ['a'], { gzip: false });
    writer.row(['1']);
    writer.raw('2\n3\n', 2);
    writer.row(['4']);
    writer.raw(Buffer.from('5\n'), 1);
    writer.raw(Buffer.alloc(0));
    const result = await writer.finish();
    assert.equal(result.rows, 5);
    assert.equal(await readFile(path, 'utf8'), 'a\n1\n2\n3\n4\n5\n');
  });

  it('asks the caller to wait when much is buffered, and drain() lets it continue', async () => {
    for (const gzip of [false, true]) {
      const path = join(dir, `big-${gzip}.csv`);
      const writer = await ChunkFileWriter.create(path, ['id', 'payload'], { gzip });
      const payload = 'p'.repeat(1000);
      let waits = 0;
      for (let i = 0; i < 20_000; i++) {
        if (!writer.row([String(i), payload])) {
          waits++;
          await writer.drain();
        }
      }
      const result = await writer.finish();
      assert.ok(waits > 0, 'row() returned false at least once');
      assert.equal(result.rows, 20_000);
      const read = await readAll(await openChunkFile(path, gzip), path);
      assert.equal(read.rows.length, 20_000);
      assert.deepEqual(read.rows[19_999]?.cells, ['19999', payload]);
    }
  });

  it('writes only the header for an empty chunk', async () => {
    const path = join(dir, 'empty.csv.gz');
    const writer = await ChunkFileWriter.create(path, ['a', 'b'], { gzip: true });
    const result = await writer.finish();
    assert.equal(result.rows, 0);
    assert.equal(gunzipSync(await readFile(path)).toString(), 'a,b\n');
    const read = await readAll(await openChunkFile(path, true), path);
    assert.deepEqual(read, { header: ['a', 'b'], rows: [] });
  });

  it('stops reading and releases the input when the consumer leaves early', async () => {
    const bytes = Buffer.from('a\n' + '1\n'.repeat(100_000));
    const input = Readable.from(split(bytes, [1000]));
    const file = await openCsv(input, { name: 'early' });
    for await (const row of file.rows) {
      assert.deepEqual(row.cells, ['1']);
      break;
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(input.destroyed, true);

    const unread = Readable.from(split(bytes, [1000]));
    const opened = await openCsv(unread, { name: 'unread' });
    await opened.close();
    assert.equal(unread.destroyed, true);

    const returned = Readable.from(split(bytes, [1000]));
    const unstarted = await openCsv(returned, { name: 'returned' });
    await unstarted.rows.return(undefined);
    assert.equal(returned.destroyed, true);
  });
});
