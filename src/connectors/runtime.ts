import pLimit, { type LimitFunction } from 'p-limit';
import type { ConnectionConfig } from '../config/types.js';
import { PipelineError, toPipelineError } from '../errors/pipeline-error.js';
import type { Connector, ConnectorKind, ConnectorOptions } from './contract.js';
import { getConnectorKind } from './registry.js';

/** How long closing one connection may take at the end of a run. */
const CLOSE_GRACE_MS = 5_000;

/**
 * Owns every connector of a run: opens each connection once, on first use; bounds the sessions used at once per
 * connection by `max_connections`, over all nodes; refuses use after close; closes in reverse order of opening and
 * never lets a close error hide the error that ended the run.
 */
export class ConnectionManager {
  readonly #configs: Readonly<Record<string, ConnectionConfig>>;
  readonly #options: ConnectorOptions;
  readonly #open = new Map<string, Promise<Connector>>();
  readonly #opened: string[] = [];
  readonly #limits = new Map<string, LimitFunction>();
  readonly #kinds: (type: string) => ConnectorKind | undefined;
  #closed = false;

  /** `kinds`: where connection types are looked up; the registry unless a test or an embedding tool brings its own. */
  constructor(configs: Readonly<Record<string, ConnectionConfig>>, options: ConnectorOptions, kinds: (type: string) => ConnectorKind | undefined = getConnectorKind) {
    this.#configs = configs;
    this.#options = options;
    this.#kinds = kinds;
  }

  /** The connector of a connection, opened on first use. */
  get(name: string, signal?: AbortSignal): Promise<Connector> {
    if (this.#closed) return Promise.reject(new PipelineError('INTERNAL', `connection \`${name}\` used after close`));
    let p = this.#open.get(name);
    if (!p) {
      p = this.#connect(name, signal);
      this.#open.set(name, p);
      // A failed open is not cached: a retry of the node may find the server back.
      p.catch(() => this.#open.delete(name));
    }
    return p;
  }

  async #connect(name: string, signal?: AbortSignal): Promise<Connector> {
    const config = this.#configs[name];
    if (!config) throw new PipelineError('UNKNOWN_CONNECTION', `connection \`${name}\` is not defined`, { connection: name });
    const kind = this.#kinds(config.type);
    if (!kind) throw new PipelineError('INVALID_CONFIG', `unknown connection type \`${config.type}\``, { connection: name });
    const create = await kind.load();
    const connector = create(config, { connection: (other) => this.#configs[other], ...this.#options });
    try {
      await connector.open(signal);
    } catch (e) {
      throw toPipelineError(e, 'CONNECT_FAILED', { connection: name });
    }
    this.#opened.push(name);
    return connector;
  }

  /** Runs `fn` holding one of the connection's sessions. */
  session<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.#limit(name)(fn);
  }

  /**
   * Runs `fn` holding one of the connection's sessions if one is free now (nobody waiting, fewer than the limit in
   * use); otherwise returns undefined and does not run it.
   */
  trySession<T>(name: string, fn: () => Promise<T>): Promise<T> | undefined {
    const limit = this.#limit(name);
    // p-limit counts a call as pending synchronously, so two calls in one tick cannot both see the same free slot.
    if (limit.activeCount + limit.pendingCount >= limit.concurrency) return undefined;
    return limit(fn);
  }

  #limit(name: string): LimitFunction {
    let limit = this.#limits.get(name);
    if (!limit) {
      limit = pLimit(this.maxConnections(name));
      this.#limits.set(name, limit);
    }
    return limit;
  }

  maxConnections(name: string): number {
    const config = this.#configs[name];
    const kind = config ? this.#kinds(config.type) : undefined;
    return Math.max(1, config?.max_connections ?? kind?.capabilities.defaultMaxConnections ?? 1);
  }

  /**
   * Closes everything opened, newest first; returns close errors instead of throwing them. A close that does not
   * finish within `graceMs` (a server that stopped answering cannot acknowledge a goodbye) is given up, as an error:
   * the run's end must not wait on it.
   */
  async closeAll(graceMs = CLOSE_GRACE_MS): Promise<unknown[]> {
    this.#closed = true;
    const errors: unknown[] = [];
    for (const name of [...this.#opened].reverse()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        const c = await this.#open.get(name);
        await Promise.race([
          c?.close(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new PipelineError('TIMEOUT', `connection \`${name}\` did not close within ${graceMs / 1000} s`, { connection: name })), graceMs);
            timer.unref();
          }),
        ]);
      } catch (e) {
        errors.push(e);
      } finally {
        clearTimeout(timer);
      }
    }
    return errors;
  }
}
