import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import pg from 'pg';
import type { ChunkFeed, Connector, CsvSink, ExportRequest, ImportRequest, StagedChunk } from '../../src/connectors/contract.js';
import { postgresConfig } from '../../src/connectors/postgres/postgres-config.js';
import { postgresKind } from '../../src/connectors/postgres/postgres-kind.js';
import { ChunkFileWriter, openChunkFile } from '../../src/csv/chunk-file.js';
import { openCsv } from '../../src/csv/reader.js';
import type { Cell } from '../../src/csv/types.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';
import { pigeon, tempDir } from '../support/cli.js';
import { readyFeed } from '../support/feeds.js';
import { exportToFiles, type Exported } from '../support/connector-io.js';

const HOST = '127.0.0.1';
const PORT = 5432;
const DB = `pigeon_t_${randomBytes(6).toString('hex')}`;
const URL = `postgres://postgres@${HOST}:${PORT}/${DB}`;
/** Values as the server prints them, so comparisons never go through JS numbers or Dates. */
const RAW_TEXT = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

let admin: pg.Client;
let db: pg.Client;
const work = tempDir('pigeon-pg-');

before(async () => {
  admin = new pg.Client({ host: HOST, port: PORT, user: 'postgres', database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${DB}`);
  db = new pg.Client({ host: HOST, port: PORT, user: 'postgres', database: DB, types: RAW_TEXT });
  await db.connect();
  await db.query(`SET TIME ZONE 'UTC'; SET intervalstyle = 'iso_8601'`);
});

after(async () => {
  await db?.end().catch(() => {});
  await admin?.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`).catch(() => {});
  await admin?.end().catch(() => {});
  work.cleanup();
});

async function rows(sql: string, values: unknown[] = []): Promise<Record<string, string | null>[]> {
  return (await db.query(sql, values)).rows as Record<string, string | null>[];
}

async function connector(): Promise<Connector> {
  const create = await postgresKind.load();
  const c = create({ name: 'pg', type: 'postgres', url: URL }, { cwd: work.dir, tmpDir: work.dir });
  await c.open();
  return c;
}

async function withConnector<T>(fn: (c: Connector) => Promise<T>): Promise<T> {
  const c = await connector();
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/** Exports like the runner does: describe, the connector's chunks (a quantile split when asked), one file each. */
function exportAll(c: Connector, req: ExportRequest, split?: { column: string; chunks: number }): Promise<Exported> {
  return exportToFiles(c, split ? { ...req, source: { ...req.source, split } } : req, work.dir);
}

function feedOf(e: Exported): ChunkFeed {
  return readyFeed(e.chunks, e.total);
}

function importReq(table: string, e: Exported, mode: ImportRequest['mode'], extra: Partial<ImportRequest> = {}): ImportRequest {
  return { node: 'n', table, mode, create: 'if_missing', columns: e.columns, loadId: `load-${randomBytes(4).toString('hex')}`, ...extra };
}

async function copyTable(c: Connector, from: string, to: string, mode: ImportRequest['mode'], extra: Partial<ImportRequest> = {}) {
  const e = await exportAll(c, { node: 'n', source: { connection: 'pg', table: from } });
  return c.import(importReq(to, e, mode, extra), feedOf(e));
}

async function cells(path: string): Promise<Cell[][]> {
  const csv = await openCsv(await openChunkFile(path, false), { name: path });
  const out: Cell[][] = [];
  for await (const r of csv.rows) out.push(r.cells);
  return out;
}

async function stagingLeft(): Promise<string[]> {
  return (await rows(`SELECT relname FROM pg_class WHERE relname LIKE '\\_pigeon\\_stg\\_%' OR relname LIKE '\\_pigeon\\_old\\_%'`)).map((r) => r.relname!);
}

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;

describe('postgres connector', () => {
  const NASTY_COLUMNS = `
    id int PRIMARY KEY, t text, vc varchar(20), ch char(5), i2 smallint, i4 integer, i8 bigint, u8 numeric(20,0),
    n numeric(38,10), nn numeric, f4 real, f8 double precision, b boolean, by bytea, d date, tm time(6), tmtz timetz,
    ts timestamp(6), tstz timestamptz(6), iv interval, j json, jb jsonb, u uuid, ia int[], ta text[], ip inet, mo money, big text`;

  before(async () => {
    await db.query(`CREATE TABLE nasty (${NASTY_COLUMNS})`);
    await db.query(`
      INSERT INTO nasty (id) VALUES (1);
      INSERT INTO nasty (id, t, vc, ch, by, j, jb, ia, ta) VALUES (2, '', '', '', '', '""', '""', '{}', '{}');
      INSERT INTO nasty (id, t, vc, ta, j) VALUES (3, '\\N', '\\N', ARRAY['\\N', NULL, ''], '"\\\\N"');
      INSERT INTO nasty (id, t, vc, ch, ta, j, jb) VALUES
        (4, E'a,b "q" \\r\\n line\\ttab \\\\ back\\\\\\\\', E'x\\ny\\r', E'"\\n,\\\\', ARRAY[E'a,b', E'"q"', E'\\\\', E'{x}'],
         '{"b": 1, "a": [1, 2.50, "x\\"y"], "b": 2}', '{"b": 1, "a": [1, 2.50, "x\\"y"], "b": 2}');
      INSERT INTO nasty (id, t, vc, ta) VALUES (5, '🐦 𝄞 ünïcødé 中文', '🐦🐦', ARRAY['🐦', '𝄞']);
      INSERT INTO nasty (id, i2, i4, i8, u8, n, nn, f4, f8) VALUES
        (6, -32768, -2147483648, -9223372036854775808, 18446744073709551615, 9999999999999999999999999999.9999999999,
         123456789012345678901234567890.123456789012345678901234567890, '-0', '-0'),
        (7, 32767, 2147483647, 9223372036854775807, 0, -9999999999999999999999999999.9999999999, -0.000000000000000000001, 'NaN', 'NaN'),
        (8, 0, 0, 0, 1, 0.0000000001, 0, 'Infinity', 'Infinity'),
        (9, NULL, NULL, NULL, NULL, NULL, NULL, '-Infinity', '-Infinity'),
        (10, NULL, NULL, NULL, NULL, NULL, NULL, 3.4028235e38, 5e-324),
        (11, NULL, NULL, NULL, NULL, NULL, NULL, 1.0e-45, 1.7976931348623157e308),
        (12, NULL, NULL, NULL, NULL, NULL, NULL, 0.1, 0.1);
      INSERT INTO nasty (id, b, d, tm, tmtz, ts, tstz, iv, u, ip, mo) VALUES
        (13, true, '0001-01-01', '00:00:00', '00:00:00+00', '0001-01-01 00:00:00', '0001-01-01 00:00:00+00', 'P1Y2M3DT4H5M6.789S',
         '00000000-0000-0000-0000-000000000000', '192.168.0.1/24', '-92233720368547758.08'),
        (14, false, '1969-12-31', '23:59:59.999999', '23:59:59.999999-12:34', '1969-12-31 23:59:59.999999', '1969-12-31 23:59:59.999999+00',
         '-1 year 2 months -3 days 04:05:06.000001', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '::1', '92233720368547758.07'),
        (15, NULL, '2038-01-20', '12:00:00.5', '12:00:00.5+05:30', '2038-01-20 03:14:08.000001', '2038-01-20 03:14:08+02', '0', NULL, '2001:db8::/32', 0),
        (16, NULL, '9999-12-31', '23:59:59', NULL, '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00', '-0.000001 seconds', NULL, NULL, NULL);
      INSERT INTO nasty (id, by) VALUES (17, (SELECT decode(string_agg(lpad(to_hex(x), 2, '0'), '' ORDER BY x), 'hex') FROM generate_series(0, 255) x));
      INSERT INTO nasty (id, ia, ta) VALUES (18, '{{1,2,3},{4,NULL,6}}', '{{"a","b"},{"c,d","e\\"f"}}');
      INSERT INTO nasty (id, big) VALUES (19, repeat(E'x"\\n,é', 16 * 1024 * 1024 / 6));
    `);
  });

  test('round trip of a nasty-values table into a created table: every value as the source has it', async () => {
    await withConnector(async (c) => {
      const e = await exportAll(c, { node: 'n', source: { connection: 'pg', table: 'nasty' } });
      assert.equal(e.total, 19);
      const byName = Object.fromEntries(e.columns.map((x) => [x.name, x]));
      assert.deepEqual(
        [byName.id!.type, byName.i8!.type, byName.u8!.type, byName.n!.type, byName.n!.precision, byName.n!.scale, byName.vc!.length],
        ['int32', 'int64', 'decimal', 'decimal', 38, 10, 20],
      );
      assert.equal(byName.id!.nullable, false);
      assert.equal(byName.ia!.type, 'json');
      assert.equal(byName.iv!.source_type, 'interval');

      // The exchange text itself, for the values where PostgreSQL's own output would differ from the format.
      const file = await cells(e.chunks[0]!.name);
      const col = (id: number, name: string) => file.find((r) => r[0] === String(id))![e.columns.findIndex((x) => x.name === name)];
      assert.equal(col(1, 't'), null);
      assert.equal(col(2, 't'), '');
      assert.equal(col(3, 't'), '\\N');
      assert.equal(col(6, 'f8'), '-0');
      assert.equal(col(13, 'b'), 'true');
      assert.equal(col(14, 'b'), 'false');
      assert.equal(col(17, 'by'), Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('base64'));
      assert.equal(col(2, 'by'), '');
      assert.equal(col(15, 'tstz'), '2038-01-20 01:14:08+00');
      assert.equal(col(13, 'iv'), 'P1Y2M3DT4H5M6.789S');
      assert.equal(col(18, 'ia'), '[[1,2,3],[4,null,6]]');
      assert.equal(col(13, 'mo'), '-92233720368547758.08');

      await c.import(importReq('nasty_copy', e, 'overwrite'), feedOf(e));
      const types = await rows(
        `SELECT attname, format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'nasty_copy'::regclass AND attnum > 0 ORDER BY attnum`,
      );
      assert.deepEqual(
        types.map((r) => `${r.attname} ${r.t}`),
        [
          'id integer', 't text', 'vc character varying(20)', 'ch character varying(5)', 'i2 smallint', 'i4 integer', 'i8 bigint',
          'u8 numeric(20,0)', 'n numeric(38,10)', 'nn numeric', 'f4 real', 'f8 double precision', 'b boolean', 'by bytea', 'd date',
          'tm time(6) without time zone', 'tmtz time with time zone', 'ts timestamp(6) without time zone', 'tstz timestamp(6) with time zone',
          'iv interval', 'j json', 'jb jsonb', 'u uuid', 'ia json', 'ta json', 'ip inet', 'mo numeric', 'big text',
        ],
      );
      // Value by value, through each type's own output function (format %s): padding, key order and all.
      const names = e.columns.map((x) => x.name);
      for (const name of names) {
        const src = name === 'ia' || name === 'ta' ? `format('%s', to_json(s.${name}))` : name === 'mo' ? `format('%s', s.mo::numeric)` : `format('%s', s.${name})`;
        const diff = await rows(
          `SELECT s.id FROM nasty s FULL JOIN nasty_copy d ON d.id = s.id WHERE (${src}) IS DISTINCT FROM format('%s', d.${name}) OR s.id IS NULL OR d.id IS NULL`,
        );
        assert.deepEqual(diff, [], `column ${name} differs`);
      }
      const negZero = await rows(`SELECT f8::text AS f8, f4::text AS f4 FROM nasty_copy WHERE id = 6`);
      assert.deepEqual(negZero, [{ f8: '-0', f4: '-0' }]);
    });
  });

  test('round trip into an existing table of the same types (same engine): arrays and intervals come back as themselves', async () => {
    await db.query(`CREATE TABLE nasty_same (LIKE nasty INCLUDING ALL)`);
    await withConnector(async (c) => {
      await copyTable(c, 'nasty', 'nasty_same', 'append');
      // Whole rows through their text form (json has no equality operator).
      const diff = await rows(`SELECT n::text FROM nasty n EXCEPT ALL SELECT n::text FROM nasty_same n`);
      assert.deepEqual(diff, []);
      assert.deepEqual(await rows(`SELECT count(*) AS n FROM nasty_same`), [{ n: '19' }]);
      assert.deepEqual(await rows(`SELECT ia::text AS ia, ta::text AS ta FROM nasty_same WHERE id = 18`), [
        { ia: '{{1,2,3},{4,NULL,6}}', ta: '{{a,b},{"c,d","e\\"f"}}' },
      ]);
    });
  });

  test('overwrite swaps in a new table and keeps its indexes, constraint names, comment, serial and identity sequences', async () => {
    await db.query(`
      CREATE TABLE users_src (id int, name text);
      INSERT INTO users_src VALUES (1, 'ann'), (2, 'bob');
      CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL CHECK (name <> ''), note text DEFAULT 'n/a');
      CREATE INDEX users_name_idx ON users (name);
      COMMENT ON TABLE users IS 'people, it''s \\ here';
      INSERT INTO users (name) SELECT 'old ' || g FROM generate_series(1, 50) g;
      CREATE TABLE items_src (id int, name text);
      INSERT INTO items_src VALUES (1, 'a'), (2, 'b');
      CREATE TABLE items (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text);
      INSERT INTO items (name) SELECT 'old' FROM generate_series(1, 40);
    `);
    const before = await rows(`SELECT 'users'::regclass::oid AS oid`);
    await withConnector(async (c) => {
      await copyTable(c, 'users_src', 'users', 'overwrite');
      await copyTable(c, 'items_src', 'items', 'overwrite');
    });
    assert.notDeepEqual(await rows(`SELECT 'users'::regclass::oid AS oid`), before, 'a new table was swapped in');
    assert.deepEqual(await rows(`SELECT id::text, name, note FROM users ORDER BY id`), [
      { id: '1', name: 'ann', note: 'n/a' },
      { id: '2', name: 'bob', note: 'n/a' },
    ]);
    assert.deepEqual(
      (await rows(`SELECT relname FROM pg_class WHERE oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'users'::regclass) ORDER BY 1`)).map((r) => r.relname),
      ['users_name_idx', 'users_pkey'],
    );
    assert.deepEqual(
      (await rows(`SELECT conname FROM pg_constraint WHERE conrelid = 'users'::regclass ORDER BY 1`)).map((r) => r.conname),
      ['users_name_check', 'users_pkey'],
    );
    assert.deepEqual(await rows(`SELECT obj_description('users'::regclass, 'pg_class') AS c`), [{ c: "people, it's \\ here" }]);
    // The serial sequence survived the old table and keeps counting where it was.
    assert.deepEqual(await rows(`SELECT pg_get_serial_sequence('users', 'id') AS s`), [{ s: 'public.users_id_seq' }]);
    assert.deepEqual(await rows(`INSERT INTO users (name) VALUES ('new') RETURNING id::text`), [{ id: '51' }]);
    // The identity column has its own new sequence, renamed back and continued.
    assert.deepEqual(await rows(`SELECT pg_get_serial_sequence('items', 'id') AS s`), [{ s: 'public.items_id_seq' }]);
    assert.deepEqual(await rows(`INSERT INTO items (name) VALUES ('new') RETURNING id::text`), [{ id: '41' }]);
    assert.deepEqual(await stagingLeft(), []);
  });

  test('overwrite loads a backlog of chunks over spare sessions and builds the indexes after; one bad chunk stops them all', async () => {
    await db.query(`
      CREATE TABLE par_src (id int, k text);
      INSERT INTO par_src SELECT g, 'v' || g FROM generate_series(1, 40000) g;
      CREATE TABLE par (id int PRIMARY KEY, k text NOT NULL, CONSTRAINT par_k_key UNIQUE (k) DEFERRABLE);
      CREATE INDEX par_lower_idx ON par USING btree (lower(k) DESC) INCLUDE (id) WHERE id > 10;
      CREATE INDEX par_hash_idx ON par USING hash (k);
      INSERT INTO par VALUES (0, 'keep');
    `);
    const indexes = `SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def, pg_get_constraintdef(k.oid) AS con
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid
      WHERE i.indrelid = 'par'::regclass ORDER BY 1`;
    const wanted = await rows(indexes);
    let spares = 0;
    const spareSession = <T>(work: () => Promise<T>): Promise<T> | undefined => {
      spares++;
      return work();
    };
    await withConnector(async (c) => {
      const e = await exportAll(c, { node: 'n', source: { connection: 'pg', table: 'par_src' } }, { column: 'id', chunks: 8 });
      assert.equal(e.chunks.length, 8);
      assert.deepEqual(await c.import(importReq('par', e, 'overwrite', { spareSession }), readyFeed(e.chunks, e.total)), { rows: 40000 });
    });
    assert.ok(spares >= 1, 'a spare session was asked for');
    assert.deepEqual(await rows(`SELECT count(*)::text AS n, min(id)::text AS lo, max(id)::text AS hi FROM par`), [{ n: '40000', lo: '1', hi: '40000' }]);
    assert.deepEqual(await rows(indexes), wanted, 'the same indexes and constraints, under the same names');
    assert.deepEqual(await stagingLeft(), []);

    // Eight chunks, the sixth with a value the target cannot take: whichever session loads it, the load stops.
    spares = 0;
    await withConnector(async (c) => {
      const parts: StagedChunk[] = [];
      let total = 0;
      for (let i = 0; i < 8; i++) {
        const id = i === 5 ? `CASE WHEN id = 25005 THEN 'x' ELSE id::text END` : 'id';
        const e = await exportAll(c, { node: 'n', source: { connection: 'pg', query: `SELECT ${id} AS id, 'w' || id AS k FROM par_src WHERE id % 8 = ${i}` } });
        parts.push({ ...e.chunks[0]!, index: i + 1 });
        total += e.total;
      }
      const columns = (await c.describe({ node: 'n', source: { connection: 'pg', table: 'par_src' } })).slice();
      const err = await c
        .import({ node: 'n', table: 'par', mode: 'overwrite', create: 'if_missing', columns, loadId: 'bad-par', spareSession }, readyFeed(parts, total))
        .then(
          () => assert.fail('the import should fail'),
          (x: unknown) => x,
        );
      assert.ok(err instanceof PipelineError, String(err));
      assert.equal(err.code, 'BAD_VALUE', err.message);
      assert.equal(err.location.column, 'id');
      assert.equal(err.location.chunk, parts[5]!.name);
    });
    assert.ok(spares >= 1, 'a spare session was asked for');
    assert.deepEqual(await rows(`SELECT count(*)::text AS n, min(k) AS k FROM par`), [{ n: '40000', k: 'v1' }], 'the target is unchanged');
    assert.deepEqual(await stagingLeft(), []);
    assert.deepEqual(await rows(`SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'COPY%'`), [{ n: '0' }]);

    // Duplicate keys fail when the unique index is built, naming it; the target is unchanged.
    await withConnector(async (c) => {
      const e = await exportAll(c, { node: 'n', source: { connection: 'pg', query: `SELECT id % 100 AS id, k FROM par_src` } }, { column: 'id', chunks: 4 });
      const err = await c.import(importReq('par', e, 'overwrite', { spareSession }), readyFeed(e.chunks, e.total)).then(
        () => assert.fail('the import should fail'),
        (x: unknown) => x,
      );
      assert.ok(err instanceof PipelineError, String(err));
      assert.equal(err.code, 'IMPORT_FAILED', err.message);
      assert.match(err.message, /unique|duplicate/i);
    });
    assert.deepEqual(await rows(`SELECT count(*)::text AS n FROM par`), [{ n: '40000' }]);
    assert.deepEqual(await stagingLeft(), []);
  });

  test('overwrite of a table a view depends on (or with grants) replaces its rows in place, in one transaction', async () => {
    await db.query(`
      CREATE TABLE viewed (id int PRIMARY KEY, v text);
      INSERT INTO viewed VALUES (1, 'old'), (2, 'old');
      CREATE VIEW viewed_v AS SELECT id, v FROM viewed;
      CREATE TABLE granted (id int, v text);
      GRANT SELECT ON granted TO PUBLIC;
      CREATE TABLE viewed_src (id int, v text, by bytea);
      INSERT INTO viewed_src VALUES (3, 'new', '\\x01'), (4, NULL, NULL);
    `);
    const oid = await rows(`SELECT 'viewed'::regclass::oid AS oid`);
    await withConnector(async (c) => {
      const e = await exportAll(c, { node: 'n', source: { connection: 'pg', table: 'viewed_src', columns: ['id', 'v'] } });
      await c.import(importReq('viewed', e, 'overwrite'), feedOf(e));
      await assert.rejects(copyTable(c, 'viewed_src', 'granted', 'overwrite'), (err: unknown) => {
        return err instanceof PipelineError && err.code === 'SCHEMA_CHANGED' && err.location.column === 'by';
      });
    });
    assert.deepEqual(await rows(`SELECT 'viewed'::regclass::oid AS oid`), oid);
    assert.deepEqual(await rows(`SELECT id::text, v FROM viewed_v ORDER BY id`), [
      { id: '3', v: 'new' },
      { id: '4', v: null },
    ]);
    await db.query(`ALTER TABLE granted ADD COLUMN by bytea`);
    await withConnector((c) => copyTable(c, 'viewed_src', 'granted', 'overwrite'));
    assert.deepEqual(await rows(`SELECT id::text, v, encode(by, 'hex') AS by FROM granted ORDER BY id`), [
      { id: '3', v: 'new', by: '01' },
      { id: '4', v: null, by: null },
    ]);
    assert.deepEqual(await rows(`SELECT has_table_privilege('public', 'granted', 'SELECT') AS p`), [{ p: 't' }]);
    assert.deepEqual(await stagingLeft(), []);
  });

  test('overwrite of a table with bytea columns swaps in a converted copy', async () => {
    await db.query(`
      CREATE TABLE blobs_src (id int, by bytea); INSERT INTO blobs_src VALUES (1, '\\x00ff'), (2, NULL), (3, '');
      CREATE TABLE blobs (id int PRIMARY KEY, by bytea); INSERT INTO blobs VALUES (9, '\\x09');
    `);
    const oid = await rows(`SELECT 'blobs'::regclass::oid AS oid`);
    await withConnector((c) => copyTable(c, 'blobs_src', 'blobs', 'overwrite'));
    assert.notDeepEqual(await rows(`SELECT 'blobs'::regclass::oid AS oid`), oid);
    assert.deepEqual(await rows(`SELECT id::text, encode(by, 'hex') AS by FROM blobs ORDER BY id`), [
      { id: '1', by: '00ff' },
      { id: '2', by: null },
      { id: '3', by: '' },
    ]);
    assert.deepEqual(await rows(`SELECT conname FROM pg_constraint WHERE conrelid = 'blobs'::regclass`), [{ conname: 'blobs_pkey' }]);
    assert.deepEqual(await stagingLeft(), []);
  });

  test('append adds each load once, in load order', async () => {
    await db.query(`CREATE TABLE ev_src (id int, v text); INSERT INTO ev_src VALUES (1, 'a'), (2, 'b');`);
    await withConnector(async (c) => {
      await copyTable(c, 'ev_src', 'ev', 'append');
      await db.query(`INSERT INTO ev_src VALUES (3, 'c')`);
      await copyTable(c, 'ev_src', 'ev', 'append');
    });
    assert.deepEqual(
      (await rows(`SELECT id::text FROM ev`)).map((r) => r.id),
      ['1', '2', '1', '2', '3'],
    );
  });

  for (const indexed of [false, true]) {
    test(`merge ${indexed ? 'with a unique index on the key (ON CONFLICT)' : 'without an index on the key (delete + insert)'}: the last row of a key in one load wins`, async () => {
      const t = indexed ? 'm_idx' : 'm_plain';
      await db.query(`
        CREATE TABLE ${t}_src (id int, v text, seq int);
        INSERT INTO ${t}_src VALUES (2, 'b1', 1), (3, 'c1', 2), (3, 'c2', 3), (2, 'b2', 4)${indexed ? '' : `, (NULL, 'n1', 5), (NULL, 'n2', 6)`};
        CREATE TABLE ${t} (id int ${indexed ? 'PRIMARY KEY' : ''}, v text, seq int);
        INSERT INTO ${t} VALUES (1, 'a', 0), (2, 'b', 0)${indexed ? '' : `, (NULL, 'n0', 0)`};
      `);
      const oid = await rows(`SELECT '${t}'::regclass::oid AS oid`);
      const expected = [
        { id: '1', v: 'a' },
        { id: '2', v: 'b2' },
        { id: '3', v: 'c2' },
        ...(indexed ? [] : [{ id: null, v: 'n2' }]),
      ];
      await withConnector(async (c) => {
        // The source is read in physical order, which is insertion order here; the export keeps it.
        const e = await exportAll(c, { node: 'n', source: { connection: 'pg', query: `SELECT id, v, seq FROM ${t}_src ORDER BY seq` } });
        await c.import(importReq(t, e, 'merge', { key: ['id'] }), feedOf(e));
        assert.deepEqual(await rows(`SELECT id::text, v FROM ${t} ORDER BY id NULLS LAST`), expected);
        // Loading the same rows again changes nothing: every key, NULL included, matches itself.
        await c.import(importReq(t, e, 'merge', { key: ['id'] }), feedOf(e));
        assert.deepEqual(await rows(`SELECT id::text, v FROM ${t} ORDER BY id NULLS LAST`), expected);
      });
      assert.deepEqual(await rows(`SELECT '${t}'::regclass::oid AS oid`), oid);
      assert.deepEqual(await stagingLeft(), []);
    });
  }

  test('merge on a composite key with a bytea part', async () => {
    await db.query(`
      CREATE TABLE mk_src (a int, b bytea, v text); INSERT INTO mk_src VALUES (1, '\\x01', 'x'), (1, '\\x02', 'y'), (1, '\\x01', 'z');
      CREATE TABLE mk (a int, b bytea, v text); INSERT INTO mk VALUES (1, '\\x01', 'old'), (2, '\\x01', 'keep');
    `);
    await withConnector((c) => copyTable(c, 'mk_src', 'mk', 'merge', { key: ['a', 'b'] }));
    assert.deepEqual(await rows(`SELECT a::text, encode(b, 'hex') AS b, v FROM mk ORDER BY a, b`), [
      { a: '1', b: '01', v: 'z' },
      { a: '1', b: '02', v: 'y' },
      { a: '2', b: '01', v: 'keep' },
    ]);
  });

  test('a value the target cannot take fails naming column, chunk and line; the target is unchanged and no staging is left', async () => {
    await db.query(`
      CREATE TABLE bad_src (id int, n text, s text);
      INSERT INTO bad_src VALUES (1, '10', E'a\\nb'), (2, '20', 'ok'), (3, 'abc', E'x\\ny');
      CREATE TABLE bad_int (id int, n int, s varchar(5)); INSERT INTO bad_int VALUES (0, 0, 'keep');
      CREATE TABLE bad_len_src (id int, n int, s text);
      INSERT INTO bad_len_src VALUES (1, 1, 'short'), (2, 2, 'much too long');
    `);
    await withConnector(async (c) => {
      for (const mode of ['append', 'overwrite', 'merge'] as const) {
        const e = await exportAll(c, { node: 'n', source: { connection: 'pg', query: 'SELECT * FROM bad_src ORDER BY id' } });
        const err = await c.import(importReq('bad_int', e, mode, { key: ['id'] }), feedOf(e)).then(
          () => assert.fail('the import should fail'),
          (x: unknown) => x,
        );
        assert.ok(err instanceof PipelineError, String(err));
        assert.equal(err.code, 'BAD_VALUE', `${mode}: ${err.message}`);
        assert.equal(err.location.column, 'n');
        assert.equal(err.location.chunk, e.chunks[0]!.name);
        // Header on line 1, the first record on lines 2-3, the second on 4, the bad one on lines 5-6: PostgreSQL
        // names the last line it read, the error the line where the record starts.
        assert.equal(err.location.chunkLine, 5);
        assert.equal((err.cause as { code?: string }).code, '22P02');
        assert.match((err.cause as { where?: string }).where ?? '', /line 6, column n/);
      }
      for (const mode of ['append', 'overwrite'] as const) {
        const e = await exportAll(c, { node: 'n', source: { connection: 'pg', query: 'SELECT * FROM bad_len_src ORDER BY id' } });
        const err = await c.import(importReq('bad_int', e, mode), feedOf(e)).then(
          () => assert.fail('the import should fail'),
          (x: unknown) => x,
        );
        assert.ok(err instanceof PipelineError);
        assert.equal(err.code, 'BAD_VALUE');
        assert.equal(err.location.column, 's');
        assert.equal(err.location.chunkLine, 3);
      }
    });
    assert.deepEqual(await rows(`SELECT id::text, n::text, s FROM bad_int`), [{ id: '0', n: '0', s: 'keep' }]);
    assert.deepEqual(await stagingLeft(), []);
  });

  test('a one-column value that is exactly \\. (COPY\'s end-of-data line) loads, whole or cut into 1-byte pieces', async () => {
    const path = join(work.dir, 'one-column.csv');
    const values: Cell[] = ['a', '\\.', 'x\n\\.\ny', '\\.', null, '\\.x', '', '\\.'];
    const writer = await ChunkFileWriter.create(path, ['\\.'], { gzip: false });
    for (const v of values) writer.row([v]);
    await writer.finish();
    const bytes = await readFile(path);
    const whole: StagedChunk = { index: 1, name: path, rows: values.length, open: () => openChunkFile(path, false) };
    const pieces: StagedChunk = { ...whole, index: 2, open: async () => Readable.from([...bytes].map((b) => Buffer.from([b]))) };
    const e: Exported = { columns: [{ name: '\\.', type: 'text', nullable: true }], chunks: [whole, pieces], total: values.length * 2, counts: {} };
    await withConnector((c) => c.import(importReq('one_col', e, 'append'), feedOf(e)));
    assert.deepEqual(
      (await rows(`SELECT "\\." AS v FROM one_col`)).map((r) => r.v),
      [...values, ...values],
    );
  });

  test('create: never refuses a missing table; an export column missing from the target is named', async () => {
    await db.query(`CREATE TABLE narrow (id int)`);
    await withConnector(async (c) => {
      const e = await exportAll(c, { node: 'n', source: { connection: 'pg', table: 'ev_src' } });
      const never = await c.import(importReq('nowhere', e, 'append', { create: 'never' }), feedOf(e)).catch((x: unknown) => x);
      assert.ok(never instanceof PipelineError);
      assert.equal(never.code, 'IMPORT_FAILED');
      assert.match(never.message, /does not exist and create is `never`/);
      const missing = await c.import(importReq('narrow', e, 'append'), feedOf(e)).catch((x: unknown) => x);
      assert.ok(missing instanceof PipelineError);
      assert.equal(missing.location.column, 'v');
    });
    assert.deepEqual(await rows(`SELECT to_regclass('nowhere') AS t`), [{ t: null }]);
  });

  test('a split export of a skewed key returns every row exactly once, NULL keys included', async () => {
    await db.query(`
      CREATE TABLE skew (k int, v int);
      INSERT INTO skew SELECT 1, g FROM generate_series(1, 5000) g;
      INSERT INTO skew SELECT g, g FROM generate_series(2, 60) g;
      INSERT INTO skew SELECT NULL, g FROM generate_series(1, 7) g;
      INSERT INTO skew VALUES (1000000000, 1), (-5, 2);
    `);
    await withConnector(async (c) => {
      const e = await exportAll(c, { node: 'n', source: { connection: 'pg', table: 'skew' } }, { column: 'k', chunks: 8 });
      assert.ok(e.chunks.length >= 2, `split into ${e.chunks.length} chunks`);
      const got: string[] = [];
      for (const ch of e.chunks) {
        const r = await cells(ch.name);
        assert.equal(r.length, ch.rows);
        got.push(...r.map((x) => `${x[0] ?? 'null'}|${x[1]}`));
      }
      const want = (await rows(`SELECT coalesce(k::text, 'null') || '|' || v AS r FROM skew`)).map((r) => r.r!);
      assert.deepEqual(got.sort(), want.sort());
      assert.equal(e.total, 5068);
    });
  });

  test('abort mid-export stops the query: no backend stays busy and no connection leaks', async () => {
    await db.query(`CREATE TABLE wide AS SELECT g AS id, repeat(md5(g::text), 20) AS pad FROM generate_series(1, 300000) g`);
    const busy = async () =>
      (await rows(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pigeon' AND state <> 'idle'`, [DB]))[0]!.n;
    const total = async () => (await rows(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pigeon'`, [DB]))[0]!.n;
    await withConnector(async (c) => {
      await c.describe({ node: 'n', source: { connection: 'pg', table: 'wide' } });
      const baseline = Number(await total());
      const stop = new AbortController();
      let pieces = 0;
      // A slow sink: the export waits on it, the server's send buffer fills up and the backend blocks writing.
      const sink: CsvSink = {
        row: () => false,
        raw: () => {
          if (++pieces === 3) stop.abort(new PipelineError('ABORTED', 'test abort'));
          return false;
        },
        drain: () => new Promise((r) => setTimeout(r, 20)),
      };
      const started = Date.now();
      const err = await c.exportChunk({ node: 'n', source: { connection: 'pg', table: 'wide' } }, { index: 1 }, sink, stop.signal).catch((x: unknown) => x);
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, 'ABORTED');
      assert.ok(Date.now() - started < 8000, 'the abort is prompt');
      let ok = false;
      for (let i = 0; i < 100 && !ok; i++) {
        ok = Number(await busy()) === 0 && Number(await total()) <= baseline;
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(ok, `backends of ${DB}: ${await busy()} busy, ${await total()} in all (baseline ${baseline})`);
      // The pool still works after the discarded connection.
      assert.equal(await c.maxValue({ node: 'n', source: { connection: 'pg', table: 'wide' } }, 'id'), '300000');
    });
  });

  test('abort mid-import leaves the target as it was and no staging table', async () => {
    await db.query(`CREATE TABLE wide_t (id int, pad text); INSERT INTO wide_t VALUES (-1, 'keep')`);
    await withConnector(async (c) => {
      const e = await exportAll(c, { node: 'n', source: { connection: 'pg', table: 'wide' } });
      const stop = new AbortController();
      const slow: ChunkFeed = {
        async *[Symbol.asyncIterator]() {
          yield e.chunks[0]!;
          stop.abort(new PipelineError('ABORTED', 'test abort'));
          yield e.chunks[0]!;
        },
        totalRows: async () => e.total * 2,
        backlog: () => 0,
      };
      const err = await c.import(importReq('wide_t', e, 'overwrite'), slow, stop.signal).catch((x: unknown) => x);
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, 'ABORTED');
    });
    assert.deepEqual(await rows(`SELECT id::text, pad FROM wide_t`), [{ id: '-1', pad: 'keep' }]);
    assert.deepEqual(await stagingLeft(), []);
  });

  test('isCommitted, and a load already recorded is drained without loading twice', async () => {
    await withConnector(async (c) => {
      assert.equal(await c.isCommitted('nosuch_schema.t', 'x'), false);
      const e = await exportAll(c, { node: 'n', source: { connection: 'pg', table: 'ev_src' } });
      const req = importReq('once', e, 'append');
      assert.equal(await c.isCommitted('once', req.loadId), false);
      assert.deepEqual(await c.import(req, feedOf(e)), { rows: 3 });
      assert.equal(await c.isCommitted('once', req.loadId), true);
      assert.equal(await c.isCommitted('other', req.loadId), false);
      let opened = 0;
      const untouched: ChunkFeed = {
        async *[Symbol.asyncIterator]() {
          for (const ch of e.chunks) yield { ...ch, open: () => (opened++, ch.open()) };
        },
        totalRows: async () => e.total,
        backlog: () => 0,
      };
      assert.deepEqual(await c.import(req, untouched), { rows: 3 });
      assert.equal(opened, 0);
    });
    assert.deepEqual(await rows(`SELECT count(*)::int AS n FROM once`), [{ n: '3' }]);
    assert.deepEqual(await rows(`SELECT rows::text FROM _pigeon_loads WHERE target = 'once'`), [{ rows: '3' }]);
  });

  test('hostile table, schema and column names and bound values round-trip without executing anything', async () => {
    const schema = `s p"ace; DROP TABLE canary; --`;
    const table = `we"ird 'name'; x`;
    const cols = [`a"b`, `c'd`, `e;f`, `g h`, `ü🐦`, `x; DROP TABLE canary`];
    await db.query(`CREATE TABLE canary (id int); INSERT INTO canary VALUES (1)`);
    await db.query(`CREATE SCHEMA ${q(schema)}`);
    await db.query(`CREATE TABLE ${q(schema)}.${q(table)} (${cols.map((c) => `${q(c)} text`).join(', ')})`);
    const values = [`a'b`, `c\\d`, `e''f`, `\\'`, `'; DROP TABLE canary; --`, `$1`, `E'\\x'`, `"q"`, `\\`, `'`];
    for (const [i, v] of values.entries()) {
      await db.query(`INSERT INTO ${q(schema)}.${q(table)} VALUES ($1, $2, $3, $4, $5, $6)`, [v, String(i), `x${i}`, null, '🐦', v + v]);
    }
    const source = `${schema}.${table}`;
    const target = `${schema}.tgt "x; DROP TABLE canary"`;
    await withConnector(async (c) => {
      // Split on a column whose boundaries are full of quotes and backslashes: they become COPY literals.
      const e = await exportAll(c, { node: 'n', source: { connection: 'pg', table: source } }, { column: cols[0]!, chunks: 4 });
      assert.equal(e.total, values.length);
      assert.ok(e.chunks.length > 1);
      for (const mode of ['overwrite', 'append', 'merge', 'overwrite'] as const) {
        await c.import(importReq(target, e, mode, { key: [cols[0]!, cols[5]!] }), feedOf(e));
      }
      // A window whose bounds are hostile too.
      const win = await exportAll(c, {
        node: 'n',
        source: { connection: 'pg', table: source },
        window: { column: cols[0]!, lower: { value: `'`, inclusive: true }, upper: { value: `\\'`, inclusive: false } },
      });
      const inWindow = await rows(`SELECT count(*)::int AS n FROM ${q(schema)}.${q(table)} WHERE ${q(cols[0]!)} >= $1 AND ${q(cols[0]!)} < $2`, [`'`, `\\'`]);
      assert.equal(win.total, Number(inWindow[0]!.n));
      assert.ok(win.total > 0);
      assert.equal(await c.isCommitted(target, 'nope'), false);
    });
    assert.deepEqual(await rows(`SELECT count(*)::int AS n FROM canary`), [{ n: '1' }]);
    const diff = await rows(
      `SELECT * FROM ${q(schema)}.${q(table)} EXCEPT ALL SELECT * FROM ${q(schema)}.${q('tgt "x; DROP TABLE canary"')}
       UNION ALL SELECT * FROM ${q(schema)}.${q('tgt "x; DROP TABLE canary"')} EXCEPT ALL SELECT * FROM ${q(schema)}.${q(table)}`,
    );
    assert.deepEqual(diff, []);
    assert.deepEqual(await rows(`SELECT count(*)::int AS n FROM ${q(schema)}._pigeon_loads`), [{ n: '4' }]);
    assert.deepEqual(await stagingLeft(), []);
  });

  test('pigeon run: postgres → postgres through the CLI, split, overwrite then merge', async () => {
    await db.query(`
      CREATE TABLE cli_src (id bigint PRIMARY KEY, name text, amount numeric(12,2), raw bytea, at timestamptz);
      INSERT INTO cli_src SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'name "' || g || E'"\\n,' END, g * 1.25, decode(md5(g::text), 'hex'),
        '2026-03-01 00:00:00+00'::timestamptz + g * interval '1 minute' FROM generate_series(1, 3000) g;
    `);
    const t = tempDir('pigeon-pg-cli-');
    try {
      // Two nodes may not write one table in one pipeline (validate refuses it): the merge is a pipeline of its own.
      const pipeline = (name: string, node: string): string =>
        `version: 1\nname: ${name}\nconnections:\n  pg: { type: postgres, url: "${URL}", max_connections: 3 }\n` +
        `staging: { compress: gzip }\ndefaults: { retries: 0 }\nnodes:\n${node}`;
      writeFileSync(join(t.dir, 'p.yaml'), pipeline('pgcli', `  copy:
    source: { connection: pg, table: cli_src, split: { column: id, chunks: 4 } }
    target: { connection: pg, table: cli_dst, mode: overwrite }
`));
      writeFileSync(join(t.dir, 'm.yaml'), pipeline('pgcli_merge', `  upsert:
    source: { connection: pg, table: cli_src, where: "id > 2990" }
    target: { connection: pg, table: cli_dst, mode: merge, key: [id] }
`));
      const run = async (): Promise<void> => {
        for (const file of ['p.yaml', 'm.yaml']) {
          const r = await pigeon(['run', file, '--progress', '0'], { cwd: t.dir });
          assert.equal(r.code, 0, r.stderr);
        }
      };
      await run();
      const same = async () => rows(`SELECT count(*)::int AS n FROM (SELECT * FROM cli_src EXCEPT ALL SELECT * FROM cli_dst) x`);
      assert.deepEqual(await same(), [{ n: '0' }]);
      assert.deepEqual(await rows(`SELECT count(*)::int AS n FROM cli_dst`), [{ n: '3000' }]);
      await db.query(`UPDATE cli_src SET name = 'changed' WHERE id > 2995`);
      await run();
      assert.deepEqual(await same(), [{ n: '0' }]);
      assert.deepEqual(await rows(`SELECT count(*)::int AS n FROM cli_dst WHERE name = 'changed'`), [{ n: '5' }]);
      const plan = await pigeon(['plan', 'm.yaml'], { cwd: t.dir });
      assert.equal(plan.code, 0, plan.stderr);
      assert.match(plan.stdout, /COPY \(SELECT \* FROM "cli_src" WHERE \(id > 2990\)\) TO STDOUT/);
    } finally {
      t.cleanup();
    }
    assert.deepEqual(await stagingLeft(), []);
  });

  test('bad credentials fail to connect, permanently; a server that is down is a transient failure', async () => {
    const create = await postgresKind.load();
    const wrongDb = create({ name: 'pg', type: 'postgres', url: `postgres://postgres:s3cret-pw@${HOST}:${PORT}/pigeon_no_such_db` }, { cwd: work.dir, tmpDir: work.dir });
    const e1 = await wrongDb.open().catch((x: unknown) => x);
    assert.ok(e1 instanceof PipelineError);
    assert.equal(e1.code, 'CONNECT_FAILED');
    assert.equal(e1.transient, false);
    assert.doesNotMatch(e1.message, /s3cret-pw/);
    const down = create({ name: 'pg', type: 'postgres', host: HOST, port: 1, user: 'postgres' }, { cwd: work.dir, tmpDir: work.dir });
    const e2 = await down.open().catch((x: unknown) => x);
    assert.ok(e2 instanceof PipelineError);
    assert.equal(e2.code, 'CONNECT_FAILED');
    assert.equal(e2.transient, true);
    assert.throws(() => create({ name: 'pg', type: 'postgres', url: URL, options: { nope: 1 } }, { cwd: work.dir, tmpDir: work.dir }), (e: unknown) => {
      return e instanceof PipelineError && e.code === 'INVALID_CONFIG' && e.location.connection === 'pg';
    });
    const noSchema = create({ name: 'pg', type: 'postgres', url: URL, options: { schema: 'no_such_schema' } }, { cwd: work.dir, tmpDir: work.dir });
    const e3 = await noSchema.open().catch((x: unknown) => x);
    assert.ok(e3 instanceof PipelineError);
    assert.equal(e3.code, 'INVALID_CONFIG');
  });

  test('host/port/user/database and options.schema: unqualified tables are read and created in that schema', async () => {
    await db.query(`CREATE SCHEMA side; CREATE TABLE side.things (id int, v text); INSERT INTO side.things VALUES (1, 'a')`);
    const create = await postgresKind.load();
    const c = create(
      { name: 'pg', type: 'postgres', host: HOST, port: PORT, user: 'postgres', database: DB, options: { schema: 'side' } },
      { cwd: work.dir, tmpDir: work.dir },
    );
    await c.open();
    try {
      await copyTable(c, 'things', 'things_copy', 'overwrite');
    } finally {
      await c.close();
    }
    assert.deepEqual(await rows(`SELECT id::text, v FROM side.things_copy`), [{ id: '1', v: 'a' }]);
    assert.deepEqual(await rows(`SELECT count(*)::int AS n FROM side._pigeon_loads`), [{ n: '1' }]);
  });

  test('a URL with escaped parts, a separate password and sslmode', () => {
    const c = postgresConfig(
      { name: 'pg', type: 'postgres', url: 'postgresql://u%40x:p%3Aw@db.example:6543/my%2Fdb?sslmode=require', password: 'from-env' },
      4,
    );
    assert.deepEqual(c.connect, { host: 'db.example', port: 6543, user: 'u@x', password: 'from-env', database: 'my/db', ssl: { rejectUnauthorized: false } });
    assert.deepEqual(c.secrets, ['from-env', 'p:w']);
    assert.throws(() => postgresConfig({ name: 'pg', type: 'postgres', url: 'postgres://h/d?foo=1' }, 4), /parameter that is not supported/);
    assert.throws(() => postgresConfig({ name: 'pg', type: 'postgres', url: 'postgres://h/d', host: 'h' }, 4), /either `url` or `host`/);
  });
});
