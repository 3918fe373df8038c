import { isUtf8 } from 'node:buffer';
import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { CsvError, parse, type Options } from 'csv-parse';
import { PipelineError } from '../errors/pipeline-error.js';
import { NULL_TOKEN, type Cell } from './types.js';

/** One record after the header. */
export interface CsvRow {
  /** 1-based line of the file where the record starts (lines end at `\n`; a quoted newline starts a new one). */
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
 * `rows` can be iterated once; rows are parsed only as fast as they are consumed, so backpressure holds down to the
 * input. Leaving a `for await` early (break, throw) destroys the input. If `rows` is never iterated to its end,
 * call `close()` (it is idempotent): a generator that was never started cannot clean up by itself.
 */
export interface CsvFile {
  readonly header: readonly string[];
  readonly rows: AsyncGenerator<CsvRow, void, undefined>;
  close(): void;
}

/**
 * Opens a CSV stream in the exchange format (see csv/types.ts): UTF-8 (a BOM is skipped), `,` separator, `"`
 * quotes, records ending in `\n` or `\r\n`, a header row first. A bare `\N` is NULL, a quoted `"\N"` the string
 * `\N`, and a bare empty field the empty string. Nothing is trimmed.
 *
 * Every problem of the file is a PipelineError `BAD_CSV` with `chunk: options.name` and, where the problem has one,
 * `chunkLine` (the line where the offending record starts, or of the invalid byte): a record with a different number
 * of fields than the header, a quote that never closes, bytes that are not UTF-8, a header that differs from
 * `expectColumns`, an empty file, a corrupt gzip stream. Errors of the input itself (a failed read) are rethrown
 * as they are.
 */
export async function openCsv(input: Readable, options: OpenCsvOptions): Promise<CsvFile> {
  const { name } = options;
  const progress: Progress = { nextLine: 1, headerFields: -1 };
  const parserOptions: Options<CsvRow, Cell[]> = {
    bom: true,
    delimiter: ',',
    quote: '"',
    escape: '"',
    record_delimiter: ['\n', '\r\n'],
    relax_column_count: false,
    relax_quotes: false,
    skip_empty_lines: false,
    max_record_size: 0,
    cast: (value, context) => (value === NULL_TOKEN && !context.quoting ? null : value),
    // Runs inside the parser as each record completes, so `nextLine` is exact when the parser fails.
    on_record: (record: Cell[]): CsvRow => {
      const line = progress.nextLine;
      progress.nextLine = line + 1 + newlinesIn(record);
      if (progress.headerFields < 0) progress.headerFields = record.length;
      return { line, cells: record };
    },
  };
  // parse()'s overloads only take the default record type; the on_record above changes it to CsvRow.
  const parser = parse(parserOptions as unknown as Options);
  pipeline(input, new Utf8Check(name), parser, () => {
    // Errors reach the iterator: pipeline() destroys the parser with them.
  });
  const records = parser[Symbol.asyncIterator]() as AsyncIterator<CsvRow, undefined>;
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    parser.destroy();
  };

  let header: string[];
  try {
    const first = await records.next();
    if (first.done === true) throw new PipelineError('BAD_CSV', `${name} is empty: no header row`, { chunk: name, chunkLine: 1 });
    header = checkHeader(first.value.cells, name, options.expectColumns);
  } catch (e) {
    close();
    throw toCsvError(e, name, progress);
  }

  async function* rows(): AsyncGenerator<CsvRow, void, undefined> {
    try {
      for (;;) {
        let next: IteratorResult<CsvRow, undefined>;
        try {
          next = await records.next();
        } catch (e) {
          throw toCsvError(e, name, progress);
        }
        if (next.done === true) return;
        yield next.value;
      }
    } finally {
      close();
    }
  }

  return { header, rows: rows(), close };
}

interface Progress {
  /** Line where the next record starts. */
  nextLine: number;
  /** Fields of the header; -1 until it is parsed. */
  headerFields: number;
}

function newlinesIn(cells: readonly Cell[]): number {
  let count = 0;
  for (const cell of cells) {
    if (cell === null) continue;
    for (let at = cell.indexOf('\n'); at !== -1; at = cell.indexOf('\n', at + 1)) count++;
  }
  return count;
}

