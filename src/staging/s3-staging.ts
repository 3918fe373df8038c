import type { ConnectionConfig, StagingConfig } from '../config/types.js';
import { DEFAULT_PART_SIZE, parseS3Url, s3ClientSettings, type S3ClientSettings } from '../connectors/s3/s3-config.js';
import { S3Store } from '../connectors/s3/s3-store.js';
import { PipelineError } from '../errors/pipeline-error.js';
import { ObjectStagingStore } from './object-staging.js';

/**
 * Staging in S3 (`staging.url: s3://bucket/prefix`): `<prefix>/<pipeline>/<lineage>/<node>/` holds the chunk files
 * (multipart uploads, gzip when `compress: gzip`), `schema.json` and `checkpoint.json`, so an export on one machine
 * and the import on another share them, and a resumed node finds the chunks already uploaded. The client takes
 * `staging.connection`'s settings (an `s3` connection), else the AWS SDK's default chain.
 */
export function s3StagingStore(staging: StagingConfig & { readonly url: string }, connections: Readonly<Record<string, ConnectionConfig>>): ObjectStagingStore {
  const location = parseS3Url(staging.url, 'staging.url');
  let settings: S3ClientSettings = { name: 'staging', forcePathStyle: false, partSize: DEFAULT_PART_SIZE, secrets: [] };
  if (staging.connection !== undefined) {
    const c = connections[staging.connection];
    if (!c || c.type !== 's3') throw new PipelineError('INVALID_CONFIG', `staging.connection \`${staging.connection}\` is not an s3 connection`);
    settings = s3ClientSettings(c);
  }
  const store = new S3Store(settings, location);
  return new ObjectStagingStore(store, '', {
    gzip: staging.compress === 'gzip',
    label: 'S3 staging',
    hint: 'check `staging.url`, that the bucket exists, and the credentials and region of the S3 staging',
    url: (key) => store.describe(key),
  });
}
