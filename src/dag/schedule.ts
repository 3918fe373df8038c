import type { NodeState } from '../state/run-store.js';

/**
 * Decides what may run next. Pure: no I/O, no clocks, so it is tested with three-line graphs.
 *
 * A node is ready when it is pending and every dependency inside the schedule has succeeded (dependencies outside
 * the schedule count as satisfied: they were not selected, or succeeded in the run being retried). When a node
 * fails, every pending node downstream of it becomes skipped, and independent branches go on.
 */
export class Schedule {
  readonly #deps: ReadonlyMap<string, readonly string[]>;
  readonly #order: readonly string[];
  readonly #state = new Map<string, NodeState>();
  readonly #skippedBecause = new Map<string, string>();

  /** `order` is a topological order of the nodes to run; `deps` gives each node's dependencies. */
  constructor(order: readonly string[], deps: ReadonlyMap<string, readonly string[]>) {
    this.#order = order;
    this.#deps = deps;
    for (const n of order) this.#state.set(n, 'pending');
  }

  state(node: string): NodeState | undefined {
    return this.#state.get(node);
  }

  skippedBecause(node: string): string | undefined {
    return this.#skippedBecause.get(node);
  }

  /** Pending nodes whose dependencies have all succeeded, in run order. */
  ready(): string[] {
    return this.#order.filter((n) => this.#state.get(n) === 'pending' && this.#depsOf(n).every((d) => this.#state.get(d) === 'succeeded'));
  }

  start(node: string): void {
    this.#expect(node, 'pending');
    this.#state.set(node, 'running');
  }

  /** Records the end of a running node; returns the nodes that became skipped because of it. */
  finish(node: string, outcome: 'succeeded' | 'failed' | 'interrupted'): string[] {
    this.#expect(node, 'running');
    this.#state.set(node, outcome);
    return outcome === 'succeeded' ? [] : this.#skipDownstream();
  }

  /** Marks every node that has not started as skipped (fail-fast, or the run was interrupted). */
  skipPending(reason: string): string[] {
    const skipped: string[] = [];
    for (const n of this.#order) {
      if (this.#state.get(n) === 'pending') {
        this.#state.set(n, 'skipped');
        this.#skippedBecause.set(n, reason);
        skipped.push(n);
      }
    }
    return skipped;
  }

  /** True when nothing is pending or running. */
  done(): boolean {
    return this.#order.every((n) => {
      const s = this.#state.get(n);
      return s !== 'pending' && s !== 'running';
    });
  }

  #depsOf(n: string): readonly string[] {
    return (this.#deps.get(n) ?? []).filter((d) => this.#state.has(d));
  }

  #skipDownstream(): string[] {
    const skipped: string[] = [];
    let changed = true;
    while (changed) {
      changed = false;
      for (const n of this.#order) {
        if (this.#state.get(n) !== 'pending') continue;
        const blocked = this.#depsOf(n).find((d) => {
          const s = this.#state.get(d);
          return s === 'failed' || s === 'skipped' || s === 'interrupted';
        });
        if (blocked !== undefined) {
          this.#state.set(n, 'skipped');
          this.#skippedBecause.set(n, this.#skippedBecause.get(blocked) ?? `upstream \`${blocked}\` ${this.#state.get(blocked)}`);
          skipped.push(n);
          changed = true;
        }
      }
    }
    return skipped;
  }

  #expect(node: string, s: NodeState): void {
    const actual = this.#state.get(node);
    if (actual !== s) throw new Error(`schedule: node ${node} is ${actual ?? 'unknown'}, expected ${s}`);
  }
}
