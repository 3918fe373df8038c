import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PipelineError } from '../errors/pipeline-error.js';
import { suggest } from '../config/suggest.js';
import { EXIT } from './exit-codes.js';
import { jsonLine, reportError } from './output.js';
import type { CommonOptions } from './context.js';
import { environment } from './dotenv.js';
import { DEFAULTS } from '../config/types.js';

// Each command's module is imported when the command runs: `pigeon validate` does not load the executor, the
// logger (winston), the report or the connectors' registry beyond what it needs.
const inspect = () => import('./commands/inspect.js');
const runs = () => import('./commands/runs.js');

/** Every option pigeon knows: its parseArgs type, its help line, and the values it takes when they are a list. */
interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  readonly arg?: string;
  readonly help: string;
}

const OPTIONS: Readonly<Record<string, OptionSpec>> = {
  select: { type: 'string', short: 's', multiple: true, arg: 'TERMS', help: 'nodes to include: NAME, tag:TAG, +NAME (with ancestors), NAME+ (with descendants)' },
  exclude: { type: 'string', multiple: true, arg: 'TERMS', help: 'nodes to leave out (same grammar)' },
  date: { type: 'string', arg: 'YYYY-MM-DD', help: 'the data interval is that day (UTC); default: yesterday' },
  interval: { type: 'string', arg: 'S/E', help: 'the data interval from S to E (YYYY-MM-DD[THH:MM[:SS]], UTC)' },
  'fail-fast': { type: 'boolean', help: 'stop starting nodes after the first failure' },
  'full-refresh': { type: 'boolean', help: 'incremental nodes load everything (append nodes replace their target)' },
  concurrency: { type: 'string', arg: 'N', help: 'nodes run at once (run: default the pipeline\'s concurrency; worker: 1)' },
  progress: { type: 'string', arg: 'SECONDS', help: 'progress line interval when not on a terminal (default 10, 0 = off)' },
  format: { type: 'string', arg: 'FMT', help: 'output format (see each command)' },
  output: { type: 'string', short: 'o', arg: 'FILE', help: 'where to write the report (default: the run\'s report.html)' },
  'state-dir': { type: 'string', arg: 'DIR', help: 'where runs, watermarks and locks live (default: .pigeon)' },
  'log-format': { type: 'string', arg: 'FMT', help: 'text (default) or json: JSON lines on stderr, first to last' },
  quiet: { type: 'boolean', short: 'q', help: 'warnings and errors only; no live progress' },
  'env-file': { type: 'string', multiple: true, arg: 'FILE', help: 'read variables for ${VAR} from FILE (after ./.env; the environment wins)' },
  var: { type: 'string', multiple: true, arg: 'NAME=VALUE', help: 'a value for {{ var.NAME }} in templates' },
  executor: { type: 'string', arg: 'URL', help: 'run the nodes on `pigeon worker`s through Redis (redis://host:6379)' },
  redis: { type: 'string', arg: 'URL', help: 'the Redis the coordinator queues attempts in (redis://host:6379)' },
  queue: { type: 'string', arg: 'NAME', help: 'the BullMQ queue of attempts (default: the pipeline\'s, else pigeon)' },
  name: { type: 'string', arg: 'NAME', help: 'this worker\'s name in run records and errors (default hostname:pid)' },
  help: { type: 'boolean', short: 'h', help: 'this help' },
  version: { type: 'boolean', short: 'V', help: 'pigeon\'s version' },
};

/** Options every command takes. */
const GLOBAL = ['state-dir', 'log-format', 'quiet', 'help', 'version'] as const;
const LOADING = ['env-file', 'var'] as const;
const SELECTING = ['select', 'exclude'] as const;

interface CommandSpec {
  readonly usage: string;
  readonly summary: string;
  readonly options: readonly string[];
  /** Values `--format` takes for this command; the first is the default. */
  readonly formats?: readonly string[];
  readonly details?: string;
}

