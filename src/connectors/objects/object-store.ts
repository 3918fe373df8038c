import type { Readable } from 'node:stream';
import { PipelineError, type ErrorCode, type ErrorLocation } from '../../errors/pipeline-error.js';

/** One stored object: its key (relative to the store's root, `/`-separated) and its size in bytes. */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  /** When the object was last written, where the store's listing says (S3). */
  readonly modified?: Date;
}

/**
 * A place that holds named objects: a local directory, an S3 bucket prefix, an FTP or SFTP directory.
 * The narrow surface every object kind (`file`, `s3`) and object staging are built on; everything else (CSV
 * encoding, gzip, checksums, manifests, the load journal, glob patterns) lives above it, once.
 *
 * Keys are `/`-separated and relative to the store's root; they never start with `/` and never contain `..` (the
 * store refuses them). Folders are not objects: stores that have real folders create them on write and remove
 * them once their last object is deleted.
 *
 * Every method rejects with an ObjectStoreError (the system's own error as `cause`, `transient` set for what may
 * succeed on a retry: throttling, 5xx answers, lost connections); callers turn it into a PipelineError with their
 * own code (see ObjectStoreError.toPipelineError). Secrets never appear in messages.
 */
export interface ObjectStore {
  /** Where a key is, for messages: an absolute path, `s3://bucket/key`. */
  describe(key: string): string;
  /** Every object whose key starts with `prefix` (any depth), in key order. A prefix that holds nothing: none. */
  list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo>;
  /** The object at `key`, or undefined when there is none. */
  stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | undefined>;
  /** The bytes of an object, streamed; rejects with `notFound` when it does not exist. */
  read(key: string, signal?: AbortSignal): Promise<Readable>;
  /**
   * Stores `body` (read to its end, with backpressure) at `key`. Atomic for readers: until this resolves the key
   * shows its old content (or nothing), after it the new content whole. On a failure, an error of `body` or an
   * abort, nothing new is visible and nothing is left behind (a temp file, an S3 multipart upload): the promise
   * rejects once that is cleaned up.
   */
  write(key: string, body: Readable, signal?: AbortSignal): Promise<void>;
  /**
   * Moves `from` to `to`, replacing `to` atomically for readers (a local or SFTP rename; S3, which has no rename,
   * copies, which is atomic on the destination, then deletes `from`). Rejects with `notFound` when `from` is gone.
   */
  rename(from: string, to: string, signal?: AbortSignal): Promise<void>;
  /** Deletes objects; keys that do not exist are not an error. */
  delete(keys: readonly string[], signal?: AbortSignal): Promise<void>;
  /**
   * Optional: removes what writers killed mid-write left under `prefix` (temp files of dead processes, S3 multipart
   * uploads that were never completed, older than a day); returns their descriptions.
   */
  sweep?(prefix: string): Promise<string[]>;
}

/** A failure of an object store, before a caller gives it a pigeon error code. */
export class ObjectStoreError extends Error {
  /** The object does not exist (or, for a write, a parent that must exist does not). */
  readonly notFound: boolean;
  readonly transient: boolean;
  /** The object it concerns, as ObjectStore.describe gives it. */
  readonly location: string;

  constructor(message: string, options: { readonly location: string; readonly notFound?: boolean; readonly transient?: boolean; readonly cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ObjectStoreError';
    this.location = options.location;
    this.notFound = options.notFound ?? false;
    this.transient = options.transient ?? false;
  }
}

/**
 * A failure of a store (or anything else) as a PipelineError with `code` (SOURCE_NOT_FOUND when an object was not
 * found and `missing` says so); the store's system error stays the cause, `transient` carries over.
 */
export function objectError(e: unknown, code: ErrorCode, context: ErrorLocation & { readonly hint?: string } = {}, missing?: ErrorCode): PipelineError {
  if (e instanceof PipelineError) return e.withContext(context);
  if (e instanceof ObjectStoreError) {
    return new PipelineError(e.notFound && missing !== undefined ? missing : code, e.message, {
      ...context,
      cause: e.cause ?? e,
      transient: e.transient,
    });
  }
  const message = e instanceof Error ? e.message : String(e);
  return new PipelineError(code, message, { ...context, cause: e });
}

/**
 * A key below a store's root, checked: relative, `/`-separated, no empty, `.` or `..` part. A table name that would
 * point elsewhere is refused where it is configured, with this message.
 */
export function checkKey(key: string): string | undefined {
  if (key === '') return 'is empty';
  if (key.startsWith('/')) return 'starts with /';
  if (key.includes('\\')) return 'contains a backslash';
  if (key.includes('\0')) return 'contains a NUL character';
  const parts = key.split('/');
  if (parts.some((p) => p === '.' || p === '..')) return 'contains a . or .. part';
  if (parts.slice(0, -1).some((p) => p === '')) return 'contains an empty part';
  return undefined;
}

/** `a/b` + `c` → `a/b/c`; an empty prefix adds nothing. */
export function joinKey(prefix: string, key: string): string {
  if (prefix === '') return key;
  return prefix.endsWith('/') ? `${prefix}${key}` : `${prefix}/${key}`;
}

/** The folder part of a key, with its trailing `/` (`a/b/c.csv` → `a/b/`; `c.csv` → ``). */
export function folderOf(key: string): string {
  const i = key.lastIndexOf('/');
  return i < 0 ? '' : key.slice(0, i + 1);
}
