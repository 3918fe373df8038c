import { join } from 'node:path';
import type { Pipeline } from '../../config/types.js';
import { dataInterval, formatTimestamp, templateVars } from '../../config/templates.js';
import { formatDuration } from '../../config/duration.js';
import { loadPipelineOrThrow } from '../../config/load.js';
import { ConnectionManager } from '../../connectors/runtime.js';
import { execute, type RunObserver } from '../../dag/executor.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import { renderError } from '../../errors/render.js';
import { createLogger, closeLogger } from '../../log/logger.js';
import { makeRedactor, redactDeep } from '../../log/redact.js';
import { runNodeAttempt } from '../../nodes/run-node.js';
import { acquireLock } from '../../state/lock.js';
import { removeStaleTemps } from '../../state/stale-temps.js';
import { RunStore, type NodeRecord, type RunInvocation, type RunRecord, intervalOf } from '../../state/run-store.js';
import { WatermarkStore } from '../../state/watermarks.js';
import { EXIT } from '../exit-codes.js';
import { table } from '../output.js';
import { loadSelected, lockFile, stagingStore, stateDirs, type CommonOptions } from '../context.js';

export interface RunRequest {
  readonly invocation: RunInvocation;
  /** For `pigeon retry`: the run being retried, whose lineage, interval and unfinished nodes are reused. */
  readonly retryOf?: RunRecord;
  readonly retryNodes?: ReadonlySet<string>;
  readonly progressEveryMs?: number;
  /** Test hook: a durable step at which the process kills itself (see NodeEnv.fault). */
  readonly crashAt?: string;
}

