import { NULL_TOKEN, type Cell } from './types.js';

const END_OF_DATA = '\\.';

/*
 * Hand-written rather than csv-stringify: csv-stringify cannot express "NULL is a bare \N but the string \N is
 * quoted", and it is several times slower on this hot path, which runs once per cell for millions of rows
 * (1M rows of 7 columns: 1.1 s through its stream against 0.17 s here, Node 20).
 */

// Measured on Node 20: a non-global `test` with this class beats a charCodeAt loop on short and long cells alike,
// and allocates nothing.
const NEEDS_QUOTES = /[",\r\n]/;
const QUOTE = /"/g;

/**
 * One record of the exchange format, terminated by `\n`.
 *
 * A cell is quoted when it is empty, equals `\N` or `\.`, or contains `"`, `,`, `\r` or `\n`; otherwise it is written bare,
 * spaces included. NULL is a bare `\N`. Strings are written as given: lone UTF-16 surrogates become U+FFFD when the
 * text is encoded as UTF-8, so connectors must not produce them.
 */
export function encodeRow(values: readonly Cell[]): string {
  let out = '';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i] as Cell;
    if (v === null) {
      out += NULL_TOKEN;
    } else if (v.length === 0) {
      out += '""';
    } else if (v === NULL_TOKEN || v === END_OF_DATA) {
      // A bare `\.` line ends the data of PostgreSQL's COPY FROM STDIN, so it is quoted like `\N`.
      out += '"' + v + '"';
    } else if (NEEDS_QUOTES.test(v)) {
      out += '"' + (v.includes('"') ? v.replace(QUOTE, '""') : v) + '"';
    } else {
      out += v;
    }
  }
  return out + '\n';
}
