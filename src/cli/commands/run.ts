import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS, type ExecutorConfig, type Pipeline } from '../../config/types.js';
import { unsharedStaging } from '../../config/validate.js';
import { QueueRunner } from '../../distributed/queue-runner.js';
import { SessionLedger } from '../../distributed/session-ledger.js';
import { describeRedis } from '../../distributed/redis.js';
import type { NodeProgress } from '../../nodes/export-chunks.js';
import { dataInterval, formatTimestamp, renderTemplate, templateVars } from '../../config/templates.js';
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
import { EXIT } from '../exit-codes.js';
import { loadSelected, lockFile, stagingShared, stagingStore, stateDirs, watermarkStore, type CommonOptions } from '../context.js';
import { colorWanted } from '../../log/colors.js';
import { LiveProgress } from '../../log/live-progress.js';
import { summaryText, runTotals } from '../../log/summary.js';
import { TimelineRecorder } from '../../log/timeline.js';
import { writeRunReport } from '../../report/write-report.js';
import { errorEvent } from '../output.js';
import { CONSOLE_SILENT } from '../../log/logger.js';
import type { AttemptSpan, RunNodePlan } from '../../state/run-store.js';

export interface RunRequest {
  readonly invocation: RunInvocation;
  /** For `pigeon retry`: the run being retried, whose lineage, interval and unfinished nodes are reused. */
  readonly retryOf?: RunRecord;
  readonly retryNodes?: ReadonlySet<string>;
  readonly progressEveryMs?: number;
  /** Test hook: a durable step at which the process kills itself (see NodeEnv.fault). */
  readonly crashAt?: string;
  /** Told the run's id once it is recorded (the library returns it). */
  readonly onRunId?: (id: string) => void;
  /** Library use: nothing on stdout or stderr (the run's records and log.jsonl are written as always). */
  readonly silent?: boolean;
  /** `--executor`/`--queue`: run the nodes on workers (else the pipeline's `executor:`, else in this process). */
  readonly executor?: ExecutorChoice;
}

/** What the command line says of the executor: each part overrides the pipeline's. */
export interface ExecutorChoice {
  readonly url?: string;
  readonly queue?: string;
}

