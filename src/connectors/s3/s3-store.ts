import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { loadDriver } from '../driver.js';
import { checkKey, ObjectStoreError, type ObjectInfo, type ObjectStore } from '../objects/object-store.js';
import type { S3ClientSettings, S3Location } from './s3-config.js';
import { TEMP_NAME } from '../../state/stale-temps.js';
import { isNotFound, s3Error } from './s3-errors.js';

type S3Module = typeof import('@aws-sdk/client-s3');
type StorageModule = typeof import('@aws-sdk/lib-storage');

interface Sdk {
  readonly s3: S3Module;
  readonly storage: StorageModule;
  readonly client: S3Client;
}

/** Parts uploaded at once per object: memory per upload is about (this + 1) parts. */
const QUEUE_SIZE = 2;
/** CopyObject copies up to 5 GiB; larger objects are copied in parts of this size. */
const COPY_LIMIT = 5 * 1024 ** 3;
const COPY_PART = 512 * 1024 ** 2;
/** Multipart uploads and temp objects older than this under a swept prefix belong to a process that died. */
const STALE_UPLOAD_MS = 24 * 60 * 60 * 1000;

/**
 * An ObjectStore over an S3 bucket (or an S3-compatible store) below a key prefix, with `@aws-sdk/client-s3`
 * loaded when first used. Writes are lib-storage multipart uploads of the body stream, `partSize` bytes a part,
 * two parts in flight: never a whole object in memory, and nothing visible until the upload completes (an
 * interrupted one is aborted). S3 has no rename: `rename` copies (atomic on the destination) then deletes. The SDK's
 * default checksums (CRC32 on uploads) stay on.
 */
export class S3Store implements ObjectStore {
  readonly #settings: S3ClientSettings;
  readonly #bucket: string;
  readonly #root: string;
  #sdk: Promise<Sdk> | undefined;

  constructor(settings: S3ClientSettings, location: S3Location) {
    this.#settings = settings;
    this.#bucket = location.bucket;
    this.#root = location.prefix;
  }

  /** `s3://bucket/<prefix><key>`: also the URL Redshift reads an object from. */
  describe(key: string): string {
    return `s3://${this.#bucket}/${this.#root}${key}`;
  }

