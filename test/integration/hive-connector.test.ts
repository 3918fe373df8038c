// services: hive
/**
 * The Hive connector against a real HiveServer2 (Apache Hive 4.0.1, scripts/services/hive.sh): the connector
 * contract suite, and what is Hive's own (partitions, the value checks of the commit, MySQL → Hive → PostgreSQL).
 * Every statement that runs a job costs seconds here: tests share few tables and few loads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { getConnectorKind } from '../../src/connectors/registry.js';
import type { ColumnSchema } from '../../src/csv/types.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';
import { pigeon, tempDir } from '../support/cli.js';
import { assertSameRows, connectorContract, readThrough, withPlace, type ContractSubject } from '../support/connector-contract.js';
import type { Dataset } from '../support/contract-source.js';
import { createDb, type EngineDb } from '../support/engines.js';
import { createHiveDb, hivePlace, type HiveDb } from '../support/hive.js';
import { pigeonBin } from '../support/paths.js';
import { literal } from '../../src/connectors/hive/hive-sql.js';

const hiveSubject: ContractSubject = { kind: getConnectorKind('hive')!, sql: 'hive', place: () => hivePlace() };

connectorContract(hiveSubject);

/** A Hive database and a MySQL and PostgreSQL database, for pipelines run by the real `pigeon` executable. */
async function withStack(fn: (s: { dir: string; hive: HiveDb; my: EngineDb; pg: EngineDb; yaml: (body: string) => string }) => Promise<void>): Promise<void> {
  const t = tempDir('pigeon-hive-');
  const hive = await createHiveDb();
  const my = await createDb('mysql', t.dir);
  const pg = await createDb('postgres', t.dir);
  const hiveYaml = `{ type: hive, ${Object.entries(hive.config).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')} }`;
  try {
    await fn({
      dir: t.dir,
      hive,
      my,
      pg,
      yaml: (body) => `version: 1\nname: hive_test\nconnections:\n  my: ${my.yaml}\n  pg: ${pg.yaml}\n  hv: ${hiveYaml}\nnodes:\n${body}`,
    });
  } finally {
    await Promise.allSettled([hive.drop(), my.drop(), pg.drop()]);
    t.cleanup();
  }
}

