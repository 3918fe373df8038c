import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { pigeon, tempDir } from '../support/cli.js';
import { makeSourceDb, tableRows } from '../support/sqlite-fixtures.js';
import { pigeonBin } from '../support/paths.js';

const PIPELINE = `
version: 1
name: shop
connections:
  src: { type: sqlite, path: src.db }
  dw: { type: sqlite, path: dw.db }
  out: { type: file, dir: out }
defaults: { retries: 0 }
nodes:
  customers:
    tags: [dims]
    source: { connection: src, table: customers }
    target: { connection: dw, table: customers, mode: overwrite }
  orders:
    tags: [facts]
    source: { connection: src, table: orders, where: "status = 'paid'", split: { column: id, chunks: 3 } }
    target: { connection: dw, table: orders, mode: merge, key: [id] }
  refunds:
    tags: [facts]
    source: { connection: src, table: refunds }
    target: { connection: dw, table: refunds, mode: append }
  refunds_csv:
    depends_on: [refunds]
    source: { connection: dw, table: refunds }
    target: { connection: out, table: refunds, mode: overwrite }
  report:
    depends_on: [orders, customers]
    source: { connection: dw, query: "select customer_id, count(*) as n from orders where updated_at < '{{ data_interval_end }}' group by customer_id" }
    target: { connection: out, table: report, mode: overwrite }
`;

function setup(pipeline = PIPELINE) {
  const t = tempDir('pigeon-cli-');
  makeSourceDb(join(t.dir, 'src.db'));
  writeFileSync(join(t.dir, 'p.yaml'), pipeline);
  return t;
}

test('validate: exit 0 for a good file, 3 with file:line:col for a broken one', async () => {
  const t = setup();
  try {
    const good = await pigeon(['validate', 'p.yaml'], { cwd: t.dir });
    assert.equal(good.code, 0, good.stderr);
    writeFileSync(join(t.dir, 'bad.yaml'), PIPELINE.replace('connection: dw, table: refunds, mode: append', 'connection: dww, table: refunds, mode: append'));
    const bad = await pigeon(['validate', 'bad.yaml'], { cwd: t.dir });
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /bad\.yaml:\d+:\d+: error\[UNKNOWN_CONNECTION\]/);
    assert.match(bad.stderr, /did you mean `dw`/);
    const run = await pigeon(['run', 'bad.yaml'], { cwd: t.dir });
    assert.equal(run.code, 3, 'an invalid pipeline is never run');
  } finally {
    t.cleanup();
  }
});

test('ls resolves the selection grammar in run order; a bad term is a usage error', async () => {
  const t = setup();
  try {
    const all = await pigeon(['ls', 'p.yaml'], { cwd: t.dir });
    assert.deepEqual(all.stdout.trim().split('\n'), ['customers', 'orders', 'refunds', 'refunds_csv', 'report']);
    const up = await pigeon(['ls', 'p.yaml', '-s', '+report'], { cwd: t.dir });
    assert.deepEqual(up.stdout.trim().split('\n'), ['customers', 'orders', 'report']);
    const tagged = await pigeon(['ls', 'p.yaml', '-s', 'tag:facts+', '--exclude', 'report'], { cwd: t.dir });
    assert.deepEqual(tagged.stdout.trim().split('\n'), ['orders', 'refunds', 'refunds_csv']);
    const bad = await pigeon(['ls', 'p.yaml', '-s', 'reprot'], { cwd: t.dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /did you mean `report`/);
  } finally {
    t.cleanup();
  }
});

test('graph prints mermaid, dot and json', async () => {
  const t = setup();
  try {
    const m = await pigeon(['graph', 'p.yaml'], { cwd: t.dir });
    assert.match(m.stdout, /^graph LR/);
    assert.match(m.stdout, /refunds --> refunds_csv/);
    const d = await pigeon(['graph', 'p.yaml', '--format', 'dot'], { cwd: t.dir });
    assert.match(d.stdout, /"orders" -> "report";/);
    const j = JSON.parse((await pigeon(['graph', 'p.yaml', '--format', 'json'], { cwd: t.dir })).stdout);
    assert.deepEqual(j.waves, [['customers', 'orders', 'refunds'], ['refunds_csv', 'report']]);
  } finally {
    t.cleanup();
  }
});

test('plan shows waves, rendered queries with the data interval, modes; it opens no database', async () => {
  const t = setup();
  try {
    const p = await pigeon(['plan', 'p.yaml', '--date', '2026-05-03'], { cwd: t.dir });
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /data interval 2026-05-03 00:00:00 → 2026-05-04 00:00:00/);
    assert.match(p.stdout, /wave 2: refunds_csv, report/);
    assert.match(p.stdout, /updated_at < '2026-05-04 00:00:00'/);
    assert.match(p.stdout, /split on id into 3 chunks/);
    assert.match(p.stdout, /mode merge on \(id\)/);
    assert.deepEqual(readdirSync(t.dir).sort(), ['p.yaml', 'src.db'], 'no target database was created');
  } finally {
    t.cleanup();
  }
});

