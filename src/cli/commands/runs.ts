import { formatDuration } from '../../config/duration.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import { RunStore, type NodeRecord, type RunRecord } from '../../state/run-store.js';
import { runTotals } from '../../log/summary.js';
import { EXIT } from '../exit-codes.js';
import { processAlive } from '../../state/process.js';
import { jsonLine, table } from '../output.js';
import { stateDirs, type CommonOptions } from '../context.js';
import { runPipeline, settleFinishedRun, type ExecutorChoice } from './run.js';

export async function findRun(store: RunStore, id: string | undefined): Promise<RunRecord> {
  const ids = await store.list();
  if (id === undefined) {
    // The newest run with a record: a process killed before it wrote run.json had not started any node.
    for (const candidate of ids) {
      const run = await store.readRun(candidate).catch(() => undefined);
      if (run) return run;
    }
    throw new PipelineError('RUN_NOT_FOUND', 'no runs recorded yet in this state directory');
  }
  const wanted = id;
  const match = ids.filter((x) => x === wanted || x.startsWith(wanted));
  if (match.length !== 1) {
    throw new PipelineError('RUN_NOT_FOUND', match.length === 0 ? `no run \`${wanted}\`` : `\`${wanted}\` matches ${match.length} runs`, {
      hint: 'see `pigeon runs`',
    });
  }
  const run = await store.readRun(match[0]!);
  if (!run) throw new PipelineError('RUN_NOT_FOUND', `run ${match[0]} has no readable run.json`);
  return run;
}

export async function runsCommand(common: CommonOptions, json = false, limit = 20): Promise<number> {
  const store = new RunStore(stateDirs(common).root);
  const rows: string[][] = [];
  const out: Record<string, unknown>[] = [];
  for (const id of (await store.list()).slice(0, limit)) {
    const r = await store.readRun(id);
    if (!r) continue;
    const nodes = await store.readNodes(id);
    const ok = [...nodes.values()].filter((n) => n.state === 'succeeded').length;
    const wall = (r.finished_at ? Date.parse(r.finished_at) : Date.now()) - Date.parse(r.started_at);
    const dur = r.finished_at ? formatDuration(wall) : '';
    // A run whose process was killed never wrote its end: it is recorded as running for good.
    const gone = r.status === 'running' && !processAlive(r.pid);
    const status = gone ? 'interrupted (process gone)' : r.status;
    rows.push([r.id, r.pipeline, status, `${ok}/${r.nodes.length}`, r.started_at.replace('T', ' ').slice(0, 19), dur, r.retry_of ? `retry of ${r.retry_of}` : '']);
    out.push({ ...runTotals(r, nodes), id: r.id, pipeline: r.pipeline, status: gone ? 'interrupted' : r.status, ...(gone ? { process_gone: true } : {}), nodes_succeeded: ok, nodes_total: r.nodes.length, started_at: r.started_at, ...(r.finished_at ? { finished_at: r.finished_at } : {}), ...(r.retry_of ? { retry_of: r.retry_of } : {}) });
  }
  if (json) {
    process.stdout.write(JSON.stringify({ runs: out }, null, 2) + '\n');
    return EXIT.OK;
  }
  if (rows.length === 0) process.stdout.write('no runs yet\n');
  else process.stdout.write(table(['run', 'pipeline', 'status', 'nodes ok', 'started (UTC)', 'time', ''], rows) + '\n');
  return EXIT.OK;
}

