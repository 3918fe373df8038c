/** The resolved Pipeline: defaults applied, durations in milliseconds, from a file that passed every check. */
import { resolve } from 'node:path';
import { parseDuration } from './duration.js';
import { DEFAULTS } from './types.js';
import type {
  ConnectionConfig, CreatePolicy, ExecutorConfig, ImportMode, IncrementalStrategy, NodeConfig, Pipeline, SourceConfig, StagingConfig,
} from './types.js';

type Duration = string | number;

interface RawTiming {
  readonly retries?: number;
  readonly retry_delay?: Duration;
  readonly timeout?: Duration;
}

interface RawNode extends RawTiming {
  readonly description?: string;
  readonly tags?: string[];
  readonly depends_on?: string[];
  readonly source: SourceConfig;
  readonly incremental?: {
    readonly column: string;
    readonly strategy?: IncrementalStrategy;
    readonly initial?: string | number;
  };
  readonly target: {
    readonly connection: string;
    readonly table: string;
    readonly mode: ImportMode;
    readonly key?: string[];
    readonly create?: CreatePolicy;
    readonly shared?: boolean;
    readonly partition?: Readonly<Record<string, string | number>> | readonly string[];
  };
}

/** The file as the schema allows it, after `${ENV}` substitution. */
export interface RawPipeline {
  readonly version: 1;
  readonly name: string;
  readonly description?: string;
  readonly connections: Readonly<Record<string, Readonly<Record<string, unknown>> & { readonly type: string }>>;
  readonly staging?: Partial<StagingConfig>;
  readonly defaults?: RawTiming;
  readonly concurrency?: number;
  readonly executor?: string | { readonly url: string; readonly queue?: string };
  readonly nodes: Readonly<Record<string, RawNode>>;
}

export function buildPipeline(raw: RawPipeline, file: string, secrets: readonly string[]): Pipeline {
  const defaults = raw.defaults ?? {};
  const duration = (value: Duration | undefined, fallback: Duration | undefined, builtIn: number): number => {
    const chosen = value ?? fallback;
    return chosen === undefined ? builtIn : parseDuration(chosen);
  };

  const connections: Record<string, ConnectionConfig> = {};
  for (const [name, connection] of Object.entries(raw.connections)) connections[name] = { ...connection, name };

  const nodes: Record<string, NodeConfig> = {};
  for (const [name, n] of Object.entries(raw.nodes)) {
    const { incremental } = n;
    nodes[name] = {
      name,
      ...(n.description === undefined ? {} : { description: n.description }),
      tags: n.tags ?? [],
      depends_on: n.depends_on ?? [],
      source: { ...n.source, ...(n.source.partition === undefined ? {} : { partition: partitionOf(n.source.partition) as Readonly<Record<string, string>> }) },
      ...(incremental === undefined ? {} : {
        incremental: {
          column: incremental.column,
          strategy: incremental.strategy ?? DEFAULTS.strategy,
          ...(incremental.initial === undefined ? {} : { initial: String(incremental.initial) }),
        },
      }),
      target: (({ partition, ...rest }) => ({
        ...rest,
        create: rest.create ?? DEFAULTS.create,
        ...(partition === undefined ? {} : { partition: partitionOf(partition) }),
      }))(n.target),
      retries: n.retries ?? defaults.retries ?? DEFAULTS.retries,
      retry_delay: duration(n.retry_delay, defaults.retry_delay, DEFAULTS.retry_delay),
      timeout: duration(n.timeout, defaults.timeout, DEFAULTS.timeout),
    };
  }

  return {
    file: resolve(file),
    version: 1,
    name: raw.name,
    ...(raw.description === undefined ? {} : { description: raw.description }),
    connections,
    // S3 staging compresses by default: its bytes cross a network (and on loopback an S3 server's CPU), local ones a disk.
    staging: { ...DEFAULTS.staging, ...(raw.staging?.url !== undefined ? { compress: 'gzip' as const } : {}), ...raw.staging },
    concurrency: raw.concurrency ?? DEFAULTS.concurrency,
    ...(raw.executor === undefined ? {} : { executor: executorOf(raw.executor) }),
    nodes,
    secrets,
  };
}

/** A static partition's values as text (YAML may give `2026` as a number). */
function partitionOf(p: Readonly<Record<string, string | number>> | readonly string[]): Readonly<Record<string, string>> | readonly string[] {
  if (Array.isArray(p)) return [...(p as readonly string[])];
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)]));
}

/** `executor:` as a URL alone, or with its queue. */
export function executorOf(raw: string | { readonly url: string; readonly queue?: string }): ExecutorConfig {
  return typeof raw === 'string' ? { url: raw, queue: DEFAULTS.queue } : { url: raw.url, queue: raw.queue ?? DEFAULTS.queue };
}
