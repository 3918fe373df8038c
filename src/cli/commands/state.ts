import { readCheckpoint } from '../../nodes/run-node.js';
import { acquireLock } from '../../state/lock.js';
import { RunStore } from '../../state/run-store.js';
import { PipelineError } from '../../errors/pipeline-error.js';
import { EXIT } from '../exit-codes.js';
import { table } from '../output.js';
import { loadSelected, lockFile, stagingStore, stateDirs, watermarkStore, type CommonOptions, type Loaded } from '../context.js';

/**
 * `pigeon state ls|show|reset FILE [NODE…]`: what pigeon remembers between runs of a pipeline's nodes (the saved
 * watermark of each incremental node, and the checkpoints of runs that did not finish), and forgetting it.
 */
export async function stateCommand(action: string, file: string, nodes: readonly string[], select: readonly string[], exclude: readonly string[], common: CommonOptions): Promise<number> {
  const loaded = loadSelected(file, nodes.length > 0 ? nodes : select, exclude, common);
  switch (action) {
    case 'ls':
      return list(loaded, common);
    case 'show':
      return show(loaded, common);
    case 'reset':
      if (nodes.length === 0 && select.length === 0) throw new PipelineError('USAGE', '`pigeon state reset` needs the nodes to reset (names or -s)');
      return reset(loaded, common);
    default:
      throw new PipelineError('USAGE', `unknown state action \`${action}\` (ls, show or reset)`);
  }
}

interface NodeState {
  readonly node: string;
  readonly watermark?: { column: string; value: string | null; pending?: unknown; updated_at: string };
  /** Unfinished runs (of other lineages than a finished one) whose checkpoint for the node is kept. */
  readonly checkpoints: { run: string; chunks: number; exported: number; imported: boolean }[];
}

async function collect({ pipeline, graph, selected }: Loaded, common: CommonOptions): Promise<NodeState[]> {
  const root = stateDirs(common).root;
  const staging = stagingStore(pipeline, common);
  const watermarks = watermarkStore(pipeline, common, staging);
  const runs = await unfinishedRuns(new RunStore(root), pipeline.name);
  const out: NodeState[] = [];
  for (const node of graph.order(selected)) {
    const wm = await watermarks.read(pipeline.name, node);
    const checkpoints = [];
    for (const run of runs) {
      const cp = await readCheckpoint(staging.area(pipeline.name, run.lineage, node));
      if (cp) checkpoints.push({ run: run.id, chunks: cp.chunks.length, exported: cp.chunks.filter((c) => c.done).length, imported: cp.imported });
    }
    out.push({ node, ...(wm ? { watermark: wm } : {}), checkpoints });
  }
  return out;
}

async function list(loaded: Loaded, common: CommonOptions): Promise<number> {
  const rows = (await collect(loaded, common)).map((s) => [
    s.node,
    s.watermark ? `${s.watermark.column} = ${s.watermark.value ?? '(none)'}${s.watermark.pending ? ' (a load pending)' : ''}` : '',
    s.watermark?.updated_at ?? '',
    s.checkpoints.map((c) => `${c.run}: ${c.exported}/${c.chunks} chunks${c.imported ? ', imported' : ''}`).join('; '),
  ]);
  process.stdout.write(table(['node', 'watermark', 'saved at', 'checkpoints of unfinished runs'], rows) + '\n');
  return EXIT.OK;
}

async function show(loaded: Loaded, common: CommonOptions): Promise<number> {
  process.stdout.write(JSON.stringify(await collect(loaded, common), null, 2) + '\n');
  return EXIT.OK;
}

/**
 * Forgets the nodes' watermarks and checkpoints, under the pipeline's lock (no run may be using them): the next run
 * of an incremental node starts from `initial` (or takes everything), and no unfinished run resumes them.
 */
async function reset(loaded: Loaded, common: CommonOptions): Promise<number> {
  const { pipeline, graph, selected } = loaded;
  const root = stateDirs(common).root;
  const lock = await acquireLock(lockFile(common, pipeline.name), RunStore.newId());
  try {
    const staging = stagingStore(pipeline, common);
    const watermarks = watermarkStore(pipeline, common, staging);
    const runs = await unfinishedRuns(new RunStore(root), pipeline.name);
    for (const node of graph.order(selected)) {
      const wm = await watermarks.read(pipeline.name, node);
      await watermarks.remove(pipeline.name, node);
      for (const run of runs) await staging.area(pipeline.name, run.lineage, node).clear();
      process.stdout.write(`${node}: ${wm ? `watermark ${wm.column} = ${wm.value ?? '(none)'} forgotten` : 'no watermark'}; checkpoints of ${runs.length} unfinished run${runs.length === 1 ? '' : 's'} removed\n`);
    }
  } finally {
    await lock.release();
  }
  return EXIT.OK;
}

async function unfinishedRuns(store: RunStore, pipeline: string) {
  const out = [];
  for (const id of await store.list()) {
    const r = await store.readRun(id);
    if (r?.pipeline === pipeline && r.status !== 'succeeded') out.push(r);
  }
  return out;
}
