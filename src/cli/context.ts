import { resolve, join } from 'node:path';
import type { Pipeline } from '../config/types.js';
import { loadPipelineOrThrow } from '../config/load.js';
import { PipelineGraph } from '../dag/graph.js';
import { selectNodes } from '../dag/select.js';
import { LocalStagingStore } from '../staging/local-staging.js';
import { s3StagingStore } from '../staging/s3-staging.js';
import type { StagingStore } from '../staging/staging.js';
import { FileWatermarkStore, type WatermarkStore } from '../state/watermarks.js';

/** Options every command shares. */
export interface CommonOptions {
  readonly stateDir: string;
  readonly logFormat: 'text' | 'json';
  /** `--quiet`: warnings and errors only, no progress. */
  readonly quiet?: boolean;
  /** `--var NAME=VALUE`: the values of `{{ var.NAME }}`. */
  readonly vars?: Readonly<Record<string, string>>;
  readonly env: Record<string, string | undefined>;
  readonly cwd: string;
}

export interface Loaded {
  readonly pipeline: Pipeline;
  readonly graph: PipelineGraph;
  readonly selected: Set<string>;
}

/** Loads and validates the pipeline (throws PipelineErrors, exit 3) and resolves the selection (exit 2). */
export function loadSelected(file: string, select: readonly string[], exclude: readonly string[], common: CommonOptions): Loaded {
  const pipeline = loadPipelineOrThrow(file, { env: common.env, vars: common.vars ?? {} });
  const graph = PipelineGraph.fromPipeline(pipeline);
  const selected = selectNodes(pipeline, graph, select, exclude);
  return { pipeline, graph, selected };
}

export function stateDirs(common: CommonOptions) {
  const root = resolve(common.cwd, common.stateDir);
  return { root, tmp: join(root, 'tmp'), locks: join(root, 'locks') };
}

/** The lock one run of a pipeline holds (see state/lock.ts). */
export function lockFile(common: CommonOptions, pipeline: string): string {
  return join(stateDirs(common).locks, `${encodeURIComponent(pipeline)}.lock`);
}

/** Where the pipeline's chunk files go: a local directory, or S3 (`staging.url`). */
export function stagingStore(pipeline: Pipeline, common: CommonOptions): StagingStore {
  const s = pipeline.staging;
  if (s.url !== undefined) return s3StagingStore({ ...s, url: s.url }, pipeline.connections);
  return new LocalStagingStore(resolve(common.cwd, s.dir), { gzip: s.compress === 'gzip' });
}

/** Whether every machine that runs the pipeline's nodes sees its staging: S3, or a directory said to be shared. */
export function stagingShared(pipeline: Pipeline): boolean {
  return pipeline.staging.url !== undefined || pipeline.staging.shared === true;
}

/**
 * Where the pipeline's watermarks live: in its staging when that is shared (every worker of a distributed run, and
 * every later run in-process, reads the same), else in this machine's state directory.
 */
export function watermarkStore(pipeline: Pipeline, common: CommonOptions, staging: StagingStore = stagingStore(pipeline, common)): WatermarkStore {
  const local = new FileWatermarkStore(stateDirs(common).root);
  return stagingShared(pipeline) && staging.watermarks ? staging.watermarks(local) : local;
}