  /** The SDK and a client, made on first use (a failure is not kept: the next call tries again). */
  #ready(): Promise<Sdk> {
    if (!this.#sdk) {
      this.#sdk = createClient(this.#settings);
      this.#sdk.catch(() => {
        this.#sdk = undefined;
      });
    }
    return this.#sdk;
  }

  /** Checks that the bucket answers with these credentials (a missing bucket or a refused key fails here). */
  async probe(signal?: AbortSignal): Promise<void> {
    const { s3, client } = await this.#ready();
    try {
      await client.send(new s3.ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#root, MaxKeys: 1 }), { abortSignal: signal });
    } catch (e) {
      throw this.#error(e, 'list', this.describe(''));
    }
  }

  close(): void {
    void this.#sdk?.then((sdk) => sdk.client.destroy(), () => {});
    this.#sdk = undefined;
  }

  #key(key: string): string {
    const bad = key === '' ? undefined : checkKey(key);
    if (bad !== undefined) throw new ObjectStoreError(`the name \`${key}\` ${bad} (${this.describe('')})`, { location: this.describe('') });
    return `${this.#root}${key}`;
  }

  #error(e: unknown, what: string, location: string): ObjectStoreError {
    return s3Error(e, what, location, this.#settings.secrets);
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo> {
    const { s3, client } = await this.#ready();
    const full = `${this.#root}${prefix}`;
    let token: string | undefined;
    do {
      let page;
      try {
        page = await client.send(new s3.ListObjectsV2Command({ Bucket: this.#bucket, Prefix: full, ...(token ? { ContinuationToken: token } : {}) }), { abortSignal: signal });
      } catch (e) {
        throw this.#error(e, 'list', this.describe(prefix));
      }
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || o.Key.endsWith('/')) continue;
        yield { key: o.Key.slice(this.#root.length), size: o.Size ?? 0, ...(o.LastModified ? { modified: o.LastModified } : {}) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | undefined> {
    const { s3, client } = await this.#ready();
    try {
      const r = await client.send(new s3.HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }), { abortSignal: signal });
      return { key, size: r.ContentLength ?? 0 };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw this.#error(e, 'read', this.describe(key));
    }
  }

  async read(key: string, signal?: AbortSignal): Promise<Readable> {
    const { s3, client } = await this.#ready();
    try {
      const r = await client.send(new s3.GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }), { abortSignal: signal });
      return r.Body as Readable;
    } catch (e) {
      throw this.#error(e, 'read', this.describe(key));
    }
  }

  async write(key: string, body: Readable, signal?: AbortSignal): Promise<void> {
    let sdk: Sdk;
    let full: string;
    try {
      sdk = await this.#ready();
      full = this.#key(key);
    } catch (e) {
      body.destroy();
      throw this.#error(e, 'write', this.describe(key));
    }
    const upload = new sdk.storage.Upload({
      client: sdk.client,
      params: { Bucket: this.#bucket, Key: full, Body: body },
      partSize: this.#settings.partSize,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    });
    // An abort ends the body: the upload then fails on its own and aborts the multipart upload before `done()`
    // settles (Upload.abort() would settle at once and abort it later).
    const onAbort = () => body.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (e) {
      body.destroy();
      throw this.#error(signal?.aborted ? (signal.reason ?? e) : e, 'write', this.describe(key));
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async rename(from: string, to: string, signal?: AbortSignal): Promise<void> {
    const { s3, client } = await this.#ready();
    const source = this.#key(from);
    const target = this.#key(to);
    const where = `${this.describe(from)} to ${this.describe(to)}`;
    const info = await this.stat(from, signal);
    if (!info) throw new ObjectStoreError(`cannot move ${where}: ${this.describe(from)} does not exist`, { location: this.describe(from), notFound: true });
    const copySource = `${this.#bucket}/${source.split('/').map(encodeURIComponent).join('/')}`;
    try {
      if (info.size <= COPY_LIMIT) {
        await client.send(new s3.CopyObjectCommand({ Bucket: this.#bucket, Key: target, CopySource: copySource }), { abortSignal: signal });
      } else {
        await this.#copyInParts(copySource, target, info.size, signal);
      }
      await client.send(new s3.DeleteObjectCommand({ Bucket: this.#bucket, Key: source }), { abortSignal: signal });
    } catch (e) {
      throw this.#error(e, 'move', where);
    }
  }

  /** A copy of an object over 5 GiB: a multipart upload of ranges copied on the server side. */
  async #copyInParts(copySource: string, target: string, size: number, signal?: AbortSignal): Promise<void> {
    const { s3, client } = await this.#ready();
    const { UploadId } = await client.send(new s3.CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: target }), { abortSignal: signal });
    try {
      const parts: { ETag: string; PartNumber: number }[] = [];
      for (let at = 0, n = 1; at < size; at += COPY_PART, n++) {
        const r = await client.send(
          new s3.UploadPartCopyCommand({ Bucket: this.#bucket, Key: target, UploadId, PartNumber: n, CopySource: copySource, CopySourceRange: `bytes=${at}-${Math.min(size, at + COPY_PART) - 1}` }),
          { abortSignal: signal },
        );
        parts.push({ ETag: r.CopyPartResult?.ETag ?? '', PartNumber: n });
      }
      await client.send(new s3.CompleteMultipartUploadCommand({ Bucket: this.#bucket, Key: target, UploadId, MultipartUpload: { Parts: parts } }), { abortSignal: signal });
    } catch (e) {
      await client.send(new s3.AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: target, UploadId })).catch(() => {});
      throw e;
    }
  }

  async delete(keys: readonly string[], signal?: AbortSignal): Promise<void> {
    const { s3, client } = await this.#ready();
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      let r;
      try {
        r = await client.send(
          new s3.DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: batch.map((k) => ({ Key: this.#key(k) })), Quiet: true } }),
          { abortSignal: signal },
        );
      } catch (e) {
        throw this.#error(e, 'delete', this.describe(batch[0]!));
      }
      const failed = r.Errors?.[0];
      if (failed) {
        throw new ObjectStoreError(`cannot delete s3://${this.#bucket}/${failed.Key ?? '?'}: ${failed.Message ?? failed.Code ?? 'refused'}`, {
          location: `s3://${this.#bucket}/${failed.Key ?? ''}`,
          transient: failed.Code === 'InternalError' || failed.Code === 'SlowDown',
        });
      }
    }
  }

  /**
   * Removes pigeon's temp objects (`….<pid>.<8 hex>.tmp`, stale-temps.ts) under `prefix` that are older than
   * `staleMs`: a file-layout writer killed after its upload completed and before the move leaves a visible object
   * beside the table, which a reader listing the folder would take for data. The pid is of a machine pigeon cannot
   * look at, so age decides. Keys only under the prefix are listed, so a caller narrows it to one table's
   * (`<table>.csv.`). Returns what it removed.
   */
  async sweepTemps(prefix: string, staleMs = STALE_UPLOAD_MS): Promise<string[]> {
    const before = Date.now() - staleMs;
    const stale: string[] = [];
    for await (const o of this.list(prefix)) {
      if (TEMP_NAME.test(o.key) && (o.modified === undefined || o.modified.getTime() <= before)) stale.push(o.key);
    }
    await this.delete(stale);
    return stale.map((k) => `temp object ${this.describe(k)}`);
  }

  async sweep(prefix: string): Promise<string[]> {
    const { s3, client } = await this.#ready();
    const full = `${this.#root}${prefix}`;
    const removed: string[] = [];
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    const before = Date.now() - STALE_UPLOAD_MS;
    do {
      const page = await client.send(
        new s3.ListMultipartUploadsCommand({ Bucket: this.#bucket, Prefix: full, ...(keyMarker ? { KeyMarker: keyMarker } : {}), ...(idMarker ? { UploadIdMarker: idMarker } : {}) }),
      );
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || (u.Initiated && u.Initiated.getTime() > before)) continue;
        await client.send(new s3.AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: u.Key, UploadId: u.UploadId }));
        removed.push(`multipart upload of s3://${this.#bucket}/${u.Key}`);
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      idMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return removed;
  }
}

async function createClient(settings: S3ClientSettings): Promise<Sdk> {
  const s3 = await loadDriver<S3Module>('@aws-sdk/client-s3', 's3');
  const storage = await loadDriver<StorageModule>('@aws-sdk/lib-storage', 's3');
  const client = new s3.S3Client({
    // An S3-compatible store needs some region to sign with; AWS itself takes it from the environment or profile.
    ...(settings.region !== undefined ? { region: settings.region } : settings.endpoint !== undefined ? { region: 'us-east-1' } : {}),
    ...(settings.endpoint !== undefined ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(settings.profile !== undefined ? { profile: settings.profile } : {}),
    ...(settings.credentials !== undefined ? { credentials: { ...settings.credentials } } : {}),
  });
  return { s3, storage, client };
}
