import type { CustomTypesConfig, Pool, PoolClient, PoolConfig, QueryResultRow } from 'pg';
import { PipelineError, toPipelineError } from '../../errors/pipeline-error.js';
import type { ExportRequest } from '../contract.js';
import { loadDriver } from '../driver.js';
import type { PostgresConfig } from './postgres-config.js';
import { isDatabaseError, pgError } from './postgres-errors.js';
import { backendPid, schemaExists, serverVersion, sessionSetup, terminateBackend } from './postgres-sql.js';

type PgModule = typeof import('pg');
export type CopyModule = typeof import('pg-copy-streams');

/** Every value arrives as the server's text: no Date objects, no floats for bigints, nothing re-formatted. */
const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as CustomTypesConfig;

/** One pooled connection held by one operation. */
export interface Session {
  readonly client: PoolClient;
  /** The backend's process id, to terminate it from another connection when the operation is aborted. */
  readonly pid: number;
  /** The connection must not go back to the pool: aborted, failed mid-protocol, or a termination may be on its way. */
  broken: boolean;
  readonly onError: () => void;
  released: boolean;
}

/**
 * What differs between engines that speak PostgreSQL's protocol (PostgreSQL, Redshift): how the server says its
 * version, and the settings every pooled session runs.
 */
export interface PgFlavor {
  /** A statement whose first row's `v` is the server's version. */
  readonly version: string;
  /** The settings of every session, given the connection's schema and the version. */
  setup(schema: string | undefined, version: string): string;
}

/** PostgreSQL: the version number picks the float setting (see sessionSetup). */
export const POSTGRES_FLAVOR: PgFlavor = {
  version: serverVersion,
  setup: (schema, version) => sessionSetup(schema, Number(version) < 120000),
};

/**
 * The pool of one PostgreSQL connection. Sessions run in UTC with ISO date and interval styles and the connection's
 * search path (see sessionSetup); an aborted operation has its backend terminated from a separate connection.
 */
export class PgSessions {
  readonly config: PostgresConfig;
  #pg: PgModule | undefined;
  #copy: CopyModule | undefined;
  #pool: Pool | undefined;
  readonly #pids = new WeakMap<object, number>();
  /** Backend pids of this pool's connections: a wait for the source's open transactions must not wait for its own. */
  readonly ownPids = new Set<number>();

  readonly #flavor: PgFlavor;

  constructor(config: PostgresConfig, flavor: PgFlavor = POSTGRES_FLAVOR) {
    this.config = config;
    this.#flavor = flavor;
  }

  /** pg-copy-streams, once opened. */
  get copy(): CopyModule {
    if (!this.#copy) throw new PipelineError('INTERNAL', 'postgres connector used before open()');
    return this.#copy;
  }

  #clientConfig(): PoolConfig {
    const c = this.config.connect;
    return {
      ...(c.host === undefined ? {} : { host: c.host }),
      ...(c.port === undefined ? {} : { port: c.port }),
      ...(c.user === undefined ? {} : { user: c.user }),
      ...(c.password === undefined ? {} : { password: c.password }),
      ...(c.database === undefined ? {} : { database: c.database }),
      ...(c.ssl === undefined ? {} : { ssl: c.ssl as PoolConfig['ssl'] }),
      application_name: 'pigeon',
      keepAlive: true,
      types: RAW_TEXT,
    };
  }

  /** A PipelineError of this connection (secrets masked, transient or not). */
  error(e: unknown, code: Parameters<typeof pgError>[1], extra: Parameters<typeof pgError>[2] = {}): PipelineError {
    return pgError(e, code, { connection: this.config.name, ...extra }, this.config.secrets);
  }

