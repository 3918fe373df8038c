import { formatDuration } from '../../config/duration.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import { RunStore, type RunRecord } from '../../state/run-store.js';
import { EXIT } from '../exit-codes.js';
import { processAlive } from '../../state/process.js';
import { table } from '../output.js';
import { stateDirs, type CommonOptions } from '../context.js';
import { runPipeline, settleFinishedRun } from './run.js';

async function findRun(store: RunStore, id: string | undefined): Promise<RunRecord> {
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

export async function runsCommand(common: CommonOptions, limit = 20): Promise<number> {
  const store = new RunStore(stateDirs(common).root);
  const rows: string[][] = [];
  for (const id of (await store.list()).slice(0, limit)) {
    const r = await store.readRun(id);
    if (!r) continue;
    const nodes = await store.readNodes(id);
    const ok = [...nodes.values()].filter((n) => n.state === 'succeeded').length;
    const dur = r.finished_at ? formatDuration(Date.parse(r.finished_at) - Date.parse(r.started_at)) : '';
    // A run whose process was killed never wrote its end: it is recorded as running for good.
    const status = r.status === 'running' && !processAlive(r.pid) ? 'interrupted (process gone)' : r.status;
    rows.push([r.id, r.pipeline, status, `${ok}/${r.nodes.length}`, r.started_at.replace('T', ' ').slice(0, 19), dur, r.retry_of ? `retry of ${r.retry_of}` : '']);
  }
  if (rows.length === 0) process.stdout.write('no runs yet\n');
  else process.stdout.write(table(['run', 'pipeline', 'status', 'nodes ok', 'started (UTC)', 'time', ''], rows) + '\n');
  return EXIT.OK;
}

export async function statusCommand(id: string | undefined, common: CommonOptions, json: boolean): Promise<number> {
  const store = new RunStore(stateDirs(common).root);
  const run = await findRun(store, id);
  const nodes = await store.readNodes(run.id);
  if (json) {
    process.stdout.write(JSON.stringify({ run, nodes: run.nodes.map((n) => nodes.get(n) ?? { node: n, state: 'pending' }) }, null, 2) + '\n');
    return EXIT.OK;
  }
  const alive = run.status === 'running' && !processAlive(run.pid) ? ' (its process is gone: the run was killed)' : '';
  process.stdout.write(
    `run ${run.id}: pipeline ${run.pipeline}, ${run.status}${alive}${run.retry_of ? `, retry of ${run.retry_of}` : ''}\n` +
      `data interval ${run.data_interval.start} → ${run.data_interval.end}; file ${run.invocation.file}\n\n`,
  );
  const rows = run.nodes.map((n) => {
    const r = nodes.get(n);
    return [
      n,
      r?.state ?? 'pending',
      r?.rows_imported !== undefined ? String(r.rows_imported) : '',
      r?.duration_ms !== undefined ? formatDuration(r.duration_ms) : '',
      String(r?.attempts ?? 0),
      r?.error ? `${r.error.code}: ${r.error.message}` : (r?.note ?? ''),
    ];
  });
  process.stdout.write(table(['node', 'state', 'rows', 'time', 'attempts', 'error / note'], rows) + '\n');
  return EXIT.OK;
}

/** Reruns what a run did not finish, with that run's own arguments and data interval, resuming from checkpoints. */
export async function retryCommand(id: string | undefined, common: CommonOptions, progressEveryMs?: number): Promise<number> {
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
  process.stderr.write(`retrying run ${run.id}: ${[...todo].join(', ')}\n`);
  return runPipeline({ invocation: run.invocation, retryOf: run, retryNodes: todo, ...(progressEveryMs !== undefined ? { progressEveryMs } : {}) }, common);
}
