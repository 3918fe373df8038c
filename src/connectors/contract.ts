import type { Readable } from 'node:stream';
import type { ConnectionConfig, CreatePolicy, ImportMode, SourceConfig } from '../config/types.js';
import type { Cell, ColumnSchema } from '../csv/types.js';

/**
 * What a kind of system can do, as data, declared once on its ConnectorKind: `validate` and the runtime branch on
 * these, never on the kind's name. Defaults live in one place (DEFAULT_CAPABILITIES).
 */
export interface Capabilities {
  readonly canExport: boolean;
  readonly canImport: boolean;
  /** Import modes the target supports. */
  readonly modes: readonly ImportMode[];
  /** The source takes `split: {column, chunks}` (a key range per chunk, read in parallel). */
  readonly split: boolean;
  /** Sessions opened at once when the connection does not say `max_connections`. */
  readonly defaultMaxConnections: number;
  /**
   * An append of a `window` interval replaces the target's rows of that interval (ImportRequest.replaceWindow).
   * Without it, validate refuses a window append into the kind, so a rerun of a day can never load it twice.
   */
  readonly replaceWindow: boolean;
  /** The target may refuse single rows and load the rest: a node may allow some (`target.max_rejects`). */
  readonly rejects: boolean;
  /** The target takes `target.partition` (tables kept in partitions, as Hive's). */
  readonly partitions: boolean;
}

