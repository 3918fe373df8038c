/** A node placed by `layoutDag`: its column (layer) and row within it. */
export interface Placed {
  readonly name: string;
  readonly layer: number;
  readonly row: number;
}

/**
 * Lays a DAG out left to right: a node's layer is the length of the longest path to it from a root, and within a
 * layer nodes are ordered by the mean row of their parents (a few sweeps), which keeps most edges from crossing.
 * Pure; `order` is a topological order of every node.
 */
export function layoutDag(order: readonly string[], parents: (node: string) => readonly string[]): Placed[] {
  const layer = new Map<string, number>();
  for (const n of order) layer.set(n, Math.max(-1, ...parents(n).map((p) => layer.get(p) ?? -1)) + 1);
  const layers: string[][] = [];
  for (const n of order) (layers[layer.get(n)!] ??= []).push(n);
  const row = new Map<string, number>();
  layers.forEach((names) => names.forEach((n, i) => row.set(n, i)));
  for (let sweep = 0; sweep < 4; sweep++) {
    for (const names of layers.slice(1)) {
      const score = (n: string) => {
        const ps = parents(n).filter((p) => row.has(p));
        return ps.length === 0 ? row.get(n)! : ps.reduce((s, p) => s + row.get(p)!, 0) / ps.length;
      };
      const scored = names.map((n) => ({ n, s: score(n) }));
      scored.sort((a, b) => a.s - b.s);
      scored.forEach(({ n }, i) => row.set(n, i));
      names.splice(0, names.length, ...scored.map((x) => x.n));
    }
  }
  return order.map((name) => ({ name, layer: layer.get(name)!, row: row.get(name)! }));
}
