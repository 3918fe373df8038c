/**
 * Finds one dependency cycle. `deps` maps each node to the nodes it depends on; names that are not keys of `deps`
 * are ignored (unknown dependencies are reported elsewhere).
 *
 * Returns the cycle as a path that repeats its first node at the end, each node depending on the next one
 * (`['a', 'b', 'c', 'a']`: a depends on b, b on c, c on a; a self-dependency is `['a', 'a']`), or null when the
 * graph is acyclic. Deterministic: nodes and their dependencies are visited in sorted order, whatever the map's order.
 * Iterative, so a chain of thousands of nodes does not overflow the stack.
 */
export function findCycle(deps: ReadonlyMap<string, readonly string[]>): string[] | null {
  const DONE = 2;
  const ON_PATH = 1;
  const state = new Map<string, number>();
  const sortedDeps = (name: string): string[] => [...new Set(deps.get(name) ?? [])].filter((d) => deps.has(d)).sort();

  for (const root of [...deps.keys()].sort()) {
    if (state.has(root)) continue;
    // The DFS path, each entry with the dependencies still to visit.
    const path: { name: string; next: string[] }[] = [{ name: root, next: sortedDeps(root) }];
    state.set(root, ON_PATH);
    while (path.length > 0) {
      const top = path[path.length - 1]!;
      const dep = top.next.shift();
      if (dep === undefined) {
        state.set(top.name, DONE);
        path.pop();
        continue;
      }
      const seen = state.get(dep);
      if (seen === ON_PATH) {
        const start = path.findIndex((p) => p.name === dep);
        return [...path.slice(start).map((p) => p.name), dep];
      }
      if (seen === undefined) {
        state.set(dep, ON_PATH);
        path.push({ name: dep, next: sortedDeps(dep) });
      }
    }
  }
  return null;
}
