/*
 * The exchange format written straight from UTF-8 bytes into one large buffer: no string per cell, no allocation
 * per row. Exactly the bytes of `Buffer.from(encodeRow(cells))` (test/unit/csv-byte-writer.test.ts checks it on
 * random cells). For exports whose driver hands over raw bytes (MySQL's text protocol).
 */

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const N = 0x4e;
const DOT = 0x2e;

/** Bytes gathered before the buffer is handed over, at a row boundary. */
const DEFAULT_FLUSH_AT = 256 * 1024;

/**
 * Rows of the exchange format built field by field: `text()`, `plain()`, `ascii()` or `nul()` for each cell,
 * `endRow()` after the last. Full buffers (and what is left at `end()`) go to `flush` with the number of rows they
 * complete; a buffer handed to `flush` is never written again.
 */
export class CsvByteWriter {
  readonly #flushAt: number;
  readonly #flush: (bytes: Buffer, rows: number) => void;
  #buf: Buffer;
  #pos = 0;
  #rows = 0;
  #first = true;

  constructor(flush: (bytes: Buffer, rows: number) => void, flushAt = DEFAULT_FLUSH_AT) {
    this.#flush = flush;
    this.#flushAt = flushAt;
    this.#buf = Buffer.allocUnsafe(flushAt + 64 * 1024);
  }

  /** Room for `n` more bytes in the current buffer (it grows for a row larger than it). */
  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(bigger, 0, 0, this.#pos);
    this.#buf = bigger;
  }

  #separator(): void {
    if (this.#first) this.#first = false;
    else this.#buf[this.#pos++] = COMMA;
  }

  /** NULL: a bare `\N`. */
  nul(): void {
    this.#ensure(3);
    this.#separator();
    this.#buf[this.#pos++] = BACKSLASH;
    this.#buf[this.#pos++] = N;
  }

  /** A string given as UTF-8 bytes `src[start, end)`, quoted when the format asks for it. */
  text(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.#ensure(2 * n + 3);
    this.#separator();
    const buf = this.#buf;
    if (n === 0 || (n === 2 && src[start] === BACKSLASH && (src[start + 1] === N || src[start + 1] === DOT))) {
      this.#quoted(src, start, end);
      return;
    }
    let p = this.#pos;
    for (let i = start; i < end; i++) {
      const b = src[i]!;
      if (b === QUOTE || b === COMMA || b === LF || b === CR) {
        this.#quoted(src, start, end);
        return;
      }
      buf[p++] = b;
    }
    this.#pos = p;
  }

  #quoted(src: Uint8Array, start: number, end: number): void {
    const buf = this.#buf;
    let p = this.#pos;
    buf[p++] = QUOTE;
    for (let i = start; i < end; i++) {
      const b = src[i]!;
      if (b === QUOTE) buf[p++] = QUOTE;
      buf[p++] = b;
    }
    buf[p++] = QUOTE;
    this.#pos = p;
  }

  /**
   * Bytes known to need no quoting (digits, dates, decimals), copied as they are; `suffix` (ASCII) follows them.
   * An empty value is still written as `""`.
   */
  plain(src: Uint8Array, start: number, end: number, suffix?: string): void {
    const n = end - start;
    if (n === 0 && suffix === undefined) {
      this.text(src, start, end);
      return;
    }
    this.#ensure(n + 1 + (suffix?.length ?? 0));
    this.#separator();
    const buf = this.#buf;
    let p = this.#pos;
    for (let i = start; i < end; i++) buf[p++] = src[i]!;
    if (suffix !== undefined) for (let i = 0; i < suffix.length; i++) buf[p++] = suffix.charCodeAt(i);
    this.#pos = p;
  }

  /** A JavaScript string, encoded as UTF-8 and quoted when the format asks for it. */
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.text(bytes, 0, bytes.length);
  }

  /** The end of a row; hands the buffer over once it is full enough. */
  endRow(): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = LF;
    this.#rows++;
    this.#first = true;
    if (this.#pos >= this.#flushAt) this.#handOver();
  }

  /** Hands over what is left. */
  end(): void {
    if (this.#pos > 0 || this.#rows > 0) this.#handOver();
  }

  #handOver(): void {
    const full = this.#buf.subarray(0, this.#pos);
    const rows = this.#rows;
    this.#buf = Buffer.allocUnsafe(Math.max(this.#flushAt + 64 * 1024, 0));
    this.#pos = 0;
    this.#rows = 0;
    this.#flush(full, rows);
  }
}
