/**
 * The pipeline as pigeon uses it after loading: YAML parsed, `${ENV}` substituted, defaults applied, durations in
 * milliseconds, validated. `{{ ds }}`-style templates are still unrendered here: they depend on the run's data
 * interval and are rendered per run (see config/templates.ts).
 */

export type ImportMode = 'append' | 'merge' | 'overwrite';
export type CreatePolicy = 'if_missing' | 'never';
export type IncrementalStrategy = 'window' | 'watermark';

/** A connection as written under `connections:`. Options beyond these are the connector kind's own. */
export interface ConnectionConfig {
  readonly name: string;
  readonly type: string;
  /** Upper bound on sessions pigeon opens to this system at once, over all nodes. */
  readonly max_connections?: number;
  readonly [option: string]: unknown;
}

export interface SplitConfig {
  readonly column: string;
  readonly chunks: number;
}

export interface SourceConfig {
  readonly connection: string;
  /** Exactly one of table and query is set (object kinds: or `prefix`, or `pattern`). */
  readonly table?: string;
  /** SQL kinds: a SELECT. Search kinds: a query clause (a map), or its JSON text. */
  readonly query?: string | { readonly [key: string]: unknown };
  /** Object kinds (file, s3): every CSV object whose key starts with this. */
  readonly prefix?: string;
  /** Object kinds: every object whose key matches this glob (`*`, `**`, `?`, `{a,b}`). */
  readonly pattern?: string;
  readonly columns?: readonly string[];
  readonly where?: string;
  readonly split?: SplitConfig;
  /** Search kinds: the index, alias or pattern to read. */
  readonly index?: string;
  /** Search kinds: `_source` paths to read as columns (`_id`: the document id). */
  readonly fields?: readonly string[];
  /** Search kinds: parallel slices of the export. */
  readonly slices?: number;
  /** Sources that keep partitions (Hive): read only these, `{ dt: '{{ ds }}' }` (ANDed onto `where`). */
  readonly partition?: Readonly<Record<string, string>>;
}

export interface IncrementalConfig {
  readonly column: string;
  /**
   * `window` (default): rows with `column` in the run's data interval [start, end).
   * `watermark`: rows with `column` above the watermark saved by the last successful run, up to the maximum frozen
   * when the node starts; the new watermark is saved only after the import has committed.
   */
  readonly strategy: IncrementalStrategy;
  /** Lower bound for the first `watermark` run (exclusive). Without it the first run takes everything. */
  readonly initial?: string;
  /**
   * `watermark` with `merge` only: each load reads from the saved watermark minus this much again (a duration on a
   * timestamp column, a number on an integer one), for rows committed late with a value set long before (an
   * application clock, a transaction's start time). Re-reading is harmless to an upsert.
   */
  readonly lookback?: string | number;
  /**
   * `watermark` only: how long a load waits, after reading the source's maximum, for the transactions open on the
   * source at that moment to end, so that none commits a row below the maximum after it was read (ms; default 5
   * minutes). `false`: do not wait (a row committed late below the maximum may be missed).
   */
  readonly wait_for_writers?: number | false;
}

export interface TargetConfig {
  readonly connection: string;
  readonly table: string;
  readonly mode: ImportMode;
  /** Required for `merge`: the columns that identify a row. */
  readonly key?: readonly string[];
  readonly create: CreatePolicy;
  /**
   * `allow`: values the target's existing columns cannot hold exactly (fewer decimal places or fractional-second
   * digits, a single-precision float) are rounded by the target as it does. Default: such a load fails, naming the
   * column.
   */
  readonly lossy?: 'allow';
  /** Rows a target that can refuse single rows (search kinds) may refuse before the node fails; default 0. */
  readonly max_rejects?: number;
  /**
   * Set on every node that appends to the same table of the same connection: validate refuses two nodes writing one
   * target table unless all of them append and say so.
   */
  readonly shared?: boolean;
  /**
   * Targets that keep tables in partitions (Hive): a mapping `{ dt: '{{ ds }}' }` loads into those partitions
   * (static: the export need not carry the columns, and rows that do must hold the same values); a list `[dt]`
   * takes each row's partition from the export's column of that name (dynamic). Templates are rendered per run.
   */
  readonly partition?: Readonly<Record<string, string>> | readonly string[];
}

export interface NodeConfig {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly string[];
  readonly depends_on: readonly string[];
  readonly source: SourceConfig;
  readonly incremental?: IncrementalConfig;
  readonly target: TargetConfig;
  /**
   * An incremental node by watermark whose target table is missing or empty although its watermark says rows were
   * loaded: `fail` (default) refuses to load a mere increment; `full_refresh` loads everything, with a warning.
   */
  readonly on_missing_target?: 'fail' | 'full_refresh';
  /**
   * `detect` (merge only): each load also exports the source's whole key set and deletes the target's rows whose key
   * the source no longer has, in the merge's own commit. (Soft deletes are a column the merge carries, or a `where`.)
   */
  readonly deletes?: 'detect';
  /** When the export's columns differ from the existing target's (see ImportRequest.schemaChanges); default `fail`. */
  readonly schema_changes?: 'fail' | 'add_columns' | 'recreate';
  /** Attempts after the first, for transient errors only. */
  readonly retries: number;
  /** Base delay before the first retry, in ms; doubles each attempt, with jitter. */
  readonly retry_delay: number;
  /** Wall-clock limit of one attempt, in ms. */
  readonly timeout: number;
}

export interface StagingConfig {
  /** Local directory for chunk files, schema sidecars and checkpoints (relative to the working directory). */
  readonly dir: string;
  /** `s3://bucket/prefix`: staging in S3 instead of `dir`, so export and import may run on different machines. */
  readonly url?: string;
  /** An `s3` connection whose region, endpoint and credentials S3 staging uses (default: the AWS SDK's chain). */
  readonly connection?: string;
  readonly compress: 'none' | 'gzip';
  /** Keep chunk files after a node succeeded (default false: they are removed). */
  readonly keep: boolean;
  /**
   * The local `dir` is the same directory on every machine that runs the pipeline's nodes (a shared mount): a
   * distributed run may use it, and watermarks live in it (as they do in an S3 staging).
   */
  readonly shared?: boolean;
}

/** Where a distributed run's nodes go: a BullMQ queue in Redis, served by `pigeon worker` processes. */
export interface ExecutorConfig {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  readonly url: string;
  /** The queue's name (default `pigeon`). */
  readonly queue: string;
}

export interface Pipeline {
  /** Absolute path of the pipeline file. */
  readonly file: string;
  readonly version: 1;
  readonly name: string;
  readonly description?: string;
  readonly connections: Readonly<Record<string, ConnectionConfig>>;
  readonly staging: StagingConfig;
  readonly concurrency: number;
  /** `executor:`: run the nodes on workers (see ExecutorConfig); absent: in this process. */
  readonly executor?: ExecutorConfig;
  readonly nodes: Readonly<Record<string, NodeConfig>>;
  /** Literal values that must never be printed or stored (passwords, tokens, secret env values). */
  readonly secrets: readonly string[];
}

export const DEFAULTS = {
  retries: 2,
  retry_delay: 30_000,
  timeout: 2 * 60 * 60 * 1000,
  concurrency: 4,
  staging: { dir: '.pigeon/staging', compress: 'none', keep: false } as StagingConfig,
  create: 'if_missing' as CreatePolicy,
  strategy: 'window' as IncrementalStrategy,
  /** The BullMQ queue of a distributed run when `executor` names none. */
  queue: 'pigeon',
} as const;
