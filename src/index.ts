/**
 * pigeon as a library: `import { loadPipeline, runPipeline } from 'pigeon'`. The CLI is built on the same calls.
 */
import { resolve } from 'node:path';
import { runPipeline as runCommand } from './cli/commands/run.js';
import { PipelineError } from './errors/pipeline-error.js';
import { RunStore, type NodeRecord, type RunStatus } from './state/run-store.js';
import { REPORT_FILE } from './report/write-report.js';

export { loadPipeline, loadPipelineOrThrow, type LoadOptions, type LoadResult } from './config/load.js';
export type { Pipeline, NodeConfig, ConnectionConfig, SourceConfig, TargetConfig, ImportMode } from './config/types.js';
export { PipelineError, PipelineErrors, type ErrorCode, type ErrorLocation } from './errors/pipeline-error.js';
export type { NodeRecord, NodeState, RunRecord, RunStatus } from './state/run-store.js';
export { writeRunReport } from './report/write-report.js';

export interface RunOptions {
  /** Nodes to run (the CLI's `-s`): names, `tag:NAME`, `+NAME`, `NAME+`. Default: all. */
  readonly select?: readonly string[];
  readonly exclude?: readonly string[];
  /** The data interval: a day (`YYYY-MM-DD`) or `START/END`; default yesterday (UTC). */
  readonly date?: string;
  readonly interval?: string;
  readonly concurrency?: number;
  readonly failFast?: boolean;
  readonly fullRefresh?: boolean;
  /** Values of `{{ var.NAME }}`. */
  readonly vars?: Readonly<Record<string, string>>;
  /** Where relative paths resolve and `.pigeon/` lives (default the process's working directory). */
  readonly cwd?: string;
  /** Default `.pigeon` under `cwd`. */
  readonly stateDir?: string;
  /** For `${VAR}`; default `process.env`. */
  readonly env?: Record<string, string | undefined>;
  /**
   * Run the nodes on `pigeon worker`s (the CLI's `--executor` and `--queue`): a redis:// URL and a queue name, each
   * overriding the pipeline's `executor:`. Default: the pipeline's executor, else in this process.
   */
  readonly executor?: { readonly url?: string; readonly queue?: string };
}

export interface RunOutcome {
  readonly runId: string;
  readonly status: RunStatus;
  /** The CLI's exit code for this outcome (0, 1, 130). */
  readonly exitCode: number;
  /** Each node's record, in run order. */
  readonly nodes: readonly NodeRecord[];
  /** The run's HTML report. */
  readonly report: string;
}

/**
 * Runs a pipeline file as `pigeon run` does (lock, records, checkpoints, report), printing nothing; resolves with
 * the outcome, a failed node included. Throws PipelineErrors for an invalid file, a PipelineError for another run
 * holding the lock or a bad option.
 */
export async function runPipeline(file: string, options: RunOptions = {}): Promise<RunOutcome> {
  const cwd = resolve(options.cwd ?? process.cwd());
  let runId: string | undefined;
  const common = {
    stateDir: options.stateDir ?? '.pigeon',
    logFormat: 'json' as const,
    env: options.env ?? process.env,
    cwd,
    quiet: true,
    vars: options.vars ?? {},
  };
  const exitCode = await runCommand(
    {
      invocation: {
        file: resolve(cwd, file),
        select: options.select ?? [],
        exclude: options.exclude ?? [],
        ...(options.date !== undefined ? { date: options.date } : {}),
        ...(options.interval !== undefined ? { interval: options.interval } : {}),
        fail_fast: options.failFast ?? false,
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(options.fullRefresh ? { full_refresh: true } : {}),
        ...(options.vars && Object.keys(options.vars).length > 0 ? { vars: options.vars } : {}),
      },
      silent: true,
      ...(options.executor ? { executor: options.executor } : {}),
      onRunId: (id) => {
        runId = id;
      },
    },
    common,
  );
  if (runId === undefined) throw new PipelineError('INTERNAL', 'the run did not start');
  const store = new RunStore(resolve(cwd, common.stateDir));
  const run = await store.readRun(runId);
  const records = await store.readNodes(runId);
  return {
    runId,
    status: run?.status ?? 'failed',
    exitCode,
    nodes: (run?.nodes ?? []).map((n) => records.get(n) ?? { node: n, state: 'pending', attempts: 0 }),
    report: resolve(store.runDir(runId), REPORT_FILE),
  };
}