/** `pigeon run` and `pigeon retry`: lock, record, execute, summarise. Returns the exit code. */
export async function runPipeline(req: RunRequest, common: CommonOptions): Promise<number> {
  const inv = req.invocation;
  const { pipeline, graph, selected } = loadSelected(inv.file, inv.select, inv.exclude, common);
  const dirs = stateDirs(common);
  const store = new RunStore(dirs.root);
  const runId = RunStore.newId();
  const lineage = req.retryOf?.lineage ?? runId;
  const redact = makeRedactor(pipeline.secrets);

  const toRun = req.retryNodes ? new Set([...selected].filter((n) => req.retryNodes!.has(n))) : selected;
  const order = graph.order(toRun);
  const interval = req.retryOf
    ? intervalOf(req.retryOf)
    : dataInterval({ ...(inv.date ? { date: inv.date } : {}), ...(inv.interval ? { interval: inv.interval } : {}) });
  const window = { start: formatTimestamp(interval.start), end: formatTimestamp(interval.end) };

  const lock = await acquireLock(lockFile(common, pipeline.name), runId);
  let run: RunRecord = {
    id: runId,
    lineage,
    ...(req.retryOf ? { retry_of: req.retryOf.id } : {}),
    pipeline: pipeline.name,
    invocation: redactDeep(inv, redact),
    data_interval: window,
    nodes: order,
    pid: process.pid,
    started_at: new Date().toISOString(),
    status: 'running',
  };
  // The record comes first: a run directory without run.json would look like a run that cannot be retried.
  try {
    await store.writeRun(run);
  } catch (e) {
    await lock.release();
    throw e;
  }
  const logger = createLogger({ format: common.logFormat, file: store.logFile(runId), secrets: pipeline.secrets });
  const log = (level: 'info' | 'warn' | 'debug' | 'error', message: string, fields: Record<string, unknown> = {}) =>
    logger.log(level, message, { run_id: runId, ...fields });
  if (lock.takenOver) log('warn', `took over a stale lock of run ${lock.takenOver.run_id} (pid ${lock.takenOver.pid} is gone)`);
  const staging = stagingStore(pipeline, common);
  // Holding the lock: temp files of killed runs (of any pipeline in this state directory: their pids are dead) go.
  const swept = await Promise.all([
    removeStaleTemps(join(dirs.root, 'runs'), 2),
    removeStaleTemps(join(dirs.root, 'watermarks'), 1),
    removeStaleTemps(dirs.locks, 0),
    staging.removeStaleTemps(pipeline.name),
  ]).catch((e: unknown) => {
    log('warn', `could not remove temp files of killed runs: ${(e as Error).message}`);
    return [];
  });
  for (const p of swept.flat()) log('debug', `removed ${p}, left by a killed run`);

  const connections = new ConnectionManager(pipeline.connections, { cwd: common.cwd, tmpDir: dirs.tmp });
  const interrupt = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) {
      process.stderr.write('second interrupt: exiting now\n');
      process.exit(EXIT.INTERRUPTED);
    }
    log('warn', `${sig}: stopping; running nodes are cancelled and recorded (press Ctrl-C again to exit at once)`);
    interrupt.abort(new PipelineError('ABORTED', `interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    for (const n of order) await store.writeNode(runId, { node: n, state: 'pending', attempts: 0 });
    log('info', `run ${runId}${req.retryOf ? ` (retry of ${req.retryOf.id})` : ''}: pipeline ${pipeline.name}, ${order.length} node${order.length === 1 ? '' : 's'}, data interval ${window.start} → ${window.end}`, {
      event: 'run_start',
      nodes: order,
    });

    const observers: RunObserver[] = [
      {
        nodeStarted: async (node, attempt) => {
          await store.writeNode(runId, { node, state: 'running', attempts: attempt, started_at: new Date().toISOString() });
          log('info', `${node}: started${attempt > 1 ? ` (attempt ${attempt})` : ''}`, { event: 'node_start', node, attempt });
        },
        nodeRetrying: (node, attempt, error, delay) => {
          log('warn', `${node}: attempt ${attempt} failed (${error.code}: ${error.message}); retrying in ${formatDuration(delay)}`, {
            event: 'node_retry',
            node,
            attempt,
            code: error.code,
            delay_ms: delay,
          });
        },
        nodeFinished: async (rec) => {
          await store.writeNode(runId, redactDeep(rec, redact));
          log(rec.state === 'succeeded' ? 'info' : rec.state === 'skipped' ? 'warn' : 'error', describeFinish(rec), { event: 'node_end', ...rec });
        },
        progress: (node, p, elapsed) => {
          const rate = elapsed > 0 ? Math.round((p.rowsExported * 1000) / elapsed) : 0;
          log('info', `${node}: ${p.rowsExported} rows exported, ${p.rowsImported} imported, ${(p.bytes / 1e6).toFixed(1)} MB, ${rate} rows/s`, {
            event: 'node_progress',
            node,
            rows_exported: p.rowsExported,
            rows_imported: p.rowsImported,
            bytes: p.bytes,
          });
        },
      },
    ];

    const watermarks = new WatermarkStore(dirs.root);
    // `{{ run_id }}` is the first run of a retry chain, so a retry renders the same queries and reuses checkpoints.
    const vars = templateVars(interval, lineage);
    const fault = req.crashAt
      ? (point: string) => {
          if (point === req.crashAt) process.kill(process.pid, 'SIGKILL');
        }
      : undefined;
    const result = await execute({
      pipeline,
      order,
      concurrency: inv.concurrency ?? pipeline.concurrency,
      failFast: inv.fail_fast,
      signal: interrupt.signal,
      observers,
      progressEveryMs: req.progressEveryMs ?? 10_000,
      runAttempt: (node, progress, signal) =>
        runNodeAttempt(
          node,
          { pipeline, lineage, vars, interval: window, connections, staging, watermarks, log, fault, ...(inv.full_refresh ? { fullRefresh: true } : {}) },
          progress,
          signal,
        ),
    });

    fault?.('@run:executed');
    run = { ...run, status: result.status, finished_at: new Date().toISOString() };
    if (result.status === 'succeeded') await staging.removeLineage(pipeline.name, lineage);
    await store.writeRun(run);
    fault?.('@run:recorded');
    process.stdout.write(redact(summary(pipeline, order, result.nodes, run)) + '\n');
    for (const rec of result.nodes.values()) {
      if (rec.state === 'failed' && rec.error) {
        const err = new PipelineError(rec.error.code as never, rec.error.message, {
          ...(rec.error.location ?? {}),
          node: rec.node,
          ...(rec.error.hint !== undefined ? { hint: rec.error.hint } : {}),
        });
        process.stderr.write(redact(renderError(err)) + '\n');
      }
    }
    if (result.status !== 'succeeded') process.stderr.write(`run ${runId} ${result.status}; \`pigeon retry ${runId}\` reruns what did not finish\n`);
    return result.status === 'succeeded' ? EXIT.OK : result.status === 'interrupted' ? EXIT.INTERRUPTED : EXIT.NODE_FAILED;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    const closeErrors = await connections.closeAll();
    for (const e of closeErrors) log('warn', `closing a connection failed: ${(e as Error).message}`);
    if (run.status === 'running') await store.writeRun({ ...run, status: 'failed', finished_at: new Date().toISOString() }).catch(() => {});
    await closeLogger(logger);
    await lock.release();
  }
}

