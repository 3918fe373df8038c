import { loadPipeline } from '../../config/load.js';
import { formatJson, pipelineSchema } from '../../config/schema.js';
import { dataInterval, formatTimestamp, templateVars } from '../../config/templates.js';
import { connectorKindNames, getConnectorKind } from '../../connectors/registry.js';
import { PipelineErrors } from '../../errors/pipeline-error.js';
import { renderErrors } from '../../errors/render.js';
import { makeRedactor } from '../../log/redact.js';
import { loadIdOf, nodeDefinition, readCheckpoint, renderNode } from '../../nodes/run-node.js';
import { RunStore, intervalOf } from '../../state/run-store.js';
import { EXIT } from '../exit-codes.js';
import { loadSelected, stagingStore, stateDirs, watermarkStore, type CommonOptions } from '../context.js';
import { exportRequest, exportWindow } from '../../nodes/plan.js';

export function validateCommand(file: string, common: CommonOptions, json = false): number {
  const { pipeline, errors, secrets } = loadPipeline(file, { env: common.env, vars: common.vars ?? {} });
  const redact = makeRedactor(secrets);
  if (json) {
    // For editors and CI: every problem with its code, place and hint, on stdout; the exit code says the same.
    const problems = errors.map((e) => ({ code: e.code, message: redact(e.message), ...JSON.parse(redact(JSON.stringify(e.location))), ...(e.hint ? { hint: redact(e.hint) } : {}) }));
    const summary = pipeline ? { nodes: Object.keys(pipeline.nodes).length, connections: Object.keys(pipeline.connections).length } : {};
    process.stdout.write(JSON.stringify({ file, valid: errors.length === 0, ...summary, errors: problems }, null, 2) + '\n');
    return errors.length > 0 ? EXIT.INVALID_PIPELINE : EXIT.OK;
  }
  if (errors.length > 0) {
    process.stderr.write(renderErrors(errors, { redact }) + '\n');
    return EXIT.INVALID_PIPELINE;
  }
  const p = pipeline!;
  process.stdout.write(`${file}: ok (${Object.keys(p.nodes).length} nodes, ${Object.keys(p.connections).length} connections)\n`);
  return EXIT.OK;
}

/** The pipeline schema with every kind's connection schema inlined: one self-contained file for editors. */
export function schemaCommand(): number {
  process.stdout.write(formatJson(pipelineSchema(connectorKindNames())));
  return EXIT.OK;
}

export function lsCommand(file: string, select: string[], exclude: string[], common: CommonOptions, json = false): number {
  const { graph, selected, pipeline } = loadSelected(file, select, exclude, common);
  const order = graph.order(selected);
  if (json) {
    const nodes = order.map((n) => {
      const node = pipeline.nodes[n]!;
      return {
        name: n,
        tags: node.tags,
        depends_on: node.depends_on,
        source: node.source.connection,
        target: { connection: node.target.connection, table: node.target.table, mode: node.target.mode },
      };
    });
    process.stdout.write(makeRedactor(pipeline.secrets)(JSON.stringify({ pipeline: pipeline.name, nodes }, null, 2)) + '\n');
    return EXIT.OK;
  }
  for (const n of order) process.stdout.write(`${n}\n`);
  return EXIT.OK;
}

export function graphCommand(file: string, format: string, select: string[], exclude: string[], common: CommonOptions): number {
  const { graph, selected, pipeline } = loadSelected(file, select, exclude, common);
  const { nodes, edges } = graph.toJSON(selected);
  const id = (n: string) => n.replace(/[^A-Za-z0-9_]/g, '_');
  let out: string;
  switch (format) {
    case 'json':
      out = JSON.stringify({ pipeline: pipeline.name, nodes, edges, waves: graph.waves(selected) }, null, 2);
      break;
    case 'dot':
      out = [
        `digraph ${JSON.stringify(pipeline.name)} {`,
        '  rankdir=LR;',
        ...nodes.map((n) => `  ${JSON.stringify(n)} [label=${JSON.stringify(`${n}\n${pipeline.nodes[n]!.target.mode}`)}];`),
        ...edges.map(([a, b]) => `  ${JSON.stringify(a)} -> ${JSON.stringify(b)};`),
        '}',
      ].join('\n');
      break;
    case 'mermaid':
      out = ['graph LR', ...nodes.map((n) => `  ${id(n)}["${n}"]`), ...edges.map(([a, b]) => `  ${id(a)} --> ${id(b)}`)].join('\n');
      break;
    default:
      throw new PipelineErrors([]);
  }
  process.stdout.write(out + '\n');
  return EXIT.OK;
}