export const DEFAULT_CAPABILITIES: Capabilities = {
  canExport: true,
  canImport: true,
  modes: ['append', 'merge', 'overwrite'],
  split: false,
  defaultMaxConnections: 4,
  replaceWindow: true,
  rejects: false,
  partitions: false,
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

/** A JSON value, as chunk descriptions are stored in checkpoint.json. */
export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

/**
 * One unit of resumable export work, cut by the source's kind: a key range of the split column (SQL), one object or
 * file (object stores), a slice (search). The runtime stores it in the checkpoint and hands it back unchanged; only
 * the kind reads `range` and `part`.
 */
export interface ChunkSpec {
  /** 1-based; chunks are imported in index order. */
  readonly index: number;
  readonly range?: RangePredicate;
  /** Whatever else identifies the chunk for its kind (an object key, a slice number); JSON. */
  readonly part?: { readonly [key: string]: Json };
  /** Rows the plan expects in this chunk when it counted them (a split's quantiles); for progress, never trusted. */
  readonly estimate?: number;
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
  /**
   * Counts something the export did to a value that the node's record should report (e.g. `zero_dates` written as
   * NULL by an option the user chose).
   */
  count?(what: string, n?: number): void;
}

/** A chunk file ready for import, wherever staging keeps it. */
export interface StagedChunk {
  readonly index: number;
  /** For messages: the file's path or URL. */
  readonly name: string;
  readonly rows: number;
  /** The CSV bytes (decompressed), header row first. */
  open(): Promise<Readable>;
  /**
   * Where another system can read the file as staging stores it (`s3://bucket/key`, gzip-compressed when `gzip`),
   * when staging is such a store: a target that loads from there itself (Redshift COPY) need not upload it again.
   */
  readonly stored?: { readonly url: string; readonly gzip: boolean; readonly bytes: number };
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
   * `allow`: values that the existing target's columns would round (see lossy.ts) may be loaded. Otherwise such a
   * load fails before any row is written, naming the column.
   */
  readonly lossy?: 'allow';
  /**
   * What to do when the export's columns differ from an existing target's (`schema_changes`, default `fail`):
   * `fail` refuses new columns, naming them; `add_columns` adds new columns (nullable) and widens narrower ones;
   * `recreate` (overwrite only) replaces the table by one made from the export's schema.
   */
  readonly schemaChanges?: 'fail' | 'add_columns' | 'recreate';
  /**
   * An append of an incremental window (`strategy: window`): the target's rows in this range of the column are
   * replaced by the load, in the commit's own atomic step, so running the same interval again loads it once.
   */
  readonly replaceWindow?: RangePredicate;
  /**
   * `deletes: detect` (merge): chunk files of the source's whole key set (the key's columns only). The commit also
   * deletes the target's rows whose key is not among them, in the same atomic step.
   */
  readonly deleteMissing?: ChunkFeed;
  /**
   * Rows the target may refuse (kinds with `capabilities.rejects`, `target.max_rejects`); more fail the load and leave
   * the target unchanged. Default 0.
   */
  readonly maxRejects?: number;
  /** Told when the import starts its commit (for progress, and for what a timeout says it was doing). */
  readonly onCommit?: () => void;
  /**
   * `target.partition`, for kinds with `capabilities.partitions`: the partition columns in order, each with its
   * value (rendered) when the partition is static, without when each row's value comes from the export (dynamic).
   */
  readonly partition?: readonly PartitionColumn[];
  /**
   * Runs `work` on one more session of the target connection if the connection's limit has one free right now, and
   * returns undefined (without running it) if not. An import may use it to load chunks over several sessions; it
   * never waits for a session, so it can neither exceed `max_connections` nor deadlock against other nodes.
   */
  readonly spareSession?: <T>(work: () => Promise<T>) => Promise<T> | undefined;
}

export interface PartitionColumn {
  readonly column: string;
  readonly value?: string;
}

export interface ImportResult {
  /** Rows loaded. */
  readonly rows: number;
  /** What the load changed in the target's definition (schema_changes), as a person reads it. */
  readonly schemaChanges?: string;
  /** Rows deleted because the source no longer has their key (`deletes: detect`). */
  readonly deleted?: number;
  /** Rows the target refused, within ImportRequest.maxRejects: loaded and refused rows add up to the rows exported. */
  readonly rejected?: number;
  /** What the node's record should say about the load (the rejected rows and why). */
  readonly note?: string;
}

/**
 * A connection to one system. The runtime wrapper (connectors/runtime.ts) owns its lifecycle: `open` once,
 * `close` once, never used after close. Every method honours `signal`: an aborted export or import stops its remote
 * work and leaves the target as it was. Errors are PipelineErrors whose `transient` flag says whether a retry may
 * help (each connector knows its own driver's codes).
 */
export interface Connector {
  open(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;

  /** The columns a request yields, without reading rows. */
  describe(req: ExportRequest, signal?: AbortSignal): Promise<readonly ColumnSchema[]>;
  /** The largest value of `column` in the request's rows (a watermark's frozen upper bound); null when empty. */
  maxValue(req: ExportRequest, column: string, signal?: AbortSignal): Promise<string | null>;
  /**
   * Waits until every transaction that was open on the source when this is called has ended (committed or rolled
   * back), at most `timeoutMs`, then resolves; rejects with a transient error naming them when some are still open.
   * Called right after `maxValue` for a watermark: every row that will ever commit with a value up to that maximum
   * is then visible to the export. Transactions of this connector's own sessions (other nodes of the run) are not
   * waited for. A source without concurrent writers (a file) need not implement it.
   */
  awaitOpenTransactions?(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * Cuts the request's rows into chunks, once per load (the result is frozen in the checkpoint): key ranges of
   * `req.source.split`, one per object, one per slice, or a single chunk. Every row lands in exactly one chunk.
   *
   * `announce`, when given, may be told chunks before the promise resolves, each as soon as it is final, in index
   * order: the runner starts exporting a chunk once it is announced, while the plan goes on. The result lists every
   * chunk, announced or not (a connector that never announces is fine: the runner takes the result).
   */
  planChunks(req: ExportRequest, signal?: AbortSignal, announce?: (chunk: ChunkSpec) => void): Promise<readonly ChunkSpec[]>;
  /** Streams the rows of one chunk into `sink`; returns the number of rows written. */
  exportChunk(req: ExportRequest, chunk: ChunkSpec, sink: CsvSink, signal?: AbortSignal): Promise<number>;

  /** Loads the chunks into a staging area, checks the row count, then commits atomically in `req.mode`. */
  import(req: ImportRequest, chunks: ChunkFeed, signal?: AbortSignal): Promise<ImportResult>;
  /** Whether the load `loadId` into `table` has committed (see ImportRequest.loadId). */
  isCommitted(table: string, loadId: string, signal?: AbortSignal): Promise<boolean>;
  /**
   * Whether `table` exists and holds a row: an incremental node whose watermark says rows were loaded refuses to
   * load a mere increment into a table that lost them. A kind without it is not checked.
   */
  probeTarget?(table: string, signal?: AbortSignal): Promise<'missing' | 'empty' | 'filled'>;
  /**
   * `pigeon check`: whether `table` exists, and whether this connection may load into it (insert and delete) or, when
   * it does not exist, create it. Reads the catalogue only; moves no data. A kind without it is not checked.
   */
  targetAccess?(table: string, signal?: AbortSignal): Promise<TargetAccess>;
  /**
   * `pigeon check`: whether the source table of `req` has an index whose first column is `column` (a split reads
   * key ranges of it; without an index each chunk scans the table). A kind without indexes need not implement it.
   */
  splitIndexed?(req: ExportRequest, column: string, signal?: AbortSignal): Promise<boolean>;
}

/** What `targetAccess` finds. */
export interface TargetAccess {
  readonly exists: boolean;
  /** Exists: loads may write it. Missing: it may be created. */
  readonly writable: boolean;
  /** Why not, in words (the privilege missing, the directory). */
  readonly reason?: string;
  /** What the kind could not find out (writable says what it could): shown with the result. */
  readonly note?: string;
}

/** Creates a connector for one connection; called once per run and connection. */
export type ConnectorFactory = (config: ConnectionConfig, options: ConnectorOptions) => Connector;

/**
 * A problem in the settings of a connection, source or target, found offline: `path` leads from the checked map to
 * the value at fault (`['url']`, `['options', 'schema']`; `[]` for the map itself), so validate can report it at
 * file:line:col. The message never quotes a secret (a URL is never quoted: a password may hide anywhere in it).
 */
export interface ConfigProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * A kind of system (`mysql`, `file`, …) as the registry knows it: pure, offline facts used by validate and plan,
 * which never open a connection, and `load()`, which imports the implementation (and its driver) only when a
 * pipeline uses the kind.
 */
export interface ConnectorKind {
  readonly kind: string;
  readonly capabilities: Capabilities;
  /**
   * The keys a node's `source` may set on a connection of this kind, besides `connection`: `table`, `query`,
   * `columns`, `where`, `split` for SQL kinds; `path`, `pattern` or `index` for others. Validate refuses any other
   * key at its position. The pipeline schema's `source` lists the union of every kind's keys.
   */
  readonly sourceKeys: readonly string[];
  /** Source keys that must be set (default: `table` or `query`, when the kind takes them). */
  readonly requiredSourceKeys?: readonly string[];
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
  /**
   * Other connections a connection of this kind names (a Redshift connection's `s3.connection`): where in the
   * connection, and the kind that connection must be. `validate` checks that each exists and has that kind.
   */
  references?(connection: Readonly<Record<string, unknown>>): readonly { readonly path: readonly string[]; readonly kind: string }[];
  /** The statement (or description) of what an export would read, for `pigeon plan`; `?` marks bound values. */
  renderExport(req: ExportRequest, chunk?: ChunkSpec): string;
  load(): Promise<ConnectorFactory>;
}

export interface ConnectorOptions {
  /** Directory that relative paths in the connection are resolved against. */
  readonly cwd: string;
  /** A directory the connector may use for temporary files. */
  readonly tmpDir: string;
  /** Another connection of the pipeline, by name: one a connection names (see ConnectorKind.references). */
  readonly connection?: (name: string) => ConnectionConfig | undefined;
}
