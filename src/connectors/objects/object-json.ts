import { Readable } from 'node:stream';
import { ObjectStoreError, type ObjectStore } from './object-store.js';

/** Small JSON documents (checkpoints, sidecars, manifests, journals) read whole: they are a few kilobytes. */
const MAX_JSON_BYTES = 64 * 1024 * 1024;

/** The parsed JSON object at `key`, or undefined when there is none. */
export async function readJson<T>(store: ObjectStore, key: string, signal?: AbortSignal): Promise<T | undefined> {
  let stream: Readable;
  try {
    stream = await store.read(key, signal);
  } catch (e) {
    if (e instanceof ObjectStoreError && e.notFound) return undefined;
    throw e;
  }
  const pieces: Buffer[] = [];
  let size = 0;
  for await (const piece of stream as AsyncIterable<Buffer>) {
    size += piece.length;
    if (size > MAX_JSON_BYTES) {
      stream.destroy();
      throw new ObjectStoreError(`${store.describe(key)} is larger than ${MAX_JSON_BYTES} bytes: not a pigeon JSON file`, { location: store.describe(key) });
    }
    pieces.push(piece);
  }
  const text = Buffer.concat(pieces).toString('utf8');
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new ObjectStoreError(`${store.describe(key)} is not valid JSON: ${(e as Error).message}`, { location: store.describe(key), cause: e });
  }
}

/** Writes `value` as JSON at `key`, atomically (see ObjectStore.write). */
export function writeJson(store: ObjectStore, key: string, value: unknown, signal?: AbortSignal): Promise<void> {
  return store.write(key, Readable.from([Buffer.from(JSON.stringify(value, null, 2) + '\n')]), signal);
}
