import type { Connection, FieldPacket, Pool, PoolConnection, PoolOptions, QueryOptions, TypeCastField } from 'mysql2';
import { PipelineError } from '../../errors/pipeline-error.js';
import { loadDriver } from '../driver.js';
import { abortable } from '../feed.js';
import type { MysqlConfig } from './mysql-config.js';
import { IMPORT_SQL_MODE, mysqlSql } from './mysql-sql.js';

export type Mysql = typeof import('mysql2');

/** Every value as text, for metadata and scalar queries. */
export const textCast = (field: TypeCastField): string | null => field.string('utf8');

export interface MysqlError extends Error {
  code?: string;
  errno?: number;
  sqlState?: string;
  sqlMessage?: string;
  sql?: string;
  fatal?: boolean;
}

/** One query on one connection, as a promise of its rows and field metadata. */
export function query<T = unknown>(conn: Connection | PoolConnection, options: QueryOptions): Promise<{ rows: T; fields: FieldPacket[] | undefined }> {
  return new Promise((resolve, reject) => {
    conn.query(options, (e: unknown, rows: unknown, fields: FieldPacket[] | undefined) => (e ? reject(e) : resolve({ rows: rows as T, fields })));
  });
}

/** The first column of the first row, as text. */
export async function scalar(conn: PoolConnection, sql: string, values: readonly unknown[] = []): Promise<string | null> {
  const { rows } = await query<(string | null)[][]>(conn, { sql, values: [...values], rowsAsArray: true, typeCast: textCast });
  return rows[0]?.[0] ?? null;
}

/**
 * The pool of one MySQL connection and the sessions taken from it. Every session runs with time_zone '+00:00' and
 * without NO_BACKSLASH_ESCAPES; an aborted session has its server thread killed, so no query keeps running.
 */
export class MysqlSessions {
  readonly config: MysqlConfig;
  #mysql: Mysql | undefined;
  #pool: Pool | undefined;
  readonly #ready = new WeakSet<object>();
  readonly #kills = new Set<Promise<void>>();
  /** Server thread ids of this pool's connections: a wait for the source's open transactions skips its own. */
  readonly ownThreads = new Set<number>();
  /** What the server stores, learnt when the connection opens (MariaDB stores -0 as 0). */
  limits = { negativeZero: true };

  constructor(config: MysqlConfig) {
    this.config = config;
  }

  /** The driver module, once opened. */
  get mysql(): Mysql {
    if (!this.#mysql) throw new PipelineError('INTERNAL', 'mysql connector used before open()');
    return this.#mysql;
  }

  connectionOptions(): PoolOptions {
    const c = this.config;
    return {
      host: c.host,
      port: c.port,
      user: c.user,
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.database !== undefined ? { database: c.database } : {}),
      ...(c.ssl !== undefined ? { ssl: c.ssl } : {}),
      charset: 'UTF8MB4_GENERAL_CI',
      connectTimeout: c.options.connectTimeout,
      enableKeepAlive: true,
      multipleStatements: false,
    };
  }

  async open(): Promise<void> {
    const mysql = await loadDriver<Mysql>('mysql2', 'mysql');
    this.#mysql = mysql;
    this.#pool = mysql.createPool({
      ...this.connectionOptions(),
      connectionLimit: this.config.maxConnections,
      maxIdle: this.config.maxConnections,
      idleTimeout: 60_000,
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#kills]);
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) await new Promise<void>((resolve) => pool.end(() => resolve()));
  }

  async #acquire(): Promise<PoolConnection> {
    const pool = this.#pool;
    if (!pool) throw new PipelineError('INTERNAL', 'mysql connector used before open()');
    const conn = await new Promise<PoolConnection>((resolve, reject) => pool.getConnection((e, c) => (e ? reject(e) : resolve(c))));
    if (this.#ready.has(conn)) return conn;
    this.ownThreads.add(conn.threadId);
    try {
      await query(conn, { sql: mysqlSql.sessionTimeZone });
      const mode = (await scalar(conn, mysqlSql.sqlMode)) ?? '';
      // mysql2 quotes bound values with backslash escapes, which this mode would turn into data.
      if (mode.split(',').includes('NO_BACKSLASH_ESCAPES')) {
        const kept = mode.split(',').filter((m) => m !== 'NO_BACKSLASH_ESCAPES').join(',');
        await query(conn, { sql: mysqlSql.setSqlMode, values: [kept] });
      }
    } catch (e) {
      conn.destroy();
      throw e;
    }
    this.#ready.add(conn);
    return conn;
  }

  /**
   * Runs `fn` on one pooled connection and always gives it back. On abort (and with `killOnError` on any failure,
   * when a query may still be running) the server thread is KILLed from a separate connection and the connection
   * destroyed, so no query keeps running and no connection stays open. `onAbort` registers what else to stop.
   */
  async run<T>(
    signal: AbortSignal | undefined,
    fn: (conn: PoolConnection, onAbort: (stop: () => void) => void) => Promise<T>,
    options: { killOnError?: boolean } = {},
  ): Promise<T> {
    signal?.throwIfAborted();
    const conn = await this.#acquire();
    let broken = false;
    const stops: (() => void)[] = [];
    const abort = () => {
      broken = true;
      this.#kill(conn);
      for (const stop of stops) stop();
    };
    signal?.addEventListener('abort', abort, { once: true });
    try {
      signal?.throwIfAborted();
      const work = fn(conn, (stop) => stops.push(stop));
      // mysql2 may never settle a query on a connection an abort destroyed: stop waiting for it then.
      work.catch(() => {});
      return await abortable(work, signal);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (options.killOnError && !broken) {
        broken = true;
        this.#kill(conn);
      }
      if ((e as MysqlError).fatal) broken = true;
      throw e;
    } finally {
      signal?.removeEventListener('abort', abort);
      if (broken) conn.destroy();
      else conn.release();
    }
  }

  /** Ends the server thread of `conn` (its running query with it) and closes the socket. */
  #kill(conn: PoolConnection): void {
    const mysql = this.#mysql;
    const threadId = conn.threadId;
    conn.destroy();
    if (!mysql || !threadId) return;
    const done = (async () => {
      const killer = mysql.createConnection(this.connectionOptions());
      try {
        await query(killer, { sql: mysqlSql.kill, values: [threadId] });
      } catch {
        // Already gone (ER_NO_SUCH_THREAD) or the server is unreachable: either way nothing is left to stop.
      } finally {
        killer.destroy();
      }
    })();
    this.#kills.add(done);
    void done.then(() => this.#kills.delete(done));
  }
}

/**
 * Runs `fn` with the session in the strict sql_mode of imports, and gives the session its own mode back afterwards
 * (it returns to the pool), unless an abort is ending it anyway.
 */
export async function withImportSqlMode<T>(conn: PoolConnection, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const mode = (await scalar(conn, mysqlSql.sqlMode)) ?? '';
  await query(conn, { sql: mysqlSql.setSqlMode, values: [IMPORT_SQL_MODE] });
  try {
    return await fn();
  } finally {
    if (!signal?.aborted) await query(conn, { sql: mysqlSql.setSqlMode, values: [mode] }).catch(() => {});
  }
}
