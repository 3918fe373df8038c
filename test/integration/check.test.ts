/**
 * `pigeon check` against real servers: credentials, source tables and columns, split indexes, targets writable or
 * creatable, each a ✓ or a ✗ with its error, and no data moved.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb } from '../support/engines.js';

test('check ticks what works and names what does not, on MySQL, PostgreSQL, SQLite and files, moving no data', async () => {
  const t = tempDir('pigeon-check-');
  const my = await createDb('mysql', t.dir);
  const pgDb = await createDb('postgres', t.dir);
  try {
    await my.exec('CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(20), updated_at DATETIME)');
    await my.exec("INSERT INTO orders VALUES (1, 'a', '2026-01-01 00:00:00')");
    await my.exec('CREATE TABLE plain (id INT, v INT)');
    await pgDb.exec('CREATE TABLE existing (id int PRIMARY KEY, note text)');
    const wrong = my.yaml.replace('mysql://root@', 'mysql://root:wrong-secret-pw@');
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1
name: chk
connections:
  my: ${my.yaml}
  bad: ${wrong}
  pg: ${pgDb.yaml}
  out: { type: file, dir: out }
nodes:
  ok_split:
    source: { connection: my, table: orders, split: { column: id, chunks: 4 } }
    incremental: { column: updated_at, strategy: watermark }
    target: { connection: pg, table: existing, mode: merge, key: [id] }
  unindexed:
    source: { connection: my, table: plain, split: { column: v, chunks: 2 } }
    target: { connection: pg, table: created_later, mode: overwrite }
  missing_source:
    source: { connection: my, table: nope }
    target: { connection: out, table: nope, mode: overwrite }
  missing_column:
    source: { connection: my, table: orders, columns: [id, nonexistent] }
    target: { connection: my, table: orders_copy, mode: overwrite, create: never }
  wrong_password:
    source: { connection: bad, table: orders }
    target: { connection: out, table: orders, mode: overwrite }
`,
    );
    const r = await pigeon(['check', 'p.yaml'], { cwd: t.dir });
    assert.equal(r.code, 1, r.stderr);
    const line = (re: RegExp) => r.stdout.split('\n').find((l) => re.test(l)) ?? '';
    assert.match(line(/connection my:/), /^✓ connection my: connected \(mysql\)/);
    assert.match(line(/connection pg:/), /^✓ /);
    assert.match(line(/connection bad:/), /^✗ connection bad: cannot connect.*CONNECT_FAILED/);
    assert.doesNotMatch(r.stdout + r.stderr, /wrong-secret-pw/);
    assert.match(line(/ok_split: source/), /^✓ ok_split: source table orders on my: 3 columns/);
    assert.match(line(/ok_split: incremental column/), /^✓ /);
    assert.match(line(/ok_split: split/), /^✓ ok_split: split column id leads an index/);
    assert.match(line(/ok_split: target/), /^✓ ok_split: target existing on pg exists and is writable/);
    assert.match(line(/unindexed: split/), /^✗ unindexed: split column v leads no index/);
    assert.match(line(/unindexed: target/), /^✓ unindexed: target created_later on pg does not exist yet; it can be created/);
    assert.match(line(/missing_source: source/), /^✗ missing_source: source table nope.*SOURCE_NOT_FOUND|^✗ missing_source: source table nope/);
    assert.match(line(/missing_column: source/), /^✗ missing_column: source table orders/);
    assert.match(line(/missing_column: target/), /^✗ missing_column: target orders_copy on my does not exist and the node says create: never/);

    const json = await pigeon(['check', 'p.yaml', '-s', 'ok_split', '--format', 'json'], { cwd: t.dir });
    assert.equal(json.code, 0, json.stdout);
    const doc = JSON.parse(json.stdout) as { ok: boolean; checks: { check: string; ok: boolean }[] };
    assert.equal(doc.ok, true);
    assert.deepEqual([...new Set(doc.checks.map((c) => c.check))].sort(), ['columns', 'connect', 'source', 'split', 'target']);

    // Nothing moved: no table made, no row copied.
    assert.deepEqual(await pgDb.rows('SELECT count(*)::int FROM existing'), [[0]]);
    assert.deepEqual(await pgDb.rows("SELECT count(*)::int FROM pg_tables WHERE tablename = 'created_later'"), [[0]]);
  } finally {
    await my.drop().catch(() => {});
    await pgDb.drop().catch(() => {});
    t.cleanup();
  }
});
