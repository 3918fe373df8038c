/**
 * The run report, looked at in a real browser (Debian's chromium through playwright-core): a run with succeeded,
 * retried, failed and skipped nodes writes `.pigeon/runs/<id>/report.html`; the page shows each node's state in the
 * graph, a bar per attempt and per retry wait in the timeline, the error with its code, and flags the node whose rows
 * moved far from the pipeline's earlier runs; it logs no console error and makes no request at all. The screenshot
 * is kept in test-artifacts/ (PIGEON_UPDATE_IMAGES=1 also copies it to docs/images/ for the README).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb } from '../support/engines.js';
import { makeSourceDb } from '../support/sqlite-fixtures.js';
import { artifact, openBrowser } from '../support/browser.js';
import { pigeonBin } from '../support/paths.js';

function pipeline(pgYaml: string): string {
  // One PostgreSQL session for the two nodes that read it: one of them waits for the other's.
  const pgOne = pgYaml.replace('{ type: postgres,', '{ type: postgres, max_connections: 1,');
  return `version: 1
name: shop_report
connections:
  src: { type: sqlite, path: src.db }
  dw: { type: sqlite, path: dw.db }
  pg: ${pgOne}
defaults: { retries: 0 }
concurrency: 4
nodes:
  events:
    source: { connection: pg, table: slow_events }
    target: { connection: dw, table: events, mode: overwrite }
    retries: 2
    retry_delay: 300ms
    timeout: 1500ms
  lookups:
    source: { connection: pg, table: lookups }
    target: { connection: dw, table: lookups, mode: overwrite }
  orders:
    source: { connection: src, table: orders, split: { column: id, chunks: 4 } }
    target: { connection: dw, table: orders, mode: overwrite }
  customers:
    source: { connection: src, table: customers }
    target: { connection: dw, table: customers, mode: overwrite }
  refunds:
    source: { connection: src, table: refunds }
    target: { connection: dw, table: refunds, mode: append }
  refunds_report:
    depends_on: [refunds]
    source: { connection: dw, table: refunds }
    target: { connection: dw, table: refunds_report, mode: overwrite }
  daily:
    depends_on: [orders, customers]
    source: { connection: dw, query: "select customer_id, count(*) as n from orders group by customer_id" }
    target: { connection: dw, table: daily, mode: overwrite }
`;
}

/** Runs pigeon with JSON logs; `onEvent` sees each event as it comes. */
function runWatching(args: string[], cwd: string, onEvent: (e: Record<string, unknown>) => void): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(pigeonBin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let pending = '';
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) onEvent(JSON.parse(l) as Record<string, unknown>);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('the run report shows each node\'s state, a bar per attempt and retry wait, errors and a rows flag; no console error, no request', async () => {
  const t = tempDir('pigeon-report-');
  const pgDb = await createDb('postgres', t.dir);
  const locker = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: /\/([^/"]+)"/.exec(pgDb.yaml)![1]! });
  await locker.connect();
  const browser = await openBrowser();
  try {
    makeSourceDb(join(t.dir, 'src.db'));
    await pgDb.exec(`CREATE TABLE slow_events (id int PRIMARY KEY, kind text)`);
    await pgDb.exec(`INSERT INTO slow_events SELECT g, 'kind ' || g FROM generate_series(1, 500) g`);
    await pgDb.exec(`CREATE TABLE lookups (code text PRIMARY KEY, label text)`);
    await pgDb.exec(`INSERT INTO lookups VALUES ('a', 'Alpha'), ('b', 'Beta')`);
    writeFileSync(join(t.dir, 'p.yaml'), pipeline(pgDb.yaml));

    // Earlier runs: the trend's history (refunds fails every time: its table does not exist).
    for (let i = 0; i < 3; i++) {
      const r = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
      assert.equal(r.code, 1, r.stderr);
    }
    // This run: orders doubles (flagged), events' source is locked until its first attempt times out (retried).
    const src = new Database(join(t.dir, 'src.db'));
    src.exec(`INSERT INTO orders (id, customer_id, amount, status, updated_at) SELECT id + 2000000000, customer_id, amount, status, updated_at FROM orders`);
    src.close();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE slow_events IN ACCESS EXCLUSIVE MODE');
    let released = false;
    const run = await runWatching(['run', 'p.yaml', '--log-format', 'json'], t.dir, (e) => {
      if (!released && e.event === 'node_retry' && e.node === 'events') {
        released = true;
        void locker.query('COMMIT');
      }
    });
    assert.equal(run.code, 1, run.stderr);
    assert.ok(released, 'the first attempt of events timed out on the lock and was retried');

    const runs = readdirSync(join(t.dir, '.pigeon', 'runs')).sort();
    const report = join(t.dir, '.pigeon', 'runs', runs[runs.length - 1]!, 'report.html');
    assert.ok(existsSync(report), 'every run writes its report');
    const html = readFileSync(report, 'utf8');
    assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=/i, 'nothing is loaded from elsewhere');

    const page = await browser.context.newPage();
    const url = pathToFileURL(report).href;
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => {
      if (r.url() !== url) requests.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url, { waitUntil: 'load' });

    const states = await page.$$eval('svg.dag g.dag-node', (gs) => Object.fromEntries(gs.map((g) => [g.getAttribute('data-node'), g.getAttribute('data-state')])));
    assert.deepEqual(states, {
      events: 'retried',
      lookups: 'succeeded',
      orders: 'succeeded',
      customers: 'succeeded',
      refunds: 'failed',
      refunds_report: 'skipped',
      daily: 'succeeded',
    });
    const bars = (node: string, kind: string) => page.locator(`svg.timeline .bar[data-node="${node}"][data-kind="${kind}"]`).count();
    assert.equal(await bars('events', 'attempt'), 2, 'events: two attempts');
    assert.equal(await bars('events', 'retry-wait'), 1, 'events: one wait before its retry');
    assert.equal(await page.locator('svg.timeline .bar[data-node="events"][data-kind="attempt"][data-outcome="retried"]').count(), 1);
    assert.equal(await bars('refunds', 'attempt'), 1);
    assert.equal(await bars('refunds_report', 'attempt'), 0, 'a skipped node never ran');
    for (const n of ['orders', 'customers', 'lookups', 'daily']) {
      assert.equal(await bars(n, 'attempt'), 1, `${n}: one attempt`);
      assert.ok((await bars(n, 'export')) >= 1 && (await bars(n, 'import')) >= 1, `${n}: its export and import`);
    }
    assert.ok((await page.locator('svg.timeline .bar[data-kind="wait"]').count()) >= 1, 'a node waited for the one PostgreSQL session');
    const refundsRow = await page.locator('table.nodes tr[data-node="refunds"]').innerText();
    assert.match(refundsRow, /SOURCE_NOT_FOUND/);
    assert.equal(await page.locator('table.trend tr[data-node="orders"] .flag').count(), 1, 'orders doubled: flagged');
    assert.equal(await page.locator('table.trend .flag').count(), 1, 'only orders is flagged');
    assert.match(await page.locator('#run-status').innerText(), /failed/);

    // Pointing at a node highlights it in the timeline and the table (the inline script works).
    await page.hover('svg.dag g.dag-node[data-node="events"]');
    assert.equal(await page.locator('table.nodes tr.hl-row[data-node="events"]').count(), 1);
    await page.mouse.move(0, 0);

    const shot = artifact('report.png');
    await page.screenshot({ path: shot.path, fullPage: true });
    shot.publish();
    assert.deepEqual(errors, [], 'no console errors');
    assert.deepEqual(requests, [], 'no network requests');

    // `pigeon report` writes it again, where -o says.
    const again = await pigeon(['report', '-o', 'again.html'], { cwd: t.dir });
    assert.equal(again.code, 0, again.stderr);
    assert.match(readFileSync(join(t.dir, 'again.html'), 'utf8'), /data-node="events" data-state="retried"/);
  } finally {
    await browser.close();
    await locker.end().catch(() => {});
    await pgDb.drop().catch(() => {});
    t.cleanup();
  }
});
