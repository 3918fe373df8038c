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
  /** Exactly one of table and query is set. */
  readonly table?: string;
  readonly query?: string;
  readonly columns?: readonly string[];
  readonly where?: string;
  readonly split?: SplitConfig;
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
}

export interface TargetConfig {
  readonly connection: string;
  readonly table: string;
  readonly mode: ImportMode;
  /** Required for `merge`: the columns that identify a row. */
  readonly key?: readonly string[];
  readonly create: CreatePolicy;
  /**
   * Set on every node that appends to the same table of the same connection: validate refuses two nodes writing one
   * target table unless all of them append and say so.
   */
  readonly shared?: boolean;
}

export interface NodeConfig {
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly string[];
  readonly depends_on: readonly string[];
  readonly source: SourceConfig;
  readonly incremental?: IncrementalConfig;
  readonly target: TargetConfig;
  /** Attempts after the first, for transient errors only. */
  readonly retries: number;
  /** Base delay before the first retry, in ms; doubles each attempt, with jitter. */
  readonly retry_delay: number;
  /** Wall-clock limit of one attempt, in ms. */
  readonly timeout: number;
}

export interface StagingConfig {
  /** Local directory for chunk files, manifests and checkpoints (relative to the working directory). */
  readonly dir: string;
  readonly compress: 'none' | 'gzip';
  /** Keep chunk files after a node succeeded (default false: they are removed). */
  readonly keep: boolean;
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
} as const;