/** What a run would do, without connecting to anything. */
export async function planCommand(
  file: string,
  select: string[],
  exclude: string[],
  opts: { date?: string; interval?: string },
  common: CommonOptions,
  json = false,
): Promise<number> {
  const { pipeline, graph, selected } = loadSelected(file, select, exclude, common);
  const interval = dataInterval(opts);
  const window = { start: formatTimestamp(interval.start), end: formatTimestamp(interval.end) };
  const vars = templateVars(interval, '<run id>', common.vars);
  const planned: Record<string, unknown>[] = [];
  const dirs = stateDirs(common);
  const staging = stagingStore(pipeline, common);
  const watermarks = watermarkStore(pipeline, common, staging);
  const lastRun = await latestUnfinished(new RunStore(dirs.root), pipeline.name);
  const lines: string[] = [`plan for ${pipeline.name}: data interval ${window.start} → ${window.end}`];
  const waves = graph.waves(selected);
  for (const [i, wave] of waves.entries()) {
    lines.push('', `wave ${i + 1}: ${wave.join(', ')}`);
    for (const name of wave) {
      const node = renderNode(pipeline.nodes[name]!, vars);
      const srcConn = pipeline.connections[node.source.connection]!;
      const tgtConn = pipeline.connections[node.target.connection]!;
      const kind = getConnectorKind(srcConn.type)!;
      const inc = node.incremental;
      const from = inc?.strategy === 'watermark' ? ((await watermarks.read(pipeline.name, name))?.value ?? inc.initial ?? null) : null;
      // Offline: the watermark column's type is unknown (the bounds of a non-integer column are shown, see
      // watermark-bounds.ts) and the source's maximum is read when the node starts.
      const { window: w } = await exportWindow(node, window, from, undefined, async () => '<max at start>');
      const incNote = !inc
        ? 'full'
        : inc.strategy === 'window'
          ? `incremental window on ${inc.column}`
          : `incremental watermark on ${inc.column}, saved ${from ?? '(none: first run takes everything)'}`;
      const req = exportRequest(node, w);
      lines.push(`  ${name}`);
      if (node.depends_on.length > 0) lines.push(`    after:   ${node.depends_on.join(', ')}`);
      lines.push(`    export:  ${srcConn.name} (${srcConn.type}): ${kind.renderExport(req)}`);
      lines.push(`             ${incNote}${node.source.split ? `; split on ${node.source.split.column} into ${node.source.split.chunks} chunks (quantile boundaries at run time)` : ''}`);
      lines.push(`    import:  ${tgtConn.name} (${tgtConn.type}): ${node.target.table}, mode ${node.target.mode}${node.target.key ? ` on (${node.target.key.join(', ')})` : ''}, create ${node.target.create}`);
      let resume = 'none: a new run starts from scratch';
      if (lastRun) {
        const area = staging.area(pipeline.name, lastRun.lineage, name);
        // Staging may be remote (S3): a plan still prints when it cannot be read.
        const cp = await readCheckpoint(area).catch((e: unknown) => {
          resume = `unknown: the staging of run ${lastRun.id} cannot be read (${(e as Error).message})`;
          return undefined;
        });
        if (cp) {
          const runWindow = lastRun.data_interval;
          const same = cp.definition === nodeDefinition(renderNode(pipeline.nodes[name]!, templateVars(intervalOf(lastRun), lastRun.lineage, lastRun.invocation.vars)), { pipeline, interval: runWindow });
          const done = cp.chunks.filter((c) => c.done).length;
          resume = !same
            ? `run ${lastRun.id} has one, but the node changed since: \`pigeon retry\` would export again`
            : cp.imported
              ? `\`pigeon retry ${lastRun.id}\` finds it imported (load ${loadIdOf(pipeline.name, lastRun.lineage, name)})`
              : `\`pigeon retry ${lastRun.id}\` resumes with ${done}/${cp.chunks.length} chunks exported`;
        }
      }
      lines.push(`    checkpoint: ${resume}`);
      planned.push({
        name,
        wave: i + 1,
        depends_on: node.depends_on,
        export: { connection: srcConn.name, kind: srcConn.type, statement: kind.renderExport(req), incremental: incNote, ...(node.source.split ? { split: node.source.split } : {}) },
        import: { connection: tgtConn.name, kind: tgtConn.type, table: node.target.table, mode: node.target.mode, ...(node.target.key ? { key: node.target.key } : {}), create: node.target.create },
        checkpoint: resume,
      });
    }
  }
  // A `where` or `query` may hold a token from the environment.
  const redact = makeRedactor(pipeline.secrets);
  if (json) {
    process.stdout.write(redact(JSON.stringify({ pipeline: pipeline.name, data_interval: window, waves, nodes: planned }, null, 2)) + '\n');
    return EXIT.OK;
  }
  process.stdout.write(redact(lines.join('\n')) + '\n');
  return EXIT.OK;
}

async function latestUnfinished(store: RunStore, pipeline: string) {
  for (const id of await store.list()) {
    const r = await store.readRun(id);
    if (r?.pipeline !== pipeline) continue;
    return r.status === 'succeeded' ? undefined : r;
  }
  return undefined;
}
