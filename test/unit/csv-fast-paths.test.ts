import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { CsvByteWriter } from '../../src/csv/byte-writer.js';
import { openCsv } from '../../src/csv/reader.js';
import type { Cell } from '../../src/csv/types.js';
import { encodeRow } from '../../src/csv/writer.js';
import { CsvToTsv, LOAD_DATA_ESCAPES, TsvMode, type TsvColumn } from '../../src/connectors/sql/csv-to-tsv.js';
import { RecordCounter } from '../../src/csv/record-counter.js';

const NASTY = ['', '\\N', '\\.', '"', ',', '\r', '\n', '\r\n', '\\', '\t', '\0', ' lead', 'trail ', '😀', '"\\N"', 'a""b', '\ufeff', 'ü,"\n'];
const WELL_FORMED = /^(?:[^\uD800-\uDFFF]|[\uD800-\uDBFF][\uDC00-\uDFFF])*$/;

const text = fc
  .oneof(
    { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
    { weight: 1, arbitrary: fc.array(fc.constantFrom(...NASTY), { maxLength: 6 }).map((parts) => parts.join('')) },
  )
  .filter((s) => WELL_FORMED.test(s));
const cell: fc.Arbitrary<Cell> = fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 4, arbitrary: text });
const rows = (width: number) => fc.array(fc.array(cell, { minLength: width, maxLength: width }), { maxLength: 30 });

function split(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    pieces.push(bytes.subarray(at, at + size));
    at += size;
  }
  return pieces;
}

describe('CsvByteWriter', () => {
  it('writes exactly the bytes of encodeRow for any cells, whatever the flush size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }).chain((w) => rows(w)), fc.integer({ min: 1, max: 300 }), (table, flushAt) => {
        const parts: Buffer[] = [];
        let counted = 0;
        const w = new CsvByteWriter((bytes, n) => {
          parts.push(Buffer.from(bytes));
          counted += n;
        }, flushAt);
        for (const row of table) {
          for (const c of row) {
            if (c === null) w.nul();
            else w.string(c);
          }
          w.endRow();
        }
        w.end();
        assert.equal(Buffer.concat(parts).toString('utf8'), table.map((r) => encodeRow(r)).join(''));
        assert.equal(counted, table.length);
      }),
      { numRuns: 300 },
    );
  });

  it('plain() copies digits as they are and text() quotes what the format asks for', () => {
    const parts: Buffer[] = [];
    const w = new CsvByteWriter((b) => parts.push(Buffer.from(b)));
    const b = (s: string) => Buffer.from(s);
    w.plain(b('12.50'), 0, 5);
    w.plain(b('2024-01-02 03:04:05'), 0, 19, '+00');
    w.text(b('x\\Ny'), 1, 3);
    w.text(b(''), 0, 0);
    w.nul();
    w.endRow();
    w.end();
    assert.equal(Buffer.concat(parts).toString(), '12.50,2024-01-02 03:04:05+00,"\\N","",\\N\n');
  });
});

