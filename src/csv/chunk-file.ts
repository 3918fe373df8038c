import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { basename, dirname } from 'node:path';
import { PassThrough, Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pipeline as pipelineCallback } from 'node:stream';
import { constants, createGunzip, createGzip } from 'node:zlib';
import type { CsvSink } from '../connectors/contract.js';
import { DirectoryStore } from '../connectors/objects/directory-store.js';
import { objectError } from '../connectors/objects/object-store.js';
import { PipelineError, type ErrorCode } from '../errors/pipeline-error.js';
import { mkdirs } from '../state/atomic-file.js';
import type { Cell } from './types.js';
import { encodeRow } from './writer.js';

/** Encoded text is collected up to this many UTF-16 units before one write to the stream. */
const FLUSH_CHARS = 256 * 1024;
/** Bytes each stream of the chain buffers before `row()` asks the caller to wait. */
const HIGH_WATER_MARK = 256 * 1024;
/** zlib's output pieces: 4 times its default, so a file takes a quarter of the callbacks and buffers. */
const ZLIB_CHUNK = 64 * 1024;

/**
 * zlib's level for staging chunk files: pigeon reads them back once, so speed matters more than size. Level 1 costs
 * about a third of the default's CPU on CSV and stores about a fifth more bytes; for S3 staging on loopback it
 * traded 3 CPU seconds of the S3 server per million rows for 0.6 of pigeon's (README, Performance).
 */
export const STAGING_GZIP_LEVEL = 1;

export interface ChunkFileOptions {
  /** Store the file gzip-compressed. */
  readonly gzip: boolean;
  /** zlib's level when `gzip` (default zlib's own, 6; staging uses STAGING_GZIP_LEVEL). */
  readonly level?: number;
  /** The code of a failure to store it (default `STAGING_FAILED`; a target's own files: `IMPORT_FAILED`). */
  readonly failure?: ErrorCode;
}

export interface ChunkFileResult {
  /** Rows given through `row()` plus the counts given with `raw()`; the header is not counted. */
  readonly rows: number;
  /** Size of the file as stored (compressed when gzip). */
  readonly bytes: number;
  /** Hex SHA-256 of the file as stored. */
  readonly sha256: string;
}

/** Counts and hashes the bytes that reach the store. */
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

type State = 'open' | 'finishing' | 'done' | 'aborted';

/** Stores the bytes of a chunk file: an ObjectStore's `write` for one key. */
export type ChunkPut = (body: Readable, signal: AbortSignal) => Promise<void>;

/**
 * Writes one CSV chunk file into an object store: the header row, then rows, gzip-compressed when asked; the store
 * makes it visible only once it is complete (a local file is written to `<path>.<pid>.<hex>.partial`, fsynced and renamed;
 * an S3 object is a multipart upload completed at the end), so a crash never leaves a file that looks complete.
 *
 * `row()` and `raw()` collect text into large writes and return false once the stream wants the caller to
 * `await drain()`. A failure of the store (ENOSPC, EACCES, EIO, an S3 error) makes `drain()` and `finish()` reject
 * with a PipelineError `STAGING_FAILED` (the system error as `cause`, `transient` as the store says) and leaves
 * nothing behind. Every writer ends with `finish()` or `abort()`; `abort()` may follow anything and may be repeated.
 */
export class ChunkFileWriter implements CsvSink {
  readonly #name: string;
  readonly #failureCode: ErrorCode;
  readonly #head: Writable;
  readonly #tally: Tally;
  readonly #done: Promise<void>;
  readonly #stop = new AbortController();
  #failure: unknown = undefined;
  #pending = '';
  #rows = 0;
  #state: State = 'open';

