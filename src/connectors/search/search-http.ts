import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { maskSecrets } from '../../errors/mask.js';
import { PipelineError, type ErrorCode, type ErrorLocation } from '../../errors/pipeline-error.js';
import { isTransient } from '../../errors/transient.js';
import type { SearchConfig } from './search-config.js';

/** A response as it came, whatever its status. */
export interface HttpReply {
  readonly status: number;
  readonly text: string;
}

export interface CallOptions {
  readonly signal?: AbortSignal | undefined;
  /** The code of the PipelineError a failure becomes (default by caller: EXPORT_FAILED, IMPORT_FAILED, …). */
  readonly code: ErrorCode;
  /** Statuses besides 2xx that the caller handles itself (404 for "no such index"). */
  readonly accept?: readonly number[];
  readonly context?: ErrorLocation;
  /** Send as NDJSON (`_bulk`). */
  readonly ndjson?: boolean;
  /** Do not retry: the request is not safe to repeat. */
  readonly once?: boolean;
}

/** 429 (too many requests, a full queue) and every 5xx may succeed a little later. */
export function isTransientStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Plain HTTP to one Elasticsearch or OpenSearch cluster with Node's http/https (keep-alive sockets, the
 * connection's CA, its credentials on every request). Every failure is a PipelineError with the server's error type
 * and reason and no secret; 429, 5xx and network failures are retried with backoff, then reported `transient`.
 */
export class SearchHttp {
  readonly #config: SearchConfig;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;

  constructor(config: SearchConfig) {
    this.#config = config;
    const tls = config.base.protocol === 'https:';
    const agentOptions = { keepAlive: true, maxSockets: Math.max(8, config.options.concurrency * 2) };
    this.#agent = tls ? new https.Agent({ ...agentOptions, ...(config.ca ? { ca: config.ca } : {}) }) : new http.Agent(agentOptions);
    this.#request = tls ? https.request : http.request;
  }

  get secrets(): readonly string[] {
    return this.#config.secrets;
  }

  close(): void {
    this.#agent.destroy();
  }