export async function statusCommand(id: string | undefined, common: CommonOptions, json: boolean): Promise<number> {
  const store = new RunStore(stateDirs(common).root);
  const run = await findRun(store, id);
  const nodes = await store.readNodes(run.id);
  const now = Date.now();
  const gone = run.status === 'running' && !processAlive(run.pid);
  // A running node's time is counted up to now; its rows are the live counts its run writes every few seconds.
  const elapsed = (r: NodeRecord | undefined) =>
    r?.duration_ms ?? (r?.state === 'running' && r.started_at && !gone ? now - Date.parse(r.started_at) : undefined);
  if (json) {
    const list = run.nodes.map((n) => {
      const r = nodes.get(n) ?? { node: n, state: 'pending' as const, attempts: 0 };
      const { timeline: _timeline, ...rest } = r;
      const e = elapsed(r);
      return { ...rest, ...(r.state === 'running' && e !== undefined ? { elapsed_ms: e } : {}) };
    });
    process.stdout.write(JSON.stringify({ run: { ...run, ...(gone ? { process_gone: true } : {}) }, totals: runTotals(run, nodes, now), nodes: list }, null, 2) + '\n');
    return EXIT.OK;
  }
  const alive = gone ? ' (its process is gone: the run was killed)' : '';
  const wall = formatDuration((run.finished_at ? Date.parse(run.finished_at) : now) - Date.parse(run.started_at));
  process.stdout.write(
    `run ${run.id}: pipeline ${run.pipeline}, ${run.status}${alive}${run.retry_of ? `, retry of ${run.retry_of}` : ''}, ${wall}${run.finished_at ? '' : ' so far'}\n` +
      `data interval ${run.data_interval.start} → ${run.data_interval.end}; file ${run.invocation.file}\n\n`,
  );
  const distributed = run.invocation.executor !== undefined;
  const rows = run.nodes.map((n) => {
    const r = nodes.get(n);
    const e = elapsed(r);
    const live = r?.state === 'running';
    const rowsText = live
      ? `${r.rows_exported ?? 0} exported, ${r.rows_imported ?? 0} imported`
      : r?.rows_imported !== undefined
        ? String(r.rows_imported)
        : '';
    return [
      n,
      live && r.phase ? `running (${r.phase})` : (r?.state ?? 'pending'),
      rowsText,
      e !== undefined ? formatDuration(e) : '',
      String(r?.attempts ?? 0),
      r?.error ? `${r.error.code}: ${r.error.message}` : (r?.note ?? ''),
      ...(distributed ? [[...new Set((r?.workers ?? []).map((w) => w.worker))].join(', ')] : []),
    ];
  });
  // A distributed run's table also names the worker (or workers, when one was lost) of each node.
  process.stdout.write(table(['node', 'state', 'rows', 'time', 'attempts', 'error / note', ...(distributed ? ['worker'] : [])], rows) + '\n');
  return EXIT.OK;
}

/** Reruns what a run did not finish, with that run's own arguments and data interval, resuming from checkpoints. */
export async function retryCommand(id: string | undefined, common: CommonOptions, progressEveryMs?: number, executor: ExecutorChoice = {}): Promise<number> {
  const store = new RunStore(stateDirs(common).root);
  const run = await findRun(store, id);
  // A node finished by any run of the same lineage (an earlier retry) is done: retrying it again would only redo work.
  const done = new Set<string>();
  for (const id of await store.list()) {
    const other = id === run.id ? run : await store.readRun(id);
    if (other?.lineage !== run.lineage) continue;
    for (const rec of (await store.readNodes(id)).values()) if (rec.state === 'succeeded') done.add(rec.node);
  }
  const todo = new Set(run.nodes.filter((n) => !done.has(n)));
  if (todo.size === 0) {
    await settleFinishedRun(run, common);
    process.stdout.write(`run ${run.id}: every node has succeeded: nothing to retry\n`);
    return EXIT.OK;
  }
  if (common.logFormat === 'json') jsonLine('info', `retrying run ${run.id}: ${[...todo].join(', ')}`, { event: 'retry_start', retry_of: run.id, nodes: [...todo] });
  else process.stderr.write(`retrying run ${run.id}: ${[...todo].join(', ')}\n`);
  return runPipeline({ invocation: run.invocation, retryOf: run, retryNodes: todo, ...(progressEveryMs !== undefined ? { progressEveryMs } : {}), executor }, common);
}
