import { setTimeout as sleep } from 'node:timers/promises';
import { Job, Queue } from 'bullmq';
import type { ExecutorConfig, NodeConfig } from '../config/types.js';
import type { AttemptRunner } from '../dag/executor.js';
import { PipelineError } from '../errors/pipeline-error.js';
import type { NodeAttemptResult, NodeProgress } from '../nodes/run-node.js';
import type { AttemptSpan } from '../state/run-store.js';
import { attemptJobId, attemptJobPrefix, fromJobError, type AttemptJob, type AttemptJobResult, type AttemptProgress } from './job.js';
import type { Redis } from 'ioredis';
import { CANCELLED_TTL_S, cancelChannel, cancelledKey, describeRedis, pingRedis, redisClient, redisOptions } from './redis.js';
import type { SessionLedger } from './session-ledger.js';

/** How long finished jobs stay in Redis: a coordinator started later (`pigeon retry`) finds them until then. */
const KEEP_FINISHED_S = 7 * 24 * 3600;

export interface QueueRunnerOptions {
  readonly executor: ExecutorConfig;
  /** Everything of the job but the node, its attempt and its sessions. */
  readonly job: Omit<AttemptJob, 'node' | 'attempt' | 'sessions'>;
  readonly pipeline: string;
  readonly ledger: SessionLedger;
  /** How often a dispatched job is looked at (state, progress), in ms. */
  readonly pollMs?: number;
  /** Told which worker took an attempt (job attempt numbers: they go on across coordinators of one lineage). */
  readonly onWorker?: (node: string, attempt: number, worker: string) => void;
  /** Told the stretches a worker recorded for an attempt (the run report's timeline). */
  readonly onSpans?: (node: string, spans: readonly AttemptSpan[]) => void;
  readonly log: (level: 'info' | 'warn' | 'debug', message: string, fields?: Record<string, unknown>) => void;
}

/**
 * The coordinator's AttemptRunner for a distributed run: each attempt becomes a BullMQ job that a `pigeon worker`
 * runs, under a deterministic id (pipeline/lineage/node/attempt). The first attempt of a node in this process
 * looks for that node's jobs first: one still waiting or running (its coordinator was killed) is waited for, not
 * started again, and one that finished is the result of that attempt. The executor above keeps the schedule,
 * retries and timeouts as in-process; an attempt that is told to stop is taken off the queue or cancelled on its
 * worker.
 */
export class QueueRunner {
  readonly #opts: QueueRunnerOptions;
  readonly #queue: Queue;
  readonly #publisher: Redis;
  /** The last job attempt number of each node this coordinator knows of. */
  readonly #attempts = new Map<string, number>();
  readonly #waiting: (() => void)[] = [];

  private constructor(opts: QueueRunnerOptions, queue: Queue) {
    this.#opts = opts;
    this.#queue = queue;
    this.#publisher = redisClient(opts.executor.url);
  }

  /** Connects to the executor's Redis; EXECUTOR_FAILED when it does not answer. */
  static async connect(opts: QueueRunnerOptions): Promise<QueueRunner> {
    await pingRedis(opts.executor.url);
    const queue = new Queue(opts.executor.queue, { connection: redisOptions(opts.executor.url) });
    // Errors of the connection are retried by ioredis; without a listener they would be thrown as unhandled.
    queue.on('error', () => {});
    return new QueueRunner(opts, queue);
  }

  get where(): string {
    return `queue ${this.#opts.executor.queue} on ${describeRedis(this.#opts.executor.url)}`;
  }

