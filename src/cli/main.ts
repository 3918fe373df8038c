import { parseArgs } from 'node:util';
import { PipelineError } from '../errors/pipeline-error.js';
import { EXIT } from './exit-codes.js';
import { reportError } from './output.js';
import type { CommonOptions } from './context.js';
import { graphCommand, lsCommand, planCommand, schemaCommand, validateCommand } from './commands/inspect.js';
import { runPipeline } from './commands/run.js';
import { retryCommand, runsCommand, statusCommand } from './commands/runs.js';
import { stateCommand } from './commands/state.js';

const HELP = `pigeon: keep tables in sync between data systems

usage: pigeon <command> [options]

commands:
  validate FILE            check a pipeline file; every problem with file:line:col
  plan FILE                what a run would do, without moving data
  run FILE                 run the pipeline (or a selection of it)
  retry [RUN]              rerun the failed, skipped and unfinished nodes of a run (default: the latest)
  runs                     list recorded runs
  status [RUN]             nodes of a run with state, rows, time and error (default: the latest)
  ls FILE                  the selected nodes, in run order
  graph FILE               the DAG as --format mermaid|dot|json
  schema                   print the pipeline JSON Schema (for editors)
  state ls|show FILE       saved watermarks and kept checkpoints of the nodes (-s to choose)
  state reset FILE NODE…   forget nodes' watermarks and checkpoints: their next run loads from the start

options:
  -s, --select TERMS       nodes to include: NAME, tag:TAG, +NAME (with ancestors), NAME+ (with descendants)
      --exclude TERMS      nodes to leave out (same grammar)
      --date YYYY-MM-DD    the data interval is that day (UTC); default: yesterday
      --interval S/E       the data interval from S to E (YYYY-MM-DD[THH:MM[:SS]], UTC)
      --fail-fast          stop starting nodes after the first failure
      --full-refresh       incremental nodes load everything (append nodes replace their target)
      --concurrency N      nodes run at once (default: the pipeline's concurrency)
      --state-dir DIR      where runs, watermarks and locks live (default: .pigeon)
      --log-format FMT     text (default) or json
      --progress SECONDS   progress line interval for running nodes (default 10, 0 = off)
      --format FMT         for graph: mermaid (default), dot, json; for status: text or json
  -h, --help               this help

exit codes: 0 success, 1 a node failed, 2 usage error, 3 invalid pipeline, 4 another run holds the lock,
130 interrupted
`;

export async function main(argv: readonly string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        select: { type: 'string', short: 's', multiple: true },
        exclude: { type: 'string', multiple: true },
        date: { type: 'string' },
        interval: { type: 'string' },
        'fail-fast': { type: 'boolean' },
        'full-refresh': { type: 'boolean' },
        concurrency: { type: 'string' },
        'state-dir': { type: 'string' },
        'log-format': { type: 'string' },
        progress: { type: 'string' },
        format: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`pigeon: ${(e as Error).message}\n\n${HELP}`);
    return EXIT.USAGE;
  }
  const { values: v, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (v.help || !command) {
    (v.help ? process.stdout : process.stderr).write(HELP);
    return v.help ? EXIT.OK : EXIT.USAGE;
  }
  const logFormat = v['log-format'] ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') return usage(`--log-format must be text or json, not \`${logFormat}\``);
  const common: CommonOptions = { stateDir: v['state-dir'] ?? '.pigeon', logFormat, env, cwd: process.cwd() };
  const select = v.select ?? [];
  const exclude = v.exclude ?? [];
  const needFile = () => {
    if (rest.length !== 1) throw new PipelineError('USAGE', `\`pigeon ${command}\` takes one pipeline file`);
    return rest[0]!;
  };
  const intOpt = (name: string, value: string | undefined, min: number): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new PipelineError('USAGE', `--${name} must be an integer >= ${min}, not \`${value}\``);
    return n;
  };

  try {
    switch (command) {
      case 'validate':
        return validateCommand(needFile(), common);
      case 'schema':
        return schemaCommand();
      case 'ls':
        return lsCommand(needFile(), select, exclude, common);
      case 'graph': {
        const format = v.format ?? 'mermaid';
        if (!['mermaid', 'dot', 'json'].includes(format)) return usage(`--format must be mermaid, dot or json, not \`${format}\``);
        return graphCommand(needFile(), format, select, exclude, common);
      }
      case 'plan':
        return await planCommand(needFile(), select, exclude, { ...(v.date ? { date: v.date } : {}), ...(v.interval ? { interval: v.interval } : {}) }, common);
      case 'run': {
        const file = needFile();
        const concurrency = intOpt('concurrency', v.concurrency, 1);
        const progress = intOpt('progress', v.progress, 0);
        return await runPipeline(
          {
            invocation: {
              file,
              select,
              exclude,
              ...(v.date ? { date: v.date } : {}),
              ...(v.interval ? { interval: v.interval } : {}),
              fail_fast: v['fail-fast'] ?? false,
              ...(concurrency !== undefined ? { concurrency } : {}),
              ...(v['full-refresh'] ? { full_refresh: true } : {}),
            },
            ...(progress !== undefined ? { progressEveryMs: progress * 1000 } : {}),
            ...(env.PIGEON_CRASH_AT ? { crashAt: env.PIGEON_CRASH_AT } : {}),
          },
          common,
        );
      }
      case 'retry': {
        if (rest.length > 1) return usage('`pigeon retry` takes at most one run id');
        const progress = intOpt('progress', v.progress, 0);
        return await retryCommand(rest[0], common, progress === undefined ? undefined : progress * 1000);
      }
      case 'runs':
        return await runsCommand(common);
      case 'state': {
        const [action, file, ...nodes] = rest;
        if (action === undefined || file === undefined) return usage('usage: pigeon state ls|show|reset FILE [NODE…]');
        return await stateCommand(action, file, nodes, select, exclude, common);
      }
      case 'status':
        if (rest.length > 1) return usage('`pigeon status` takes at most one run id');
        return await statusCommand(rest[0], common, v.format === 'json');
      default:
        return usage(`unknown command \`${command}\``);
    }
  } catch (e) {
    return reportError(e);
  }
}

function usage(message: string): number {
  process.stderr.write(`pigeon: ${message}\nrun \`pigeon --help\` for usage\n`);
  return EXIT.USAGE;
}
