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

/**
 * Every cycle worth reporting: one per cycle found by `findCycle`, whose closing edge is then set aside and the
 * search repeated, so two separate cycles give two and one cycle gives one. The search runs inside each strongly
 * connected component (found once, iteratively), so thousands of small cycles cost linear time, not a search of the
 * whole graph each. Same path format as findCycle; components in the order of their smallest node.
 */
export function findCycles(deps: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const components = stronglyConnected(deps).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
  for (const component of components) {
    const members = new Set(component);
    const local = new Map(component.map((n) => [n, (deps.get(n) ?? []).filter((d) => members.has(d))]));
    for (let found = 0; found < component.length; found++) {
      const cycle = findCycle(local);
      if (cycle === null) break;
      cycles.push(cycle);
      const [first = '', second = ''] = cycle;
      local.set(first, (local.get(first) ?? []).filter((d) => d !== second));
    }
  }
  return cycles;
}

/** Tarjan's strongly connected components, with an explicit stack; each component's names sorted. */
function stronglyConnected(deps: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const open: string[] = [];
  const onOpen = new Set<string>();
  const components: string[][] = [];
  const visit = (name: string): { name: string; next: string[]; at: number } => {
    index.set(name, index.size);
    low.set(name, index.get(name)!);
    open.push(name);
    onOpen.add(name);
    return { name, next: [...new Set(deps.get(name) ?? [])].filter((d) => deps.has(d)), at: 0 };
  };
  for (const root of deps.keys()) {
    if (index.has(root)) continue;
    const path = [visit(root)];
    while (path.length > 0) {
      const top = path[path.length - 1]!;
      const dep = top.next[top.at++];
      if (dep !== undefined) {
        if (!index.has(dep)) path.push(visit(dep));
        else if (onOpen.has(dep)) low.set(top.name, Math.min(low.get(top.name)!, index.get(dep)!));
        continue;
      }
      path.pop();
      const parent = path[path.length - 1];
      if (parent !== undefined) low.set(parent.name, Math.min(low.get(parent.name)!, low.get(top.name)!));
      if (low.get(top.name) !== index.get(top.name)) continue;
      const component: string[] = [];
      for (let n = open.pop(); n !== undefined; n = n === top.name ? undefined : open.pop()) {
        onOpen.delete(n);
        component.push(n);
      }
      components.push(component.sort());
    }
  }
  return components;
}
