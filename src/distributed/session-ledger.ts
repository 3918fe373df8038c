/**
 * The sessions of each connection that the attempts dispatched to workers may hold, so that `max_connections` holds
 * over every worker together (in one process the ConnectionManager bounds them; across machines nobody else can).
 * Pure: no I/O, no clocks. Each attempt is granted a fixed share of every connection it uses, `max_connections`
 * divided by the run's concurrency (at least one session), and holds it until it ends; an attempt whose share is not
 * free waits, so a connection never has more than its `max_connections` granted at once (a share of one on a
 * connection with max_connections 1 makes its nodes run one after another, as in-process).
 */
export class SessionLedger {
  readonly #limits: ReadonlyMap<string, number>;
  readonly #concurrency: number;
  readonly #used = new Map<string, number>();

  /** `limits`: each connection's max_connections; `concurrency`: attempts the run dispatches at once. */
  constructor(limits: ReadonlyMap<string, number>, concurrency: number) {
    this.#limits = limits;
    this.#concurrency = Math.max(1, concurrency);
  }

  /** The sessions an attempt using these connections is granted of each. */
  shareOf(connections: readonly string[]): Record<string, number> {
    const share: Record<string, number> = {};
    for (const c of new Set(connections)) {
      const limit = this.#limits.get(c) ?? 1;
      share[c] = Math.max(1, Math.floor(limit / this.#concurrency));
    }
    return share;
  }

  /** Takes the grant if every part of it is free now; false (and nothing taken) otherwise. */
  tryTake(grant: Readonly<Record<string, number>>): boolean {
    const fits = Object.entries(grant).every(([c, n]) => (this.#used.get(c) ?? 0) + n <= (this.#limits.get(c) ?? 1));
    if (!fits) return false;
    for (const [c, n] of Object.entries(grant)) this.#used.set(c, (this.#used.get(c) ?? 0) + n);
    return true;
  }

  give(grant: Readonly<Record<string, number>>): void {
    for (const [c, n] of Object.entries(grant)) this.#used.set(c, Math.max(0, (this.#used.get(c) ?? 0) - n));
  }

  /** Sessions of a connection granted now. */
  inUse(connection: string): number {
    return this.#used.get(connection) ?? 0;
  }
}