function checkHeader(cells: readonly Cell[], name: string, expected: readonly string[] | undefined): string[] {
  const at = { chunk: name, chunkLine: 1 };
  const header: string[] = [];
  const seen = new Set<string>();
  for (const [i, cell] of cells.entries()) {
    if (cell === null) throw new PipelineError('BAD_CSV', `column ${i + 1} of the header is NULL (\\N)`, at);
    if (seen.has(cell)) throw new PipelineError('BAD_CSV', `the header names column "${cell}" twice`, at);
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

/** Turns a failure while reading into BAD_CSV where it is the file's fault; anything else is returned as is. */
function toCsvError(e: unknown, name: string, progress: Progress): unknown {
  if (e instanceof PipelineError) return e.location.chunk === undefined ? e.withContext({ chunk: name }) : e;
  const line = progress.nextLine;
  const at = { chunk: name, chunkLine: line, cause: e };
  if (e instanceof CsvError) {
    switch (e.code) {
      case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH': {
        const fields = Array.isArray(e['record']) ? e['record'].length : '?';
        return new PipelineError('BAD_CSV', `line ${line} has ${fields} field${fields === 1 ? '' : 's'}, the header has ${progress.headerFields}`, at);
      }
      case 'CSV_QUOTE_NOT_CLOSED':
        return new PipelineError('BAD_CSV', `unterminated quote: a quoted field of the record starting on line ${line} never closes`, at);
      case 'CSV_INVALID_CLOSING_QUOTE':
        return new PipelineError('BAD_CSV', `a closing quote in the record starting on line ${line} is followed by text instead of a comma or a line end`, at);
      case 'INVALID_OPENING_QUOTE':
        return new PipelineError('BAD_CSV', `a quote inside an unquoted field in the record starting on line ${line}`, at);
      default:
        return new PipelineError('BAD_CSV', `cannot parse the record starting on line ${line}: ${e.message}`, at);
    }
  }
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    const message = e instanceof Error ? e.message : String(e);
    return new PipelineError('BAD_CSV', `${name} is not a valid gzip stream: ${message}`, { chunk: name, cause: e });
  }
  return e;
}

/**
 * Passes bytes through unchanged once they are known to be UTF-8 (the WHATWG `fatal` rules: no overlong forms,
 * no surrogates, nothing above U+10FFFF). A character cut across chunks is carried over to the next one.
 */
class Utf8Check extends Transform {
  readonly #name: string;
  #carry: Buffer | undefined = undefined;
  /** Line and byte offset of the first byte not passed on yet. */
  #line = 1;
  #offset = 0;

  constructor(name: string) {
    super();
    this.#name = name;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const buf = this.#carry === undefined ? chunk : Buffer.concat([this.#carry, chunk]);
    const end = completeLength(buf);
    const whole = end === buf.length ? buf : buf.subarray(0, end);
    if (!isUtf8(whole)) {
      callback(this.#invalid(whole, firstInvalid(whole)));
      return;
    }
    this.#carry = end === buf.length ? undefined : Buffer.from(buf.subarray(end));
    this.#line += newlinesInBytes(whole, whole.length);
    this.#offset += whole.length;
    if (whole.length > 0) callback(null, whole);
    else callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.#carry === undefined) callback();
    else callback(this.#invalid(this.#carry, 0, ' (the file ends inside a character)'));
  }

  #invalid(buf: Buffer, at: number, detail = ''): PipelineError {
    const line = this.#line + newlinesInBytes(buf, at);
    const offset = this.#offset + at;
    const byte = (buf[at] ?? 0).toString(16).padStart(2, '0');
    return new PipelineError('BAD_CSV', `invalid UTF-8 on line ${line}: byte 0x${byte} at offset ${offset}${detail}`, {
      chunk: this.#name,
      chunkLine: line,
    });
  }
}

function newlinesInBytes(buf: Buffer, end: number): number {
  let count = 0;
  for (let at = buf.indexOf(10); at !== -1 && at < end; at = buf.indexOf(10, at + 1)) count++;
  return count;
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

/** Offset of the first byte that does not start a valid UTF-8 sequence (only called once isUtf8 said no). */
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