  /** One request, no retry: the reply whatever its status; network failures reject. */
  send(method: string, path: string, body: string | readonly Buffer[] | undefined, signal?: AbortSignal, ndjson = false): Promise<HttpReply> {
    const url = new URL(this.#config.base.href);
    const [p, q] = path.split('?', 2) as [string, string | undefined];
    url.pathname = `${url.pathname.replace(/\/+$/, "")}${p}`;
    if (q !== undefined) url.search = q;
    const parts = body === undefined ? [] : typeof body === 'string' ? [Buffer.from(body)] : body;
    const length = parts.reduce((n, b) => n + b.length, 0);
    const headers: Record<string, string | number> = {
      accept: 'application/json',
      ...(body !== undefined ? { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json', 'content-length': length } : {}),
      ...(this.#config.authorization ? { authorization: this.#config.authorization } : {}),
    };
    return new Promise<HttpReply>((resolve, reject) => {
      const req = this.#request(url, { method, headers, agent: this.#agent, timeout: this.#config.options.timeout, ...(signal ? { signal } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('timeout', () => {
        const e = Object.assign(new Error(`no answer within ${this.#config.options.timeout} ms`), { code: 'ETIMEDOUT' });
        req.destroy(e);
      });
      req.on('error', (e) => reject(signal?.aborted ? signal.reason : e));
      for (const b of parts) req.write(b);
      req.end();
    });
  }

  /**
   * A request whose failure is an error: 2xx (or a status in `accept`) resolves; 429, 5xx and network failures are
   * retried (`options.retries` times, backoff from `options.retry_delay`), then throw a transient PipelineError;
   * anything else throws at once with the server's reason.
   */
  async call(method: string, path: string, body: string | readonly Buffer[] | undefined, o: CallOptions): Promise<HttpReply> {
    const { retries } = this.#config.options;
    for (let attempt = 0; ; attempt++) {
      let reply: HttpReply | undefined;
      let failure: unknown;
      try {
        reply = await this.send(method, path, body, o.signal, o.ndjson);
      } catch (e) {
        if (o.signal?.aborted) throw o.signal.reason;
        failure = e;
      }
      if (reply && ((reply.status >= 200 && reply.status < 300) || o.accept?.includes(reply.status))) return reply;
      const retryable = reply ? isTransientStatus(reply.status) : isTransient(failure);
      if (!retryable || o.once || attempt >= retries) {
        throw reply ? this.replyError(method, path, reply, o.code, o.context) : this.networkError(method, path, failure, o.code, o.context);
      }
      await this.backoff(attempt, o.signal);
    }
  }

  /** `call`, then the body parsed (plain JSON: for control responses, not for documents). */
  async json<T>(method: string, path: string, body: unknown, o: CallOptions): Promise<T & { readonly status: number }> {
    const reply = await this.call(method, path, body === undefined ? undefined : JSON.stringify(body), o);
    const parsed = reply.text === '' ? {} : (JSON.parse(reply.text) as object);
    return { ...(parsed as T), status: reply.status };
  }

  /** Waits before attempt `attempt + 1`: retry_delay × 2^attempt, with up to 50% jitter. */
  async backoff(attempt: number, signal?: AbortSignal): Promise<void> {
    const base = this.#config.options.retryDelay * 2 ** attempt;
    await sleep(base * (0.75 + Math.random() * 0.5), undefined, signal ? { signal } : undefined);
  }

  replyError(method: string, path: string, reply: HttpReply, code: ErrorCode, context: ErrorLocation = {}): PipelineError {
    const reason = serverReason(reply.text);
    const message = maskSecrets(`${method} ${pathOnly(path)}: HTTP ${reply.status}${reason ? ` ${reason}` : ''}`, this.#config.secrets);
    const finalCode: ErrorCode = reply.status === 401 || reply.status === 403 ? 'CONNECT_FAILED' : code;
    return new PipelineError(finalCode, message, {
      connection: this.#config.name,
      ...context,
      transient: isTransientStatus(reply.status),
      ...(reply.status === 401 ? { hint: 'check `user` and `password` (or `api_key`) of the connection' } : {}),
    });
  }

  networkError(method: string, path: string, e: unknown, code: ErrorCode, context: ErrorLocation = {}): PipelineError {
    const text = e instanceof Error ? e.message : String(e);
    return new PipelineError(code === 'IMPORT_FAILED' || code === 'EXPORT_FAILED' ? code : 'CONNECT_FAILED',
      maskSecrets(`${method} ${pathOnly(path)} at ${this.#config.base.host}: ${text}`, this.#config.secrets), {
        connection: this.#config.name,
        ...context,
        transient: true,
        cause: e,
      });
  }
}

function pathOnly(path: string): string {
  return path.split('?', 1)[0]!;
}

/** `type: reason` of an Elasticsearch error body (the root cause's when it says more), or a short excerpt. */
export function serverReason(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    const err = body.error;
    if (typeof err === 'string') return err;
    if (err && typeof err === 'object') return errorReason(err as ServerError);
    if (typeof body.message === 'string') return body.message;
  } catch {
    // not JSON
  }
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

export interface ServerError {
  readonly type?: string;
  readonly reason?: string;
  readonly caused_by?: ServerError;
  readonly root_cause?: readonly ServerError[];
}

/** `mapper_parsing_exception: failed to parse field [n] of type [long] … (caused by: …)`. */
export function errorReason(e: ServerError): string {
  let out = `${e.type ?? 'error'}: ${e.reason ?? ''}`.trim();
  const cause = e.caused_by;
  if (cause?.reason && !out.includes(cause.reason)) out += ` (caused by ${cause.type ?? 'error'}: ${cause.reason})`;
  const root = e.root_cause?.[0];
  if (!cause && root?.reason && !out.includes(root.reason)) out += ` (${root.type ?? 'error'}: ${root.reason})`;
  return out;
}
