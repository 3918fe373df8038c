/**
 * Values an independent audit saw change silently between MySQL (MariaDB) and PostgreSQL (issue 9, item 7): each
 * now either arrives exactly or fails the node naming the column. Run through the CLI as a user runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb, type EngineDb, type EngineKind } from '../support/engines.js';

interface Status {
  nodes: { node: string; state: string; error?: { code: string; message: string; location?: { column?: string } } }[];
}

async function withDbs(kinds: readonly EngineKind[], fn: (dbs: EngineDb[], run: (nodes: string) => Promise<Status>) => Promise<void>): Promise<void> {
  const t = tempDir('pigeon-values-');
  const dbs: EngineDb[] = [];
  try {
    for (const k of kinds) dbs.push(await createDb(k, t.dir));
    const run = async (nodes: string): Promise<Status> => {
      const conns = dbs.map((d, i) => `  c${i}: ${d.yaml}`).join('\n');
      writeFileSync(join(t.dir, 'p.yaml'), `version: 1\nname: values\nconnections:\n${conns}\ndefaults: { retries: 0 }\nnodes:\n${nodes}`);
      await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
      const r = await pigeon(['status', '--format', 'json'], { cwd: t.dir });
      return JSON.parse(r.stdout) as Status;
    };
    await fn(dbs, run);
  } finally {
    for (const d of dbs) await d.drop().catch(() => {});
    t.cleanup();
  }
}

const node = (name: string, from: string, table: string, to: string, target: string, after?: string) =>
  `  ${name}:\n${after ? `    depends_on: [${after}]\n` : ''}    source: { connection: ${from}, table: ${table} }\n    target: { connection: ${to}, table: ${target}, mode: overwrite }\n`;

test('MySQL YEAR 0000 makes a round trip through PostgreSQL into an existing YEAR column', async () => {
  await withDbs(['mysql', 'postgres'], async ([my, pg], run) => {
    await my!.exec(`CREATE TABLE y (id INT PRIMARY KEY, y YEAR)`);
    await my!.exec(`INSERT INTO y VALUES (1, 0000), (2, 1901), (3, 1999), (4, 2000), (5, 2155), (6, NULL)`);
    await my!.exec(`CREATE TABLE y_back (id INT PRIMARY KEY, y YEAR)`);
    const s = await run(node('out', 'c0', 'y', 'c1', 'y') + node('back', 'c1', 'y', 'c0', 'y_back', 'out'));
    assert.deepEqual(s.nodes.map((n) => n.state), ['succeeded', 'succeeded'], JSON.stringify(s));
    assert.deepEqual(await my!.rows(`SELECT id, CAST(y AS CHAR) FROM y_back ORDER BY id`), await my!.rows(`SELECT id, CAST(y AS CHAR) FROM y ORDER BY id`));
  });
});

test('a float at the limits of single precision goes PostgreSQL → MySQL; -0 into MariaDB fails naming the column', async () => {
  await withDbs(['postgres', 'mysql'], async ([pg, my], run) => {
    await pg!.exec(`CREATE TABLE f (id int PRIMARY KEY, r real, d double precision)`);
    await pg!.exec(`INSERT INTO f VALUES (1, '3.4028235e38', 1.5), (2, '-3.4028235e38', 2.5), (3, '1.17549435e-38', 0.1), (4, '1e-45', -1)`);
    await my!.exec(`CREATE TABLE f_existing (id INT PRIMARY KEY, r FLOAT, d DOUBLE)`);
    const s = await run(node('created', 'c0', 'f', 'c1', 'f') + node('existing', 'c0', 'f', 'c1', 'f_existing'));
    assert.deepEqual(s.nodes.map((n) => [n.node, n.state, n.error?.message]), [['created', 'succeeded', undefined], ['existing', 'succeeded', undefined]]);
    const expected = await pg!.rows(`SELECT id, r::float8::text, d::text FROM f ORDER BY id`);
    for (const t of ['f', 'f_existing']) {
      const got = (await my!.rows(`SELECT id, r * 1e0, d FROM ${t} ORDER BY id`)).map((r) => [String(r[0]), r[1], r[2]]);
      assert.deepEqual(got.map((r) => [r[0], Math.fround(Number(r[1])), Number(r[2])]), expected.map((r) => [String(r[0]), Math.fround(Number(r[1])), Number(r[2])]), t);
    }

    await pg!.exec(`CREATE TABLE z (id int PRIMARY KEY, d double precision)`);
    await pg!.exec(`INSERT INTO z VALUES (1, '-0')`);
    const z = await run(node('negzero', 'c0', 'z', 'c1', 'z'));
    assert.equal(z.nodes[0]!.state, 'failed');
    assert.equal(z.nodes[0]!.error?.code, 'BAD_VALUE');
    assert.equal(z.nodes[0]!.error?.location?.column, 'd');
  });
});

test('a NUL character in MySQL text fails the load into PostgreSQL naming the column', async () => {
  await withDbs(['mysql', 'postgres'], async ([my], run) => {
    await my!.exec(`CREATE TABLE n (id INT PRIMARY KEY, a VARCHAR(10), b TEXT)`);
    await my!.exec(`INSERT INTO n VALUES (1, 'ok', 'fine'), (2, 'ok', CONCAT('x', CHAR(0), 'y'))`);
    const s = await run(node('nul', 'c0', 'n', 'c1', 'n'));
    assert.equal(s.nodes[0]!.state, 'failed');
    assert.equal(s.nodes[0]!.error?.code, 'BAD_VALUE', JSON.stringify(s.nodes[0]));
    assert.equal(s.nodes[0]!.error?.location?.column, 'b');
  });
});

test('PostgreSQL numeric with a negative or oversized scale lands in a MySQL table pigeon creates, exactly', async () => {
  await withDbs(['postgres', 'mysql'], async ([pg, my], run) => {
    await pg!.exec(`CREATE TABLE n (id int PRIMARY KEY, a numeric(5,-2), b numeric(3,5))`);
    await pg!.exec(`INSERT INTO n VALUES (1, 9999900, 0.00999), (2, -1234500, -0.00001), (3, NULL, NULL)`);
    const s = await run(node('n', 'c0', 'n', 'c1', 'n'));
    assert.equal(s.nodes[0]!.state, 'succeeded', JSON.stringify(s.nodes[0]));
    const canon = (v: unknown) => (v === null ? null : String(Number(v)));
    assert.deepEqual(
      (await my!.rows(`SELECT id, a, b FROM n ORDER BY id`)).map((r) => r.map(canon)),
      (await pg!.rows(`SELECT id, a::text, b::text FROM n ORDER BY id`)).map((r) => r.map(canon)),
    );
  });
});
