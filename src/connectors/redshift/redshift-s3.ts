import { randomBytes } from 'node:crypto';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { ChunkFeed, StagedChunk } from '../contract.js';
import { abortableChunks } from '../feed.js';
import { readJson, writeJson } from '../objects/object-json.js';
import { shortHash } from '../objects/object-layout.js';
import type { ObjectStore } from '../objects/object-store.js';
import { SEQ_COLUMN } from '../sql/work-tables.js';

/** One file of a Redshift manifest (COPY's, or the one UNLOAD writes). */
export interface ManifestEntry {
  readonly url: string;
  readonly mandatory?: boolean;
  readonly meta?: { readonly content_length: number };
}

export interface RedshiftManifest {
  readonly entries: readonly ManifestEntry[];
}

/** The files of one COPY: listed by a manifest in S3, and what pigeon put there (to remove after the commit). */
export interface CopyFileSet {
  /** s3:// URL of the manifest. */
  readonly manifest: string;
  readonly gzip: boolean;
  /** Keys pigeon uploaded for this load, manifest included. */
  readonly uploaded: readonly string[];
  /** How many files the manifest lists (none for an empty export: there is nothing to COPY). */
  readonly files: number;
}

/**
 * The S3 side of Redshift loads and exports, in the connection's `s3` location: the files a COPY reads (the chunk
 * files where S3 staging already holds them, otherwise uploaded here, gzip, streamed), the manifest that lists them,
 * and the files an UNLOAD wrote.
 */
export class RedshiftFiles {
  readonly #store: ObjectStore;

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  /**
   * Takes every chunk of the feed as it is exported and makes it readable by COPY: a chunk that S3 staging holds is
   * listed where it is (unless `seq`), any other is uploaded gzip-compressed. With `seq` each row gets its load
   * order as a last column `_pigeon_seq` (COPY loads in no order; a merge needs it), so every chunk is uploaded.
   */
  async stage(feed: ChunkFeed, loadId: string, seq: boolean, signal?: AbortSignal): Promise<CopyFileSet> {
    const folder = `loads/${shortHash(loadId)}-${randomBytes(3).toString('hex')}/`;
    const entries: ManifestEntry[] = [];
    const uploaded: string[] = [];
    let gzip: boolean | undefined;
    try {
      for await (const chunk of abortableChunks(feed, signal)) {
        // The staging's compression decides for the whole load: COPY's GZIP applies to every file of a manifest.
        const zip = (gzip ??= chunk.stored && !seq ? chunk.stored.gzip : true);
        if (chunk.stored && !seq && chunk.stored.gzip === zip) {
          entries.push({ url: chunk.stored.url, mandatory: true, meta: { content_length: chunk.stored.bytes } });
          continue;
        }
        const key = `${folder}chunk-${String(chunk.index).padStart(5, '0')}.csv${zip ? '.gz' : ''}`;
        uploaded.push(key);
        const bytes = await this.#upload(chunk, key, zip, seq, signal);
        entries.push({ url: this.#store.describe(key), mandatory: true, meta: { content_length: bytes } });
      }
      const manifest = `${folder}manifest.json`;
      uploaded.push(manifest);
      await writeJson(this.#store, manifest, { entries } satisfies RedshiftManifest, signal);
      return { manifest: this.#store.describe(manifest), gzip: gzip ?? true, uploaded, files: entries.length };
    } catch (e) {
      await this.remove(uploaded).catch(() => {});
      throw e;
    }
  }

  async #upload(chunk: StagedChunk, key: string, gzip: boolean, seq: boolean, signal?: AbortSignal): Promise<number> {
    let bytes = 0;
    const count = new Transform({
      transform(piece: Buffer, _encoding, done: TransformCallback) {
        bytes += piece.length;
        done(null, piece);
      },
    });
    const body = new PassThrough();
    const steps = [await chunk.open(), ...(seq ? [new SeqColumn(chunk.index)] : []), ...(gzip ? [createGzip()] : []), count, body];
    // Either side failing ends the other: the store leaves nothing, the chunk file is closed.
    const [written, fed] = await Promise.allSettled([this.#store.write(key, body, signal), pipeline(steps, ...(signal ? [{ signal }] : []))]);
    if (written.status === 'rejected') throw written.reason;
    if (fed.status === 'rejected') throw fed.reason;
    return bytes;
  }

  async remove(keys: readonly string[]): Promise<void> {
    await this.#store.delete(keys);
  }

  /** A fresh folder for one UNLOAD: its URL (UNLOAD's `TO`) and its key prefix. */
  unloadFolder(what: string): { url: string; prefix: string } {
    const prefix = `unload/${shortHash(what)}-${randomBytes(3).toString('hex')}/`;
    return { url: this.#store.describe(prefix), prefix };
  }

  /** The keys of the files an UNLOAD wrote to `prefix`, from the manifest it wrote there. */
  async unloaded(prefix: string, signal?: AbortSignal): Promise<string[]> {
    const manifest = await readJson<RedshiftManifest>(this.#store, `${prefix}manifest`, signal);
    const base = this.#store.describe('');
    return (manifest?.entries ?? []).map((e) => {
      if (!e.url.startsWith(base)) throw new Error(`UNLOAD wrote ${e.url}, outside ${base}`);
      return e.url.slice(base.length);
    });
  }

  read(key: string, signal?: AbortSignal): Promise<Readable> {
    return this.#store.read(key, signal);
  }

  /** Removes every object under `prefix` (an UNLOAD's files once read). */
  async clear(prefix: string): Promise<void> {
    const keys: string[] = [];
    for await (const o of this.#store.list(prefix)) keys.push(o.key);
    await this.#store.delete(keys);
  }
}

/**
 * Appends the load order as a last CSV column: `_pigeon_seq` in the header, then `<chunk> * 2^32 + <record>` on
 * every record (records end at a line feed outside quotes; the exchange format ends every record with `\n`).
 */
export class SeqColumn extends Transform {
  readonly #base: bigint;
  #record = -1;
  #quoted = false;

  constructor(chunk: number) {
    super();
    this.#base = BigInt(chunk) << 32n;
  }

  override _transform(piece: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const out: Buffer[] = [];
    let from = 0;
    for (let i = 0; i < piece.length; i++) {
      const b = piece[i];
      if (b === 0x22) this.#quoted = !this.#quoted;
      else if (b === 0x0a && !this.#quoted) {
        out.push(piece.subarray(from, i), Buffer.from(this.#record < 0 ? `,${SEQ_COLUMN}\n` : `,${this.#base + BigInt(this.#record)}\n`));
        this.#record++;
        from = i + 1;
      }
    }
    out.push(piece.subarray(from));
    callback(null, Buffer.concat(out));
  }
}

