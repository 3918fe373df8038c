import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PassThrough, Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pipeline as pipelineCallback } from 'node:stream';
import { constants, createGunzip, createGzip } from 'node:zlib';
import type { CsvSink } from '../connectors/contract.js';
import { PipelineError } from '../errors/pipeline-error.js';
import { syncDir } from '../state/atomic-file.js';
import type { Cell } from './types.js';
import { encodeRow } from './writer.js';

/** Encoded text is collected up to this many UTF-16 units before one write to the stream. */
const FLUSH_CHARS = 256 * 1024;
/** Bytes each stream of the chain buffers before `row()` asks the caller to wait. */
const HIGH_WATER_MARK = 256 * 1024;

export interface ChunkFileOptions {
  /** Store the file gzip-compressed. */
  readonly gzip: boolean;
}

export interface ChunkFileResult {
  /** Rows given through `row()` plus the counts given with `raw()`; the header is not counted. */
  readonly rows: number;
  /** Size of the file as stored (compressed when gzip). */
  readonly bytes: number;
  /** Hex SHA-256 of the file as stored. */
  readonly sha256: string;
}

/** Counts and hashes the bytes that reach the disk. */
class Tally extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;

  constructor() {
    super({ highWaterMark: HIGH_WATER_MARK });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/**
 * Writes to a file handle we keep (fs write streams over a FileHandle either close it themselves or keep it from
 * closing) and fsyncs it before reporting 'finish'.
 */
class FileSink extends Writable {
  readonly #file: FileHandle;

  constructor(file: FileHandle) {
    super({ highWaterMark: HIGH_WATER_MARK });
    this.#file = file;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    writeAll(this.#file, chunk).then(() => callback(), callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    (async () => {
      for (const { chunk } of chunks) await writeAll(this.#file, chunk);
    })().then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#file.sync().then(() => callback(), callback);
  }
}

async function writeAll(file: FileHandle, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length; ) {
    const { bytesWritten } = await file.write(bytes, at, bytes.length - at);
    at += bytesWritten;
  }
}

type State = 'open' | 'finishing' | 'done' | 'aborted';

/**
 * Writes one CSV chunk file: the header row, then rows, stored in `path + '.partial'` until `finish()` makes it
 * durable (fsync) and renames it to `path`, so a crash never leaves a file that looks complete.
 *
 * `row()` and `raw()` collect text into large writes and return false once the stream wants the caller to
 * `await drain()`. A failure of the disk (ENOSPC, EACCES, EIO) makes `drain()` and `finish()` reject with a
 * PipelineError `STAGING_FAILED` (the system error as `cause`) and removes the partial file. Every writer ends with
 * `finish()` or `abort()`, which release the file handle; `abort()` may follow anything and may be repeated.
 */
export class ChunkFileWriter implements CsvSink {
  readonly #path: string;
  readonly #partial: string;
  readonly #file: FileHandle;
  readonly #head: Writable;
  readonly #tally: Tally;
  readonly #done: Promise<void>;
  #failure: unknown = undefined;
  #pending = '';
  #rows = 0;
  #state: State = 'open';