const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  init: {
    usage: 'init [DIR]',
    summary: 'start a project: pipelines/nightly.yaml (with the schema line for editors) and .env.example',
    options: [],
    details: 'Refuses to overwrite a file that exists. DIR defaults to the current directory.',
  },
  validate: { usage: 'validate FILE', summary: 'check a pipeline file; every problem with file:line:col', options: [...LOADING], formats: ['text', 'json'] },
  check: {
    usage: 'check FILE',
    summary: 'connect to each connection the selection uses and check credentials, tables, columns, targets',
    options: [...LOADING, ...SELECTING],
    formats: ['text', 'json'],
    details: 'Moves no data: each check is a read of the catalogue (a table\'s columns, an index, a privilege). Exit 1 when a check fails.',
  },
  plan: { usage: 'plan FILE', summary: 'what a run would do, without connecting to anything', options: [...LOADING, ...SELECTING, 'date', 'interval'], formats: ['text', 'json'] },
  run: {
    usage: 'run FILE',
    summary: 'run the pipeline (or a selection of it)',
    options: [...LOADING, ...SELECTING, 'date', 'interval', 'fail-fast', 'full-refresh', 'concurrency', 'progress', 'executor', 'queue'],
    details:
      'On a terminal a live line per running node (phase, rows, rows/s, MB, % and ETA when known); piped, a progress\n' +
      'line every --progress seconds. Every run writes .pigeon/runs/<id>/report.html.\n' +
      'With --executor (or the pipeline\'s `executor:`) this process is the coordinator: it keeps the schedule, retries,\n' +
      'records and lock, and `pigeon worker`s run the nodes; the staging must be shared (S3, or `shared: true`).',
  },
  retry: {
    usage: 'retry [RUN]',
    summary: 'rerun the failed, skipped and unfinished nodes of a run (default: the latest)',
    options: [...LOADING, 'progress', 'executor', 'queue'],
    details: 'A distributed run is retried on its queue: attempts still running on workers are waited for, not started again.',
  },
  worker: {
    usage: 'worker --redis URL',
    summary: 'run node attempts that coordinators (`run --executor`) put on a Redis queue, until SIGTERM',
    options: ['redis', 'queue', 'concurrency', 'name', 'env-file'],
    details:
      'Each attempt runs as in `pigeon run`, with this machine\'s environment for ${VAR} (a .env here, --env-file).\n' +
      '--concurrency: attempts at once (default 1). SIGTERM: no new attempts, the running ones finish; a second SIGTERM\n' +
      'hands them back to the queue for another worker. A worker killed outright is noticed by the others after the\n' +
      'job lock (30 s) and its attempt runs again there; the target\'s load record keeps the load to exactly once.',
  },
  runs: { usage: 'runs', summary: 'list recorded runs, newest first', options: [], formats: ['text', 'json'] },
  status: { usage: 'status [RUN]', summary: 'nodes of a run with state, rows, time and error (live while it runs)', options: [], formats: ['text', 'json'] },
  report: { usage: 'report [RUN]', summary: 'write a run\'s HTML report again (default: the latest run)', options: ['output'] },
  ls: { usage: 'ls FILE', summary: 'the selected nodes, in run order', options: [...LOADING, ...SELECTING], formats: ['text', 'json'] },
  graph: { usage: 'graph FILE', summary: 'the DAG', options: [...LOADING, ...SELECTING], formats: ['mermaid', 'dot', 'json'] },
  schema: { usage: 'schema', summary: 'print the pipeline JSON Schema (for editors)', options: [] },
  state: {
    usage: 'state ls|show|reset FILE [NODE…]',
    summary: 'saved watermarks and kept checkpoints of nodes; reset forgets them',
    options: [...LOADING, ...SELECTING],
  },
  help: { usage: 'help [COMMAND]', summary: 'help for pigeon or for one command', options: [] },
};

