/**
 * The contract every SQL connector keeps, run against sqlite, mysql (MariaDB) and postgres for real, through the
 * `pigeon` CLI as a user runs it; databases are set up and checked with the drivers directly, not with pigeon.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { allowLargePackets, createDb, type EngineDb, type EngineKind } from '../support/engines.js';
import { csvRows } from '../support/sqlite-fixtures.js';

const ENGINES: readonly EngineKind[] = ['sqlite', 'mysql', 'postgres'];

function pipelineYaml(connections: Record<string, EngineDb | string>, nodes: string, extra = ''): string {
  const conns = Object.entries(connections)
    .map(([name, db]) => `  ${name}: ${typeof db === 'string' ? db : db.yaml}`)
    .join('\n');
  return `version: 1\nname: contract\nconnections:\n${conns}\ndefaults: { retries: 0 }\n${extra}nodes:\n${nodes}`;
}

async function withDbs<T>(kinds: readonly EngineKind[], fn: (dbs: EngineDb[], dir: string) => Promise<T>): Promise<T> {
  const t = tempDir('pigeon-contract-');
  const dbs: EngineDb[] = [];
  try {
    for (const k of kinds) dbs.push(await createDb(k, t.dir));
    return await fn(dbs, t.dir);
  } finally {
    for (const db of dbs) await db.drop().catch(() => {});
    t.cleanup();
  }
}

async function run(dir: string, yaml: string, args: string[] = [], env: Record<string, string> = {}) {
  writeFileSync(join(dir, 'p.yaml'), yaml);
  return pigeon(['run', 'p.yaml', '--progress', '0', ...args], { cwd: dir, env });
}

// ---------------------------------------------------------------------------------------------------------------
// The nasty-values table, the same values on both engines.

const BIG_TEXT = 'x'.repeat(16 * 1024 * 1024 - 16) + ' end "🐦",\n\\N';
const STRINGS = [null, '', '\\N', 'a,b', 'say "hi"', 'line1\nline2', 'cr\r\nlf', 'tab\there', 'back\\slash\\', '🐦 4-byte 𝄞', 'ünïcødé ß', "it's", ' lead and trail ', 'x; DROP TABLE nasty'];
const DECIMALS = ['9999999999999999999999999999.9999999999', '-9999999999999999999999999999.9999999999', '0.0000000001', '0.0000000000', '1.5000000000', null];
const UNSIGNED = ['18446744073709551615', '0', null];
const BIGINTS = ['-9223372036854775808', '9223372036854775807', '0', null];
const FLOATS = [0.1, 1.7976931348623157e308, 2.2250738585072014e-308, -1.5, 0, null];
const PG_FLOATS = [...FLOATS, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 5e-324];
const TIMESTAMPS = ['1969-12-31 23:59:59.999999', '2038-01-20 03:14:08.000001', '1000-01-01 00:00:00.000000', '9999-12-31 23:59:59.999999', '2026-11-26 12:00:00.000000', null];
const DATES = ['1000-01-01', '1969-12-31', '2038-01-20', '9999-12-31', null];
const JSONS = ['{"a": [1, 2.5, "x\\"y"], "b": null, "c": "🐦"}', '[]', '"str"', null];
const BLOBS = [Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.alloc(0), Buffer.from('\\N'), null];
const FLAGS = [true, false, null];

interface NastyRow {
  id: number;
  s: string | null;
  t: string | null;
  d: string | null;
  u: string | null;
  i: string | null;
  f: number | null;
  ts: string | null;
  dt: string | null;
  j: string | null;
  b: Buffer | null;
  flag: boolean | null;
}

function nastyRows(floats: readonly (number | null)[]): NastyRow[] {
  const rows: NastyRow[] = [];
  for (let k = 0; k < 30; k++) {
    const at = <T>(xs: readonly T[]) => xs[k % xs.length]!;
    rows.push({ id: k + 1, s: at(STRINGS), t: k === 0 ? BIG_TEXT : at(STRINGS), d: at(DECIMALS), u: at(UNSIGNED), i: at(BIGINTS), f: at(floats), ts: at(TIMESTAMPS), dt: at(DATES), j: at(JSONS), b: at(BLOBS), flag: at(FLAGS) });
  }
  return rows;
}

async function createNasty(db: EngineDb, rows: readonly NastyRow[]): Promise<void> {
  if (db.kind === 'mysql') {
    await db.exec(`CREATE TABLE nasty (id BIGINT NOT NULL PRIMARY KEY, s VARCHAR(200) NULL, t LONGTEXT NULL, d DECIMAL(38,10) NULL,
      u BIGINT UNSIGNED NULL, i BIGINT NULL, f DOUBLE NULL, ts DATETIME(6) NULL, dt DATE NULL, j JSON NULL, b LONGBLOB NULL, flag TINYINT(1) NULL)`);
    for (const r of rows) {
      await db.exec('INSERT INTO nasty VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [r.id, r.s, r.t, r.d, r.u, r.i, r.f, r.ts, r.dt, r.j, r.b, r.flag === null ? null : Number(r.flag)]);
    }
  } else {
    await db.exec(`CREATE TABLE nasty (id bigint PRIMARY KEY, s varchar(200), t text, d numeric(38,10), u numeric(20,0), i bigint,
      f double precision, ts timestamp(6), dt date, j json, b bytea, flag boolean)`);
    for (const r of rows) {
      const f = r.f === null ? null : Number.isNaN(r.f) ? 'NaN' : r.f === Infinity ? 'Infinity' : r.f === -Infinity ? '-Infinity' : Object.is(r.f, -0) ? '-0' : String(r.f);
      await db.exec('INSERT INTO nasty VALUES ($1, $2, $3, $4, $5, $6, $7::float8, $8, $9, $10, $11, $12)', [r.id, r.s, r.t, r.d, r.u, r.i, f, r.ts, r.dt, r.j, r.b, r.flag]);
    }
  }
}

/** Every value of a nasty-shaped table as comparable text, read with the engine's own functions. */
async function canonical(db: EngineDb, table: string): Promise<string[][]> {
  const sql =
    db.kind === 'mysql'
      ? `SELECT CAST(id AS CHAR), s, t, CAST(d AS CHAR), CAST(u AS CHAR), CAST(i AS CHAR), f, DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'),
           DATE_FORMAT(dt, '%Y-%m-%d'), CAST(j AS CHAR), HEX(b), flag FROM ${db.q(table)} ORDER BY id`
      : `SELECT id::text, s, t, d::text, u::text, i::text, f::text, to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US'), to_char(dt, 'YYYY-MM-DD'),
           j::text, upper(encode(b, 'hex')), flag FROM ${db.q(table)} AS x ORDER BY x.id`; // x.id: the bigint, not the text output column
  const rows = await db.rows(sql);
  return rows.map((r) => {
    const [id, s, t, d, u, i, f, ts, dt, j, b, flag] = r as (string | number | boolean | null | Buffer)[];
    const text = (v: unknown) => (v === null ? 'NULL' : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
    const float = (v: unknown) => (v === null ? 'NULL' : String(Number(v)) === 'NaN' ? 'NaN' : Object.is(Number(v), -0) ? '-0' : String(Number(v)));
    return [
      text(id),
      text(s),
      t === null ? 'NULL' : `${String(t).length}:${createHash('sha256').update(text(t)).digest('hex')}`,
      text(d),
      text(u),
      text(i),
      float(f),
      text(ts),
      text(dt),
      j === null ? 'NULL' : JSON.stringify(JSON.parse(text(j))),
      b === null ? 'NULL' : text(b).toUpperCase(),
      flag === null ? 'NULL' : String(Boolean(Number(flag === true ? 1 : flag === false ? 0 : flag))),
    ];
  });
}

describe('nasty values round-trip MySQL ↔ PostgreSQL in all four directions, value by value', () => {
  before(allowLargePackets);
  for (const [from, to] of [
    ['mysql', 'postgres'],
    ['postgres', 'mysql'],
    ['mysql', 'mysql'],
    ['postgres', 'postgres'],
  ] as const) {
    test(`${from} → ${to}`, async () => {
      await withDbs([from, to], async ([src, dst], dir) => {
        // NaN, ±Infinity, -0 and subnormals exist only in PostgreSQL's double precision.
        const rows = nastyRows(from === 'postgres' && to === 'postgres' ? PG_FLOATS : FLOATS);
        await createNasty(src!, rows);
        const r = await run(dir, pipelineYaml({ src: src!, dst: dst! }, `  copy:\n    source: { connection: src, table: nasty }\n    target: { connection: dst, table: nasty_copy, mode: overwrite }\n`));
        assert.equal(r.code, 0, r.stderr);
        const want = await canonical(src!, 'nasty');
        const got = await canonical(dst!, 'nasty_copy');
        assert.equal(got.length, want.length);
        for (let k = 0; k < want.length; k++) assert.deepEqual(got[k], want[k], `row ${k + 1}`);
      });
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Modes, incremental, failures and crashes: a simple source on sqlite, every engine as the target.

async function ensureUsers(db: EngineDb): Promise<void> {
  await db.exec(`CREATE TABLE users (id INTEGER, name VARCHAR(50), at VARCHAR(30))`);
}

async function userRows(db: EngineDb, table = 'users'): Promise<string[]> {
  const rows = await db.rows(`SELECT id, name, at FROM ${db.q(table)} ORDER BY id, name`);
  return rows.map((r) => r.map((v) => (v === null ? 'NULL' : String(v))).join('|'));
}

for (const kind of ENGINES) {
  describe(`target ${kind}`, () => {
    test('append, overwrite and merge (last row of a key wins, with and without a unique key)', async () => {
      await withDbs(['sqlite', kind], async ([src, dst], dir) => {
        await ensureUsers(src!);
        await src!.exec(`INSERT INTO users VALUES (1, 'ann', 't1'), (2, 'bob', 't1')`);
        if (kind !== 'sqlite') await dst!.exec(`CREATE TABLE keyed (id INTEGER PRIMARY KEY, name VARCHAR(50), at VARCHAR(30))`);
        else await dst!.exec(`CREATE TABLE keyed (id INTEGER PRIMARY KEY, name VARCHAR(50), at VARCHAR(30))`);
        const yaml = pipelineYaml(
          { src: src!, dst: dst! },
          `  app:\n    source: { connection: src, table: users }\n    target: { connection: dst, table: appended, mode: append }
  ovr:\n    source: { connection: src, table: users }\n    target: { connection: dst, table: replaced, mode: overwrite }
  mrg:\n    source: { connection: src, table: users }\n    target: { connection: dst, table: merged, mode: merge, key: [id] }
  mrg_keyed:\n    source: { connection: src, table: users }\n    target: { connection: dst, table: keyed, mode: merge, key: [id] }
`,
        );
        assert.equal((await run(dir, yaml)).code, 0);
        await src!.exec(`DELETE FROM users`);
        await src!.exec(`INSERT INTO users VALUES (2, 'bobby', 't2'), (3, 'cy', 't2'), (3, 'cyril', 't3')`);
        const second = await run(dir, yaml);
        assert.equal(second.code, 0, second.stderr);
        assert.deepEqual(await userRows(dst!, 'appended'), ['1|ann|t1', '2|bob|t1', '2|bobby|t2', '3|cy|t2', '3|cyril|t3']);
        assert.deepEqual(await userRows(dst!, 'replaced'), ['2|bobby|t2', '3|cy|t2', '3|cyril|t3']);
        assert.deepEqual(await userRows(dst!, 'merged'), ['1|ann|t1', '2|bobby|t2', '3|cyril|t3']);
        assert.deepEqual(await userRows(dst!, 'keyed'), ['1|ann|t1', '2|bobby|t2', '3|cyril|t3']);
      });
    });

    test('watermark runs that add, update and tie on the watermark lose nothing and load nothing twice', async () => {
      await withDbs(['sqlite', kind], async ([src, dst], dir) => {
        await ensureUsers(src!);
        await src!.exec(`INSERT INTO users VALUES (1, 'ann', '2026-01-01 00:00:01'), (2, 'bob', '2026-01-01 00:00:02'), (3, 'cy', '2026-01-01 00:00:02')`);
        const yaml = pipelineYaml(
          { src: src!, dst: dst! },
          `  log:\n    source: { connection: src, table: users }\n    incremental: { column: at, strategy: watermark }\n    target: { connection: dst, table: log, mode: append }
  latest:\n    source: { connection: src, table: users }\n    incremental: { column: at, strategy: watermark }\n    target: { connection: dst, table: latest, mode: merge, key: [id] }
`,
        );
        assert.equal((await run(dir, yaml)).code, 0);
        await src!.exec(`INSERT INTO users VALUES (4, 'dee', '2026-01-01 00:00:02'), (5, 'eve', '2026-01-01 00:00:03')`);
        await src!.exec(`UPDATE users SET name = 'bobby' WHERE id = 2`);
        assert.equal((await run(dir, yaml)).code, 0);
        assert.equal((await run(dir, yaml)).code, 0);
        // The append log holds each (id, name, at) once up to the newest timestamp, which waits for the next run.
        assert.deepEqual(await userRows(dst!, 'log'), ['1|ann|2026-01-01 00:00:01', '2|bobby|2026-01-01 00:00:02', '3|cy|2026-01-01 00:00:02', '4|dee|2026-01-01 00:00:02']);
        assert.deepEqual(await userRows(dst!, 'latest'), [
          '1|ann|2026-01-01 00:00:01',
          '2|bobby|2026-01-01 00:00:02',
          '3|cy|2026-01-01 00:00:02',
          '4|dee|2026-01-01 00:00:02',
          '5|eve|2026-01-01 00:00:03',
        ]);
      });
    });

    test('a failed import leaves the target unchanged and names the column and chunk', async () => {
      await withDbs(['sqlite', kind], async ([src, dst], dir) => {
        await src!.exec(`CREATE TABLE nums (id INTEGER, n TEXT)`);
        await src!.exec(`INSERT INTO nums VALUES (1, '10'), (2, '20')`);
        await dst!.exec(`CREATE TABLE nums (id INTEGER, n INTEGER)`);
        const yaml = pipelineYaml({ src: src!, dst: dst! }, `  nums:\n    source: { connection: src, table: nums }\n    target: { connection: dst, table: nums, mode: overwrite }\n`);
        assert.equal((await run(dir, yaml)).code, 0);
        await src!.exec(`INSERT INTO nums VALUES (3, 'thirty')`);
        const bad = await run(dir, yaml);
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /column n/);
        assert.match(bad.stderr, /chunk-00001\.csv/);
        const rows = await dst!.rows(`SELECT id, n FROM nums ORDER BY id`);
        assert.deepEqual(rows.map((r) => r.map(String).join('|')), ['1|10', '2|20']);
        const tables = await dst!.rows(
          kind === 'sqlite'
            ? `SELECT name FROM sqlite_master WHERE name LIKE '\\_pigeon\\_stg%' ESCAPE '\\'`
            : kind === 'mysql'
              ? `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE '\\_pigeon\\_stg%'`
              : `SELECT tablename FROM pg_tables WHERE tablename LIKE '\\_pigeon\\_stg%'`,
        );
        assert.deepEqual(tables, [], 'no staging table left');
      });
    });

    // After the last chunk is exported (import not committed), and after the commit before it is recorded.
    for (const point of ['ids:chunk:3', 'ids:imported']) {
      test(`a crash at ${point}, then pigeon retry: the target equals the source, nothing twice`, async () => {
        await withDbs(['sqlite', kind], async ([src, dst], dir) => {
          await ensureUsers(src!);
          for (let k = 1; k <= 500; k++) await src!.exec(`INSERT INTO users VALUES (?, ?, ?)`, [k, `user ${k}`, `2026-01-01 00:00:${String(k % 60).padStart(2, '0')}`]);
          const yaml = pipelineYaml(
            { src: src!, dst: dst! },
            `  ids:\n    source: { connection: src, table: users, split: { column: id, chunks: 3 } }\n    incremental: { column: id, strategy: watermark }\n    target: { connection: dst, table: ids, mode: append }\n`,
          );
          const crashed = await run(dir, yaml, [], { PIGEON_CRASH_AT: point });
          assert.equal(crashed.signal, 'SIGKILL');
          const retry = await pigeon(['retry', '--progress', '0'], { cwd: dir });
          assert.equal(retry.code, 0, retry.stderr);
          assert.equal((await run(dir, yaml)).code, 0);
          assert.deepEqual(await userRows(dst!, 'ids'), await userRows(src!, 'users'));
        });
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Split exports on a skewed key, from every engine.

for (const kind of ENGINES) {
  test(`split export from ${kind} on a skewed key with NULLs yields every row exactly once`, async () => {
    await withDbs([kind], async ([src], dir) => {
      await src!.exec(`CREATE TABLE skew (id INTEGER, k BIGINT)`);
      const values: string[] = [];
      for (let i = 1; i <= 1000; i++) {
        // Most keys crowd at the bottom of the range, a few are huge, some are NULL, some repeat.
        const k = i % 50 === 0 ? null : i <= 950 ? Math.floor(i / 10) : 1_000_000_000_000 + i;
        values.push(`(${i}, ${k === null ? 'NULL' : k})`);
      }
      await src!.exec(`INSERT INTO skew VALUES ${values.join(', ')}`);
      const r = await run(dir, pipelineYaml({ src: src!, out: `{ type: file, dir: ${JSON.stringify(join(dir, 'out'))} }` }, `  skew:\n    source: { connection: src, table: skew, split: { column: k, chunks: 8 } }\n    target: { connection: out, table: skew, mode: overwrite }\n`));
      assert.equal(r.code, 0, r.stderr);
      const ids = csvRows(join(dir, 'out/skew.csv')).map((row) => Number(row[0]));
      assert.equal(ids.length, 1000);
      assert.deepEqual([...ids].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i + 1));
      assert.match(r.stdout, /skew\s+succeeded/);
    });
  });
}
