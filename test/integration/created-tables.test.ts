/**
 * A table pigeon creates carries what the source can tell (issue 13): the primary key (or the merge key, when no
 * part of it may be NULL), NOT NULL, and column comments where both sides have them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb, type EngineDb } from '../support/engines.js';

async function run(dir: string, yaml: string): Promise<void> {
  writeFileSync(join(dir, 'p.yaml'), yaml);
  const r = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
}

test('MySQL → PostgreSQL → MySQL: created tables keep the primary key, NOT NULL and column comments', async () => {
  const t = tempDir('pigeon-created-');
  const dbs: EngineDb[] = [];
  try {
    const my = await createDb('mysql', t.dir);
    dbs.push(my);
    const pg = await createDb('postgres', t.dir);
    dbs.push(pg);
    await my.exec(`CREATE TABLE c (a INT NOT NULL COMMENT 'part one', b VARCHAR(10) NOT NULL, v TEXT COMMENT 'it''s free text', PRIMARY KEY (b, a))`);
    await my.exec(`INSERT INTO c VALUES (1, 'x', NULL), (2, 'y', 'v')`);
    await my.exec(`CREATE TABLE q (id INT NOT NULL, v INT)`);
    await my.exec(`INSERT INTO q VALUES (1, 1)`);
    await run(
      t.dir,
      `version: 1
name: created
connections:
  my: ${my.yaml}
  pg: ${pg.yaml}
defaults: { retries: 0 }
nodes:
  to_pg:
    source: { connection: my, table: c }
    target: { connection: pg, table: c, mode: overwrite }
  back:
    depends_on: [to_pg]
    source: { connection: pg, table: c }
    target: { connection: my, table: c_back, mode: overwrite }
  keyed:
    source: { connection: my, query: "select id, v from q" }
    target: { connection: pg, table: q, mode: merge, key: [id] }
`,
    );
    assert.deepEqual(
      await pg.rows(`SELECT a.attname, a.attnotnull::text, col_description(a.attrelid, a.attnum) FROM pg_attribute a WHERE a.attrelid = 'c'::regclass AND a.attnum > 0 ORDER BY a.attnum`),
      [['a', 'true', 'part one'], ['b', 'true', null], ['v', 'false', "it's free text"]],
    );
    assert.deepEqual(await pg.rows(`SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'c'::regclass AND contype = 'p'`), [['PRIMARY KEY (b, a)']]);
    assert.deepEqual(await pg.rows(`SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'q'::regclass AND contype = 'p'`), [['PRIMARY KEY (id)']], 'the merge key of a query');
    assert.deepEqual(
      await my.rows(`SELECT COLUMN_NAME, IS_NULLABLE, COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'c_back' ORDER BY ORDINAL_POSITION`),
      [['a', 'NO', 'part one'], ['b', 'NO', ''], ['v', 'YES', "it's free text"]],
    );
    assert.deepEqual(
      await my.rows(`SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'c_back' AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`),
      [['b'], ['a']],
    );
  } finally {
    for (const d of dbs) await d.drop().catch(() => {});
    t.cleanup();
  }
});
