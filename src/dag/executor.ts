import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import type { NodeConfig, Pipeline } from '../config/types.js';
import { PipelineError, toPipelineError } from '../errors/pipeline-error.js';
import { isTransient } from '../errors/transient.js';
import type { NodeAttemptResult, NodeProgress } from '../nodes/run-node.js';
import type { NodeRecord, RunStatus } from '../state/run-store.js';
import { Schedule } from './schedule.js';

/** Runs one attempt of one node; the executor does not know where or how (in-process today, a worker later). */
export type AttemptRunner = (node: NodeConfig, progress: NodeProgress, signal: AbortSignal) => Promise<NodeAttemptResult>;

/** Life-cycle observers: logging, run records and progress hang off these; the executor itself does no I/O. */
export interface RunObserver {
  nodeStarted?(node: string, attempt: number): void | Promise<void>;
  nodeRetrying?(node: string, attempt: number, error: PipelineError, delayMs: number): void | Promise<void>;
  nodeFinished?(record: NodeRecord): void | Promise<void>;
  progress?(node: string, progress: Readonly<NodeProgress>, elapsedMs: number): void;
}

export interface ExecuteOptions {
  readonly pipeline: Pipeline;
  /** The nodes to run, in a topological order. */
  readonly order: readonly string[];
  readonly concurrency: number;
  readonly failFast: boolean;
  readonly signal: AbortSignal;
  readonly runAttempt: AttemptRunner;
  readonly observers: readonly RunObserver[];
  /** How often `progress` is called for each running node, in ms (0: never). */
  readonly progressEveryMs?: number;
  /** Injectable for tests; must reject when `signal` aborts. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly random?: () => number;
  /** How long an attempt that was told to stop (timeout, Ctrl-C) may take to stop before it is abandoned. */
  readonly stopGraceMs?: number;
}

export interface RunResult {
  readonly status: RunStatus;
  readonly nodes: ReadonlyMap<string, NodeRecord>;
}

/**
 * Runs the schedule: independent nodes in parallel up to `concurrency`, each with retries (transient errors only,
 * exponential backoff with jitter) and a timeout per attempt. A node failure is a result, not an exception:
 * its dependants are skipped and other branches go on (unless fail-fast).
 */
