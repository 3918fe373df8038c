import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import { PipelineError } from '../errors/pipeline-error.js';
import { NULL_TOKEN, type Cell } from './types.js';

/*
 * Hand-written rather than csv-parse: telling a bare `\N` (NULL) from a quoted `"\N"` (the string) needs csv-parse's
 * `cast` hook, which builds three context objects per field; on 1M rows of 7 columns that took 38 s against about
 * 2 s here. Owning the state machine also gives exact line numbers (csv-parse counts a quoted `\r` as a line) and
 * reports problems in file order. test/unit/csv-reader-oracle.test.ts checks it against csv-parse on random input.
 */

/** One record after the header. */
export interface CsvRow {
  /** 1-based line of the file where the record starts (lines end at `\n`, also inside quoted fields). */
  readonly line: number;
  readonly cells: Cell[];
}

export interface OpenCsvOptions {
  /** The file's name or URL: used in messages and as the `chunk` of error locations. */
  readonly name: string;
  /** When given, the header must list exactly these columns, in this order. */
  readonly expectColumns?: readonly string[];
}

/**
 * An open CSV file in the exchange format: its header, read before `openCsv` resolves, and its rows.
 *
 * `rows` can be iterated once. Input is read one chunk at a time, only when the rows of the previous chunk have
 * been consumed, so backpressure holds down to the source. Reading to the end, leaving a `for await` early, an
 * error, `rows.return()` and `close()` (idempotent) all destroy the input; a consumer that stops without any of
 * these leaks it.
 */
export interface CsvFile {
  readonly header: readonly string[];
  readonly rows: AsyncGenerator<CsvRow, void, undefined>;
  close(): Promise<void>;
}

/**
 * Opens a CSV stream in the exchange format (see csv/types.ts): UTF-8 (a BOM is skipped), `,` separator, `"`
 * quotes with `""` inside, records ending in `\n` or `\r\n`, a header row first. A bare `\N` is NULL, a quoted
 * `"\N"` the string `\N`, a bare empty field the empty string. Nothing is trimmed. Records may be cut anywhere
 * across the input's chunks.
 *
 * Every problem of the file is a PipelineError `BAD_CSV` with `chunk: options.name` and `chunkLine`: the line where
 * the offending record starts, or of the invalid byte. Problems: a record with another number of fields than the
 * header, a quote that never closes, text after a closing quote, a quote inside an unquoted field, bytes that are
 * not UTF-8 (the rules of `new TextDecoder('utf-8', { fatal: true })`), a header that differs from `expectColumns`
 * or names a column twice, an empty file. A corrupt gzip stream is `BAD_CSV` without a line. Other failures of the
 * input (a read error) are rethrown as they are. Rows before a problem are delivered first.
 */
export async function openCsv(input: Readable, options: OpenCsvOptions): Promise<CsvFile> {
  const { name } = options;
  const records = readRecords(input, name);
  const close = async (): Promise<void> => {
    await records.return(undefined);
  };

  let header: string[];
  try {
    const first = await records.next();
    if (first.done === true) throw new PipelineError('BAD_CSV', `${name} is empty: no header row`, { chunk: name, chunkLine: 1 });
    header = checkHeader(first.value.cells, name, options.expectColumns);
  } catch (e) {
    await close();
    throw e;
  }

  // The generator is already started (it yielded the header), so its return() always reaches its cleanup.
  return { header, rows: records, close };
}

/** Every record including the header, as the input is read. */
async function* readRecords(input: Readable, name: string): AsyncGenerator<CsvRow, void, undefined> {
  const parser = new CsvParser(name);
  const decoder = new Utf8Decoder();
  const batch: CsvRow[] = [];
  // Records completed before a problem are yielded before it is thrown.
  const feed = (text: string | undefined): unknown => {
    try {
      if (text === undefined) parser.end(batch);
      else parser.write(text, batch);
      return undefined;
    } catch (e) {
      return e;
    }
  };
  try {
    for await (const chunk of input as AsyncIterable<Uint8Array | string>) {
      const { text, invalidAt } = decoder.decode(toBuffer(chunk));
      const problem = feed(text);
      yield* drain(batch);
      if (problem !== undefined) throw problem;
      if (invalidAt !== undefined) throw decoder.invalid(name, parser.line, invalidAt);
    }
    const invalidAt = decoder.end();
    if (invalidAt !== undefined) throw decoder.invalid(name, parser.line, invalidAt, ' (the file ends inside a character)');
    const problem = feed(undefined);
    yield* drain(batch);
    if (problem !== undefined) throw problem;
  } catch (e) {
    throw toCsvError(e, name);
  } finally {
    input.destroy();
  }
}

