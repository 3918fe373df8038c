import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pigeon, tempDir } from '../support/cli.js';
import { csvRows, tableRows } from '../support/sqlite-fixtures.js';

function setup(nodes: string, sourceSql: string) {
  const t = tempDir('pigeon-modes-');
  const db = new Database(join(t.dir, 'src.db'));
  db.exec(sourceSql);
  db.close();
  writeFileSync(
    join(t.dir, 'p.yaml'),
    `version: 1
name: modes
connections:
  src: { type: sqlite, path: src.db }
  dw: { type: sqlite, path: dw.db }
  out: { type: file, dir: out }
defaults: { retries: 0 }
nodes:
${nodes}`,
  );
  const exec = (sql: string) => {
    const d = new Database(join(t.dir, 'src.db'));
    d.exec(sql);
    d.close();
  };
  return { ...t, exec, run: (...args: string[]) => pigeon(['run', 'p.yaml', '--progress', '0', ...args], { cwd: t.dir }) };
}

const EVENTS = `CREATE TABLE events (id INTEGER, v TEXT, at TEXT);
INSERT INTO events VALUES (1, 'a', '2026-03-01 10:00:00'), (2, 'b', '2026-03-01 23:59:59'), (3, 'c', '2026-03-02 00:00:00'), (4, NULL, '2026-03-02 12:00:00');`;

test('window incremental + append: each data interval appends its own rows, once', async () => {
  const t = setup(
    `  events:
    source: { connection: src, table: events }
    incremental: { column: at }
    target: { connection: dw, table: events, mode: append }
  events_csv:
    source: { connection: src, table: events }
    incremental: { column: at }
    target: { connection: out, table: events, mode: append }
`,
    EVENTS,
  );
  try {
    assert.equal((await t.run('--date', '2026-03-01')).code, 0);
    assert.deepEqual(tableRows(join(t.dir, 'dw.db'), 'events'), ['["1","a","2026-03-01 10:00:00"]', '["2","b","2026-03-01 23:59:59"]']);
    assert.equal((await t.run('--date', '2026-03-02')).code, 0);
    assert.deepEqual(tableRows(join(t.dir, 'dw.db'), 'events').length, 4);
    assert.deepEqual(csvRows(join(t.dir, 'out/events.csv')), [
      ['1', 'a', '2026-03-01 10:00:00'],
      ['2', 'b', '2026-03-01 23:59:59'],
      ['3', 'c', '2026-03-02 00:00:00'],
      ['4', null, '2026-03-02 12:00:00'],
    ]);
  } finally {
    t.cleanup();
  }
});

test('merge upserts on the key, and the last row of a key within one load wins', async () => {
  const t = setup(
    `  users:
    source: { connection: src, table: users }
    target: { connection: dw, table: users, mode: merge, key: [id] }
  users_csv:
    source: { connection: src, table: users }
    target: { connection: out, table: users, mode: merge, key: [id] }
`,
    `CREATE TABLE users (id INTEGER, name TEXT); INSERT INTO users VALUES (1, 'ann'), (2, 'bob');`,
  );
  try {
    assert.equal((await t.run()).code, 0);
    t.exec(`DELETE FROM users; INSERT INTO users VALUES (2, 'bobby'), (3, 'cy'), (3, 'cyril')`);
    const r = await t.run();
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(tableRows(join(t.dir, 'dw.db'), 'users'), ['["1","ann"]', '["2","bobby"]', '["3","cyril"]']);
    const csv = csvRows(join(t.dir, 'out/users.csv')).sort((a, b) => Number(a[0]) - Number(b[0]));
    assert.deepEqual(csv, [['1', 'ann'], ['2', 'bobby'], ['3', 'cyril']]);
  } finally {
    t.cleanup();
  }
});