  /** `name`: the file's path or URL, for messages. */
  constructor(name: string, columns: readonly string[], options: ChunkFileOptions, put: ChunkPut) {
    this.#name = name;
    this.#failureCode = options.failure ?? 'STAGING_FAILED';
    this.#tally = new Tally();
    let chain: Promise<unknown>;
    if (options.gzip) {
      // zlib hands stream options on to its Transform; @types/node only lacks them in ZlibOptions.
      const zipOptions = { level: options.level ?? constants.Z_DEFAULT_COMPRESSION, chunkSize: ZLIB_CHUNK, highWaterMark: HIGH_WATER_MARK };
      const zip = createGzip(zipOptions);
      this.#head = zip;
      // Both settle before the writer does: the store's own cleanup (a partial file removed) finishes first. Its
      // error, which names the reason, wins over the compressor's "premature close".
      chain = Promise.allSettled([put(this.#tally, this.#stop.signal), pipeline(zip, this.#tally)]).then((all) => {
        const failed = all.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      });
    } else {
      this.#head = this.#tally;
      chain = put(this.#tally, this.#stop.signal);
    }
    this.#done = chain.then(
      () => {},
      (e: unknown) => {
        this.#failure ??= e;
        // The store gave up: nothing may wait on a chain nobody reads any more.
        this.#head.destroy();
      },
    );
    this.#pending = encodeHeader(columns);
  }

  /** A chunk file at a local path (missing parent folders are made first; a folder that cannot be made rejects). */
  static async create(path: string, columns: readonly string[], options: ChunkFileOptions): Promise<ChunkFileWriter> {
    try {
      await mkdirs(dirname(path));
    } catch (e) {
      throw stagingError(path, e);
    }
    const store = new DirectoryStore(dirname(path));
    return new ChunkFileWriter(path, columns, options, (body, signal) => store.write(basename(path), body, signal));
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
      throw objectError(failure, this.#failureCode, { chunk: this.#name });
    }
  }

  /**
   * Writes what is buffered, ends the stream and waits until the store holds the whole file. On failure nothing is
   * left and the promise rejects with `STAGING_FAILED`.
   */
  async finish(): Promise<ChunkFileResult> {
    this.#assertOpen();
    this.#state = 'finishing';
    try {
      this.#flush();
      this.#head.end();
      await this.#done;
      if (this.#failure !== undefined) throw this.#failure;
    } catch (e) {
      await this.abort();
      throw objectError(e, this.#failureCode, { chunk: this.#name });
    }
    this.#state = 'done';
    return { rows: this.#rows, bytes: this.#tally.bytes, sha256: this.#tally.hash.digest('hex') };
  }

  /** Stops writing; the store leaves nothing. Safe to call more than once; a no-op after `finish()`. */
  async abort(): Promise<void> {
    if (this.#state === 'done' || this.#state === 'aborted') return;
    this.#state = 'aborted';
    this.#pending = '';
    this.#stop.abort(new PipelineError('ABORTED', `writing ${this.#name} was abandoned`));
    this.#head.destroy();
    await this.#done;
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
    if (this.#state !== 'open') throw new Error(`chunk file ${this.#name} is already ${this.#state}`);
  }
}

function encodeHeader(columns: readonly string[]): string {
  const line = encodeRow(columns);
  if (line.charCodeAt(0) !== 0xfeff) return line;
  // A bare first name starting with U+FEFF would be taken for a byte order mark and dropped: quote it.
  const first = columns[0] as string;
  return `"${first}"${line.slice(first.length)}`;
}

function stagingError(name: string, e: unknown): PipelineError {
  return objectError(e, 'STAGING_FAILED', { chunk: name });
}

/**
 * The CSV bytes of a stored file, decompressed when `gzip`. `damaged` turns a gzip stream that does not decompress
 * into the caller's error; without it the failure reaches the reader, which reports it as `BAD_CSV`.
 */
export function decodeChunk(stored: Readable, gzip: boolean, damaged?: (e: Error) => Error): Readable {
  if (!gzip) return stored;
  const out = new PassThrough({ highWaterMark: 64 * 1024 });
  pipelineCallback(stored, createGunzip({ chunkSize: ZLIB_CHUNK }), out, (e) => {
    if (!e || out.destroyed) return;
    const zlib = typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).code!.startsWith('Z_');
    out.destroy(zlib && damaged ? damaged(e) : e);
  });
  return out;
}

/**
 * A staging file that does not decompress was damaged after it was written (its checksum was verified when it was
 * reused): the error says so, and is transient, since a retry verifies the file and exports the chunk again.
 */
export function damagedStagingFile(name: string): (e: Error) => Error {
  return (e) => new PipelineError('CHECKSUM_MISMATCH', `staging file ${name} is damaged (${e.message}): a retry exports its chunk again`, { chunk: name, cause: e, transient: true });
}

/**
 * The CSV bytes of a staging chunk file at a local path, decompressed when `gzip`. A missing file rejects with
 * `STAGING_FAILED`; a gzip stream that does not decompress fails while reading with a transient CHECKSUM_MISMATCH.
 */
export async function openChunkFile(path: string, gzip: boolean): Promise<Readable> {
  try {
    return decodeChunk(await new DirectoryStore(dirname(path)).read(basename(path)), gzip, damagedStagingFile(path));
  } catch (e) {
    throw objectError(e, 'STAGING_FAILED', { chunk: path });
  }
}