async function run(dir: string, file: string, yaml: string, ...args: string[]): Promise<void> {
  writeFileSync(join(dir, file), yaml);
  const r = await pigeon(['run', file, '--progress', '0', ...args], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
}

const kind = (name: string) => getConnectorKind(name)!;
const conn = (name: string, type: string, keys: Readonly<Record<string, unknown>>) => ({ name, type, ...keys });
const urlOf = (db: EngineDb) => ({ url: /url: "([^"]+)"/.exec(db.yaml)![1]! });

test('MySQL → Hive → PostgreSQL: every value of a nasty table arrives, compared value by value', async () => {
  await withStack(async ({ dir, hive, my, pg, yaml }) => {
    await my.exec(`CREATE TABLE nasty (
      id INT PRIMARY KEY, s VARCHAR(200) NULL, t TEXT NULL, dec38 DECIMAL(38,10) NULL, ubig BIGINT UNSIGNED NULL, sbig BIGINT NULL,
      f FLOAT NULL, d DOUBLE NULL, dt DATETIME(6) NULL, dd DATE NULL, tm TIME(6) NULL, j JSON NULL, b BLOB NULL, flag TINYINT(1) NULL,
      tiny TINYINT UNSIGNED NULL) CHARACTER SET utf8mb4`);
    const strings = [null, '', '\\N', 'NULL', 'say "hi", \'you\'', 'a,b,,c', 'line1\r\nline2\nline3\r', 'tab\there\t', 'back\\slash \\\\ \\t \\n', 'emoji 🐦 𝄞', '  lead  ', 'ctl \u0001\u0002\u007f'];
    const fixed: unknown[][] = [
      ['9999999999999999999999999999.9999999999', '18446744073709551615', '-9223372036854775808', 0.1, 0.1, '1000-01-01 00:00:00.000000', '1000-01-01', '-838:59:59.000000', '{"a": [1, 2.5, "x\\"y"], "b": null}', Buffer.from(Array.from({ length: 256 }, (_, i) => i)), 0, 0],
      ['-0.0000000001', '0', '9223372036854775807', -0, -0, '9999-12-31 23:59:59.999999', '9999-12-31', '838:59:59.000000', '[]', Buffer.alloc(0), 1, 255],
      ['0.0000000000', null, null, 3.4028234663852886e38, 1.7976931348623157e308, '2038-01-20 03:14:08.000001', '2038-01-20', '00:00:00.000001', '"str"', Buffer.from('\\N'), null, null],
      [null, '1', '-1', 1.401298464324817e-45, 5e-324, null, null, null, null, null, 1, 7],
    ];
    for (const [i, s] of strings.entries()) {
      const values = [i + 1, s, s === null ? null : `${s}${s}`, ...fixed[i % fixed.length]!];
      await my.exec(`INSERT INTO nasty VALUES (${values.map(() => '?').join(', ')})`, values);
    }
    await run(
      dir,
      'p.yaml',
      yaml(
        '  ods:\n    source: { connection: my, table: nasty, split: { column: id, chunks: 3 } }\n    target: { connection: hv, table: ods_nasty, mode: overwrite }\n' +
          '  report:\n    depends_on: [ods]\n    source: { connection: hv, table: ods_nasty }\n    target: { connection: pg, table: nasty, mode: overwrite }\n',
      ),
    );
    const source = await readThrough(kind('mysql'), conn('my', 'mysql', urlOf(my)), { table: 'nasty' }, dir);
    assert.equal(source.rows.length, strings.length);
    assertSameRows(await readThrough(kind('hive'), conn('hv', 'hive', hive.config), { table: 'ods_nasty' }, dir), source);
    assertSameRows(await readThrough(kind('postgres'), conn('pg', 'postgres', urlOf(pg)), { table: 'nasty' }, dir), source);
    assert.deepEqual(await hive.tables('pigeon_stg_'), [], 'no staging table is left');
  });
});

test('a static partition overwrite replaces one day and leaves the others; dynamic partitions replace the days loaded', async () => {
  await withStack(async ({ dir, hive, my, yaml }) => {
    await my.exec('CREATE TABLE events (id INT PRIMARY KEY, dt DATE NOT NULL, v VARCHAR(20))');
    await my.exec(`INSERT INTO events VALUES (1, '2026-01-01', 'a'), (2, '2026-01-01', 'b'), (3, '2026-01-02', 'c'), (4, '2026-01-03', 'd')`);
    const daily = yaml(
      `  daily:\n    source: { connection: my, table: events, where: "dt = '{{ ds }}'" }\n    target: { connection: hv, table: ev_daily, mode: overwrite, partition: { dt: '{{ ds }}' } }\n`,
    );
    await run(dir, 'daily.yaml', daily, '--date', '2026-01-01');
    await run(dir, 'daily.yaml', daily, '--date', '2026-01-02');
    await my.exec(`DELETE FROM events WHERE id = 1`);
    await my.exec(`UPDATE events SET v = 'B' WHERE id = 2`);
    await my.exec(`UPDATE events SET v = 'C' WHERE id = 3`);
    await run(dir, 'daily.yaml', daily, '--date', '2026-01-01');
    const day = (rows: unknown[][]) => rows.map((r) => r.map(String).join('|')).sort();
    assert.deepEqual(day(await hive.rows('SELECT id, v, dt FROM ev_daily')), ['2|B|2026-01-01', '3|c|2026-01-02']);
    assert.deepEqual(day(await hive.rows('SHOW PARTITIONS ev_daily')), ['dt=2026-01-01', 'dt=2026-01-02']);

    // Dynamic: each row's partition from its own dt; a partition the load has no rows for is left as it was.
    const dynamic = (where: string) =>
      yaml(`  dyn:\n    source: { connection: my, table: events, where: "${where}" }\n    target: { connection: hv, table: ev_dyn, mode: overwrite, partition: [dt] }\n`);
    await run(dir, 'dyn.yaml', dynamic('1 = 1'));
    await my.exec(`UPDATE events SET v = 'CC' WHERE id = 3`);
    await my.exec(`UPDATE events SET v = 'DD' WHERE id = 4`);
    await run(dir, 'dyn.yaml', dynamic(`dt < '2026-01-03'`));
    assert.deepEqual(day(await hive.rows('SELECT id, v, dt FROM ev_dyn')), ['2|B|2026-01-01', '3|CC|2026-01-02', '4|d|2026-01-03']);
  });
});

test('an incremental merge by watermark upserts what changed since the last run', async () => {
  await withStack(async ({ dir, hive, my, yaml }) => {
    await my.exec('CREATE TABLE orders (id INT PRIMARY KEY, v VARCHAR(20), updated_at DATETIME(6) NOT NULL)');
    await my.exec(`INSERT INTO orders VALUES (1, 'a', '2026-01-01 10:00:00'), (2, 'b', '2026-01-01 11:00:00'), (3, 'c', '2026-01-01 12:00:00')`);
    const p = yaml(
      '  orders:\n    source: { connection: my, table: orders }\n    incremental: { column: updated_at, strategy: watermark }\n    target: { connection: hv, table: orders, mode: merge, key: [id] }\n',
    );
    await run(dir, 'p.yaml', p);
    await my.exec(`UPDATE orders SET v = 'B', updated_at = '2026-01-02 09:00:00' WHERE id = 2`);
    await my.exec(`INSERT INTO orders VALUES (4, 'd', '2026-01-02 10:00:00')`);
    await run(dir, 'p.yaml', p);
    const source = await readThrough(kind('mysql'), conn('my', 'mysql', urlOf(my)), { table: 'orders' }, dir);
    assertSameRows(await readThrough(kind('hive'), conn('hv', 'hive', hive.config), { table: 'orders' }, dir), source);
    // The target dropped behind pigeon's back: the watermark would skip every row loaded before, so the run fails.
    await hive.exec('DROP TABLE orders');
    const lost = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir });
    assert.equal(lost.code, 1);
    assert.match(lost.stderr, /TARGET_MISSING/);
  });
});

