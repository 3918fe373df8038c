import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConnectionConfig } from '../../config/types.js';
import { parseDuration } from '../../config/duration.js';
import { PipelineError } from '../../errors/pipeline-error.js';

/** A connection of kind `elasticsearch` or `opensearch`, as typed settings. */
export interface SearchConfig {
  readonly name: string;
  /** Scheme, host, port and an optional path prefix (a proxy's), without credentials; no trailing slash. */
  readonly base: URL;
  /** `Authorization` header: basic (`user`/`password` or the URL's) or `ApiKey` (`api_key`). */
  readonly authorization?: string;
  /** PEM certificates to trust instead of the system's (`ca`, a file). */
  readonly ca?: Buffer;
  /** Values never to print. */
  readonly secrets: readonly string[];
  readonly options: SearchOptions;
}

/** `options:` of a search connection; every key is optional. */
export interface SearchOptions {
  /** Documents per `_bulk` request (default 1000). */
  readonly batchDocs: number;
  /** Bytes per `_bulk` request at most (default 5 MiB; one larger document goes alone). */
  readonly batchBytes: number;
  /** `_bulk` requests in flight per import (default 2). */
  readonly concurrency: number;
  /** Hits per search page when exporting (default 1000). */
  readonly pageSize: number;
  /** `pit` (default): point in time + search_after, scroll where the server has no usable point in time; `scroll`. */
  readonly export: 'pit' | 'scroll';
  /** Attempts of one request after the first on 429, 5xx and network errors (default 5), with backoff. */
  readonly retries: number;
  /** First backoff in ms (default 500), doubling, with jitter. */
  readonly retryDelay: number;
  /** Time one request may take, in ms (default 120 s). */
  readonly timeout: number;
}

export const SEARCH_OPTION_KEYS = ['batch_docs', 'batch_bytes', 'concurrency', 'page_size', 'export', 'retries', 'retry_delay', 'timeout'] as const;

export function searchConfig(c: ConnectionConfig, cwd: string): SearchConfig {
  const invalid = (message: string, hint?: string) =>
    new PipelineError('INVALID_CONFIG', `connection \`${c.name}\`: ${message}`, { connection: c.name, ...(hint ? { hint } : {}) });
  if (typeof c['url'] !== 'string' || c['url'] === '') throw invalid('needs a `url` (http://host:9200 or https://…)');
  let url: URL;
  try {
    url = new URL(c['url']);
  } catch {
    // Never quote the URL: a password may be in it.
    throw invalid('`url` is not a URL', 'write it as http://host:9200 or https://user:password@host:9200');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('`url` must start with http:// or https://');
  const urlUser = decodeURIComponent(url.username);
  const urlPassword = decodeURIComponent(url.password);
  const user = typeof c['user'] === 'string' ? c['user'] : urlUser;
  const password = typeof c['password'] === 'string' ? c['password'] : urlPassword;
  const apiKey = typeof c['api_key'] === 'string' && c['api_key'] !== '' ? c['api_key'] : undefined;
  if (apiKey && user) throw invalid('set either `api_key` or `user` and `password`, not both');
  const secrets = [password, url.password, urlPassword, apiKey].filter((s): s is string => typeof s === 'string' && s !== '');
  const base = new URL(url.href);
  base.username = '';
  base.password = '';
  base.search = '';
  base.hash = '';
  base.pathname = base.pathname.replace(/\/+$/, '');
  const authorization = apiKey
    ? `ApiKey ${apiKey}`
    : user
      ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
      : undefined;
  let ca: Buffer | undefined;
  if (c['ca'] !== undefined) {
    if (typeof c['ca'] !== 'string' || c['ca'] === '') throw invalid('`ca` must be the path of a PEM file');
    const path = resolve(cwd, c['ca']);
    try {
      ca = readFileSync(path);
    } catch (e) {
      throw invalid(`cannot read the CA file ${path}: ${(e as Error).message}`);
    }
    if (base.protocol !== 'https:') throw invalid('`ca` is set but `url` is not https://');
  }
  const raw = (c['options'] ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('`options` must be a map');
  for (const k of Object.keys(raw)) {
    if (!(SEARCH_OPTION_KEYS as readonly string[]).includes(k)) throw invalid(`unknown option \`${k}\``, `known options: ${SEARCH_OPTION_KEYS.join(', ')}`);
  }
  const int = (key: string, fallback: number, min: number): number => {
    const v = raw[key];
    if (v === undefined) return fallback;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min) throw invalid(`option \`${key}\` must be an integer of at least ${min}`);
    return n;
  };
  const ms = (key: string, fallback: number): number => {
    const v = raw[key];
    if (v === undefined) return fallback;
    try {
      return parseDuration(v as string | number);
    } catch {
      throw invalid(`option \`${key}\` must be a duration like 500ms or 30s`);
    }
  };
  const exportWay = raw['export'] ?? 'pit';
  if (exportWay !== 'pit' && exportWay !== 'scroll') throw invalid('option `export` must be `pit` or `scroll`');
  return {
    name: c.name,
    base,
    ...(authorization ? { authorization } : {}),
    ...(ca ? { ca } : {}),
    secrets,
    options: {
      batchDocs: int('batch_docs', 1000, 1),
      batchBytes: int('batch_bytes', 5 * 1024 * 1024, 1024),
      concurrency: int('concurrency', 2, 1),
      pageSize: int('page_size', 1000, 1),
      export: exportWay,
      retries: int('retries', 5, 0),
      retryDelay: ms('retry_delay', 500),
      timeout: ms('timeout', 120_000),
    },
  };
}
