/** One reading of a node's counters. */
export interface Sample {
  readonly at: number;
  readonly rowsExported: number;
  readonly rowsImported: number;
}

/**
 * The current speed of a node: rows per second over the last `windowMs` (not the average since it started, which
 * hides a stall and lags a speed-up). The faster of the two halves counts: the export while it runs, then the
 * import catching up.
 */
export class RateWindow {
  readonly #windowMs: number;
  #samples: Sample[] = [];

  constructor(windowMs = 5_000) {
    this.#windowMs = windowMs;
  }

  add(sample: Sample): void {
    const last = this.#samples[this.#samples.length - 1];
    // A new attempt starts its counters again: older readings no longer compare.
    if (last && (sample.rowsExported < last.rowsExported || sample.rowsImported < last.rowsImported)) this.#samples = [];
    this.#samples.push(sample);
    while (this.#samples.length > 2 && sample.at - this.#samples[0]!.at > this.#windowMs) this.#samples.shift();
  }

  /** Rows per second, or undefined until two readings at least 500 ms apart exist. */
  rate(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (!first || !last || last.at - first.at < 500) return undefined;
    const rows = Math.max(last.rowsExported - first.rowsExported, last.rowsImported - first.rowsImported);
    return (rows * 1000) / (last.at - first.at);
  }
}

/** Seconds left at `rate` for what remains of `total`, or undefined when it cannot be told. */
export function etaMs(done: number, total: number | undefined, rate: number | undefined): number | undefined {
  if (total === undefined || rate === undefined || rate <= 0) return undefined;
  return (Math.max(0, total - done) / rate) * 1000;
}
