import { dataInterval, templateVars } from '../../config/templates.js';
import { ConnectionManager } from '../../connectors/runtime.js';
import type { Connector } from '../../connectors/contract.js';
import { toPipelineError } from '../../errors/pipeline-error.js';
import { colorWanted, paint } from '../../log/colors.js';
import { makeRedactor } from '../../log/redact.js';
import { exportRequest } from '../../nodes/plan.js';
import { renderNode } from '../../nodes/run-node.js';
import { EXIT } from '../exit-codes.js';
import { loadSelected, stateDirs, type CommonOptions } from '../context.js';

/** One check and how it went. */
export interface CheckResult {
  readonly check: 'connect' | 'source' | 'columns' | 'split' | 'target';
  readonly ok: boolean;
  readonly message: string;
  readonly connection?: string;
  readonly node?: string;
  readonly code?: string;
  readonly hint?: string;
}

/**
 * `pigeon check FILE`: connects to every connection the selected nodes use (credentials), describes each source
 * (its table and columns exist, the incremental and split columns among them), asks whether a split column leads an
 * index, and whether each target may be written or created. Reads catalogues only: no data moves. Exit 1 when a
 * check fails.
 */
export async function checkCommand(file: string, select: string[], exclude: string[], common: CommonOptions, json: boolean): Promise<number> {
  const { pipeline, graph, selected } = loadSelected(file, select, exclude, common);
  const redact = makeRedactor(pipeline.secrets);
  const order = graph.order(selected);
  const vars = templateVars(dataInterval({}), 'check', common.vars);
  const connections = new ConnectionManager(pipeline.connections, { cwd: common.cwd, tmpDir: stateDirs(common).tmp });
  const results: CheckResult[] = [];
  const p = paint(!json && colorWanted(process.stdout.isTTY === true, common.env));
  const say = (r: CheckResult) => {
    const clean: CheckResult = { ...r, message: redact(r.message), ...(r.hint ? { hint: redact(r.hint) } : {}) };
    results.push(clean);
    if (json) return;
    const mark = clean.ok ? p.green('✓') : p.red('✗');
    const where = clean.node ? `${clean.node}: ` : clean.connection ? `connection ${clean.connection}: ` : '';
    process.stdout.write(`${mark} ${where}${clean.message}${clean.code && !clean.ok ? ` [${clean.code}]` : ''}\n${clean.hint ? `    hint: ${clean.hint}\n` : ''}`);
  };
  const fail = (base: Omit<CheckResult, 'ok' | 'message'>, what: string, e: unknown): void => {
    const err = toPipelineError(e, 'INTERNAL');
    say({ ...base, ok: false, message: `${what}: ${err.message}`, code: err.code, ...(err.hint ? { hint: err.hint } : {}) });
  };

  try {
    // Each connection once, in the order the nodes first use it.
    const used = [...new Set(order.flatMap((n) => [pipeline.nodes[n]!.source.connection, pipeline.nodes[n]!.target.connection]))];
    const open = new Map<string, Connector>();
    for (const name of used) {
      const type = pipeline.connections[name]?.type ?? '?';
      try {
        open.set(name, await connections.get(name));
        say({ check: 'connect', connection: name, ok: true, message: `connected (${type})` });
      } catch (e) {
        fail({ check: 'connect', connection: name }, `cannot connect (${type})`, e);
      }
    }
    for (const name of order) {
      const node = renderNode(pipeline.nodes[name]!, vars);
      const source = open.get(node.source.connection);
      const target = open.get(node.target.connection);
      if (source) {
        const req = exportRequest(node, undefined);
        const what = node.source.table !== undefined ? `source table ${node.source.table}` : node.source.index !== undefined ? `source index ${node.source.index}` : 'source query';
        try {
          const columns = await connections.session(node.source.connection, () => source.describe(req));
          say({ check: 'source', node: name, ok: true, message: `${what} on ${node.source.connection}: ${columns.length} column${columns.length === 1 ? '' : 's'}` });
          const names = new Set(columns.map((c) => c.name));
          for (const [role, column] of [
            ['incremental column', node.incremental?.column],
            ['merge key column', ...(node.target.mode === 'merge' ? (node.target.key ?? []) : [])],
          ] as const) {
            if (column === undefined) continue;
            say(
              names.has(column)
                ? { check: 'columns', node: name, ok: true, message: `${role} ${column} is exported` }
                : { check: 'columns', node: name, ok: false, code: 'SOURCE_NOT_FOUND', message: `${role} ${column} is not among the exported columns (${[...names].join(', ')})` },
            );
          }
          const split = node.source.split;
          if (split && source.splitIndexed) {
            const indexed = await connections.session(node.source.connection, () => source.splitIndexed!(req, split.column));
            say(
              indexed
                ? { check: 'split', node: name, ok: true, message: `split column ${split.column} leads an index` }
                : { check: 'split', node: name, ok: false, code: 'UNINDEXED_SPLIT', message: `split column ${split.column} leads no index: each of the ${split.chunks} chunks would scan the table`, hint: `create an index on ${node.source.table ?? 'the table'} (${split.column}), or split on an indexed column` },
            );
          }
        } catch (e) {
          fail({ check: 'source', node: name }, what, e);
        }
      }
      if (target) {
        const where = `target ${node.target.table} on ${node.target.connection}`;
        if (!target.targetAccess) {
          say({ check: 'target', node: name, ok: true, message: `${where}: not checked (the kind cannot tell without writing)` });
          continue;
        }
        try {
          const a = await connections.session(node.target.connection, () => target.targetAccess!(node.target.table));
          const note = a.note ? ` (${a.note})` : '';
          if (a.exists) {
            say({ check: 'target', node: name, ok: a.writable, message: `${where} exists${a.writable ? ' and is writable' : `, not writable: ${a.reason ?? 'no privilege'}`}${note}`, ...(a.writable ? {} : { code: 'IMPORT_FAILED' }) });
          } else if (node.target.create === 'never') {
            say({ check: 'target', node: name, ok: false, code: 'TARGET_MISSING', message: `${where} does not exist and the node says create: never` });
          } else {
            say({ check: 'target', node: name, ok: a.writable, message: `${where} does not exist yet${a.writable ? '; it can be created' : ` and cannot be created: ${a.reason ?? 'no privilege'}`}${note}`, ...(a.writable ? {} : { code: 'IMPORT_FAILED' }) });
          }
        } catch (e) {
          fail({ check: 'target', node: name }, where, e);
        }
      }
    }
  } finally {
    await connections.closeAll();
  }
  const failed = results.filter((r) => !r.ok).length;
  if (json) process.stdout.write(JSON.stringify({ pipeline: pipeline.name, ok: failed === 0, checks: results }, null, 2) + '\n');
  else process.stdout.write(`\n${failed === 0 ? p.green(`all ${results.length} checks passed`) : p.red(`${failed} of ${results.length} checks failed`)}\n`);
  return failed === 0 ? EXIT.OK : EXIT.NODE_FAILED;
}
