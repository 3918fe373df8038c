import type { ConnectionConfig } from '../../config/types.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import { configProblems, invalidConnection, stringKey } from '../config-problems.js';
import { objectSettings, type ObjectSettings } from '../objects/object-layout.js';

/** How pigeon's S3 client connects: everything but where (bucket, prefix). */
export interface S3ClientSettings {
  /** The connection's name (or `staging`), for messages. */
  readonly name: string;
  readonly region?: string;
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  readonly profile?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** Multipart upload part size in bytes. */
  readonly partSize: number;
  /** Values that must never appear in a message. */
  readonly secrets: readonly string[];
}

/** A bucket and a key prefix in it ('' or ending in `/`). */
export interface S3Location {
  readonly bucket: string;
  readonly prefix: string;
}

export interface S3Config extends ObjectSettings, S3Location {
  readonly client: S3ClientSettings;
}

const MIB = 1024 * 1024;
/** The default part size, the least S3 takes: memory per upload is about three parts (two in flight, one filling). */
export const DEFAULT_PART_SIZE = 5 * MIB;

/** The client settings of an `s3` connection (see schemas/pipeline.schema.json, s3Connection). */
export function s3ClientSettings(c: ConnectionConfig): S3ClientSettings {
  const bad = invalidConnection(c);
  const str = (key: string) => stringKey(c, key);
  const accessKeyId = str('access_key_id');
  const secretAccessKey = str('secret_access_key');
  const sessionToken = str('session_token');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) throw bad('`access_key_id` and `secret_access_key` go together');
  if (sessionToken !== undefined && accessKeyId === undefined) throw bad('`session_token` needs `access_key_id` and `secret_access_key`');
  const profile = str('profile');
  if (profile !== undefined && accessKeyId !== undefined) throw bad('give either keys or a `profile`, not both');
  const endpoint = str('endpoint');
  if (endpoint !== undefined && !/^https?:\/\/[^/\s]+/.test(endpoint)) throw bad('`endpoint` must be an http:// or https:// URL');
  const force = c['force_path_style'];
  if (force !== undefined && typeof force !== 'boolean') throw bad('`force_path_style` must be true or false');
  const mb = c['part_size_mb'] ?? DEFAULT_PART_SIZE / MIB;
  if (typeof mb !== 'number' || !Number.isInteger(mb) || mb < 5 || mb > 5120) throw bad('`part_size_mb` must be a whole number of MiB from 5 to 5120');
  const region = str('region');
  return {
    name: c.name,
    ...(region !== undefined ? { region } : {}),
    ...(endpoint !== undefined ? { endpoint } : {}),
    forcePathStyle: force === true,
    ...(profile !== undefined ? { profile } : {}),
    ...(accessKeyId !== undefined && secretAccessKey !== undefined
      ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken !== undefined ? { sessionToken } : {}) } }
      : {}),
    partSize: mb * MIB,
    secrets: [accessKeyId, secretAccessKey, sessionToken].filter((s): s is string => s !== undefined),
  };
}

/** An `s3` connection: bucket, prefix, layout (default `prefix`), compression and the client settings. */
export function s3Config(c: ConnectionConfig): S3Config {
  const bad = invalidConnection(c);
  const bucket = c['bucket'];
  if (typeof bucket !== 'string' || !BUCKET.test(bucket)) throw bad('`bucket` must be an S3 bucket name');
  const prefix = c['prefix'] ?? '';
  if (typeof prefix !== 'string') throw bad('`prefix` must be a string');
  return { ...objectSettings(c, 'prefix'), bucket, prefix: folderPrefix(prefix), client: s3ClientSettings(c) };
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * The problems of an `s3` connection, offline (ConnectorKind.checkConnection): what s3Config would refuse, at the
 * key it names.
 */
export const s3ConfigProblems = configProblems(s3Config);

/** `s3://bucket/some/prefix` → bucket and `some/prefix/`; throws INVALID_CONFIG naming `what` otherwise. */
export function parseS3Url(url: string, what: string): S3Location {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m || !BUCKET.test(m[1]!)) throw new PipelineError('INVALID_CONFIG', `${what} must be s3://bucket/prefix (got "${url}")`);
  return { bucket: m[1]!, prefix: folderPrefix(m[2] ?? '') };
}

/** A key prefix as a folder: no leading `/`, one trailing `/` unless empty. */
function folderPrefix(p: string): string {
  const trimmed = p.replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}
