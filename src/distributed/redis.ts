import { Redis, type RedisOptions } from 'ioredis';
import { PipelineError } from '../errors/pipeline-error.js';

/** How long the coordinator and a worker wait for Redis to answer when they start. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * ioredis options for a `redis://[user:password@]host:port[/db]` (or `rediss://`, TLS) URL. `maxRetriesPerRequest:
 * null` is what BullMQ's blocking connections require; commands wait for a lost connection to come back.
 */
export function redisOptions(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PipelineError('USAGE', `executor \`${describeRedis(url)}\` is not a URL`, { hint: 'write it as redis://host:6379' });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new PipelineError('USAGE', `executor \`${describeRedis(url)}\` is not a redis:// URL`, { hint: 'write it as redis://host:6379 (rediss:// for TLS)' });
  }
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port === '' ? 6379 : Number(u.port),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== '' ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: null,
    // Back off up to 2 s between reconnects, for ever: a Redis restart must not end a long run.
    retryStrategy: (times: number) => Math.min(times * 200, 2000),
  };
}

/** The URL without its password, for messages and run records. */
export function describeRedis(url: string): string {
  return url.replace(/^(\w+:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

/** A client of its own (pub/sub, PING), besides the ones BullMQ opens. */
export function redisClient(url: string): Redis {
  const client = new Redis(redisOptions(url));
  // Connection errors are retried (retryStrategy); without a listener ioredis would print each one.
  client.on('error', () => {});
  return client;
}

/**
 * Waits until Redis answers PING, at most CONNECT_TIMEOUT_MS: an unreachable Redis is a clear error at once, not a
 * process that waits for ever for its first command.
 */
export async function pingRedis(url: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const client = redisClient(url);
  try {
    await Promise.race([
      client.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
      }),
    ]);
  } catch (e) {
    throw new PipelineError('EXECUTOR_FAILED', `cannot reach Redis at ${describeRedis(url)}: ${(e as Error).message}`, {
      cause: e,
      hint: 'check the executor URL (`--executor` or `executor:`) and that Redis runs and accepts connections from here',
    });
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/** The pub/sub channel on which a coordinator asks the workers of a queue to stop an attempt (the job id). */
export function cancelChannel(queue: string): string {
  return `pigeon:${queue}:cancel`;
}

/**
 * The key that marks an attempt as stopped by its coordinator, for a worker that takes it up only later (its first
 * worker was lost, and BullMQ's stalled-job check gave it to another): that worker must not run it.
 */
export function cancelledKey(queue: string, jobId: string): string {
  return `pigeon:${queue}:cancelled:${jobId}`;
}

/** How long a cancelled mark is kept: longer than any job waits to be taken up again. */
export const CANCELLED_TTL_S = 7 * 24 * 3600;
