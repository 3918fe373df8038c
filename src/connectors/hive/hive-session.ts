import { PipelineError, toPipelineError, type ErrorCode, type ErrorLocation } from '../../errors/pipeline-error.js';
import { loadDriver } from '../driver.js';
import type { HiveConfig } from './hive-config.js';
import { hiveError } from './hive-errors.js';
import { hiveSql } from './hive-sql.js';

/*
 * hive-driver speaks HiveServer2's Thrift protocol (TCLIService). Only the parts pigeon uses are typed here.
 */

/** One column of a fetched row set, as Thrift decodes it: exactly one of the typed members is set. */
export interface ThriftColumn {
  readonly [kind: string]: { readonly values: readonly unknown[]; readonly nulls?: Buffer } | null | undefined;
}
export interface RowSet {
  readonly columns?: readonly ThriftColumn[] | null;
}
export interface TypeDesc {
  readonly types: readonly {
    readonly primitiveEntry?: {
      readonly type: number;
      readonly typeQualifiers?: { readonly qualifiers?: Readonly<Record<string, { readonly i32Value?: number | null } | null>> } | null;
    } | null;
    readonly arrayEntry?: unknown;
    readonly mapEntry?: unknown;
    readonly structEntry?: unknown;
    readonly unionEntry?: unknown;
  }[];
}
export interface ResultColumn {
  readonly columnName: string;
  readonly typeDesc: TypeDesc;
  readonly position: number;
}
interface OperationStatus {
  readonly operationState?: number;
  readonly errorMessage?: string | null;
  readonly sqlState?: string | null;
  readonly errorCode?: number | null;
}
interface Operation {
  fetch(): Promise<unknown>;
  flush(): void;
  status(progress: boolean): Promise<OperationStatus>;
  cancel(): Promise<unknown>;
  close(): Promise<unknown>;
  setMaxRows(n: number): void;
  getSchema(): { readonly columns: readonly ResultColumn[] } | null;
  getData(): RowSet[];
}
interface DriverSession {
  executeStatement(sql: string, options: { runAsync: boolean }): Promise<Operation>;
  getInfo(type: number): Promise<{ getValue(): unknown }>;
  close(): Promise<unknown>;
}
interface DriverClient {
  on(event: string, listener: (...args: unknown[]) => void): void;
  connect(options: { host: string; port: number; options?: Record<string, unknown> }, connection: unknown, auth: unknown): Promise<unknown>;
  openSession(request: { client_protocol: number; configuration?: Record<string, string> }): Promise<DriverSession>;
  close(): void;
}
interface HiveModule {
  HiveClient: new (service: unknown, types: unknown) => DriverClient;
  connections: { TcpConnection: new () => unknown };
  auth: { PlainTcpAuthentication: new (o: { username: string; password: string }) => unknown; NoSaslAuthentication: new () => unknown };
  thrift: { TCLIService: unknown; TCLIService_types: ThriftTypes };
}
export interface ThriftTypes {
  readonly TGetInfoType: Readonly<Record<string, number>>;
  readonly TTypeId: Readonly<Record<string, number>>;
  readonly TOperationState: Readonly<Record<string, number>>;
  readonly TProtocolVersion: Readonly<Record<string, number>>;
}

/** How long an aborted statement is waited for to end on the server before its session is given up. */
const CANCEL_WAIT_MS = 15_000;

/** Rows asked for per FetchResults call: large enough to keep the round trips few, small enough to stream. */
const FETCH_ROWS = 10_000;

/** One HiveServer2 session on a connection of its own (HiveServer2 serves one call per connection at a time). */
export class HiveSession {
  readonly #client: DriverClient;
  readonly #session: DriverSession;
  readonly #lost: Promise<never>;
  readonly #types: ThriftTypes;
  /** The connection closed or failed: the session must not be used again. */
  broken = false;

  constructor(client: DriverClient, session: DriverSession, lost: Promise<never>, types: ThriftTypes) {
    this.#client = client;
    this.#session = session;
    this.#lost = lost;
    this.#types = types;
    lost.catch(() => {
      this.broken = true;
    });
  }

  get types(): ThriftTypes {
    return this.#types;
  }

  /** The server's product name (`Apache Hive`, `Spark SQL`). */
  async product(): Promise<string> {
    const info = await this.#call(this.#session.getInfo(this.#types.TGetInfoType['CLI_DBMS_NAME']!));
    return String(info.getValue() ?? '');
  }

