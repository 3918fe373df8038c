import type { RunObserver } from '../dag/executor.js';
import type { NodeProgress } from '../nodes/export-chunks.js';
import { formatDuration } from '../config/duration.js';
import { etaMs, RateWindow } from './rate.js';
import { paint, type Paint } from './colors.js';

/** Where the live block is drawn: a terminal (stderr). */
export interface LiveStream {
  write(text: string): boolean;
  readonly columns?: number;
}

interface Running {
  readonly node: string;
  attempt: number;
  started: number;
  progress?: Readonly<NodeProgress>;
  readonly rate: RateWindow;
  /** Retrying: when the next attempt starts, and why. */
  retryAt?: number;
  retryCode?: string;
}

/**
 * The live view of a run on a terminal: one line per running node (phase; rows exported and imported; rows/s
 * over the last seconds; MB; % and ETA when the plan counted the rows), and a line of totals, redrawn in place.
 * Log lines go through `log`, which prints them above the block, so the two never tear each other.
 */
export class LiveProgress {
  readonly #out: LiveStream;
  readonly #paint: Paint;
  readonly #now: () => number;
  readonly #running = new Map<string, Running>();
  readonly #total: number;
  readonly #started: number;
  #done = 0;
  #failed = 0;
  #lines = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: { out: LiveStream; color: boolean; total: number; now?: () => number }) {
    this.#out = opts.out;
    this.#paint = paint(opts.color);
    this.#now = opts.now ?? Date.now;
    this.#total = opts.total;
    this.#started = this.#now();
  }

  observer(): RunObserver {
    return {
      nodeStarted: (node, attempt) => {
        const r = this.#running.get(node) ?? { node, attempt, started: this.#now(), rate: new RateWindow() };
        r.attempt = attempt;
        delete r.retryAt;
        delete r.retryCode;
        this.#running.set(node, r);
        this.#draw();
      },
      nodeRetrying: (node, _attempt, error, delayMs) => {
        const r = this.#running.get(node);
        if (!r) return;
        r.retryAt = this.#now() + delayMs;
        r.retryCode = error.code;
        this.#draw();
      },
      nodeFinished: (rec) => {
        this.#running.delete(rec.node);
        this.#done++;
        if (rec.state !== 'succeeded') this.#failed++;
        this.#draw();
      },
      progress: (node, progress) => {
        const r = this.#running.get(node);
        if (!r) return;
        r.progress = progress;
        r.rate.add({ at: this.#now(), rowsExported: progress.rowsExported, rowsImported: progress.rowsImported });
      },
    };
  }

  /** Starts redrawing every `everyMs`. */
  start(everyMs = 250): void {
    this.#timer = setInterval(() => this.#draw(), everyMs);
    this.#timer.unref();
  }

  /** A log line, printed above the live block. */
  log(line: string): void {
    this.#clear();
    this.#out.write(line.endsWith('\n') ? line : `${line}\n`);
    this.#draw();
  }

  /** Removes the block for good (the summary follows). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#clear();
  }

  /** The block as it would be drawn now, without escapes when colours are off (for tests and `stop`). */
  render(): string[] {
    const p = this.#paint;
    const now = this.#now();
    // A pseudo-terminal without a size says 0 columns.
    const width = Math.max(40, this.#out.columns || 120);
    const nameWidth = Math.min(24, Math.max(4, ...[...this.#running.keys()].map((n) => n.length)));
    const lines = [...this.#running.values()].map((r) => {
      const name = r.node.length > nameWidth ? `${r.node.slice(0, nameWidth - 1)}…` : r.node.padEnd(nameWidth);
      if (r.retryAt !== undefined) {
        const wait = Math.max(0, r.retryAt - now);
        return cut(`${p.yellow('↻')} ${p.bold(name)}  ${p.yellow(`attempt ${r.attempt} failed (${r.retryCode}), retrying in ${formatDuration(wait)}`)}`, width);
      }
      const g = r.progress;
      const phase = phaseWord(g?.phase);
      const parts = [`${p.cyan('▸')} ${p.bold(name)}  ${p.cyan(phase.padEnd(10))}`];
      if (g) {
        parts.push(`${count(g.rowsExported)} exported`, `${count(g.rowsImported)} imported`);
        const rate = r.rate.rate();
        parts.push(rate === undefined ? '– rows/s' : `${count(Math.round(rate))} rows/s`);
        parts.push(`${(g.bytes / 1e6).toFixed(1)} MB`);
        if (g.rowsTotal !== undefined && g.rowsTotal > 0) {
          const pct = Math.min(100, Math.floor((g.rowsExported * 100) / g.rowsTotal));
          const eta = etaMs(g.rowsExported, g.rowsTotal, rate);
          parts.push(p.bold(`${pct}%`) + (eta !== undefined && pct < 100 ? ` ETA ${formatDuration(eta)}` : ''));
        }
      }
      parts.push(p.dim(formatDuration(now - r.started) + (r.attempt > 1 ? `, attempt ${r.attempt}` : '')));
      return cut(parts.join('  '), width);
    });
    const failed = this.#failed > 0 ? `, ${p.red(`${this.#failed} not succeeded`)}` : '';
    lines.push(cut(p.dim(`${this.#done}/${this.#total} nodes done, ${this.#running.size} running${failed} · ${formatDuration(now - this.#started)}`), width));
    return lines;
  }

  #draw(): void {
    if (this.#timer === undefined) return;
    const lines = this.render();
    this.#clear();
    this.#out.write(lines.join('\n') + '\n');
    this.#lines = lines.length;
  }

  #clear(): void {
    if (this.#lines === 0) return;
    // Up to the block's first line, then erase to the end of the screen.
    this.#out.write(`\x1b[${this.#lines}A\r\x1b[J`);
    this.#lines = 0;
  }
}

/** The phase in one word: planning, exporting, loading, committing. */
function phaseWord(phase: string | undefined): string {
  if (!phase) return 'starting';
  if (phase.startsWith('exporting')) return 'exporting';
  if (phase.startsWith('committing')) return 'committing';
  return phase;
}

/** 1234567 → "1,234,567". */
function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** Cuts a line to the terminal's width (escapes do not take room), so a long line never wraps and breaks the redraw. */
function cut(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      out += line.slice(i, end + 1);
      i = end;
      continue;
    }
    if (visible >= width - 1) continue;
    out += line[i];
    visible++;
  }
  return out;
}