const EXIT_CODES = 'exit codes: 0 success, 1 a node failed, 2 usage error, 3 invalid pipeline, 4 another run holds the lock,\n130 interrupted';

function optionLine(name: string): string {
  const o = OPTIONS[name]!;
  const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.arg ? ` ${o.arg}` : ''}`;
  return `  ${flag.padEnd(26)} ${o.help}`;
}

function mainHelp(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length)) + 2;
  return `pigeon ${version()}: keep tables in sync between data systems

usage: pigeon <command> [options]

commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c.usage.padEnd(width)} ${c.summary}`)
  .join('\n')}

options of every command:
${GLOBAL.map(optionLine).join('\n')}

\`pigeon help COMMAND\` or \`pigeon COMMAND --help\` shows a command's own options.

${EXIT_CODES}
`;
}

function commandHelp(name: string): string {
  const c = COMMANDS[name]!;
  const lines = [`usage: pigeon ${c.usage} [options]`, '', c.summary + '.'];
  if (c.details) lines.push('', c.details);
  lines.push('', 'options:');
  if (c.formats) lines.push(`  ${'    --format FMT'.padEnd(26)} ${c.formats.join(', ')} (default ${c.formats[0]})`);
  for (const o of c.options) lines.push(optionLine(o));
  if (!c.formats && c.options.length === 0) lines.push('  (none of its own)');
  lines.push('', 'options of every command:', ...GLOBAL.map(optionLine), '', EXIT_CODES);
  return lines.join('\n') + '\n';
}

/** pigeon's version, from its package.json. */
export function version(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'pigeon' && pkg.version) return pkg.version;
    } catch {
      // try the next place
    }
  }
  return 'unknown';
}

/** The option names and shorts of the arguments, to check them before parseArgs (which cannot suggest). */
function checkOptionNames(argv: readonly string[]): void {
  const longs = Object.keys(OPTIONS);
  const shorts = new Map(Object.entries(OPTIONS).flatMap(([n, o]) => (o.short ? [[o.short, n] as const] : [])));
  for (const a of argv) {
    if (a === '--') return;
    if (a.startsWith('--')) {
      const name = a.slice(2).split('=')[0]!;
      if (!longs.includes(name)) {
        const close = suggest(name, longs);
        throw new PipelineError('USAGE', `unknown option \`--${name}\``, close ? { hint: `did you mean \`--${close}\`?` } : { hint: 'see `pigeon --help`' });
      }
    } else if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      for (const ch of a.slice(1)) {
        if (!shorts.has(ch)) throw new PipelineError('USAGE', `unknown option \`-${ch}\``, { hint: 'see `pigeon --help`' });
        if (OPTIONS[shorts.get(ch)!]!.type === 'string') break;
      }
    }
  }
}