/** LOAD DATA's text for one value, as the general path (tsvPieces) writes it. */
function tsvValue(v: string): string {
  return v.replace(/[\\\t\n\r\0]/g, (ch) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' })[ch]!);
}

async function reference(csv: Buffer, seqBase: number | undefined): Promise<string> {
  const file = await openCsv(Readable.from([csv]), { name: 'x.csv' });
  let out = '';
  let n = 0;
  for await (const row of file.rows) {
    n++;
    out += row.cells.map((c) => (c === null ? '\\N' : tsvValue(c))).join('\t');
    if (seqBase !== undefined) out += `\t${seqBase + n}`;
    out += '\n';
  }
  return out;
}

function transcode(csv: Buffer, names: readonly string[], seqBase: number | undefined, sizes: readonly number[]): string {
  const columns: TsvColumn[] = names.map(() => ({ mode: TsvMode.Copy, convert: (s) => s }));
  const t = new CsvToTsv(columns, names, { escapes: LOAD_DATA_ESCAPES, ...(seqBase === undefined ? {} : { suffix: (row) => `\t${seqBase + row}` }) });
  const parts: Buffer[] = [];
  for (const piece of split(csv, sizes)) {
    t.push(piece);
    if (t.size > 100) parts.push(t.take());
  }
  t.end();
  parts.push(t.take());
  return Buffer.concat(parts).toString('utf8');
}

describe('CsvToTsv (the MySQL and Hive import fast path)', () => {
  it('re-encodes any chunk file exactly as the general reader and escaper do, fed in pieces cut anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }).chain((w) => fc.tuple(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }).filter((s) => WELL_FORMED.test(s)), { minLength: w, maxLength: w }), rows(w))),
        fc.array(fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 5000 })), { minLength: 1, maxLength: 20 }),
        fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
        async ([names, table], sizes, seqBase) => {
          const csv = Buffer.from(encodeRow(names) + table.map((r) => encodeRow(r)).join(''), 'utf8');
          assert.equal(transcode(csv, names, seqBase, sizes), await reference(csv, seqBase));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads CRLF line ends after the header and a last record without a line end like the reader', async () => {
    const csv = Buffer.from('a,b\n1,"x\r\ny"\r\n2,\\N\r\n3,"q"', 'utf8');
    assert.equal(transcode(csv, ['a', 'b'], undefined, [3]), await reference(csv, undefined));
  });

  it('gives up (for the general reader to report) on anything that is not plain exchange-format output', () => {
    const bad = ['x,y\n1,2\n', 'a,b\n1\n', 'a,b\n1,2,3\n', 'a,b\n1,"2\n', 'a,b\n1,"2"x\n', 'a,b\n1,2"\n', 'a,b\n\xff,1\n'];
    for (const text of bad) {
      const csv = Buffer.from(text, text.includes('\xff') ? 'latin1' : 'utf8');
      assert.throws(() => transcode(csv, ['a', 'b'], undefined, [4]), CsvToTsv.Unusual, JSON.stringify(text));
    }
  });

  it('converts the columns that need it and strips +00 from timestamps with a time zone', () => {
    const names = ['flag', 'at', 'other'];
    const columns: TsvColumn[] = [
      { mode: TsvMode.Convert, convert: (s) => (s === 'true' ? '1' : '0') },
      { mode: TsvMode.Utc, convert: (s) => `converted ${s}` },
      { mode: TsvMode.Copy, convert: (s) => s },
    ];
    const t = new CsvToTsv(columns, names, { escapes: LOAD_DATA_ESCAPES });
    t.push(Buffer.from('flag,at,other\ntrue,2024-01-02 03:04:05+00,a\tb\nfalse,2024-01-02 03:04:05+02,\\N\n'));
    t.end();
    assert.equal(t.take().toString(), '1\t2024-01-02 03:04:05\ta\\tb\n0\tconverted 2024-01-02 03:04:05+02\t\\N\n');
    assert.equal(t.rows, 2);
  });

  it('copies what a quick fit accepts and converts the rest (for Utc, the fit sees the value without +00)', () => {
    const seen: string[] = [];
    const digits = (src: Buffer, start: number, end: number) => {
      seen.push(src.toString('utf8', start, end));
      for (let i = start; i < end; i++) if (src[i]! < 0x30 || src[i]! > 0x39) return false;
      return true;
    };
    const columns: TsvColumn[] = [
      { mode: TsvMode.Convert, convert: (s) => `c(${s})`, fits: digits },
      { mode: TsvMode.Utc, convert: (s) => `u(${s})`, fits: (src, start, end) => src[start] === 0x32 && end - start === 19 },
    ];
    const t = new CsvToTsv(columns, ['n', 'at'], { escapes: LOAD_DATA_ESCAPES });
    t.push(Buffer.from('n,at\n12,2024-01-02 03:04:05+00\nx1,1999-01-02 03:04:05+00\n"3\t",2024-01-02 03:04:05+02\n\\N,\\N\n'));
    t.end();
    assert.equal(t.take().toString(), '12\t2024-01-02 03:04:05\nc(x1)\tu(1999-01-02 03:04:05+00)\nc(3\\t)\tu(2024-01-02 03:04:05+02)\n\\N\t\\N\n');
    assert.deepEqual(seen, ['12', 'x1', '3\t'], 'NULLs are never looked at');
  });
});

describe('RecordCounter (PostgreSQL COPY output)', () => {
  it('counts the records that end in each piece like a byte-by-byte scan, however the output is cut', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }).chain((w) => rows(w)), fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 10 }), (table, sizes) => {
        const csv = Buffer.from(table.map((r) => encodeRow(r)).join(''), 'utf8');
        const counter = new RecordCounter();
        let total = 0;
        let quoted = 0;
        for (const piece of split(csv, sizes)) {
          let expected = 0;
          for (const b of piece) {
            if (b === 0x22) quoted ^= 1;
            else if (b === 0x0a && quoted === 0) expected++;
          }
          const got = counter.count(piece);
          assert.equal(got, expected);
          total += got;
        }
        assert.equal(total, table.length);
      }),
      { numRuns: 300 },
    );
  });
});