/**
 * A run killed after its last node succeeded but before it finished its bookkeeping (the lineage's staging files,
 * the final status, the lock): `retry` has no node to rerun, so it completes that bookkeeping under the lock.
 */
export async function settleFinishedRun(run: RunRecord, common: CommonOptions): Promise<void> {
  const pipeline = loadPipelineOrThrow(run.invocation.file, { env: common.env });
  const store = new RunStore(stateDirs(common).root);
  const lock = await acquireLock(lockFile(common, pipeline.name), RunStore.newId());
  try {
    await stagingStore(pipeline, common).removeLineage(pipeline.name, run.lineage);
    const current = await store.readRun(run.id);
    if (current && current.status === 'running') await store.writeRun({ ...current, status: 'succeeded', finished_at: new Date().toISOString() });
  } finally {
    await lock.release();
  }
}

function describeFinish(rec: NodeRecord): string {
  const dur = rec.duration_ms !== undefined ? ` in ${formatDuration(rec.duration_ms)}` : '';
  switch (rec.state) {
    case 'succeeded':
      return `${rec.node}: succeeded${dur}, ${rec.rows_imported ?? 0} rows${rec.chunks_resumed ? ` (${rec.chunks_resumed}/${rec.chunks} chunks resumed)` : ''}${rec.note ? `; ${rec.note}` : ''}`;
    case 'skipped':
      return `${rec.node}: skipped (${rec.note ?? 'upstream failed'})`;
    default:
      return `${rec.node}: ${rec.state}${dur}${rec.error ? `: ${rec.error.code}: ${rec.error.message}` : ''}`;
  }
}

function summary(pipeline: Pipeline, order: readonly string[], nodes: ReadonlyMap<string, NodeRecord>, run: RunRecord): string {
  const rows = order.map((n) => {
    const r = nodes.get(n);
    const node = pipeline.nodes[n]!;
    return [
      n,
      r?.state ?? 'pending',
      `${node.source.connection} → ${node.target.connection}`,
      node.target.mode,
      r?.rows_imported !== undefined ? String(r.rows_imported) : '',
      r?.duration_ms !== undefined ? formatDuration(r.duration_ms) : '',
      r?.error ? `${r.error.code}` : (r?.note ?? ''),
    ];
  });
  const ok = [...nodes.values()].filter((r) => r.state === 'succeeded').length;
  return `\n${table(['node', 'state', 'route', 'mode', 'rows', 'time', 'note'], rows)}\n\nrun ${run.id}: ${run.status}, ${ok}/${order.length} nodes succeeded`;
}
