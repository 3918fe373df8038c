import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { serviceEndpoint } from './services.js';

/** The S3 test server (scripts/services/s3.sh: S3Mock) and a client of it, driven directly to set up and to check. */
export interface TestBucket {
  readonly endpoint: string;
  readonly bucket: string;
  readonly client: S3Client;
  /** A fresh prefix for one test: `t-<hex>/`. */
  prefix(): string;
  /** Connection keys of an `s3` connection on `prefix` (any keys are accepted by the test server). */
  config(prefix: string, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Keys under `prefix`, relative to it, sorted. */
  keys(prefix: string): Promise<string[]>;
  text(key: string): Promise<string>;
  bytes(key: string): Promise<Buffer>;
  put(key: string, body: string | Buffer): Promise<void>;
  /** Multipart uploads started under `prefix` and neither completed nor aborted. */
  uploads(prefix: string): Promise<string[]>;
  /** Removes every object and open multipart upload under `prefix`. */
  clear(prefix: string): Promise<void>;
}

let shared: TestBucket | undefined;

export function testBucket(): TestBucket {
  if (shared) return shared;
  const endpoint = serviceEndpoint('s3');
  const bucket = process.env['PIGEON_TEST_S3_BUCKET'] ?? 'pigeon';
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'pigeon', secretAccessKey: 'pigeon' } });
  const keys = async (prefix: string): Promise<string[]> => {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
      for (const o of page.Contents ?? []) out.push(o.Key!.slice(prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  };
  const bytes = async (key: string) => {
    const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  };
  const uploads = async (prefix: string) => {
    const r = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    return (r.Uploads ?? []).map((u) => `${u.Key}#${u.UploadId}`);
  };
  shared = {
    endpoint,
    bucket,
    client,
    prefix: () => `t-${randomBytes(5).toString('hex')}/`,
    config: (prefix, extra = {}) => ({
      bucket,
      prefix,
      endpoint,
      region: 'us-east-1',
      force_path_style: true,
      access_key_id: 'pigeon-test-key',
      secret_access_key: 'pigeon-test-secret',
      ...extra,
    }),
    keys,
    bytes,
    text: async (key) => (await bytes(key)).toString('utf8'),
    put: async (key, body) => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    uploads,
    clear: async (prefix) => {
      const all = await keys(prefix);
      for (let i = 0; i < all.length; i += 1000) {
        await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: all.slice(i, i + 1000).map((k) => ({ Key: prefix + k })) } }));
      }
      for (const u of await uploads(prefix)) {
        const [key, id] = u.split('#');
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: id }));
      }
    },
  };
  return shared;
}