  readonly runAttempt: AttemptRunner = async (node, progress, signal) => {
    const grant = this.#opts.ledger.shareOf([node.source.connection, node.target.connection]);
    await this.#take(grant, progress, signal);
    try {
      return await this.#run(node, grant, progress, signal);
    } finally {
      this.#opts.ledger.give(grant);
      for (const wake of this.#waiting.splice(0)) wake();
    }
  };

  async close(): Promise<void> {
    await this.#queue.close();
    this.#publisher.disconnect();
  }

  /** Waits until the ledger grants the sessions (another attempt holding them ends). */
  async #take(grant: Readonly<Record<string, number>>, progress: NodeProgress, signal: AbortSignal): Promise<void> {
    while (!this.#opts.ledger.tryTake(grant)) {
      progress.phase = `waiting for sessions of ${Object.keys(grant).join(', ')} (max_connections)`;
      if (signal.aborted) throw signal.reason;
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.#waiting.push(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    progress.phase = undefined;
  }

  async #run(node: NodeConfig, sessions: Readonly<Record<string, number>>, progress: NodeProgress, signal: AbortSignal): Promise<NodeAttemptResult> {
    const { pipeline } = this.#opts;
    let attempt: number;
    const known = this.#attempts.get(node.name);
    if (known === undefined) {
      const found = await this.#lastJob(node.name);
      if (found && !isSettled(found.job)) {
        this.#opts.log('info', `${node.name}: attempt ${found.attempt} is still queued or running (job ${found.job.id}): waiting for it instead of starting another`, { node: node.name, event: 'job_adopted', job: found.job.id });
        attempt = found.attempt;
      } else if (found && isSettled(found.job) && resultOf(found.job)?.ok === true) {
        this.#opts.log('info', `${node.name}: attempt ${found.attempt} (job ${found.job.id}) finished while no coordinator watched: taking its result`, { node: node.name, event: 'job_adopted', job: found.job.id });
        attempt = found.attempt;
      } else if (found && handedBack(found.job)) {
        // Handed back by a worker that was stopped, and never queued again (its coordinator was gone): it is queued now.
        await found.job.remove().catch(() => {});
        attempt = found.attempt;
      } else {
        attempt = (found?.attempt ?? 0) + 1;
      }
    } else {
      attempt = known + 1;
    }
    this.#attempts.set(node.name, attempt);
    const id = attemptJobId(pipeline, this.#opts.job.lineage, node.name, attempt);
    const data: AttemptJob = { ...this.#opts.job, node: node.name, attempt, sessions };
    const add = () => this.#queue.add(node.name, data, { jobId: id, attempts: 1, removeOnComplete: { age: KEEP_FINISHED_S }, removeOnFail: { age: KEEP_FINISHED_S } });
    // An id that exists already is not added again: BullMQ returns the job that has it.
    await add();
    progress.phase = 'queued, waiting for a worker';

    let worker: string | undefined;
    let stopping = false;
    for (;;) {
      if (signal.aborted && !stopping) {
        stopping = true;
        await this.#stop(id);
      }
      const job = await Job.fromId<AttemptJob, AttemptJobResult>(this.#queue, id);
      if (!job) {
        if (stopping) throw signal.reason;
        throw new PipelineError('WORKER_LOST', `the job of attempt ${attempt} (${id}) is gone from ${this.where}`, { node: node.name, transient: true, ...(worker ? { worker } : {}) });
      }
      const reported = job.progress as Partial<AttemptProgress> | number;
      if (typeof reported === 'object' && reported !== null) {
        if (reported.worker && reported.worker !== worker) {
          worker = reported.worker;
          this.#opts.onWorker?.(node.name, attempt, worker);
        }
        copyProgress(reported, progress, worker);
      }
      if (isSettled(job)) {
        const result = resultOf(job);
        if (!result) {
          // BullMQ failed the job itself: its worker was lost more often than maxStalledCount allows.
          throw new PipelineError('WORKER_LOST', `attempt ${attempt} was lost${worker ? ` with worker ${worker}` : ''}: ${job.failedReason || 'no result'}`, {
            node: node.name,
            transient: true,
            ...(worker ? { worker } : {}),
          });
        }
        if (result.worker !== worker) {
          worker = result.worker;
          this.#opts.onWorker?.(node.name, attempt, worker);
        }
        this.#opts.onSpans?.(node.name, result.spans);
        if (result.ok) return result.result;
        if (result.handed_back && !signal.aborted) {
          // Its worker was stopped mid-attempt: the same attempt goes back on the queue for another worker.
          this.#opts.log('info', `${node.name}: worker ${result.worker} handed attempt ${attempt} back; queueing it again`, { node: node.name, event: 'job_handed_back' });
          await job.remove().catch(() => {});
          await add();
          continue;
        }
        throw fromJobError(result.error);
      }
      await sleep(this.#opts.pollMs ?? 250);
    }
  }

  /** Takes a job that no worker has started off the queue, or asks its worker to cancel it. */
  async #stop(id: string): Promise<void> {
    const job = await Job.fromId(this.#queue, id);
    if (!job) return;
    // A job a worker holds is locked: remove() refuses it, and the worker is asked instead.
    const removed = await job.remove().then(
      () => true,
      () => false,
    );
    if (removed) return;
    const { queue } = this.#opts.executor;
    await this.#publisher.set(cancelledKey(queue, id), '1', 'EX', CANCELLED_TTL_S);
    await this.#publisher.publish(cancelChannel(queue), id);
  }

  /** The node's job with the highest attempt number in this lineage, if any is kept. */
  async #lastJob(node: string): Promise<{ attempt: number; job: Job<AttemptJob, AttemptJobResult> } | undefined> {
    const prefix = attemptJobPrefix(this.#opts.pipeline, this.#opts.job.lineage, node);
    let last: { attempt: number; job: Job<AttemptJob, AttemptJobResult> } | undefined;
    for (let attempt = 1; ; attempt++) {
      const job = await Job.fromId<AttemptJob, AttemptJobResult>(this.#queue, `${prefix}${attempt}`);
      if (!job) return last;
      last = { attempt, job };
    }
  }
}

function isSettled(job: Job): boolean {
  return job.finishedOn !== undefined && job.finishedOn !== null;
}

function handedBack(job: Job<AttemptJob, AttemptJobResult>): boolean {
  const r = resultOf(job);
  return r !== undefined && !r.ok && r.handed_back === true;
}

function resultOf(job: Job<AttemptJob, AttemptJobResult>): AttemptJobResult | undefined {
  const r = job.returnvalue as AttemptJobResult | null | undefined;
  return r && typeof r === 'object' && 'ok' in r ? r : undefined;
}

/** A worker's report into the executor's progress; the phase says where (live lines, status, a timeout's message). */
function copyProgress(from: Partial<AttemptProgress>, to: NodeProgress, worker: string | undefined): void {
  if (typeof from.rowsExported === 'number') to.rowsExported = from.rowsExported;
  if (typeof from.rowsImported === 'number') to.rowsImported = from.rowsImported;
  if (typeof from.bytes === 'number') to.bytes = from.bytes;
  const where = worker ? `on worker ${worker}` : undefined;
  to.phase = from.phase && where ? `${from.phase}, ${where}` : (from.phase ?? where);
  to.rowsTotal = from.rowsTotal;
}