export async function main(argv: readonly string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  // Known before anything can fail, so even a usage error is a JSON line when JSON was asked for.
  const json = argv.some((a, i) => (a === '--log-format' && argv[i + 1] === 'json') || a === '--log-format=json');
  const usage = (e: PipelineError): number => {
    if (json) jsonLine('error', e.message, { event: 'error', code: e.code, ...(e.hint ? { hint: e.hint } : {}) });
    else process.stderr.write(`pigeon: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}run \`pigeon --help\` for usage\n`);
    return EXIT.USAGE;
  };
  let parsed;
  try {
    checkOptionNames(argv);
    parsed = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: OPTIONS as never });
  } catch (e) {
    return usage(e instanceof PipelineError ? e : new PipelineError('USAGE', (e as Error).message.replace(/\. To specify a positional.*$/s, '')));
  }
  const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const str = (k: string) => v[k] as string | undefined;
  const list = (k: string) => (v[k] as string[] | undefined) ?? [];
  const [command, ...rest] = parsed.positionals;
  if (v.version) {
    process.stdout.write(`pigeon ${version()}\n`);
    return EXIT.OK;
  }
  if (!command) {
    (v.help ? process.stdout : process.stderr).write(mainHelp());
    return v.help ? EXIT.OK : EXIT.USAGE;
  }
  const spec = COMMANDS[command];
  if (!spec) {
    const close = suggest(command, Object.keys(COMMANDS));
    return usage(new PipelineError('USAGE', `unknown command \`${command}\``, { hint: close ? `did you mean \`pigeon ${close}\`?` : 'see `pigeon --help`' }));
  }
  if (command === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      process.stdout.write(mainHelp());
      return EXIT.OK;
    }
    if (!COMMANDS[topic]) {
      const close = suggest(topic, Object.keys(COMMANDS));
      return usage(new PipelineError('USAGE', `unknown command \`${topic}\``, { hint: close ? `did you mean \`${close}\`?` : 'see `pigeon --help`' }));
    }
    process.stdout.write(commandHelp(topic));
    return EXIT.OK;
  }
  if (v.help) {
    process.stdout.write(commandHelp(command));
    return EXIT.OK;
  }

  try {
    // Each option given must be one of the command's (or every command's).
    const allowed = new Set<string>([...GLOBAL, ...spec.options, ...(spec.formats ? ['format'] : [])]);
    for (const name of Object.keys(v)) {
      if (v[name] === undefined || allowed.has(name)) continue;
      throw new PipelineError('USAGE', `\`--${name}\` is not an option of \`pigeon ${command}\``, { hint: `see \`pigeon help ${command}\`` });
    }
    const oneOf = (name: string, value: string | undefined, values: readonly string[]): string | undefined => {
      if (value === undefined || values.includes(value)) return value;
      throw new PipelineError('USAGE', `--${name} must be ${values.slice(0, -1).join(', ')}${values.length > 1 ? ' or ' : ''}${values[values.length - 1]}, not \`${value}\``);
    };
    const intOpt = (name: string, min: number): number | undefined => {
      const value = str(name);
      if (value === undefined) return undefined;
      const n = Number(value);
      if (value.trim() === '' || !Number.isInteger(n) || n < min) throw new PipelineError('USAGE', `--${name} must be an integer >= ${min}, not \`${value}\``);
      return n;
    };
    const logFormat = (oneOf('log-format', str('log-format'), ['text', 'json']) ?? 'text') as 'text' | 'json';
    const format = spec.formats ? (oneOf('format', str('format'), spec.formats) ?? spec.formats[0]!) : 'text';
    const vars: Record<string, string> = {};
    for (const item of list('var')) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(item);
      if (!m) throw new PipelineError('USAGE', `--var must be NAME=VALUE (NAME: letters, digits, _), not \`${item}\``);
      vars[m[1]!] = m[2]!;
    }
    const cwd = process.cwd();
    const common: CommonOptions = {
      stateDir: str('state-dir') ?? '.pigeon',
      logFormat,
      env: spec.options.includes('env-file') ? environment(cwd, list('env-file'), env) : env,
      cwd,
      ...(v.quiet ? { quiet: true } : {}),
      vars,
    };
    const select = list('select');
    const exclude = list('exclude');
    const concurrency = intOpt('concurrency', 1);
    const progress = intOpt('progress', 0);
    const file = () => {
      if (rest.length !== 1) throw new PipelineError('USAGE', `\`pigeon ${command}\` takes one pipeline file`, { hint: `usage: pigeon ${spec.usage}` });
      return rest[0]!;
    };
    const runId = () => {
      if (rest.length > 1) throw new PipelineError('USAGE', `\`pigeon ${command}\` takes at most one run id`);
      return rest[0];
    };
    const interval = { ...(str('date') ? { date: str('date')! } : {}), ...(str('interval') ? { interval: str('interval')! } : {}) };
    const queue = str('queue');
    if (queue !== undefined && !/^[A-Za-z0-9._-]{1,100}$/.test(queue)) throw new PipelineError('USAGE', `--queue must be 1-100 letters, digits, dots, dashes or underscores, not \`${queue}\``);
    const executor = { ...(str('executor') !== undefined ? { url: str('executor')! } : {}), ...(queue !== undefined ? { queue } : {}) };
    switch (command) {
      case 'init':
        if (rest.length > 1) throw new PipelineError('USAGE', '`pigeon init` takes at most one directory');
        return await (await import('./commands/init.js')).initCommand(rest[0] ?? '.', common);
      case 'validate':
        return (await inspect()).validateCommand(file(), common, format === 'json');
      case 'check':
        return await (await import('./commands/check.js')).checkCommand(file(), select, exclude, common, format === 'json');
      case 'schema':
        if (rest.length > 0) throw new PipelineError('USAGE', '`pigeon schema` takes no argument');
        return (await inspect()).schemaCommand();
      case 'ls':
        return (await inspect()).lsCommand(file(), select, exclude, common, format === 'json');
      case 'graph':
        return (await inspect()).graphCommand(file(), format, select, exclude, common);
      case 'plan':
        return await (await inspect()).planCommand(file(), select, exclude, interval, common, format === 'json');
      case 'run':
        return await (await import('./commands/run.js')).runPipeline(
          {
            invocation: {
              file: file(),
              select,
              exclude,
              ...interval,
              fail_fast: v['fail-fast'] === true,
              ...(concurrency !== undefined ? { concurrency } : {}),
              ...(v['full-refresh'] ? { full_refresh: true } : {}),
              ...(Object.keys(vars).length > 0 ? { vars } : {}),
            },
            ...(progress !== undefined ? { progressEveryMs: progress * 1000 } : {}),
            ...(env.PIGEON_CRASH_AT ? { crashAt: env.PIGEON_CRASH_AT } : {}),
            executor,
          },
          common,
        );
      case 'retry':
        return await (await runs()).retryCommand(runId(), common, progress === undefined ? undefined : progress * 1000, executor);
      case 'worker': {
        if (rest.length > 0) throw new PipelineError('USAGE', '`pigeon worker` takes no argument', { hint: `usage: pigeon ${spec.usage}` });
        const url = str('redis');
        if (url === undefined) throw new PipelineError('USAGE', '`pigeon worker` needs --redis URL', { hint: `usage: pigeon ${spec.usage}` });
        const lockMs = env.PIGEON_WORKER_LOCK_MS !== undefined ? Number(env.PIGEON_WORKER_LOCK_MS) : undefined;
        return await (await import('./commands/worker.js')).workerCommand(
          {
            url,
            queue: queue ?? DEFAULTS.queue,
            concurrency: concurrency ?? 1,
            ...(str('name') !== undefined ? { name: str('name')! } : {}),
            ...(lockMs !== undefined && Number.isFinite(lockMs) && lockMs > 0 ? { lockMs } : {}),
            ...(env.PIGEON_CRASH_AT ? { crashAt: env.PIGEON_CRASH_AT } : {}),
          },
          common,
        );
      }
      case 'runs':
        if (rest.length > 0) throw new PipelineError('USAGE', '`pigeon runs` takes no argument');
        return await (await runs()).runsCommand(common, format === 'json');
      case 'status':
        return await (await runs()).statusCommand(runId(), common, format === 'json');
      case 'report':
        return await (await import('./commands/report.js')).reportCommand(runId(), str('output'), common);
      case 'state': {
        const [action, f, ...nodes] = rest;
        if (action === undefined || f === undefined) throw new PipelineError('USAGE', `usage: pigeon ${spec.usage}`);
        return await (await import('./commands/state.js')).stateCommand(action, f, nodes, select, exclude, common);
      }
      default:
        throw new PipelineError('INTERNAL', `command \`${command}\` has no handler`);
    }
  } catch (e) {
    return reportError(e, undefined, json);
  }
}