function toBuffer(chunk: Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function* drain(batch: CsvRow[]): Generator<CsvRow> {
  for (const row of batch) yield row;
  batch.length = 0;
}

function checkHeader(cells: readonly Cell[], name: string, expected: readonly string[] | undefined): string[] {
  const at = { chunk: name, chunkLine: 1 };
  const header: string[] = [];
  const seen = new Set<string>();
  for (const [i, cell] of cells.entries()) {
    if (cell === null) throw new PipelineError('BAD_CSV', `column ${i + 1} of the header is NULL (\\N)`, at);
    if (seen.has(cell)) throw new PipelineError('BAD_CSV', `the header names column ${JSON.stringify(cell)} twice`, at);
    seen.add(cell);
    header.push(cell);
  }
  if (expected === undefined) return header;
  if (header.length === expected.length && header.every((column, i) => column === expected[i])) return header;

  const missing = expected.filter((column) => !seen.has(column));
  const extra = header.filter((column) => !expected.includes(column));
  const problems: string[] = [];
  if (missing.length > 0) problems.push(`missing ${quoteList(missing)}`);
  if (extra.length > 0) problems.push(`unexpected ${quoteList(extra)}`);
  if (problems.length === 0) problems.push(`expected the order ${quoteList(expected)}, got ${quoteList(header)}`);
  throw new PipelineError('BAD_CSV', `the header does not match the expected columns: ${problems.join('; ')}`, at);
}

function quoteList(columns: readonly string[]): string {
  return columns.map((c) => JSON.stringify(c)).join(', ');
}

/** A failure while reading: BAD_CSV where the file is at fault; anything else as it is. */
function toCsvError(e: unknown, name: string): unknown {
  if (e instanceof PipelineError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    const message = e instanceof Error ? e.message : String(e);
    return new PipelineError('BAD_CSV', `${name} is not a valid gzip stream: ${message}`, { chunk: name, cause: e });
  }
  return e;
}

// Parser states.
const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
/** A `"` was seen inside a quoted field: an escaped quote if another follows, else the closing quote. */
const QUOTED_QUOTE = 3;
const AFTER_QUOTE = 4;
const AFTER_QUOTE_CR = 5;

const LF = 10;
const CR = 13;
const QUOTE = 34;
const COMMA = 44;

/** An incremental RFC 4180 parser: text goes in in pieces cut anywhere, complete records come out. */
class CsvParser {
  readonly #name: string;
  #state = FIELD_START;
  /** Text of the current field seen so far. */
  #field = '';
  #cells: Cell[] = [];
  /** Fields of the header; -1 before it is complete. */
  #width = -1;
  #recordLine = 1;
  #line = 1;
  #started = false;

  constructor(name: string) {
    this.#name = name;
  }

  /** The line of the position reached so far. */
  get line(): number {
    return this.#line;
  }

  write(s: string, out: CsvRow[]): void {
    const n = s.length;
    let i = 0;
    if (!this.#started && n > 0) {
      this.#started = true;
      if (s.charCodeAt(0) === 0xfeff) i = 1;
    }
    while (i < n) {
      switch (this.#state) {
        case FIELD_START:
          if (s.charCodeAt(i) === QUOTE) {
            this.#state = QUOTED;
            i++;
          } else {
            this.#state = UNQUOTED;
          }
          break;
        case UNQUOTED: {
          let j = i;
          let c = 0;
          for (; j < n; j++) {
            c = s.charCodeAt(j);
            if (c === COMMA || c === LF || c === QUOTE) break;
          }
          if (j === n) {
            this.#field += s.slice(i, n);
            i = n;
            break;
          }
          if (c === QUOTE) throw this.#error('a quote inside an unquoted field (quote the whole field and double the quote)');
          let value = this.#field === '' ? s.slice(i, j) : this.#field + s.slice(i, j);
          this.#field = '';
          if (c === LF && value.charCodeAt(value.length - 1) === CR) value = value.slice(0, -1);
          this.#cells.push(value === NULL_TOKEN ? null : value);
          i = j + 1;
          if (c === LF) this.#endRecord(out);
          else this.#state = FIELD_START;
          break;
        }
        case QUOTED: {
          const q = s.indexOf('"', i);
          const end = q === -1 ? n : q;
          this.#line += countNewlines(s, i, end);
          this.#field += s.slice(i, end);
          if (q === -1) {
            i = n;
          } else {
            this.#state = QUOTED_QUOTE;
            i = q + 1;
          }
          break;
        }
        case QUOTED_QUOTE:
          if (s.charCodeAt(i) === QUOTE) {
            this.#field += '"';
            this.#state = QUOTED;
            i++;
          } else {
            this.#closeQuoted();
          }
          break;
        case AFTER_QUOTE: {
          const c = s.charCodeAt(i++);
          if (c === COMMA) this.#state = FIELD_START;
          else if (c === LF) this.#endRecord(out);
          else if (c === CR) this.#state = AFTER_QUOTE_CR;
          else throw this.#error('text after the closing quote of a field (expected a comma or the end of the line)');
          break;
        }
        case AFTER_QUOTE_CR:
          if (s.charCodeAt(i++) !== LF) throw this.#error('a carriage return after a closing quote is not followed by a line feed');
          this.#endRecord(out);
          break;
      }
    }
  }

  /** The input is complete: emits a last record without a line end, or fails on an open quote. */
  end(out: CsvRow[]): void {
    switch (this.#state) {
      case FIELD_START:
        if (this.#cells.length > 0) {
          this.#cells.push('');
          this.#endRecord(out);
        }
        break;
      case UNQUOTED:
        this.#cells.push(this.#field === NULL_TOKEN ? null : this.#field);
        this.#field = '';
        this.#endRecord(out);
        break;
      case QUOTED:
        throw this.#error('unterminated quote: a quoted field never closes');
      case QUOTED_QUOTE:
        this.#closeQuoted();
        this.#endRecord(out);
        break;
      case AFTER_QUOTE:
        this.#endRecord(out);
        break;
      case AFTER_QUOTE_CR:
        throw this.#error('a carriage return after a closing quote is not followed by a line feed');
    }
  }

  #closeQuoted(): void {
    this.#cells.push(this.#field);
    this.#field = '';
    this.#state = AFTER_QUOTE;
  }

  /** At a line end (or the end of the input) after the last field of a record. */
  #endRecord(out: CsvRow[]): void {
    const cells = this.#cells;
    if (this.#width < 0) {
      this.#width = cells.length;
    } else if (cells.length !== this.#width) {
      const fields = `${cells.length} field${cells.length === 1 ? '' : 's'}`;
      throw this.#error(`line ${this.#recordLine} has ${fields}, the header has ${this.#width}`);
    }
    out.push({ line: this.#recordLine, cells });
    this.#cells = [];
    this.#state = FIELD_START;
    this.#line++;
    this.#recordLine = this.#line;
  }

  #error(message: string): PipelineError {
    const at = this.#recordLine;
    const where = message.startsWith('line ') ? '' : ` in the record starting on line ${at}`;
    return new PipelineError('BAD_CSV', `${message}${where}`, { chunk: this.#name, chunkLine: at });
  }
}

function countNewlines(s: string, from: number, to: number): number {
  let count = 0;
  for (let at = s.indexOf('\n', from); at !== -1 && at < to; at = s.indexOf('\n', at + 1)) count++;
  return count;
}

/**
 * Decodes UTF-8 by chunks under the rules of `new TextDecoder('utf-8', { fatal: true })` (no overlong forms, no
 * surrogates, nothing above U+10FFFF), keeping a character cut across chunks for the next one. Unlike TextDecoder,
 * it says where the first invalid byte is, after handing over the valid text before it.
 */
class Utf8Decoder {
  #carry: Buffer | undefined = undefined;
  /** Bytes of the input before the current chunk (and its carry). */
  #offset = 0;
  #failedAt = 0;
  #failedByte = 0;

  /** The text of the complete characters; `invalidAt` is set when `text` stops before an invalid byte. */
  decode(chunk: Buffer): { text: string; invalidAt?: number } {
    const buf = this.#carry === undefined ? chunk : Buffer.concat([this.#carry, chunk]);
    this.#carry = undefined;
    const end = completeLength(buf);
    const whole = end === buf.length ? buf : buf.subarray(0, end);
    if (!isUtf8(whole)) {
      const at = firstInvalid(whole);
      this.#failedAt = this.#offset + at;
      this.#failedByte = whole[at] ?? 0;
      return { text: whole.toString('utf8', 0, at), invalidAt: this.#failedAt };
    }
    if (end < buf.length) this.#carry = Buffer.from(buf.subarray(end));
    this.#offset += end;
    return { text: whole.toString('utf8') };
  }

  /** The offset of a character left incomplete at the end of the input, if any. */
  end(): number | undefined {
    if (this.#carry === undefined) return undefined;
    this.#failedAt = this.#offset;
    this.#failedByte = this.#carry[0] ?? 0;
    return this.#failedAt;
  }

  invalid(name: string, line: number, offset: number, detail = ''): PipelineError {
    const byte = this.#failedByte.toString(16).padStart(2, '0');
    return new PipelineError('BAD_CSV', `invalid UTF-8 on line ${line}: byte 0x${byte} at offset ${offset}${detail}`, {
      chunk: name,
      chunkLine: line,
    });
  }
}

/** Length of `buf` without a multi-byte character cut off at its end. */
function completeLength(buf: Buffer): number {
  const n = buf.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const b = buf[i] as number;
    if (b < 0x80) return n;
    if (b >= 0xc0) {
      const size = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return i + size > n ? i : n;
    }
  }
  return n;
}

/** Offset of the first byte that does not start a valid UTF-8 sequence (called only once isUtf8 said no). */
function firstInvalid(buf: Buffer): number {
  const n = buf.length;
  let i = 0;
  while (i < n) {
    const b = buf[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let size: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) size = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      size = 3;
      if (b === 0xe0) low = 0xa0;
      if (b === 0xed) high = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      size = 4;
      if (b === 0xf0) low = 0x90;
      if (b === 0xf4) high = 0x8f;
    } else return i;
    if (i + size > n) return i;
    const second = buf[i + 1] as number;
    if (second < low || second > high) return i;
    for (let k = 2; k < size; k++) {
      const c = buf[i + k] as number;
      if (c < 0x80 || c > 0xbf) return i;
    }
    i += size;
  }
  return n;
}