/** `pigeon run` and `pigeon retry`: lock, record, execute, summarise. Returns the exit code. */
export async function runPipeline(req: RunRequest, common: CommonOptions): Promise<number> {
  const inv = req.invocation;
  const { pipeline, graph, selected } = loadSelected(inv.file, inv.select, inv.exclude, { ...common, vars: inv.vars ?? {} });
  const dirs = stateDirs(common);
  const store = new RunStore(dirs.root);
  const runId = RunStore.newId();
  req.onRunId?.(runId);
  const out = req.silent ? { write: () => true } : process.stdout;
  const errOut = req.silent ? { write: () => true } : process.stderr;
  const lineage = req.retryOf?.lineage ?? runId;
  const redact = makeRedactor(pipeline.secrets);

  const toRun = req.retryNodes ? new Set([...selected].filter((n) => req.retryNodes!.has(n))) : selected;
  const order = graph.order(toRun);
  const interval = req.retryOf
    ? intervalOf(req.retryOf)
    : dataInterval({ ...(inv.date ? { date: inv.date } : {}), ...(inv.interval ? { interval: inv.interval } : {}) });
  const window = { start: formatTimestamp(interval.start), end: formatTimestamp(interval.end) };

  const executor = executorOf(req.executor ?? {}, pipeline, req.retryOf?.invocation.executor);
  const staging = stagingStore(pipeline, common);
  if (executor && !stagingShared(pipeline)) {
    const problem = unsharedStaging();
    throw new PipelineError(problem.code, problem.message, { file: inv.file, hint: problem.hint });
  }
  const connections = new ConnectionManager(pipeline.connections, { cwd: common.cwd, tmpDir: dirs.tmp });
  const concurrency = inv.concurrency ?? pipeline.concurrency;
  // Set once the logger and the run's bookkeeping exist; the runner calls them only while nodes run.
  let log: (level: 'info' | 'warn' | 'debug' | 'error', message: string, fields?: Record<string, unknown>) => void = () => {};
  let onWorker: (node: string, attempt: number, worker: string) => void = () => {};
  let onSpans: (node: string, spans: readonly AttemptSpan[]) => void = () => {};
  // Connected before the lock and the run record: an unreachable Redis fails the command, not a run.
  const runner = executor
    ? await QueueRunner.connect({
        executor,
        pipeline: pipeline.name,
        ledger: new SessionLedger(new Map(Object.keys(pipeline.connections).map((c) => [c, connections.maxConnections(c)])), concurrency),
        job: {
          version: 1,
          run_id: runId,
          lineage,
          file: pipeline.file,
          text: readFileSync(pipeline.file, 'utf8'),
          vars: inv.vars ?? {},
          template_vars: templateVars(interval, lineage, inv.vars),
          interval: window,
          ...(inv.full_refresh ? { full_refresh: true } : {}),
        },
        onWorker: (node, attempt, worker) => onWorker(node, attempt, worker),
        onSpans: (node, spans) => onSpans(node, spans),
        log: (level, message, fields) => log(level, message, fields),
      })
    : undefined;
  let lock: Awaited<ReturnType<typeof acquireLock>>;
  try {
    lock = await acquireLock(lockFile(common, pipeline.name), runId);
  } catch (e) {
    await runner?.close();
    throw e;
  }
  let run: RunRecord = {
    id: runId,
    lineage,
    ...(req.retryOf ? { retry_of: req.retryOf.id } : {}),
    pipeline: pipeline.name,
    invocation: redactDeep(executor ? { ...inv, executor: { url: describeRedis(executor.url), queue: executor.queue } } : inv, redact),
    data_interval: window,
    nodes: order,
    plan: runPlan(pipeline, order, templateVars(interval, lineage, inv.vars)),
    pid: process.pid,
    started_at: new Date().toISOString(),
    status: 'running',
  };
  // The record comes first: a run directory without run.json would look like a run that cannot be retried.
  try {
    await store.writeRun(run);
  } catch (e) {
    await runner?.close();
    await lock.release();
    throw e;
  }
  // On a terminal (text logs, not --quiet) a live block shows every running node; log lines print above it.
  const live =
    common.logFormat === 'text' && !common.quiet && !req.silent && process.stderr.isTTY
      ? new LiveProgress({ out: errOut as typeof process.stderr, color: colorWanted(true, common.env), total: order.length })
      : undefined;
  const logger = createLogger({
    format: common.logFormat,
    file: store.logFile(runId),
    secrets: pipeline.secrets,
    ...(common.quiet ? { level: 'warn' } : {}),
    ...(live ? { write: (line: string) => live.log(line) } : req.silent ? { write: () => {} } : {}),
  });
  log = (level, message, fields = {}) => logger.log(level, message, { run_id: runId, ...fields });
  if (lock.takenOver) log('warn', `took over a stale lock of run ${lock.takenOver.run_id} (pid ${lock.takenOver.pid} is gone)`);
  if (runner) log('info', `nodes run on the workers of ${runner.where}`, { event: 'executor', queue: executor!.queue });
  // Holding the lock: temp files of killed runs (of any pipeline in this state directory: their pids are dead) go.
  const sweptFailed = (e: unknown) => {
    log('warn', `could not remove temp files of killed runs: ${(e as Error).message}`);
    return [];
  };
  const sweptLog = (paths: readonly string[]) => {
    for (const p of paths) log('debug', `removed ${p}, left by a killed run`);
  };
  // The staging's sweep goes on while the nodes run: what it removes belongs to dead processes (a local temp whose
  // pid is gone, an S3 multipart upload a day old), never to this run, and for S3 it costs the SDK's loading and a
  // listing that the first node would otherwise wait for.
  const stagingSwept = staging.removeStaleTemps(pipeline.name).catch(sweptFailed).then(sweptLog);
  sweptLog(
    (await Promise.all([removeStaleTemps(join(dirs.root, 'runs'), 2), removeStaleTemps(join(dirs.root, 'watermarks'), 1), removeStaleTemps(dirs.locks, 0)]).catch(sweptFailed)).flat(),
  );

  const interrupt = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) {
      live?.stop();
      process.stderr.write(common.logFormat === 'json' ? JSON.stringify({ level: 'error', message: 'second interrupt: exiting now', event: 'exit', run_id: runId, timestamp: new Date().toISOString() }) + '\n' : 'second interrupt: exiting now\n');
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

    const timeline = new TimelineRecorder();
    const attempts = new Map<string, { attempt: number; started_at: string }>();
    const workers = new Map<string, { attempt: number; worker: string }[]>();
    onWorker = (node, attempt, worker) => {
      // An attempt whose worker was lost and that another worker took up has both.
      const list = workers.get(node) ?? [];
      if (list.some((w) => w.attempt === attempt && w.worker === worker)) return;
      workers.set(node, [...list, { attempt, worker }]);
      log('info', `${node}: attempt ${attempt} runs on worker ${worker}`, { event: 'node_worker', node, attempt, worker });
    };
    onSpans = (node, spans) => {
      for (const s of spans) timeline.span(node, s);
    };
    const lastLine = new Map<string, number>();
    const lastRecord = new Map<string, number>();
    const progressEvery = req.progressEveryMs ?? 10_000;
    const observers: RunObserver[] = [
      timeline.observer(),
      {
        nodeStarted: async (node, attempt) => {
          const started_at = attempts.get(node)?.started_at ?? new Date().toISOString();
          attempts.set(node, { attempt, started_at });
          lastLine.set(node, Date.now());
          await store.writeNode(runId, { node, state: 'running', attempts: attempt, started_at });
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
          const ran = workers.get(rec.node);
          const full = timeline.withTimeline(ran ? { ...rec, workers: ran } : rec);
          await store.writeNode(runId, redactDeep(full, redact));
          log(rec.state === 'succeeded' ? 'info' : rec.state === 'skipped' ? 'warn' : 'error', describeFinish(rec), { event: 'node_end', ...rec });
        },
        progress: (node, p, elapsed) => {
          const now = Date.now();
          // The running node's record carries live counts, for `pigeon status` from another terminal.
          if (now - (lastRecord.get(node) ?? 0) >= 1000) {
            lastRecord.set(node, now);
            const a = attempts.get(node);
            void store.writeNode(runId, { ...liveRecord(node, p, a?.attempt ?? 1, a?.started_at), ...(workers.has(node) ? { workers: workers.get(node)! } : {}) }).catch(() => {});
          }
          if (live || progressEvery <= 0 || now - (lastLine.get(node) ?? now) < progressEvery) return;
          lastLine.set(node, now);
          const rate = elapsed > 0 ? Math.round((p.rowsExported * 1000) / elapsed) : 0;
          log('info', `${node}: ${p.rowsExported} rows exported, ${p.rowsImported} imported, ${(p.bytes / 1e6).toFixed(1)} MB, ${rate} rows/s`, {
            event: 'node_progress',
            node,
            rows_exported: p.rowsExported,
            rows_imported: p.rowsImported,
            bytes: p.bytes,
            ...(p.rowsTotal !== undefined ? { rows_total: p.rowsTotal } : {}),
          });
        },
      },
      ...(live ? [live.observer()] : []),
    ];
    live?.start();

    const watermarks = watermarkStore(pipeline, common, staging);
    // `{{ run_id }}` is the first run of a retry chain, so a retry renders the same queries and reuses checkpoints.
    const vars = templateVars(interval, lineage, inv.vars);
    const fault = req.crashAt
      ? (point: string) => {
          if (point === req.crashAt) process.kill(process.pid, 'SIGKILL');
        }
      : undefined;
    const result = await execute({
      pipeline,
      order,
      concurrency,
      failFast: inv.fail_fast,
      signal: interrupt.signal,
      observers,
      // Ticks feed the live block (often), the live records and the progress lines (each throttles itself).
      progressEveryMs: live ? 250 : Math.min(1000, progressEvery > 0 ? progressEvery : 1000),
      runAttempt: runner
        ? runner.runAttempt
        : (node, progress, signal) =>
        runNodeAttempt(
          node,
          {
            pipeline,
            lineage,
            vars,
            interval: window,
            connections,
            staging,
            watermarks,
            log,
            fault,
            span: (span) => timeline.span(node.name, span),
            ...(inv.full_refresh ? { fullRefresh: true } : {}),
          },
          progress,
          signal,
        ),
    });

    fault?.('@run:executed');
    live?.stop();
    run = { ...run, status: result.status, finished_at: new Date().toISOString() };
    if (result.status === 'succeeded') await staging.removeLineage(pipeline.name, lineage);
    await store.writeRun(run);
    fault?.('@run:recorded');
    const recorded = await store.readNodes(runId);
    out.write(redact(summaryText(run, recorded, colorWanted(process.stdout.isTTY === true, common.env))) + '\n');
    for (const rec of result.nodes.values()) {
      if (rec.state === 'failed' && rec.error) {
        const err = new PipelineError(rec.error.code as never, rec.error.message, {
          ...(rec.error.location ?? {}),
          node: rec.node,
          ...(rec.error.hint !== undefined ? { hint: rec.error.hint } : {}),
        });
        // On a terminal the rendered error (with its caret); in the logs (and on stderr as JSON) an event.
        if (common.logFormat === 'text') errOut.write(redact(renderError(err)) + '\n');
        log('error', `${rec.node}: ${err.code}: ${err.message}`, { ...errorEvent(err), [CONSOLE_SILENT]: common.logFormat === 'text' });
      }
    }
    if (result.status !== 'succeeded') {
      const hint = `run ${runId} ${result.status}; \`pigeon retry ${runId}\` reruns what did not finish`;
      log('warn', hint, { event: 'retry_hint', command: `pigeon retry ${runId}`, [CONSOLE_SILENT]: common.logFormat === 'text' });
      if (common.logFormat === 'text') errOut.write(`${hint}\n`);
    }
    try {
      const file = await writeRunReport(store, runId, { redact });
      log('debug', `report written to ${file}`, { event: 'report_written', file });
    } catch (e) {
      log('warn', `could not write the run report: ${(e as Error).message}`, { event: 'report_failed' });
    }
    const totals = runTotals(run, recorded);
    log(result.status === 'succeeded' ? 'info' : 'warn', `run ${runId} ${result.status}`, {
      event: 'run_finished',
      ...totals,
      per_node: run.nodes.map((n) => {
        const r = recorded.get(n);
        return { node: n, state: r?.state ?? 'pending', rows: r?.rows_imported ?? 0, duration_ms: r?.duration_ms ?? 0, ...(r?.error ? { code: r.error.code } : {}) };
      }),
      [CONSOLE_SILENT]: common.logFormat === 'text',
    });
    return result.status === 'succeeded' ? EXIT.OK : result.status === 'interrupted' ? EXIT.INTERRUPTED : EXIT.NODE_FAILED;
  } finally {
    live?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await runner?.close().catch((e: unknown) => log('warn', `closing the queue failed: ${(e as Error).message}`));
    await stagingSwept;
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
  const pipeline = loadPipelineOrThrow(run.invocation.file, { env: common.env, vars: run.invocation.vars ?? {} });
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

/** Each node's route, mode and dependencies, kept in run.json so the report can draw the DAG without the file. */
function runPlan(pipeline: Pipeline, order: readonly string[], vars: Readonly<Record<string, string>>): Record<string, RunNodePlan> {
  const kind = (c: string) => pipeline.connections[c]?.type ?? '?';
  const table = (t: string) => {
    try {
      return renderTemplate(t, vars);
    } catch {
      return t;
    }
  };
  return Object.fromEntries(
    order.map((n) => {
      const node = pipeline.nodes[n]!;
      const plan: RunNodePlan = {
        depends_on: node.depends_on.filter((d) => order.includes(d)),
        source: { connection: node.source.connection, kind: kind(node.source.connection) },
        target: { connection: node.target.connection, kind: kind(node.target.connection), table: table(node.target.table), mode: node.target.mode },
        ...(node.incremental ? { incremental: `${node.incremental.strategy} on ${node.incremental.column}` } : {}),
      };
      return [n, plan];
    }),
  );
}

/** A running node's record with its live counts. */
function liveRecord(node: string, p: Readonly<NodeProgress>, attempt: number, started_at: string | undefined): NodeRecord {
  return {
    node,
    state: 'running',
    attempts: attempt,
    ...(started_at ? { started_at } : {}),
    rows_exported: p.rowsExported,
    rows_imported: p.rowsImported,
    bytes: p.bytes,
    ...(p.phase ? { phase: p.phase } : {}),
    updated_at: new Date().toISOString(),
  };
}

/**
 * The executor of a run: the command line's URL and queue, else the pipeline's, else (for a retry) the ones its run
 * recorded (a URL kept without its password cannot be used again). None: the nodes run in this process.
 */
function executorOf(choice: ExecutorChoice, pipeline: Pipeline, recorded: RunInvocation['executor']): ExecutorConfig | undefined {
  const usable = recorded && !recorded.url.includes('***') ? recorded : undefined;
  const url = choice.url ?? pipeline.executor?.url ?? usable?.url;
  if (url === undefined && recorded) {
    // In this process, an attempt still running on a worker could run twice at once.
    throw new PipelineError('USAGE', `run on the workers of ${recorded.url}: its retry needs that executor again`, { hint: 'add --executor with the full URL (its password was not recorded)' });
  }
  if (url === undefined) {
    if (choice.queue !== undefined) throw new PipelineError('USAGE', '--queue names the queue of an executor, and this run has none', { hint: 'add --executor redis://host:6379, or `executor:` to the pipeline' });
    return undefined;
  }
  return { url, queue: choice.queue ?? pipeline.executor?.queue ?? usable?.queue ?? DEFAULTS.queue };
}