test('a value Hive would turn into NULL or cut fails the load naming its column and line; the target is unchanged', async () => {
  await withPlace(hiveSubject, async (h) => {
    await h.exec('CREATE TABLE t (id INT, code VARCHAR(3), n INT) STORED AS ORC');
    const cols: ColumnSchema[] = [
      { name: 'id', type: 'int64', nullable: false },
      { name: 'code', type: 'text', nullable: true },
      { name: 'n', type: 'int64', nullable: true },
    ];
    const before: Dataset = { columns: cols, rows: [['1', 'abc', '7']] };
    await h.load('t', 'append', before);
    for (const [bad, column] of [
      [['3', 'abcd', '1'], 'code'],
      [['3', 'abc', '9999999999'], 'n'],
    ] as const) {
      const e = await h.load('t', 'append', { columns: cols, rows: [['2', 'ok', '2'], [...bad]] }, { behaviour: { chunks: 1 } }).then(
        () => assert.fail('the load must fail'),
        (err: unknown) => err as PipelineError,
      );
      assert.ok(e instanceof PipelineError, String(e));
      assert.equal(e.code, 'BAD_VALUE', e.message);
      assert.equal(e.location.column, column, e.message);
      assert.equal(e.location.chunkLine, 3, e.message);
      assertSameRows(await h.read('t'), before);
    }
    assert.deepEqual(await h.place.leftovers!(), []);
  });
});

test('pigeon killed while Hive commits an append: retry leaves every row in the target exactly once', async () => {
  await withStack(async ({ dir, hive, my, yaml }) => {
    await my.exec('CREATE TABLE src (id INT PRIMARY KEY, v VARCHAR(20))');
    await my.exec(`INSERT INTO src SELECT seq, CONCAT('v', seq) FROM seq_1_to_500`);
    writeFileSync(join(dir, 'p.yaml'), yaml('  app:\n    source: { connection: my, table: src }\n    target: { connection: hv, table: app, mode: append }\n'));
    const child = spawn(pigeonBin, ['run', 'p.yaml', '--progress', '0'], { cwd: dir, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('close', resolve));
    // Killed while the commit's job runs: the target is created just before it.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !(await hive.tables()).includes('app')) await delay(100);
    await delay(Number(process.env.PIGEON_TEST_KILL_MS ?? 1_500));
    child.kill('SIGKILL');
    await exited;
    let retry = await pigeon(['retry', '--progress', '0'], { cwd: dir });
    const ids = async () => (await hive.rows('SELECT id FROM app')).map((r) => Number(r[0]));
    if (retry.code !== 0) {
      // Cancelled between the commit's two moves: the rows are in, unrecorded. pigeon must not guess; it says so,
      // and the hint's statement records the load.
      assert.match(retry.stderr, /interrupted while Hive committed it/, retry.stderr);
      assert.equal((await ids()).length, 500);
      await hive.exec(/record the load with (INSERT INTO .*?\)); otherwise/.exec(retry.stderr)![1]!);
      retry = await pigeon(['retry', '--progress', '0'], { cwd: dir });
    }
    assert.equal(retry.code, 0, retry.stderr);
    const rows = await ids();
    assert.equal(rows.length, 500);
    assert.equal(new Set(rows).size, 500);
    assert.deepEqual(await hive.tables('pigeon_stg_'), []);
  });
});

test('a literal means exactly its value, whatever the value holds', async () => {
  const hive = await createHiveDb();
  try {
    const values = ["it's", 'back\\slash\\', '\\N', 'line\nfeed\r\ttab', 'nul \u0000 ctl \u0001\u001f\u007f', '🐦 𝄞', "'; DROP TABLE x; --", '\\u0041 \\101 \\%_'];
    const got = await hive.rows(`SELECT ${values.map((v, i) => `${literal(v)} AS v${i}`).join(', ')}`);
    assert.deepEqual(got[0], values);
  } finally {
    await hive.drop();
  }
});