test('a failed node skips its dependants, other branches finish, exit 1; retry after the fix finishes the rest', async () => {
  const t = setup();
  try {
    const run = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /SOURCE_NOT_FOUND/);
    assert.match(run.stderr, /no such table: refunds/);
    const status = JSON.parse((await pigeon(['status', '--format', 'json'], { cwd: t.dir })).stdout);
    const states = Object.fromEntries(status.nodes.map((n: { node: string; state: string }) => [n.node, n.state]));
    assert.deepEqual(states, { customers: 'succeeded', orders: 'succeeded', refunds: 'failed', refunds_csv: 'skipped', report: 'succeeded' });

    const db = new Database(join(t.dir, 'src.db'));
    db.exec('CREATE TABLE refunds (id INTEGER PRIMARY KEY, amount TEXT); INSERT INTO refunds VALUES (1, \'9.99\'), (2, NULL)');
    db.close();
    // A run killed before it wrote its record leaves an empty folder; `retry` looks past it.
    mkdirSync(join(t.dir, '.pigeon/runs/99991231T235959.999Z-dead00'), { recursive: true });
    const retry = await pigeon(['retry', '--progress', '0'], { cwd: t.dir });
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stderr, /retrying run \S+: refunds, refunds_csv/);
    assert.deepEqual(tableRows(join(t.dir, 'dw.db'), 'refunds'), ['["1","9.99"]', '["2",null]']);
    assert.equal(readFileSync(join(t.dir, 'out/refunds.csv'), 'utf8'), 'id,amount\n1,9.99\n2,\\N\n');
    const runs = await pigeon(['runs'], { cwd: t.dir });
    assert.match(runs.stdout, /retry of/);
    const again = await pigeon(['retry'], { cwd: t.dir });
    assert.equal(again.code, 0);
    assert.match(again.stdout, /nothing to retry/);
  } finally {
    t.cleanup();
  }
});

test('a second run while one holds the lock is refused with exit 4 naming the process; a stale lock is taken over', async () => {
  const t = setup(PIPELINE.replace(/  refunds:[\s\S]*?(?=  report:)/, ''));
  try {
    mkdirSync(join(t.dir, '.pigeon/locks'), { recursive: true });
    const lock = join(t.dir, '.pigeon/locks/shop.lock');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), run_id: 'R1', started_at: new Date().toISOString() }));
    const refused = await pigeon(['run', 'p.yaml'], { cwd: t.dir });
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, new RegExp(`pid ${process.pid}`));
    writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), run_id: 'R0', started_at: new Date().toISOString() }));
    const ok = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /took over a stale lock of run R0/);
  } finally {
    t.cleanup();
  }
});

test('Ctrl-C stops cleanly: exit 130, nodes recorded as interrupted, retry finishes the job', async () => {
  const t = tempDir('pigeon-int-');
  try {
    makeSourceDb(join(t.dir, 'src.db'), 6);
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1
name: big
connections:
  src: { type: sqlite, path: src.db }
  dw: { type: sqlite, path: dw.db }
nodes:
  orders:
    source: { connection: src, table: orders }
    target: { connection: dw, table: orders, mode: append }
  events:
    depends_on: [orders]
    source: { connection: src, table: events }
    target: { connection: dw, table: events, mode: overwrite }
`,
    );
    const child = spawn(pigeonBin, ['run', 'p.yaml', '--progress', '0'], { cwd: t.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!sent && stderr.includes('orders: started')) {
        sent = true; // a second Ctrl-C means "exit now", which is not what this test is about
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    assert.equal(code, 130, stderr);
    const status = JSON.parse((await pigeon(['status', '--format', 'json'], { cwd: t.dir })).stdout);
    assert.equal(status.run.status, 'interrupted');
    assert.equal(status.nodes[0].state, 'interrupted');
    const retry = await pigeon(['retry', '--progress', '0'], { cwd: t.dir });
    assert.equal(retry.code, 0, retry.stderr);
    assert.deepEqual(tableRows(join(t.dir, 'dw.db'), 'orders'), tableRows(join(t.dir, 'src.db'), 'orders'));
  } finally {
    t.cleanup();
  }
});

test('--log-format json writes one JSON object per line, each naming the run and the event', async () => {
  const t = setup(PIPELINE.replace(/  refunds:[\s\S]*?(?=  report:)/, ''));
  try {
    const r = await pigeon(['run', 'p.yaml', '--log-format', 'json', '--progress', '0'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.every((l) => typeof l.run_id === 'string' && typeof l.level === 'string'));
    assert.deepEqual(lines.filter((l) => l.event === 'node_end').map((l) => l.node).sort(), ['customers', 'orders', 'report']);
  } finally {
    t.cleanup();
  }
});

test('unknown command and bad options are usage errors (exit 2)', async () => {
  const t = tempDir();
  try {
    assert.equal((await pigeon(['frobnicate'], { cwd: t.dir })).code, 2);
    assert.equal((await pigeon(['run'], { cwd: t.dir })).code, 2);
    assert.equal((await pigeon(['run', 'x.yaml', '--concurrency', 'zero'], { cwd: t.dir })).code, 2);
    assert.equal((await pigeon(['--help'], { cwd: t.dir })).code, 0);
    const missing = await pigeon(['validate', 'nope.yaml'], { cwd: t.dir });
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /FILE_NOT_FOUND/);
  } finally {
    t.cleanup();
  }
});