  /** A driver call that fails when the connection is lost instead of waiting for an answer that will not come. */
  #call<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.#lost]);
  }

  /**
   * Runs one statement to its end. On abort the operation is cancelled on the server (a running MapReduce job
   * stops) and closed. Returns the finished operation for `fetch`, or closes it when `keep` is false.
   */
  async run(sql: string, signal?: AbortSignal, keep = false): Promise<Operation | undefined> {
    signal?.throwIfAborted();
    const op = await this.#call(this.#session.executeStatement(sql, { runAsync: true }));
    const states = this.#types.TOperationState;
    // On abort the operation is cancelled and then waited for until the server says it ended, so that whatever
    // cleans up after the abort runs after it (a cancelled CREATE TABLE may still complete).
    let abortedAt: number | undefined;
    const cancel = () => {
      abortedAt = Date.now();
      void op.cancel().catch(() => {});
    };
    if (signal?.aborted) cancel();
    else signal?.addEventListener('abort', cancel, { once: true });
    try {
      let idle = 10;
      for (;;) {
        const started = Date.now();
        const s = await this.#call(op.status(false));
        const state = s.operationState;
        const ended = state !== states['INITIALIZED_STATE'] && state !== states['RUNNING_STATE'] && state !== states['PENDING_STATE'];
        if (abortedAt !== undefined && (ended || Date.now() - abortedAt > CANCEL_WAIT_MS)) {
          await op.close().catch(() => {});
          throw signal!.reason;
        }
        if (state === states['FINISHED_STATE']) break;
        if (ended) {
          await op.close().catch(() => {});
          throw Object.assign(new Error(s.errorMessage ?? `the statement ended in state ${state}`), {
            sqlState: s.sqlState ?? undefined,
            errorCode: s.errorCode ?? undefined,
          });
        }
        // HiveServer2 holds a status call until the state changes or a few seconds pass; Spark answers at once.
        if (Date.now() - started < 50) {
          await new Promise((r) => setTimeout(r, idle));
          idle = Math.min(idle * 2, 500);
        }
      }
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
    if (keep) return op;
    await this.#call(op.close());
    return undefined;
  }

  /** Runs a statement that returns no rows. */
  async exec(sql: string, signal?: AbortSignal): Promise<void> {
    await this.run(sql, signal);
  }

  /**
   * Runs a query and hands its result to `each` one FetchResults batch at a time (the batch is dropped before the
   * next is fetched: no result is held whole); `each` gets the result's columns and the batch's row set.
   */
  async stream(sql: string, each: (columns: readonly ResultColumn[], rows: RowSet) => Promise<void> | void, signal?: AbortSignal): Promise<readonly ResultColumn[]> {
    const op = (await this.run(sql, signal, true))!;
    try {
      op.setMaxRows(FETCH_ROWS);
      for (;;) {
        signal?.throwIfAborted();
        await this.#call(op.fetch());
        const data = op.getData();
        const set = data[data.length - 1];
        op.flush();
        const columns = op.getSchema()?.columns ?? [];
        const n = set ? rowCount(set) : 0;
        if (n === 0 || !set) return [...columns].sort((a, b) => a.position - b.position);
        await each([...columns].sort((a, b) => a.position - b.position), set);
      }
    } finally {
      await op.close().catch(() => {});
    }
  }

  /** Every row of a small result (catalog statements), each value as the driver gives it. */
  async rows(sql: string, signal?: AbortSignal): Promise<unknown[][]> {
    return (await this.records(sql, signal)).rows;
  }

  /** Like `rows`, with the result's column names (a catalog statement's columns differ between servers). */
  async records(sql: string, signal?: AbortSignal): Promise<{ names: string[]; rows: unknown[][] }> {
    const out: unknown[][] = [];
    const columns = await this.stream(
      sql,
      (_, set) => {
        const cols = set.columns ?? [];
        const n = rowCount(set);
        for (let r = 0; r < n; r++) out.push(cols.map((c) => valueAt(c, r)));
      },
      signal,
    );
    return { names: columns.map((c) => c.columnName), rows: out };
  }

  async close(): Promise<void> {
    try {
      if (!this.broken) await Promise.race([this.#session.close(), new Promise((r) => setTimeout(r, 5_000).unref())]);
    } catch {
      // the server may be gone already
    } finally {
      this.#client.close();
    }
  }
}

/** Rows in a columnar row set. */
export function rowCount(set: RowSet): number {
  const c = set.columns?.[0];
  return c ? (columnValues(c)?.values.length ?? 0) : 0;
}

export function columnValues(c: ThriftColumn): { readonly values: readonly unknown[]; readonly nulls?: Buffer } | undefined {
  for (const k of ['stringVal', 'i64Val', 'i32Val', 'i16Val', 'byteVal', 'doubleVal', 'boolVal', 'binaryVal']) {
    const v = c[k];
    if (v) return v;
  }
  return undefined;
}

export function isNullAt(nulls: Buffer | undefined, i: number): boolean {
  return nulls !== undefined && nulls.length > i >> 3 && (nulls[i >> 3]! & (1 << (i & 7))) !== 0;
}

function valueAt(c: ThriftColumn, r: number): unknown {
  const v = columnValues(c);
  if (!v || isNullAt(v.nulls, r)) return null;
  return v.values[r];
}

/**
 * The sessions of one Hive connection, each on its own Thrift connection, at most `maxConnections` at once. Every
 * session runs with the connection's database and the settings of hiveSql.sessionSetup.
 */
export class HiveSessions {
  readonly config: HiveConfig;
  #hive: HiveModule | undefined;
  readonly #idle: HiveSession[] = [];
  #open = 0;
  readonly #waiting: (() => void)[] = [];
  #closed = false;
  /**
   * Whether one statement may INSERT OVERWRITE a table it also reads (Hive: yes; Spark SQL refuses): a merge or a
   * window append is then computed into a work table first.
   */
  overwritesWhatItReads = true;
  /** Whether `ALTER TABLE … CHANGE COLUMN` may widen a column's type (Hive: yes; Spark SQL refuses). */
  changesColumnTypes = true;

  constructor(config: HiveConfig) {
    this.config = config;
  }

  error(e: unknown, code: ErrorCode, context: ErrorLocation = {}): PipelineError {
    return hiveError(e, code, { connection: this.config.name, ...context }, this.config.secrets);
  }

  async open(): Promise<void> {
    this.#hive = await loadDriver<HiveModule>('hive-driver', 'hive');
    // One session now: bad credentials or an unreachable server fail here, once.
    const s = await this.take();
    try {
      const hive = !/spark/i.test(await s.product().catch(() => ''));
      this.overwritesWhatItReads = hive;
      this.changesColumnTypes = hive;
    } finally {
      this.release(s);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const idle = this.#idle.splice(0);
    await Promise.all(idle.map((s) => s.close()));
  }

  async #connect(): Promise<HiveSession> {
    const hive = this.#hive;
    if (!hive) throw new PipelineError('INTERNAL', 'hive connector used before open()');
    const c = this.config;
    const types = hive.thrift.TCLIService_types;
    const client = new hive.HiveClient(hive.thrift.TCLIService, types);
    let fail!: (e: Error) => void;
    const lost = new Promise<never>((_, reject) => {
      fail = reject;
    });
    lost.catch(() => {});
    client.on('error', (e) => fail(e instanceof Error ? e : new Error(String(e))));
    client.on('close', () => fail(Object.assign(new Error('the connection to HiveServer2 was closed'), { code: 'ECONNRESET' })));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new PipelineError('CONNECT_FAILED', `HiveServer2 at ${c.host}:${c.port} did not open a session within ${c.connectTimeoutMs / 1000} s`, {
          connection: c.name,
          hint: 'check `auth`: a SASL client against a NOSASL server (or the reverse) waits forever instead of failing',
        })),
        c.connectTimeoutMs,
      );
    });
    try {
      const auth = c.auth === 'nosasl' ? new hive.auth.NoSaslAuthentication() : new hive.auth.PlainTcpAuthentication({ username: c.user, password: c.password || 'pigeon' });
      await Promise.race([client.connect({ host: c.host, port: c.port, options: { max_attempts: 0, connect_timeout: c.connectTimeoutMs } }, new hive.connections.TcpConnection(), auth), lost, timeout]);
      const session = await Promise.race([
        client.openSession({ client_protocol: types.TProtocolVersion['HIVE_CLI_SERVICE_PROTOCOL_V10']!, configuration: { 'use:database': c.database } }),
        lost,
        timeout,
      ]);
      const s = new HiveSession(client, session, lost, types);
      for (const sql of hiveSql.sessionSetup) await Promise.race([s.exec(sql), timeout]);
      return s;
    } catch (e) {
      client.close();
      throw this.error(e, 'CONNECT_FAILED');
    } finally {
      clearTimeout(timer);
    }
  }

  /** A session of the pool, waiting for one when `maxConnections` are in use. */
  async take(signal?: AbortSignal): Promise<HiveSession> {
    for (;;) {
      signal?.throwIfAborted();
      if (this.#closed) throw new PipelineError('INTERNAL', 'hive connector used after close()');
      const idle = this.#idle.pop();
      if (idle) {
        if (!idle.broken) return idle;
        this.#open--;
        void idle.close();
        continue;
      }
      if (this.#open < this.config.maxConnections) {
        this.#open++;
        try {
          return await this.#connect();
        } catch (e) {
          this.#open--;
          this.#wake();
          throw e;
        }
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** Gives a session back; a broken one (or any after close) is closed instead. */
  release(s: HiveSession): void {
    if (s.broken || this.#closed) {
      this.#open--;
      void s.close();
    } else {
      this.#idle.push(s);
    }
    this.#wake();
  }

  #wake(): void {
    this.#waiting.shift()?.();
  }

  /** Runs `work` on a session; a failure that is not the server's answer discards the session. */
  async with<T>(signal: AbortSignal | undefined, work: (s: HiveSession) => Promise<T>): Promise<T> {
    const s = await this.take(signal);
    try {
      return await work(s);
    } catch (e) {
      if (signal?.aborted) {
        s.broken = true;
        throw toPipelineError(signal.reason, 'ABORTED', { connection: this.config.name });
      }
      if (!isServerAnswer(e)) s.broken = true;
      throw e;
    } finally {
      this.release(s);
    }
  }
}

/** An error HiveServer2 reported for a statement (the session is still fine), as opposed to a lost connection. */
export function isServerAnswer(e: unknown): boolean {
  if (e instanceof PipelineError) return !e.transient;
  const x = e as { sqlState?: unknown; errorCode?: unknown; response?: unknown; name?: unknown };
  return x.sqlState !== undefined || x.errorCode !== undefined || x.response !== undefined || x.name === 'Status Error';
}
