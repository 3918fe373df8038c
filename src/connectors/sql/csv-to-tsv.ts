import { isUtf8 } from 'node:buffer';
import { encodeRow } from '../../csv/writer.js';

/*
 * The import's hot path for engines that bulk-load a tab-separated text with backslash escapes (MySQL's LOAD DATA,
 * Hive's LazySimpleSerDe): a chunk file's CSV bytes re-encoded byte by byte, without a string per cell. Columns
 * whose exchange text the server takes as it is are copied; the others go through their conversion. Which bytes
 * are escaped, and how, is the engine's (`TsvFormat.escapes`); NULL is always `\N`.
 *
 * It only knows the happy path: a file that is not exactly what the exchange format's writer produces (another
 * header, a bad record, bytes that are not UTF-8) makes it stop with CsvToTsv.Unusual, and the caller gets the
 * precise error (or, for a header written differently, the rows) from the general reader (csv/reader.ts).
 */

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const BACKSLASH = 0x5c;
const NUL = 0x00;

const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
const QUOTED_QUOTE = 3;
const AFTER_CR = 4;

/** How a column's exchange text becomes the server's: as it is, UTC without the offset, or through `convert`. */
export const enum TsvMode {
  Copy,
  /** `…+00` loses its offset; any other offset goes through the column's convert (utcNaive). */
  Utc,
  Convert,
}

/**
 * The byte after the backslash for each byte the engine needs escaped (0: written as it is), from a map of byte to
 * escape letter.
 */
export function escapeTable(map: Readonly<Record<number, number>>): Uint8Array {
  const t = new Uint8Array(256);
  for (const [b, e] of Object.entries(map)) t[Number(b)] = e;
  return t;
}

/** MySQL's LOAD DATA: backslash, tab, newline, carriage return and NUL as `\\`, `\t`, `\n`, `\r`, `\0`. */
export const LOAD_DATA_ESCAPES = escapeTable({ [BACKSLASH]: BACKSLASH, [TAB]: 0x74, [LF]: 0x6e, [CR]: 0x72, [NUL]: 0x30 });

/** Thrown when the input is not plain exchange-format output: the general reader must take over. */
class Unusual extends Error {}

/** Bytes of the output the caller takes at a time (the output buffer grows for a larger field). */
const TAKE_AT = 64 * 1024;

export interface TsvColumn {
  readonly mode: TsvMode;
  /** Converts one value (already known not NULL); throws a located PipelineError on a bad value. */
  readonly convert: (text: string, line: number) => string;
  /**
   * A quick look at a value's bytes `src[start, end)` (for Utc, without its `+00`): true when it goes in as it
   * is, so no string is made; false sends it to `convert`, which decides and names a bad value. Without it,
   * Convert always converts and Utc copies what ends in `+00`.
   */
  readonly fits?: (src: Buffer, start: number, end: number) => boolean;
}

export interface TsvFormat {
  /** See escapeTable. */
  readonly escapes: Uint8Array;
  /**
   * More fields after each row's own, from the row's number in this file (1-based) and the line of the chunk file
   * where its record starts: a load sequence, a chunk and line. Tab-separated, starting with a tab.
   */
  readonly suffix?: (row: number, line: number) => string;
}

export class CsvToTsv {
  static readonly Unusual = Unusual;

  readonly #modes: TsvMode[];
  readonly #fits: (((src: Buffer, start: number, end: number) => boolean) | undefined)[];
  readonly #columns: readonly TsvColumn[];
  readonly #header: Buffer;
  readonly #escapes: Uint8Array;
  readonly #suffix: ((row: number, line: number) => string) | undefined;
  #headerSeen = 0;
  #state = FIELD_START;
  #quoted = false;
  #field = Buffer.allocUnsafe(64 * 1024);
  #fieldLen = 0;
  #index = 0;
  #out = Buffer.allocUnsafe(TAKE_AT + 64 * 1024);
  #pos = 0;
  #carry: Buffer | undefined;
  #line = 1;
  #recordLine = 1;
  rows = 0;

  constructor(columns: readonly TsvColumn[], names: readonly string[], format: TsvFormat) {
    this.#columns = columns;
    this.#modes = columns.map((c) => c.mode);
    this.#fits = columns.map((c) => c.fits);
    this.#header = Buffer.from(encodeRow(names), 'utf8');
    this.#escapes = format.escapes;
    this.#suffix = format.suffix;
  }

