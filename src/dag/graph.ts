import graphology from 'graphology';
import type { Pipeline } from '../config/types.js';

const { DirectedGraph } = graphology as unknown as { DirectedGraph: typeof import('graphology').DirectedGraph };
type Graph = InstanceType<typeof DirectedGraph>;

/** The pipeline's nodes as a DAG: an edge goes from a dependency to the node that depends on it. */
export class PipelineGraph {
  readonly #g: Graph;

  private constructor(g: Graph) {
    this.#g = g;
  }

  /** Assumes a validated pipeline (no unknown dependencies, no cycles). */
  static fromPipeline(p: Pick<Pipeline, 'nodes'>): PipelineGraph {
    return PipelineGraph.fromDeps(new Map(Object.values(p.nodes).map((n) => [n.name, n.depends_on])));
  }

  static fromDeps(deps: ReadonlyMap<string, readonly string[]>): PipelineGraph {
    const g = new DirectedGraph();
    for (const name of deps.keys()) g.addNode(name);
    for (const [name, ds] of deps) for (const d of ds) if (g.hasNode(d) && !g.hasEdge(d, name)) g.addEdge(d, name);
    return new PipelineGraph(g);
  }

  nodes(): string[] {
    return this.#g.nodes();
  }

  dependencies(name: string): string[] {
    return this.#g.inNeighbors(name);
  }

  dependants(name: string): string[] {
    return this.#g.outNeighbors(name);
  }

  ancestors(name: string): Set<string> {
    return this.#walk(name, (n) => this.#g.inNeighbors(n));
  }

  descendants(name: string): Set<string> {
    return this.#walk(name, (n) => this.#g.outNeighbors(n));
  }

  #walk(start: string, next: (n: string) => string[]): Set<string> {
    const seen = new Set<string>();
    const stack = [...next(start)];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push(...next(n));
    }
    return seen;
  }

  /**
   * Topological generations of the sub-graph `within` (default: all): wave 0 has no dependency inside it, wave k
   * depends only on earlier waves. Names sort alphabetically within a wave so output is stable.
   */
  waves(within?: ReadonlySet<string>): string[][] {
    const members = within ?? new Set(this.nodes());
    const indegree = new Map<string, number>();
    for (const n of members) indegree.set(n, this.dependencies(n).filter((d) => members.has(d)).length);
    const waves: string[][] = [];
    let current = [...members].filter((n) => indegree.get(n) === 0).sort();
    while (current.length > 0) {
      waves.push(current);
      const next: string[] = [];
      for (const n of current) {
        for (const m of this.dependants(n)) {
          if (!members.has(m)) continue;
          const d = indegree.get(m)! - 1;
          indegree.set(m, d);
          if (d === 0) next.push(m);
        }
      }
      current = next.sort();
    }
    return waves;
  }

  /** Run order: waves flattened. */
  order(within?: ReadonlySet<string>): string[] {
    return this.waves(within).flat();
  }

  toJSON(within?: ReadonlySet<string>): { nodes: string[]; edges: [string, string][] } {
    const members = within ?? new Set(this.nodes());
    const nodes = this.order(members);
    const edges: [string, string][] = [];
    for (const n of nodes) for (const d of this.dependencies(n).sort()) if (members.has(d)) edges.push([d, n]);
    return { nodes, edges };
  }
}