  private constructor(path: string, file: FileHandle, gzip: boolean) {
    this.#path = path;
    this.#partial = path + '.partial';
    this.#file = file;
    this.#tally = new Tally();
    const out = new FileSink(file);
    if (gzip) {
      // zlib hands stream options on to its Transform; @types/node only lacks them in ZlibOptions.
      const zipOptions = { level: constants.Z_DEFAULT_COMPRESSION, highWaterMark: HIGH_WATER_MARK };
      const zip = createGzip(zipOptions);
      this.#head = zip;
      this.#done = pipeline(zip, this.#tally, out);
    } else {
      this.#head = this.#tally;
      this.#done = pipeline(this.#tally, out);
    }
    this.#done = this.#done.catch((e: unknown) => {
      this.#failure ??= e;
    });
  }

  /** Creates `path + '.partial'` (and missing parent folders) and queues the header row. */
  static async create(path: string, columns: readonly string[], options: ChunkFileOptions): Promise<ChunkFileWriter> {
    let file: FileHandle;
    try {
      await mkdir(dirname(path), { recursive: true });
      file = await open(path + '.partial', 'w');
    } catch (e) {
      throw stagingError(path, e);
    }
    const writer = new ChunkFileWriter(path, file, options.gzip);
    writer.#pending = encodeHeader(columns);
    return writer;
  }

  /** Rows counted so far (header excluded). */
  get rows(): number {
    return this.#rows;
  }

  row(values: readonly Cell[]): boolean {
    this.#assertOpen();
    this.#pending += encodeRow(values);
    this.#rows++;
    if (this.#pending.length >= FLUSH_CHARS) this.#flush();
    return this.#writable();
  }

  /**
   * Text already in the exchange format, without the header; `rows` is how many records it holds (default 0),
   * added to the row count `finish()` reports. Pieces are written in order with the rows of `row()`.
   */
  raw(bytes: Buffer | string, rows = 0): boolean {
    this.#assertOpen();
    this.#rows += rows;
    if (typeof bytes === 'string') {
      this.#pending += bytes;
      if (this.#pending.length >= FLUSH_CHARS) this.#flush();
    } else if (bytes.length > 0) {
      this.#flush();
      if (this.#healthy()) this.#head.write(bytes);
    }
    return this.#writable();
  }

  /** Resolves once the streams have room again; rejects if the file could not be written. */
  async drain(): Promise<void> {
    if (this.#healthy() && this.#head.writableNeedDrain) {
      const stop = new AbortController();
      try {
        await Promise.race([once(this.#head, 'drain', { signal: stop.signal }), this.#done]);
      } catch (e) {
        this.#failure ??= e;
      } finally {
        stop.abort();
      }
    }
    if (!this.#healthy()) {
      await this.#done;
      const failure = this.#failure;
      await this.abort();
      throw stagingError(this.#path, failure);
    }
  }

  /**
   * Writes what is buffered, ends the stream, fsyncs the file, renames the partial file to `path` and syncs the folder.
   * On failure the partial file is removed and the promise rejects with `STAGING_FAILED`.
   */
  async finish(): Promise<ChunkFileResult> {
    this.#assertOpen();
    this.#state = 'finishing';
    try {
      this.#flush();
      this.#head.end();
      await this.#done;
      if (this.#failure !== undefined) throw this.#failure;
      await this.#file.close();
      await rename(this.#partial, this.#path);
    } catch (e) {
      await this.abort();
      throw stagingError(this.#path, e);
    }
    this.#state = 'done';
    await syncDir(dirname(this.#path));
    return { rows: this.#rows, bytes: this.#tally.bytes, sha256: this.#tally.hash.digest('hex') };
  }

  /** Stops writing and removes the partial file. Safe to call more than once; a no-op after `finish()`. */
  async abort(): Promise<void> {
    if (this.#state === 'done' || this.#state === 'aborted') return;
    this.#state = 'aborted';
    this.#pending = '';
    this.#head.destroy();
    await this.#done;
    await this.#file.close().catch(() => {});
    await unlink(this.#partial).catch(() => {});
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    // After a failure the text is dropped: the file is going away, and writing to a destroyed stream would throw.
    if (this.#healthy()) this.#head.write(this.#pending);
    this.#pending = '';
  }

  #healthy(): boolean {
    return this.#failure === undefined && !this.#head.destroyed;
  }

  #writable(): boolean {
    return this.#healthy() && !this.#head.writableNeedDrain;
  }

  #assertOpen(): void {
    if (this.#state !== 'open') throw new Error(`chunk file ${this.#path} is already ${this.#state}`);
  }
}

function encodeHeader(columns: readonly string[]): string {
  const line = encodeRow(columns);
  if (line.charCodeAt(0) !== 0xfeff) return line;
  // A bare first name starting with U+FEFF would be taken for a byte order mark and dropped: quote it.
  const first = columns[0] as string;
  return `"${first}"${line.slice(first.length)}`;
}

function stagingError(path: string, e: unknown): PipelineError {
  if (e instanceof PipelineError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new PipelineError('STAGING_FAILED', `cannot write chunk file ${path}: ${message}`, { chunk: path, cause: e });
}

/**
 * The CSV bytes of a chunk file, decompressed when `gzip`. A missing file rejects with `STAGING_FAILED`; a corrupt
 * gzip stream fails while reading (the reader reports it as `BAD_CSV`).
 */
export async function openChunkFile(path: string, gzip: boolean): Promise<Readable> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new PipelineError('STAGING_FAILED', `cannot open chunk file ${path}: ${message}`, { chunk: path, cause: e });
  }
  const input = file.createReadStream({ highWaterMark: 64 * 1024 });
  if (!gzip) return input;
  // A file that does not decompress was damaged after it was written (its checksum was verified when it was
  // reused): the error says so, and is transient, since a retry verifies the file and exports the chunk again.
  const out = new PassThrough({ highWaterMark: 64 * 1024 });
  pipelineCallback(input, createGunzip(), out, (e) => {
    if (!e || out.destroyed) return;
    const zlib = typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).code!.startsWith('Z_');
    out.destroy(
      zlib
        ? new PipelineError('CHECKSUM_MISMATCH', `staging file ${path} is damaged (${e.message}): a retry exports its chunk again`, { chunk: path, cause: e, transient: true })
        : e,
    );
  });
  return out;
}
