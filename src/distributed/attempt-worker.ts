import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { Worker, type Job } from 'bullmq';
import { isNode, parseDocument } from 'yaml';
import { loadPipelineOrThrow } from '../config/load.js';
import type { ConnectionConfig, Pipeline } from '../config/types.js';
import { ConnectionManager } from '../connectors/runtime.js';
import { PipelineError, PipelineErrors, toPipelineError } from '../errors/pipeline-error.js';
import { runNodeAttempt, type NodeProgress } from '../nodes/run-node.js';
import { writeFileAtomic } from '../state/atomic-file.js';
import type { AttemptSpan } from '../state/run-store.js';
import { stagingStore, stateDirs, watermarkStore, type CommonOptions } from '../cli/context.js';
import { toJobError, type AttemptJob, type AttemptJobResult, type AttemptProgress } from './job.js';
import { cancelChannel, cancelledKey, describeRedis, pingRedis, redisClient, redisOptions } from './redis.js';

export interface AttemptWorkerOptions {
  readonly url: string;
  readonly queue: string;
  /** Attempts run at once by this worker (default 1). */
  readonly concurrency: number;
  /** The worker's id in run records and errors (default hostname:pid). */
  readonly name?: string;
  /** The worker's own working directory, state directory and environment (`${ENV}` resolves from it). */
  readonly common: CommonOptions;
  /**
   * How long a job's lock lasts without renewal, in ms: a worker that dies is noticed after about this long and its
   * attempt goes to another worker. Default BullMQ's 30 s; tests make it short.
   */
  readonly lockMs?: number;
  readonly log: (level: 'info' | 'warn' | 'debug' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /** Test hook: a durable step of a node at which the process kills itself (see NodeEnv.fault). */
  readonly crashAt?: string;
}

export interface AttemptWorker {
  readonly id: string;
  /**
   * Stops taking attempts. `handBack`: the running ones are cancelled and handed back to the queue for another
   * worker; otherwise they are finished first.
   */
  close(handBack: boolean): Promise<void>;
}

/** How often a running attempt reports its progress to the coordinator. */
const PROGRESS_EVERY_MS = 1000;

/**
 * `pigeon worker`: takes node attempts off the queue and runs each with runNodeAttempt, exactly as an in-process
 * run does, with its own connections (bounded by the sessions the coordinator granted the attempt), the shared
 * staging, and the watermarks kept there. An attempt's failure is its job's result; the job fails only when the
 * worker is lost (BullMQ's stalled-job check then gives it to another worker, up to `maxStalledCount`).
 */
export async function startAttemptWorker(opts: AttemptWorkerOptions): Promise<AttemptWorker> {
  const id = opts.name ?? `${hostname()}:${process.pid}`;
  const pipelines = new Map<string, Pipeline>();
  let handingBack = false;

  const processor = async (job: Job<AttemptJob, AttemptJobResult>, _token?: string, signal?: AbortSignal): Promise<AttemptJobResult> => {
    const data = job.data;
    const spans: AttemptSpan[] = [];
    const progress: NodeProgress = { rowsExported: 0, rowsImported: 0, bytes: 0 };
    const report = () => job.updateProgress({ worker: id, ...progress } satisfies AttemptProgress).catch(() => {});
    await report();
    const ticker = setInterval(() => void report(), PROGRESS_EVERY_MS);
    const fields = { worker: id, node: data.node, attempt: data.attempt, run_id: data.run_id };
    opts.log('info', `${data.node}: attempt ${data.attempt} of run ${data.run_id} started`, { ...fields, event: 'node_start' });
    let connections: ConnectionManager | undefined;
    try {
      if ((await commands.exists(cancelledKey(opts.queue, String(job.id)))) === 1) {
        throw new PipelineError('ABORTED', 'the attempt was stopped by its coordinator before this worker took it up', { node: data.node });
      }
      const pipeline = await pipelineOf(data, opts.common, opts.url, pipelines);
      const node = pipeline.nodes[data.node];
      if (!node) throw new PipelineError('INVALID_CONFIG', `the pipeline has no node \`${data.node}\``, { node: data.node });
      connections = new ConnectionManager(granted(pipeline.connections, data.sessions), { cwd: opts.common.cwd, tmpDir: stateDirs(opts.common).tmp });
      const staging = stagingStore(pipeline, opts.common);
      const result = await runNodeAttempt(
        node,
        {
          pipeline,
          lineage: data.lineage,
          vars: data.template_vars,
          interval: data.interval,
          connections,
          staging,
          watermarks: watermarkStore(pipeline, opts.common, staging),
          log: (level, message, f = {}) => opts.log(level, message, { ...fields, ...f }),
          span: (s) => spans.push(s),
          ...(opts.crashAt ? { fault: (point: string) => point === opts.crashAt && process.kill(process.pid, 'SIGKILL') } : {}),
          ...(data.full_refresh ? { fullRefresh: true } : {}),
        },
        progress,
        signal ?? new AbortController().signal,
      );
      opts.log('info', `${data.node}: attempt ${data.attempt} succeeded, ${result.rowsImported} rows`, { ...fields, event: 'node_end' });
      return { worker: id, ok: true, result, spans };
    } catch (e) {
      // Stopped from outside (the coordinator, a lost lock, handing back): that is the error, whatever the unwinding threw.
      const stopped = signal?.aborted ? (signal.reason instanceof PipelineError ? signal.reason : new PipelineError('ABORTED', String(signal.reason ?? 'the attempt was stopped'))) : undefined;
      const base = stopped ?? errorOf(e, data.node);
      const err = base.withContext({ node: data.node, worker: id });
      opts.log('warn', `${data.node}: attempt ${data.attempt} failed: ${err.code}: ${err.message}`, { ...fields, event: 'node_end', code: err.code });
      return { worker: id, ok: false, error: toJobError(err), spans, ...(handingBack && signal?.aborted ? { handed_back: true } : {}) };
    } finally {
      clearInterval(ticker);
      const closing = await connections?.closeAll();
      for (const e of closing ?? []) opts.log('warn', `closing a connection failed: ${(e as Error).message}`, fields);
    }
  };

  await pingRedis(opts.url);
  const commands = redisClient(opts.url);
  const worker = new Worker<AttemptJob, AttemptJobResult>(opts.queue, processor, {
    connection: redisOptions(opts.url),
    concurrency: Math.max(1, opts.concurrency),
    name: id,
    autorun: false,
    ...(opts.lockMs !== undefined ? { lockDuration: opts.lockMs, stalledInterval: opts.lockMs } : {}),
    // Finished jobs are the coordinator's to keep (it sets removeOnComplete/removeOnFail when it adds them).
  });
  worker.on('error', (e) => opts.log('warn', `redis: ${e.message}`, { event: 'worker_error' }));
  // A lock this worker could not renew (its event loop stalled, Redis was away) may already be another worker's:
  // that one runs the attempt now, so this copy stops rather than race it to the same staging and target.
  worker.on('lockRenewalFailed', (ids: string[]) => {
    for (const jobId of ids) {
      if (worker.cancelJob(jobId, 'the job lock was lost')) opts.log('warn', `job ${jobId}: lock lost, attempt stopped (another worker takes it)`, { event: 'lock_lost' });
    }
  });
  // The coordinator asks for an attempt to stop (its timeout, Ctrl-C, --fail-fast) on this channel.
  const subscriber = redisClient(opts.url);
  await subscriber.subscribe(cancelChannel(opts.queue));
  subscriber.on('message', (_channel: string, jobId: string) => {
    if (worker.cancelJob(jobId, 'cancelled by the coordinator')) opts.log('info', `job ${jobId} cancelled by its coordinator`, { event: 'job_cancelled' });
  });
  worker.run().catch((e: unknown) => opts.log('error', `the worker stopped taking attempts: ${(e as Error).message}`, { event: 'worker_error' }));
  opts.log('info', `worker ${id} takes attempts from queue ${opts.queue} on ${describeRedis(opts.url)} (${Math.max(1, opts.concurrency)} at once)`, { event: 'worker_start', worker: id });

  return {
    id,
    close: async (handBack) => {
      if (handBack) {
        handingBack = true;
        worker.cancelAllJobs('the worker is stopping: attempt handed back');
      }
      await worker.close();
      subscriber.disconnect();
      commands.disconnect();
    },
  };
}

/** Connections as the attempt may use them: each one the coordinator granted sessions of holds at most that many. */
function granted(configs: Readonly<Record<string, ConnectionConfig>>, sessions: Readonly<Record<string, number>>): Record<string, ConnectionConfig> {
  return Object.fromEntries(Object.entries(configs).map(([name, c]) => [name, sessions[name] === undefined ? c : { ...c, max_connections: sessions[name] }]));
}

/**
 * The job's pipeline, loaded with this worker's environment from a copy of the text the coordinator sent
 * (`<state dir>/worker/<sha256>/<file>`: file names in messages stay the user's). Cached by text and vars.
 */
async function pipelineOf(data: AttemptJob, common: CommonOptions, redisUrl: string, cache: Map<string, Pipeline>): Promise<Pipeline> {
  const hash = createHash('sha256').update(data.text).digest('hex').slice(0, 16);
  const key = `${hash}\0${JSON.stringify(data.vars)}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const file = join(stateDirs(common).root, 'worker', hash, basename(data.file));
  if (!existsSync(file)) await writeFileAtomic(file, data.text);
  let pipeline: Pipeline;
  try {
    pipeline = loadPipelineOrThrow(file, { env: { ...executorVariables(data.text, redisUrl), ...common.env }, vars: data.vars });
  } catch (e) {
    if (e instanceof PipelineErrors) {
      const first = e.errors[0]!;
      throw new PipelineError(first.code, `the pipeline does not load on this worker: ${e.errors.map((x) => x.message).join('; ')}`, { hint: 'every worker needs the variables the pipeline\'s ${…} name, in its environment or its .env' });
    }
    throw e;
  }
  cache.set(key, pipeline);
  return pipeline;
}

/**
 * The variables the pipeline's `executor:` names, each set to this worker's Redis URL: a worker never uses the key
 * (it was told its Redis), so its environment need not have them. Its own values win when it has them.
 */
function executorVariables(text: string, redisUrl: string): Record<string, string> {
  let executor: unknown;
  try {
    executor = parseDocument(text).get('executor');
  } catch {
    return {};
  }
  const written = JSON.stringify(isNode(executor) ? executor.toJSON() : (executor ?? null));
  return Object.fromEntries([...written.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => [m[1]!, redisUrl]));
}

function errorOf(e: unknown, node: string): PipelineError {
  return toPipelineError(e, 'INTERNAL', { node });
}
