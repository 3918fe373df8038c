/**
 * The conventions people expect of a CLI: --version, per-command help, "did you mean", exit 2 for any bad option or
 * value, --format json where scripts read results, --log-format json as pure JSON lines on stderr (the final error,
 * the retry hint and run_finished included, the same events in log.jsonl), init, .env, --env-file and --var, and
 * the end summary's totals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { makeSourceDb } from '../support/sqlite-fixtures.js';
import { repoRoot } from '../support/paths.js';

const PIPELINE = `version: 1
name: conv
connections:
  src: { type: sqlite, path: "\${SRC_DB}" }
  dw: { type: sqlite, path: dw.db }
defaults: { retries: 0 }
nodes:
  customers:
    source: { connection: src, table: customers }
    target: { connection: dw, table: "customers_{{ var.suffix }}", mode: overwrite }
  orders:
    source: { connection: src, table: orders, split: { column: id, chunks: 3 } }
    target: { connection: dw, table: orders, mode: overwrite }
`;

function setup(text = PIPELINE) {
  const t = tempDir('pigeon-conv-');
  makeSourceDb(join(t.dir, 'src.db'));
  writeFileSync(join(t.dir, 'p.yaml'), text);
  writeFileSync(join(t.dir, '.env'), 'SRC_DB=src.db\n');
  return t;
}

test('--version, help CMD and CMD --help, did-you-mean; every unknown or ill-typed option is exit 2', async () => {
  const t = tempDir();
  try {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const v = await pigeon(['--version'], { cwd: t.dir });
    assert.equal(v.code, 0);
    assert.equal(v.stdout.trim(), `pigeon ${pkg.version}`);
    for (const args of [['help', 'run'], ['run', '--help']]) {
      const h = await pigeon(args, { cwd: t.dir });
      assert.equal(h.code, 0, h.stderr);
      assert.match(h.stdout, /^usage: pigeon run FILE/);
      assert.match(h.stdout, /--full-refresh/);
      assert.doesNotMatch(h.stdout, /--output/, 'only its own options');
    }
    const bad: [string[], RegExp][] = [
      [['rnu', 'p.yaml'], /did you mean `pigeon run`/],
      [['run', 'p.yaml', '--concurency', '2'], /did you mean `--concurrency`/],
      [['plan', 'p.yaml', '--format', 'yaml'], /--format must be text or json, not `yaml`/],
      [['graph', 'p.yaml', '--format', 'json5'], /--format must be mermaid, dot or json/],
      [['run', 'p.yaml', '--concurrency', 'two'], /--concurrency must be an integer/],
      [['run', 'p.yaml', '--progress=-1'], /--progress must be an integer >= 0/],
      [['run', 'p.yaml', '--log-format', 'xml'], /--log-format must be text or json/],
      [['ls', 'p.yaml', '--date', '2026-01-01'], /`--date` is not an option of `pigeon ls`/],
      [['run', 'p.yaml', '--var', 'no-equals'], /--var must be NAME=VALUE/],
      [['run', 'p.yaml', '-x'], /unknown option `-x`/],
      [['help', 'stauts'], /did you mean `status`/],
      [['runs', '--format', 'csv'], /--format must be text or json/],
    ];
    for (const [args, message] of bad) {
      const r = await pigeon(args, { cwd: t.dir });
      assert.equal(r.code, 2, `pigeon ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, `pigeon ${args.join(' ')}`);
    }
  } finally {
    t.cleanup();
  }
});

test('--format json on validate, plan, ls, runs and status; .env, --env-file and --var; the summary has the totals', async () => {
  const t = setup();
  try {
    const json = async (args: string[], code = 0) => {
      const r = await pigeon(args, { cwd: t.dir });
      assert.equal(r.code, code, `pigeon ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    const missingVar = await pigeon(['validate', 'p.yaml'], { cwd: t.dir });
    assert.equal(missingVar.code, 3, '{{ var.suffix }} without --var');
    assert.match(missingVar.stderr, /p\.yaml:10:\d+: error\[TEMPLATE\].*var\.suffix/);
    assert.match(missingVar.stderr, /--var suffix=VALUE/);
    const valid = await json(['validate', 'p.yaml', '--var', 'suffix=x', '--format', 'json']);
    assert.equal(valid.valid, true);
    const invalid = await json(['validate', 'p.yaml', '--format', 'json'], 3);
    assert.equal((invalid.errors as { code: string; line: number }[])[0]!.code, 'TEMPLATE');
    assert.equal((invalid.errors as { line: number }[])[0]!.line, 10);
    const ls = await json(['ls', 'p.yaml', '--var', 'suffix=x', '--format', 'json']);
    assert.deepEqual((ls.nodes as { name: string }[]).map((n) => n.name), ['customers', 'orders']);
    const plan = await json(['plan', 'p.yaml', '--var', 'suffix=x', '--date', '2026-03-01', '--format', 'json']);
    assert.deepEqual(plan.data_interval, { start: '2026-03-01 00:00:00', end: '2026-03-02 00:00:00' });
    assert.equal((plan.nodes as { import: { table: string } }[])[0]!.import.table, 'customers_x');

    // The real environment wins over .env; --env-file over .env.
    writeFileSync(join(t.dir, 'other.env'), 'SRC_DB=nowhere.db\n');
    const fromEnvFile = await pigeon(['run', 'p.yaml', '--var', 'suffix=x', '--env-file', 'other.env', '--progress', '0'], { cwd: t.dir });
    assert.equal(fromEnvFile.code, 1, 'the env file pointed at a missing database');
    const realWins = await pigeon(['run', 'p.yaml', '--var', 'suffix=x', '--env-file', 'other.env', '--progress', '0'], { cwd: t.dir, env: { SRC_DB: 'src.db' } });
    assert.equal(realWins.code, 0, realWins.stderr);
    assert.equal((await pigeon(['run', 'p.yaml', '--env-file', 'absent.env', '--var', 'suffix=x'], { cwd: t.dir })).code, 2);

    const run = await pigeon(['run', 'p.yaml', '--var', 'suffix=day1', '--progress', '0'], { cwd: t.dir });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /2\/2 nodes succeeded in [\d.]+m?s; 22,000 rows, [\d.]+ [kM]B, [\d,]+ rows\/s/);
    const runs = await json(['runs', '--format', 'json']);
    const latest = (runs.runs as { status: string; rows: number; nodes_succeeded: number }[])[0]!;
    assert.deepEqual([latest.status, latest.rows, latest.nodes_succeeded], ['succeeded', 22000, 2]);
    const status = await json(['status', '--format', 'json']);
    assert.equal((status.run as { invocation: { vars: Record<string, string> } }).invocation.vars.suffix, 'day1');
    assert.equal((status.totals as { rows: number }).rows, 22000);
    assert.ok(existsSync(join(t.dir, 'dw.db')));

    // A retry resumes the chunks finished before the kill (chunks export in parallel: 1 to 3 of them): the summary says how many.
    writeFileSync(join(t.dir, 'p2.yaml'), PIPELINE.replace('name: conv', 'name: conv2').replace('table: orders, mode: overwrite', 'table: orders2, mode: overwrite'));
    const crashed = await pigeon(['run', 'p2.yaml', '--var', 'suffix=y', '-s', 'orders', '--progress', '0'], { cwd: t.dir, env: { PIGEON_CRASH_AT: 'orders:chunk:2' } });
    assert.equal(crashed.signal, 'SIGKILL');
    const retry = await pigeon(['retry', '--progress', '0'], { cwd: t.dir });
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stdout, /resumed [123]\/3 chunks/);
  } finally {
    t.cleanup();
  }
});

test('--log-format json: stderr is JSON from the first line to the last, errors and the retry hint included; run_finished carries the summary; log.jsonl has the same events', async () => {
  const t = setup(PIPELINE + `  broken:\n    source: { connection: src, table: nope }\n    target: { connection: dw, table: broken, mode: overwrite }\n`);
  try {
    const r = await pigeon(['run', 'p.yaml', '--var', 'suffix=x', '--log-format', 'json'], { cwd: t.dir });
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const events = lines.map((l) => l.event);
    assert.ok(events.includes('error') && events.includes('retry_hint'), events.join(' '));
    assert.equal(events[events.length - 1], 'run_finished');
    const finished = lines[lines.length - 1]!;
    assert.equal(finished.status, 'failed');
    assert.equal(finished.rows, 22000);
    assert.deepEqual(finished.nodes, { succeeded: 2, failed: 1 });
    const error = lines.find((l) => l.event === 'error')!;
    assert.equal(error.code, 'SOURCE_NOT_FOUND');
    assert.equal(error.node, 'broken');
    const runDir = join(t.dir, '.pigeon', 'runs', readdirSync(join(t.dir, '.pigeon', 'runs'))[0]!);
    const logged = readFileSync(join(runDir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of ['run_start', 'node_end', 'error', 'retry_hint', 'run_finished']) assert.ok(logged.some((l) => l.event === e), `log.jsonl has ${e}`);

    // Before a run exists too: an invalid file and a usage error are JSON lines.
    const invalid = await pigeon(['run', 'p.yaml', '--log-format', 'json'], { cwd: t.dir });
    assert.equal(invalid.code, 3);
    for (const l of invalid.stderr.trim().split('\n')) assert.equal((JSON.parse(l) as { code: string }).code, 'TEMPLATE');
    const usage = await pigeon(['run', 'p.yaml', '--log-format', 'json', '--concurrency', 'x'], { cwd: t.dir });
    assert.equal(usage.code, 2);
    assert.equal((JSON.parse(usage.stderr.trim()) as { code: string }).code, 'USAGE');
  } finally {
    t.cleanup();
  }
});

test('init writes a starter pipeline with the schema line and a .env.example; with .env it validates; it never overwrites', async () => {
  const t = tempDir('pigeon-init-');
  try {
    const r = await pigeon(['init', 'proj'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stderr);
    const file = join(t.dir, 'proj', 'pipelines', 'nightly.yaml');
    const text = readFileSync(file, 'utf8');
    const m = /^# yaml-language-server: \$schema=(\S+)$/m.exec(text);
    assert.ok(m, 'the schema comment line');
    assert.ok(existsSync(resolve(dirname(file), m[1]!)), `the schema path resolves: ${m[1]}`);
    const invalid = await pigeon(['validate', 'pipelines/nightly.yaml'], { cwd: join(t.dir, 'proj') });
    assert.equal(invalid.code, 3, 'without .env, WAREHOUSE_URL is unset');
    assert.match(invalid.stderr, /ENV_UNSET/);
    copyFileSync(join(t.dir, 'proj', '.env.example'), join(t.dir, 'proj', '.env'));
    const valid = await pigeon(['validate', 'pipelines/nightly.yaml'], { cwd: join(t.dir, 'proj') });
    assert.equal(valid.code, 0, valid.stderr);
    const again = await pigeon(['init', 'proj'], { cwd: t.dir });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /never overwrites/);
  } finally {
    t.cleanup();
  }
});