  async open(): Promise<void> {
    const pg = await loadDriver<PgModule>('pg', 'postgres');
    this.#copy = await loadDriver<CopyModule>('pg-copy-streams', 'postgres');
    this.#pg = pg;
    // One probe before the pool: bad credentials fail here, once, and the server version picks the session settings.
    const probe = new pg.Client({ ...this.#clientConfig(), connectionTimeoutMillis: 30_000 });
    probe.on('error', () => {});
    let version: string;
    try {
      await probe.connect();
      version = String((await probe.query<{ v: string }>(this.#flavor.version)).rows[0]?.v);
      const schema = this.config.schema;
      if (schema !== undefined) {
        const found = await probe.query<{ found: string }>(schemaExists, [schema]);
        if (found.rows[0]?.found !== 't') {
          throw new PipelineError('INVALID_CONFIG', `connection \`${this.config.name}\`: schema \`${schema}\` (options.schema) does not exist`, {
            connection: this.config.name,
          });
        }
      }
    } catch (e) {
      throw this.error(e, 'CONNECT_FAILED');
    } finally {
      await probe.end().catch(() => {});
    }
    const setup = this.#flavor.setup(this.config.schema, version);
    const pool = new pg.Pool({
      ...this.#clientConfig(),
      max: this.config.maxConnections,
      idleTimeoutMillis: 30_000,
      // A server that does not answer (stopped, a dead host) must fail the attempt, not hold it.
      connectionTimeoutMillis: 30_000,
      onConnect: async (client) => {
        await client.query(setup);
        const r = await client.query<{ pid: string }>(backendPid);
        const pid = Number(r.rows[0]?.pid);
        this.#pids.set(client, pid);
        this.ownPids.add(pid);
      },
    });
    pool.on('remove', (client) => {
      const pid = this.#pids.get(client);
      if (pid !== undefined) this.ownPids.delete(pid);
    });
    // An idle connection the server closed: the pool drops it and the next use reconnects.
    pool.on('error', () => {});
    this.#pool = pool;
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.end();
  }

  async take(): Promise<Session> {
    const pool = this.#pool;
    if (!pool) throw new PipelineError('INTERNAL', 'postgres connector used before open()');
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (e) {
      throw this.error(e, 'CONNECT_FAILED');
    }
    const session: Session = {
      client,
      pid: this.#pids.get(client) ?? 0,
      broken: false,
      released: false,
      onError: () => {
        session.broken = true;
      },
    };
    // A checked-out client has no pool listener: without this, a dropped connection would crash the process.
    client.on('error', session.onError);
    return session;
  }

  release(s: Session): void {
    if (s.released) return;
    s.released = true;
    s.client.removeListener('error', s.onError);
    s.client.release(s.broken ? new Error('pigeon: connection discarded') : undefined);
  }

  /**
   * Ends the backend of an aborted operation from a separate connection (the operation's own is busy). A
   * termination, not a cancel: a backend blocked writing to a client that stopped reading only reacts to that.
   */
  async terminate(pid: number): Promise<void> {
    const pg = this.#pg;
    if (!pg || pid === 0) return;
    const killer = new pg.Client({ ...this.#clientConfig(), connectionTimeoutMillis: 10_000 });
    killer.on('error', () => {});
    try {
      await killer.connect();
      await killer.query(terminateBackend, [pid]);
    } catch {
      // Best effort: closing the socket ends the backend too, only later.
    } finally {
      await killer.end().catch(() => {});
    }
  }

  /**
   * Runs one step of an export on a session of its own: an abort terminates the session's backend; a failure is
   * EXPORT_FAILED naming the node and table (ABORTED after an abort), the session discarded unless the server
   * answered with an error.
   */
  async exporting<T>(req: ExportRequest, signal: AbortSignal | undefined, work: (s: Session) => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    const s = await this.take();
    const stop = this.onAbort(s, signal);
    const table = req.source.table === undefined ? {} : { table: req.source.table };
    try {
      return await work(s);
    } catch (e) {
      if (signal?.aborted) throw toPipelineError(signal.reason, 'ABORTED', { connection: this.config.name, ...table });
      if (!isDatabaseError(e)) s.broken = true;
      throw this.error(e, 'EXPORT_FAILED', { node: req.node, ...table });
    } finally {
      stop();
      this.release(s);
    }
  }

  /**
   * Runs an import on a session of its own: an abort terminates the session's backend; after a failure `cleanUp`
   * runs on a working session (a fresh one when the failure broke this one), and the failure is IMPORT_FAILED
   * naming the table (ABORTED after an abort); `release`, if given, runs on a session that goes back to the pool.
   */
  async importing<T>(
    table: string,
    signal: AbortSignal | undefined,
    work: (s: Session) => Promise<T>,
    cleanUp: (s: Session) => Promise<void>,
    release?: (s: Session) => Promise<void>,
  ): Promise<T> {
    signal?.throwIfAborted();
    let s = await this.take();
    const stop = this.onAbort(s, signal);
    try {
      return await work(s);
    } catch (e) {
      stop();
      if (s.broken) {
        // Clean up on a fresh connection; the broken one goes first so it cannot hold the pool's last slot.
        this.release(s);
        s = await this.take().catch(() => s);
      }
      if (!s.released) await cleanUp(s);
      if (signal?.aborted) throw toPipelineError(signal.reason, 'ABORTED', { connection: this.config.name, table });
      throw this.error(e, 'IMPORT_FAILED', { table });
    } finally {
      stop();
      if (release && !s.broken && !s.released) await release(s);
      this.release(s);
    }
  }

  /** While `signal` is not aborted; on abort the session's backend is terminated and the session discarded. */
  onAbort(s: Session, signal: AbortSignal | undefined, also?: () => void): () => void {
    if (!signal) return () => {};
    const abort = () => {
      s.broken = true;
      also?.();
      void this.terminate(s.pid);
    };
    signal.addEventListener('abort', abort, { once: true });
    return () => signal.removeEventListener('abort', abort);
  }
}

/** The first column of the first row of a query, as text; null when there is none. */
export async function firstValue(s: Session, q: { readonly sql: string; readonly params: readonly string[] }): Promise<string | null> {
  const r = await s.client.query({ text: q.sql, values: [...q.params], rowMode: 'array' });
  const v = (r.rows[0] as unknown[] | undefined)?.[0];
  return typeof v === 'string' ? v : null;
}

/** The rows of one statement. */
export async function rows<R extends QueryResultRow>(s: Session, text: string, values: readonly unknown[] = []): Promise<R[]> {
  return (await s.client.query<R>({ text, values: [...values] })).rows;
}