  /** Output bytes waiting to be taken. */
  get size(): number {
    return this.#pos;
  }

  /** The output so far, as a buffer of its own (the working buffer is reused: no fresh 128 KiB per piece). */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.#pos);
    this.#out.copy(out, 0, 0, this.#pos);
    // A buffer grown for one large field goes back to the usual size.
    if (this.#out.length > TAKE_AT + 64 * 1024) this.#out = Buffer.allocUnsafe(TAKE_AT + 64 * 1024);
    this.#pos = 0;
    return out;
  }

  push(input: Buffer): void {
    let chunk = this.#carry ? Buffer.concat([this.#carry, input]) : input;
    this.#carry = undefined;
    const whole = completeLength(chunk);
    if (whole < chunk.length) {
      this.#carry = Buffer.from(chunk.subarray(whole));
      chunk = chunk.subarray(0, whole);
    }
    if (!isUtf8(chunk)) throw new Unusual('not UTF-8');
    let i = 0;
    if (this.#headerSeen < this.#header.length) {
      const n = Math.min(this.#header.length - this.#headerSeen, chunk.length);
      if (!chunk.subarray(0, n).equals(this.#header.subarray(this.#headerSeen, this.#headerSeen + n))) throw new Unusual('another header');
      this.#headerSeen += n;
      i = n;
      if (this.#headerSeen === this.#header.length) {
        // A column name may hold a line feed (quoted): records start after all of the header's lines.
        let lines = 1;
        for (const b of this.#header) if (b === LF) lines++;
        this.#line = this.#recordLine = lines;
      }
    }
    this.#scan(chunk, i);
  }

  end(): void {
    if (this.#carry !== undefined) throw new Unusual('the file ends inside a character');
    if (this.#headerSeen < this.#header.length) throw new Unusual('no complete header');
    switch (this.#state) {
      case FIELD_START:
        if (this.#index > 0) {
          this.#endField();
          this.#endRecord();
        }
        break;
      case UNQUOTED:
      case QUOTED_QUOTE:
        this.#endField();
        this.#endRecord();
        break;
      default:
        throw new Unusual('the file ends inside a record');
    }
  }

  #scan(s: Buffer, from: number): void {
    const n = s.length;
    let state = this.#state;
    let i = from;
    while (i < n) {
      switch (state) {
        case FIELD_START:
          if (s[i] === QUOTE) {
            this.#quoted = true;
            state = QUOTED;
            i++;
          } else {
            this.#quoted = false;
            state = UNQUOTED;
          }
          break;
        case UNQUOTED: {
          let j = i;
          let b = 0;
          while (j < n) {
            b = s[j]!;
            if (b === COMMA || b === LF || b === QUOTE) break;
            j++;
          }
          if (j === n) {
            this.#append(s, i, j);
            i = n;
            break;
          }
          if (b === COMMA || b === LF) {
            if (this.#fieldLen === 0) {
              // The whole field is in this piece: straight from it, without gathering it first.
              const len = b === LF && j > i && s[j - 1] === CR ? j - 1 - i : j - i;
              this.#value(s, i, len);
            } else {
              this.#append(s, i, j);
              if (b === LF && this.#field[this.#fieldLen - 1] === CR) this.#fieldLen--;
              this.#endField();
            }
            i = j + 1;
            if (b === LF) this.#endRecord();
            state = FIELD_START;
          } else {
            throw new Unusual('a quote inside an unquoted field');
          }
          break;
        }
        case QUOTED: {
          const q = s.indexOf(QUOTE, i);
          const j = q === -1 ? n : q;
          for (let at = s.indexOf(LF, i); at !== -1 && at < j; at = s.indexOf(LF, at + 1)) this.#line++;
          this.#append(s, i, j);
          i = j;
          if (q !== -1) {
            state = QUOTED_QUOTE;
            i++;
          }
          break;
        }
        case QUOTED_QUOTE: {
          const b = s[i++];
          if (b === QUOTE) {
            this.#append(s, i - 1, i);
            state = QUOTED;
          } else if (b === COMMA) {
            this.#endField();
            state = FIELD_START;
          } else if (b === LF) {
            this.#endField();
            this.#endRecord();
            state = FIELD_START;
          } else if (b === CR) {
            this.#endField();
            state = AFTER_CR;
          } else {
            throw new Unusual('text after a closing quote');
          }
          break;
        }
        case AFTER_CR:
          if (s[i++] !== LF) throw new Unusual('a carriage return after a closing quote');
          this.#endRecord();
          state = FIELD_START;
          break;
      }
    }
    this.#state = state;
  }

  /** `s[from, to)` added to the current field. */
  #append(s: Buffer, from: number, to: number): void {
    const n = to - from;
    if (n === 0) return;
    if (this.#fieldLen + n > this.#field.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.#field.length * 2, this.#fieldLen + n));
      this.#field.copy(bigger, 0, 0, this.#fieldLen);
      this.#field = bigger;
    }
    const field = this.#field;
    let p = this.#fieldLen;
    if (n < 32) for (let k = from; k < to; k++) field[p++] = s[k]!;
    else p += s.copy(field, p, from, to);
    this.#fieldLen = p;
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.#out.length * 2, this.#pos + n));
    this.#out.copy(bigger, 0, 0, this.#pos);
    this.#out = bigger;
  }

  /** The end of the field gathered in #field. */
  #endField(): void {
    const len = this.#fieldLen;
    this.#fieldLen = 0;
    this.#value(this.#field, 0, len);
  }

  /** One field's value, `src[start, start + len)` (unescaped), written in the engine's format. */
  #value(src: Buffer, start: number, len: number): void {
    const index = this.#index++;
    const mode = this.#modes[index];
    if (mode === undefined) throw new Unusual('more fields than the header');
    this.#ensure(2 * len + 3);
    const out = this.#out;
    if (index > 0) out[this.#pos++] = TAB;
    if (!this.#quoted && len === 2 && src[start] === BACKSLASH && src[start + 1] === 0x4e) {
      out[this.#pos++] = BACKSLASH;
      out[this.#pos++] = 0x4e;
      return;
    }
    if (mode !== TsvMode.Copy) {
      const end = start + len;
      const fits = this.#fits[index];
      const utc = mode === TsvMode.Utc && len >= 22 && src[end - 3] === 0x2b && src[end - 2] === 0x30 && src[end - 1] === 0x30 && src[start + 10] === 0x20;
      if (utc && (fits === undefined || fits(src, start, end - 3))) {
        len -= 3;
      } else if (mode === TsvMode.Utc || fits === undefined || !fits(src, start, end)) {
        const text = this.#columns[index]!.convert(src.toString('utf8', start, end), this.#recordLine);
        const bytes = Buffer.from(text, 'utf8');
        this.#ensure(2 * bytes.length + 2);
        this.#escape(bytes, 0, bytes.length);
        return;
      }
    }
    this.#escape(src, start, len);
  }

  /** The value's bytes with the engine's escapes. */
  #escape(src: Buffer, start: number, len: number): void {
    const out = this.#out;
    const escapes = this.#escapes;
    let p = this.#pos;
    for (let i = start, end = start + len; i < end; i++) {
      const b = src[i]!;
      const e = escapes[b]!;
      if (e === 0) {
        out[p++] = b;
      } else {
        out[p++] = BACKSLASH;
        out[p++] = e;
      }
    }
    this.#pos = p;
  }

  #endRecord(): void {
    if (this.#index !== this.#modes.length) throw new Unusual('a record with another number of fields than the header');
    this.#index = 0;
    this.rows++;
    if (this.#suffix !== undefined) {
      const more = this.#suffix(this.rows, this.#recordLine);
      this.#ensure(more.length + 1);
      this.#pos += this.#out.write(more, this.#pos, 'latin1');
    }
    this.#ensure(1);
    this.#out[this.#pos++] = LF;
    this.#line++;
    this.#recordLine = this.#line;
  }
}

/** Length of `buf` without a multi-byte character cut off at its end. */
function completeLength(buf: Buffer): number {
  const n = buf.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const b = buf[i]!;
    if (b < 0x80) return n;
    if (b >= 0xc0) {
      const size = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return i + size > n ? i : n;
    }
  }
  return n;
}
