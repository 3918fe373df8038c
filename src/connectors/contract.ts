import type { Readable } from 'node:stream';
import type { ConnectionConfig, CreatePolicy, ImportMode, SourceConfig } from '../config/types.js';
import type { Cell, ColumnSchema } from '../csv/types.js';

/**
 * What a kind of system can do, as data: the runtime branches on these, never on the kind's name.
 * Defaults live in one place (DEFAULT_CAPABILITIES).
 */
export interface Capabilities {
  readonly canExport: boolean;
  readonly canImport: boolean;
  /** Import modes the target supports. */
  readonly modes: readonly ImportMode[];
  /** Export can cut a table into key ranges read in parallel. */
  readonly split: boolean;
  /** Sessions opened at once when the connection does not say `max_connections`. */
  readonly defaultMaxConnections: number;
  /** The final swap/merge/append of an import is one atomic step (transaction or rename). */
  readonly atomicCommit: boolean;
}

export const DEFAULT_CAPABILITIES: Capabilities = {
  canExport: true,
  canImport: true,
  modes: ['append', 'merge', 'overwrite'],
  split: false,
  defaultMaxConnections: 4,
  atomicCommit: true,
};

/** A predicate on one column with string-encoded bounds; missing bounds are open. */
export interface RangePredicate {
  readonly column: string;
  readonly lower?: { readonly value: string; readonly inclusive: boolean };
  readonly upper?: { readonly value: string; readonly inclusive: boolean };
  /** Rows whose column is NULL belong to this range too. */
  readonly includeNull?: boolean;
}

/** One export request, with every template already rendered. */
export interface ExportRequest {
  readonly node: string;
  readonly source: SourceConfig;
  /** The incremental window (timestamp interval or watermark range); absent for a full export. */
  readonly window?: RangePredicate;
}

/** One unit of resumable export work: a key range of the split column, or everything. */
export interface ChunkSpec {
  readonly index: number;
  readonly range?: RangePredicate;
}

/**
 * Where an export writes rows. Values are already in exchange form (see csv/values.ts).
 * `row` and `raw` return false when the caller should `await drain()` before writing more.
 */
export interface CsvSink {
  row(values: readonly Cell[]): boolean;
  /** Whole rows already encoded in the exchange format, without the header; `rows` counts them when known. */
  raw(bytes: Buffer | string, rows?: number): boolean;
  drain(): Promise<void>;
}

/** A chunk file ready for import, wherever staging keeps it. */
export interface StagedChunk {
  readonly index: number;
  /** For messages: the file's path or URL. */
  readonly name: string;
  readonly rows: number;
  /** The CSV bytes (decompressed), header row first. */
  open(): Promise<Readable>;
}

/** Chunks in index order as they finish exporting; ends when the export is complete. */
export interface ChunkFeed extends AsyncIterable<StagedChunk> {
  /** Rows the export produced in total; resolves once the export is complete. */
  totalRows(): Promise<number>;
  /** Chunks exported and not yet taken: a backlog says the import is the slower half. */
  backlog(): number;
}

export interface ImportRequest {
  readonly node: string;
  readonly table: string;
  readonly mode: ImportMode;
  readonly key?: readonly string[];
  readonly create: CreatePolicy;
  /** Columns of the chunk files, in file order. */
  readonly columns: readonly ColumnSchema[];
  /**
   * Identifies this load across retries of the same run. Recorded in the target in the same atomic step as the
   * commit, so a rerun can ask `isCommitted` and never load the same data twice.
   */
  readonly loadId: string;
  /**
   * Runs `work` on one more session of the target connection if the connection's limit has one free right now, and
   * returns undefined (without running it) if not. An import may use it to load chunks over several sessions; it
   * never waits for a session, so it can neither exceed `max_connections` nor deadlock against other nodes.
   */
  readonly spareSession?: <T>(work: () => Promise<T>) => Promise<T> | undefined;
}

export interface ImportResult {
  readonly rows: number;
}

/**
 * A connection to one system. The runtime wrapper (connectors/runtime.ts) owns its lifecycle: `open` once,
 * `close` once, never used after close. Every method honours `signal`: an aborted export or import stops its remote
 * work and leaves the target as it was.
 */
export interface Connector {
  readonly capabilities: Capabilities;
  open(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;

  /** The columns a request yields, without reading rows. */
  describe(req: ExportRequest, signal?: AbortSignal): Promise<readonly ColumnSchema[]>;
  /** The largest value of `column` in the request's rows (a watermark's frozen upper bound); null when empty. */
  maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null>;
  /** Up to `chunks - 1` increasing boundary values that cut the rows into ranges of similar size. */
  splitBoundaries(req: ExportRequest, column: string, chunks: number, signal?: AbortSignal): Promise<readonly string[]>;
  /** Streams the rows of one chunk into `sink`; returns the number of rows written. */
  exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number>;

  /** Loads the chunks into a staging area, checks the row count, then commits atomically in `req.mode`. */
  import(req: ImportRequest, chunks: ChunkFeed, signal?: AbortSignal): Promise<ImportResult>;
  /** Whether the load `loadId` into `table` has committed (see ImportRequest.loadId). */
  isCommitted(table: string, loadId: string, signal?: AbortSignal): Promise<boolean>;
}

/**
 * A problem in the settings of a connection, source or target, found offline: `path` leads from the checked map to
 * the value at fault (`['url']`, `['options', 'schema']`; `[]` for the map itself), so validate can report it at
 * file:line:col. The message never quotes a secret (a URL is never quoted: a password may hide anywhere in it).
 */
export interface ConfigProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Pure, offline facts of a kind: used by validate and plan, which never open a connection. */
export interface ConnectorKind {
  readonly kind: string;
  readonly capabilities: Capabilities;
  /**
   * The keys a node's `source` may set on a connection of this kind, besides `connection`: `table`, `query`,
   * `columns`, `where`, `split` for SQL kinds; `path`, `pattern` or `index` for others. Validate refuses any other
   * key at its position. The pipeline schema's `source` lists the union of every kind's keys.
   */
  readonly sourceKeys: readonly string[];
  /**
   * Offline checks of a connection of this kind, run by validate (and so by plan and run) on the connection as
   * written with `${ENV}` substituted, once the schema has found nothing wrong with it: what a schema cannot say (a
   * URL that does not parse, a port from the environment that is not one). Connecting re-checks nothing else.
   */
  checkConnection?(connection: ConnectionConfig): readonly ConfigProblem[];
  /** Offline checks of a node's `source` on a connection of this kind (a table name a file cannot have, …). */
  checkSource?(source: Readonly<Record<string, unknown>>): readonly ConfigProblem[];
  /** Offline checks of a node's `target` on a connection of this kind. */
  checkTarget?(target: Readonly<Record<string, unknown>>): readonly ConfigProblem[];
  /** The statement an export would run, for `pigeon plan`; `?` marks bound values. */
  renderExport(req: ExportRequest, chunk?: ChunkSpec): string;
  /** Loads the implementation (and its driver) only when a pipeline uses this kind. */
  load(): Promise<(config: ConnectionConfig, options: ConnectorOptions) => Connector>;
}

export interface ConnectorOptions {
  /** Directory that relative paths in the connection are resolved against. */
  readonly cwd: string;
  /** A directory the connector may use for temporary files. */
  readonly tmpDir: string;
}
