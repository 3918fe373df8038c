import type { Pipeline } from '../config/types.js';
import { PipelineError } from '../errors/pipeline-error.js';
import { suggest } from '../config/suggest.js';
import type { PipelineGraph } from './graph.js';

/**
 * Node selection, dbt-style: a list of terms (space or comma separated); each term is a node name or `tag:NAME`,
 * optionally prefixed with `+` (also its ancestors) and/or suffixed with `+` (also its descendants).
 * `--exclude` uses the same grammar. No `--select` means every node.
 */
export function selectNodes(
  pipeline: Pick<Pipeline, 'nodes'>,
  graph: PipelineGraph,
  select: readonly string[],
  exclude: readonly string[] = [],
): Set<string> {
  const all = Object.keys(pipeline.nodes);
  const selected = select.length === 0 ? new Set(all) : resolveTerms(pipeline, graph, select);
  for (const n of resolveTerms(pipeline, graph, exclude)) selected.delete(n);
  return selected;
}

export function splitTerms(args: readonly string[]): string[] {
  return args.flatMap((a) => a.split(/[\s,]+/)).filter((t) => t !== '');
}

function resolveTerms(pipeline: Pick<Pipeline, 'nodes'>, graph: PipelineGraph, args: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const term of splitTerms(args)) {
    const m = /^(\+?)(.*?)(\+?)$/.exec(term)!;
    const [, up, atom, down] = m as unknown as [string, string, string, string];
    const base = matchAtom(pipeline, atom, term);
    for (const n of base) {
      out.add(n);
      if (up) for (const a of graph.ancestors(n)) out.add(a);
      if (down) for (const d of graph.descendants(n)) out.add(d);
    }
  }
  return out;
}

function matchAtom(pipeline: Pick<Pipeline, 'nodes'>, atom: string, term: string): string[] {
  const nodes = Object.values(pipeline.nodes);
  if (atom.startsWith('tag:')) {
    const tag = atom.slice(4);
    const hits = nodes.filter((n) => n.tags.includes(tag)).map((n) => n.name);
    if (hits.length === 0) {
      const tags = [...new Set(nodes.flatMap((n) => n.tags))];
      const s = suggest(tag, tags);
      throw new PipelineError('SELECTION', `no node has tag \`${tag}\` (in \`${term}\`)`, s ? { hint: `did you mean \`tag:${s}\`?` } : {});
    }
    return hits;
  }
  if (atom === '' ) throw new PipelineError('SELECTION', `empty selection term \`${term}\``);
  if (!(atom in pipeline.nodes)) {
    const s = suggest(atom, Object.keys(pipeline.nodes));
    throw new PipelineError('SELECTION', `no node named \`${atom}\` (in \`${term}\`)`, s ? { hint: `did you mean \`${s}\`?` } : {});
  }
  return [atom];
}