export async function execute(opts: ExecuteOptions): Promise<RunResult> {
  const deps = new Map(opts.order.map((n) => [n, opts.pipeline.nodes[n]!.depends_on]));
  const schedule = new Schedule(opts.order, deps);
  const records = new Map<string, NodeRecord>();
  const limit = pLimit(Math.max(1, opts.concurrency));
  const stopAll = new AbortController();
  const runSignal = AbortSignal.any([opts.signal, stopAll.signal]);
  // Every running node listens to the run's signal: more than Node's default of 10 is normal.
  setMaxListeners(0, runSignal, opts.signal);
  const sleep = opts.sleep ?? abortableSleep;
  const random = opts.random ?? Math.random;
  const inFlight = new Set<Promise<void>>();
  let wake: () => void = () => {};

  const record = async (rec: NodeRecord) => {
    records.set(rec.node, rec);
    for (const o of opts.observers) await o.nodeFinished?.(rec);
  };

  const skip = async (nodes: readonly string[]) => {
    for (const n of nodes) {
      await record({ node: n, state: 'skipped', attempts: 0, note: schedule.skippedBecause(n) ?? 'skipped' });
    }
  };

  const runOne = async (name: string) => {
    const node = opts.pipeline.nodes[name]!;
    const rec = await runWithRetries(node, opts, runSignal, sleep, random);
    const skipped = schedule.finish(name, rec.state === 'succeeded' ? 'succeeded' : rec.state === 'interrupted' ? 'interrupted' : 'failed');
    await record(rec);
    await skip(skipped);
    if (rec.state === 'failed' && opts.failFast && !stopAll.signal.aborted) {
      stopAll.abort(new PipelineError('ABORTED', `stopped early: node \`${name}\` failed (--fail-fast)`));
    }
  };

  runSignal.addEventListener('abort', () => wake(), { once: true });
  while (!schedule.done()) {
    if (runSignal.aborted) {
      const reason = opts.signal.aborted ? 'run interrupted before it started' : `not started: another node failed (--fail-fast)`;
      await skip(schedule.skipPending(reason));
    }
    for (const name of runSignal.aborted ? [] : schedule.ready()) {
      schedule.start(name);
      const p = limit(async () => {
        if (runSignal.aborted) {
          // Queued behind the concurrency limit when the run stopped: it never started.
          schedule.finish(name, 'interrupted');
          await record({ node: name, state: 'skipped', attempts: 0, note: 'not started: the run stopped' });
          return;
        }
        await runOne(name);
      })
        .catch(async (e) => {
          // Only a bug gets here (runOne turns failures into records): keep the run honest anyway.
          if (schedule.state(name) === 'running') schedule.finish(name, 'failed');
          await record({ node: name, state: 'failed', attempts: 0, error: errorOf(toPipelineError(e, 'INTERNAL')) });
        })
        .finally(() => {
          inFlight.delete(p);
          wake();
        });
      inFlight.add(p);
    }
    if (schedule.done()) break;
    if (inFlight.size === 0) {
      // Nothing running and nothing ready: only possible if the order misses a dependency. Fail loudly, not hang.
      await skip(schedule.skipPending('internal: unreachable node'));
      break;
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
  }
  await Promise.allSettled([...inFlight]);

  const states = [...records.values()].map((r) => r.state);
  const status: RunStatus = opts.signal.aborted
    ? 'interrupted'
    : states.some((s) => s === 'failed' || s === 'skipped' || s === 'interrupted')
      ? 'failed'
      : 'succeeded';
  return { status, nodes: records };
}

async function runWithRetries(
  node: NodeConfig,
  opts: ExecuteOptions,
  runSignal: AbortSignal,
  sleep: (ms: number, signal: AbortSignal) => Promise<void>,
  random: () => number,
): Promise<NodeRecord> {
  const started = Date.now();
  const progress: NodeProgress = { rowsExported: 0, rowsImported: 0, bytes: 0 };
  const base = { node: node.name, started_at: new Date(started).toISOString() };
  let attempt = 0;
  for (;;) {
    attempt++;
    progress.rowsExported = 0;
    progress.rowsImported = 0;
    progress.bytes = 0;
    progress.phase = undefined;
    progress.rowsTotal = undefined;
    for (const o of opts.observers) await o.nodeStarted?.(node.name, attempt);
    const ticker =
      opts.progressEveryMs && opts.progressEveryMs > 0
        ? setInterval(() => {
            for (const o of opts.observers) o.progress?.(node.name, progress, Date.now() - started);
          }, opts.progressEveryMs)
        : undefined;
    ticker?.unref();
    const outcome = await runAttempt(node, opts, progress, runSignal);
    if (ticker) clearInterval(ticker);
    const end = { finished_at: new Date().toISOString(), duration_ms: Date.now() - started, attempts: attempt };
    if (outcome.ok) {
      const r = outcome.result;
      return {
        ...base,
        ...end,
        state: 'succeeded',
        rows_exported: r.rowsExported,
        rows_imported: r.rowsImported,
        bytes: r.bytes,
        chunks: r.chunks,
        chunks_resumed: r.chunksResumed,
        ...(r.counts ? { counts: r.counts } : {}),
        ...(r.note ? { note: r.note } : {}),
      };
    }
    const err = outcome.error;
    if (runSignal.aborted) {
      return { ...base, ...end, state: 'interrupted', error: errorOf(err), note: opts.signal.aborted ? 'interrupted' : 'stopped: another node failed (--fail-fast)' };
    }
    const transient = err.code === 'TIMEOUT' ? !outcome.abandoned : isTransient(err);
    if (!transient || attempt > node.retries) {
      return {
        ...base,
        ...end,
        state: 'failed',
        rows_exported: progress.rowsExported,
        rows_imported: progress.rowsImported,
        error: errorOf(err, transient),
        ...(transient && node.retries > 0 ? { note: `gave up after ${attempt} attempts` } : {}),
      };
    }
    // Exponential backoff with jitter in [50%, 100%], so retries of many nodes do not hit a server in lockstep.
    const delay = Math.round(node.retry_delay * 2 ** (attempt - 1) * (0.5 + random() / 2));
    for (const o of opts.observers) await o.nodeRetrying?.(node.name, attempt, err, delay);
    try {
      await sleep(delay, runSignal);
    } catch {
      return { ...base, ...end, state: 'interrupted', error: errorOf(err), note: 'interrupted while waiting to retry' };
    }
  }
}

type AttemptOutcome =
  | { ok: true; result: NodeAttemptResult }
  | { ok: false; error: PipelineError; abandoned?: boolean };

/** One attempt under its timeout. An attempt told to stop gets a grace period to clean up before it is abandoned. */
async function runAttempt(node: NodeConfig, opts: ExecuteOptions, progress: NodeProgress, runSignal: AbortSignal): Promise<AttemptOutcome> {
  const timeout = new AbortController();
  const timer = setTimeout(
    () => {
      const doing = progress.phase ? `, while ${progress.phase}` : '';
      // A commit that cannot finish in time is almost always waiting for a lock another session holds on the target.
      const hint = progress.phase?.startsWith('committing') ? 'the commit waits for locks on the target table: another session may hold one (a long transaction, an open cursor)' : undefined;
      timeout.abort(
        new PipelineError('TIMEOUT', `node \`${node.name}\` did not finish within its timeout of ${Math.round(node.timeout / 1000)}s${doing}`, {
          node: node.name,
          transient: true,
          ...(hint ? { hint } : {}),
        }),
      );
    },
    node.timeout,
  );
  const signal = AbortSignal.any([runSignal, timeout.signal]);
  setMaxListeners(0, signal);
  const attempt = (async () => opts.runAttempt(node, progress, signal))();
  attempt.catch(() => {});
  const stopped = new Promise<'stopped'>((resolve) => {
    if (signal.aborted) resolve('stopped');
    signal.addEventListener('abort', () => resolve('stopped'), { once: true });
  });
  try {
    const first = await Promise.race([attempt, stopped]);
    if (first !== 'stopped') return { ok: true, result: first };
    // Let the attempt unwind (drop its staging table, remove its partial file) before anything else touches them.
    const grace = opts.stopGraceMs ?? 30_000;
    let graceTimer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      attempt.then(
        () => true,
        () => true,
      ),
      new Promise<false>((r) => {
        graceTimer = setTimeout(() => r(false), grace);
      }),
    ]);
    clearTimeout(graceTimer);
    const reason = signal.reason instanceof PipelineError ? signal.reason : new PipelineError('ABORTED', 'the run was interrupted', { node: node.name });
    return { ok: false, error: reason, abandoned: !settled };
  } catch (e) {
    const err = signal.aborted && signal.reason instanceof PipelineError ? signal.reason : toPipelineError(e, 'INTERNAL', { node: node.name });
    return { ok: false, error: err.location.node ? err : err.withContext({ node: node.name }) };
  } finally {
    clearTimeout(timer);
  }
}

export function errorOf(e: PipelineError, transient?: boolean): NonNullable<NodeRecord['error']> {
  const location = Object.fromEntries(Object.entries(e.location).filter(([, v]) => v !== undefined));
  // The cause's message only when it adds something (render.ts's rule): a store's message often quotes it whole.
  const cause = e.cause instanceof Error && e.cause.message.trim() !== '' && !e.message.includes(e.cause.message.trim()) ? e.cause.message : undefined;
  return {
    code: e.code,
    message: cause ? `${e.message} (${cause})` : e.message,
    ...(Object.keys(location).length > 0 ? { location } : {}),
    ...(transient ?? e.transient ? { transient: true } : {}),
    ...(e.hint !== undefined ? { hint: e.hint } : {}),
  };
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
