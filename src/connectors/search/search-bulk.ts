import { PipelineError } from '../../errors/pipeline-error.js';
import type { SearchContext } from './search-scan.js';
import { errorReason, type ServerError } from './search-http.js';

/** Where an operation's document came from, for a rejection's message. */
export interface ItemOrigin {
  readonly id: string;
  /** The chunk file and the 1-based line of its row (import), or undefined (a commit's copy). */
  readonly chunk?: string;
  readonly line?: number;
}

/** A document the server refused. */
export interface Rejection extends ItemOrigin {
  readonly status: number;
  readonly reason: string;
}

interface Item extends ItemOrigin {
  /** The operations' lines (action, document), each ending in a newline. */
  readonly lines: string;
  /** Operations in `lines`: the server answers each; the item is applied when all of them are. */
  readonly ops: number;
}

export interface BulkOptions {
  /** `_bulk` on this index (actions name no index). */
  readonly index: string;
  readonly signal?: AbortSignal;
  /**
   * Version conflicts are expected, not rejections: with external versions (a key given twice in one load), the
   * older row arriving later is superseded.
   */
  readonly conflictsSupersede?: boolean;
  /** A delete of a document that is not there (404) is done, not refused. */
  readonly missingIsDone?: boolean;
}

/** Kept in full for the first few; the rest are counted. */
const KEPT_REJECTIONS = 20;

/**
 * `_bulk` NDJSON in batches of at most `batch_docs` operations and `batch_bytes` bytes, `concurrency` requests in
 * flight: `add` returns a promise to await when the window is full (backpressure). A whole request that fails with
 * 429 or 5xx is retried with backoff (the operations carry their ids, so a repeat changes nothing); items refused
 * with 429 (a full queue) are sent again; any other refused item is a rejection, counted and kept with its document
 * id, chunk line and the server's reason.
 */
export class BulkWriter {
  readonly #ctx: SearchContext;
  readonly #o: BulkOptions;
  #batch: Item[] = [];
  #bytes = 0;
  readonly #inFlight = new Set<Promise<void>>();
  #failure: unknown;
  /** Operations the server applied (or found superseded). */
  applied = 0;
  rejectedCount = 0;
  readonly rejections: Rejection[] = [];

  constructor(ctx: SearchContext, o: BulkOptions) {
    this.#ctx = ctx;
    this.#o = o;
  }

  /** Queues one document's operations (`lines`: action and document lines, newline-terminated; `ops` of them). */
  add(origin: ItemOrigin, lines: string, ops = 1): Promise<void> | undefined {
    if (this.#failure !== undefined) throw this.#failure;
    const size = Buffer.byteLength(lines);
    const { batchDocs, batchBytes } = this.#ctx.options;
    let wait: Promise<void> | undefined;
    if (this.#batch.length > 0 && this.#bytes + size > batchBytes) wait = this.#send();
    this.#batch.push({ ...origin, lines, ops });
    this.#bytes += size;
    if (this.#batch.length >= batchDocs) wait = this.#send() ?? wait;
    return wait;
  }

  /** Sends what is queued and waits for every request. */
  async finish(): Promise<void> {
    await this.#send();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Sends the batch; resolves when a request slot is free again. */
  #send(): Promise<void> | undefined {
    if (this.#batch.length === 0) return undefined;
    const items = this.#batch;
    this.#batch = [];
    this.#bytes = 0;
    const p = this.#request(items).catch((e: unknown) => {
      this.#failure ??= e;
    });
    const tracked = p.finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
    if (this.#inFlight.size < this.#ctx.options.concurrency) return undefined;
    return Promise.race(this.#inFlight).then(() => {
      if (this.#failure !== undefined) throw this.#failure;
    });
  }

  async #request(items: readonly Item[]): Promise<void> {
    const { http, options } = this.#ctx;
    let pending = items;
    for (let attempt = 0; ; attempt++) {
      const body = [Buffer.from(pending.map((i) => i.lines).join(''))];
      const reply = await http.call('POST', `/${encodeURIComponent(this.#o.index)}/_bulk?filter_path=errors,items.*.status,items.*.error`, body, {
        code: 'IMPORT_FAILED',
        ndjson: true,
        signal: this.#o.signal,
        context: { table: this.#o.index },
      });
      if (/^\{"errors":false/.test(reply.text)) {
        this.applied += pending.length;
        return;
      }
      const answer = JSON.parse(reply.text) as { errors?: boolean; items?: Record<string, { status: number; error?: ServerError }>[] };
      const again: Item[] = [];
      const results = (answer.items ?? []).map((entry) => Object.values(entry)[0]!);
      let at = 0;
      for (const item of pending) {
        const mine = results.slice(at, at + item.ops);
        at += item.ops;
        const failed = mine.find((r) => !(r.status < 300 || (r.status === 409 && this.#o.conflictsSupersede) || (r.status === 404 && this.#o.missingIsDone)));
        if (!failed) this.applied++;
        else if (failed.status === 429 || failed.status >= 500) again.push(item);
        else this.#reject(item, failed.status, failed.error ? errorReason(failed.error) : `HTTP ${failed.status}`);
      }
      if (again.length === 0) return;
      if (attempt >= options.retries) {
        throw new PipelineError('IMPORT_FAILED', `${again.length} documents were still refused as busy (HTTP 429/5xx) after ${options.retries} retries`, {
          connection: this.#ctx.connection,
          table: this.#o.index,
          transient: true,
        });
      }
      pending = again;
      await http.backoff(attempt, this.#o.signal);
    }
  }

  #reject(item: Item, status: number, reason: string): void {
    this.rejectedCount++;
    if (this.rejections.length < KEPT_REJECTIONS) {
      this.rejections.push({ id: item.id, status, reason, ...(item.chunk ? { chunk: item.chunk } : {}), ...(item.line ? { line: item.line } : {}) });
    }
  }
}

/** One rejection as people read it: `document 42 (chunk-00001.csv line 43): mapper_parsing_exception: …`. */
export function describeRejection(r: Rejection): string {
  const where = r.chunk ? ` (${r.chunk}${r.line ? ` line ${r.line}` : ''})` : '';
  return `document ${r.id}${where}: ${r.reason}`;
}