test('overwrite replaces the whole table and keeps the target table itself', async () => {
  const t = setup(
    `  users:
    source: { connection: src, table: users }
    target: { connection: dw, table: users, mode: overwrite }
`,
    `CREATE TABLE users (id INTEGER, name TEXT); INSERT INTO users VALUES (1, 'ann'), (2, 'bob');`,
  );
  try {
    assert.equal((await t.run()).code, 0);
    const dw = new Database(join(t.dir, 'dw.db'));
    dw.exec('CREATE INDEX users_name ON users (name)');
    dw.close();
    t.exec(`DELETE FROM users; INSERT INTO users VALUES (9, 'zed')`);
    assert.equal((await t.run()).code, 0);
    assert.deepEqual(tableRows(join(t.dir, 'dw.db'), 'users'), ['["9","zed"]']);
    const check = new Database(join(t.dir, 'dw.db'));
    assert.ok(check.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'users_name'`).get(), 'the index the user added survives');
    check.close();
  } finally {
    t.cleanup();
  }
});

test('a value the target cannot take fails the node naming column, chunk and line; the target is unchanged', async () => {
  const t = setup(
    `  users:
    source: { connection: src, table: users }
    target: { connection: dw, table: users, mode: overwrite }
`,
    `CREATE TABLE users (id INTEGER, n INTEGER); INSERT INTO users VALUES (1, 10), (2, 20);`,
  );
  try {
    assert.equal((await t.run()).code, 0);
    t.exec(`INSERT INTO users VALUES (3, 'thirty')`);
    const r = await t.run();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /BAD_VALUE/);
    assert.match(r.stderr, /column n/);
    assert.match(r.stderr, /chunk-00001\.csv line 4/);
    assert.deepEqual(tableRows(join(t.dir, 'dw.db'), 'users'), ['["1","10"]', '["2","20"]']);
    const dw = new Database(join(t.dir, 'dw.db'));
    const leftovers = dw.prepare(`SELECT name FROM sqlite_master WHERE name LIKE '_pigeon_stg_%'`).all();
    dw.close();
    assert.deepEqual(leftovers, []);
  } finally {
    t.cleanup();
  }
});

test('create: never refuses a missing target table; if_missing creates it with mapped types', async () => {
  const t = setup(
    `  a:
    source: { connection: src, table: users }
    target: { connection: dw, table: users_a, mode: append, create: never }
  b:
    source: { connection: src, table: users }
    target: { connection: dw, table: users_b, mode: append }
`,
    `CREATE TABLE users (id INTEGER, price DECIMAL(10,2), raw BLOB, ok BOOLEAN); INSERT INTO users VALUES (1, '1.50', x'00ff', 1);`,
  );
  try {
    const r = await t.run();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /users_a` does not exist and create is `never`/);
    const dw = new Database(join(t.dir, 'dw.db'));
    const cols = dw.prepare(`SELECT name, type FROM pragma_table_info('users_b')`).all();
    assert.deepEqual(cols, [
      { name: 'id', type: 'INTEGER' },
      { name: 'price', type: 'DECIMAL(10,2)' },
      { name: 'raw', type: 'BLOB' },
      { name: 'ok', type: 'BOOLEAN' },
    ]);
    dw.close();
    assert.deepEqual(tableRows(join(t.dir, 'dw.db'), 'users_b'), ['["1",1.5,"AP8=","1"]']);
  } finally {
    t.cleanup();
  }
});

test('a checkpoint of a node whose definition changed is not reused, and the run says so', async () => {
  const t = setup(
    `  users:
    source: { connection: src, table: users }
    target: { connection: dw, table: users, mode: overwrite }
`,
    `CREATE TABLE users (id INTEGER, name TEXT); INSERT INTO users VALUES (1, 'ann'), (2, 'bob');`,
  );
  try {
    const crashed = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir, env: { PIGEON_CRASH_AT: 'users:chunk:1' } });
    assert.equal(crashed.signal, 'SIGKILL');
    const p = join(t.dir, 'p.yaml');
    const { readFileSync } = await import('node:fs');
    writeFileSync(p, readFileSync(p, 'utf8').replace('table: users }', 'table: users, columns: [id] }'));
    const retry = await pigeon(['retry', '--progress', '0'], { cwd: t.dir });
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stderr, /checkpoint not reused: the node definition changed/);
    assert.deepEqual(tableRows(join(t.dir, 'dw.db'), 'users'), ['["1"]', '["2"]']);
  } finally {
    t.cleanup();
  }
});

test('watermark on a timestamp: rows added, updated and tying on the watermark are neither lost nor duplicated', async () => {
  const t = setup(
    `  log:
    source: { connection: src, table: log }
    incremental: { column: at, strategy: watermark }
    target: { connection: dw, table: log, mode: append }
  users:
    source: { connection: src, table: users }
    incremental: { column: at, strategy: watermark }
    target: { connection: dw, table: users, mode: merge, key: [id] }
`,
    `CREATE TABLE log (id INTEGER, at TEXT); INSERT INTO log VALUES (1, '2026-01-01 00:00:01'), (2, '2026-01-01 00:00:02'), (3, '2026-01-01 00:00:02');
     CREATE TABLE users (id INTEGER, name TEXT, at TEXT); INSERT INTO users VALUES (1, 'ann', '2026-01-01 00:00:01'), (2, 'bob', '2026-01-01 00:00:02');`,
  );
  try {
    assert.equal((await t.run()).code, 0);
    // The newest timestamp of the append node waits (a row may still arrive with it); merge took everything.
    assert.deepEqual(tableRows(join(t.dir, 'dw.db'), 'log'), ['["1","2026-01-01 00:00:01"]']);
    assert.equal(tableRows(join(t.dir, 'dw.db'), 'users').length, 2);
    // A late row ties with the newest value; another is newer; bob is updated with a tying timestamp.
    t.exec(`INSERT INTO log VALUES (4, '2026-01-01 00:00:02'), (5, '2026-01-01 00:00:03');
            INSERT INTO users VALUES (3, 'cy', '2026-01-01 00:00:02'); UPDATE users SET name = 'bobby' WHERE id = 2;`);
    assert.equal((await t.run()).code, 0);
    assert.deepEqual(tableRows(join(t.dir, 'dw.db'), 'log'), [
      '["1","2026-01-01 00:00:01"]',
      '["2","2026-01-01 00:00:02"]',
      '["3","2026-01-01 00:00:02"]',
      '["4","2026-01-01 00:00:02"]',
    ]);
    assert.deepEqual(tableRows(join(t.dir, 'dw.db'), 'users'), [
      '["1","ann","2026-01-01 00:00:01"]',
      '["2","bobby","2026-01-01 00:00:02"]',
      '["3","cy","2026-01-01 00:00:02"]',
    ]);
    assert.equal((await t.run()).code, 0);
    assert.equal(tableRows(join(t.dir, 'dw.db'), 'log').length, 4, 'nothing loaded twice');
  } finally {
    t.cleanup();
  }
});
