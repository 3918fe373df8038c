import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type { ChunkFeed, ChunkSpec, Connector, ExportRequest, StagedChunk } from '../../src/connectors/contract.js';
import { mysqlKind } from '../../src/connectors/mysql/mysql-kind.js';
import type { Connector as MysqlConnector } from '../../src/connectors/contract.js';
import { openChunkFile } from '../../src/csv/chunk-file.js';
import type { ColumnSchema } from '../../src/csv/types.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';
import { pigeon, tempDir } from '../support/cli.js';
import { readyFeed } from '../support/feeds.js';
import { expectError, exportToFiles, importRequest } from '../support/connector-io.js';
import { allowLargePackets } from '../support/engines.js';

// The nasty table holds a 16 MiB value: MariaDB's default max_allowed_packet (16 MiB) refuses it.
before(allowLargePackets);

const SERVER = { host: '127.0.0.1', port: 3306, user: 'root' };

/** A fresh database for one test, dropped afterwards whatever happens. */
async function withDatabases(count: number, fn: (dbs: string[], admin: mysql.Connection) => Promise<void>): Promise<void> {
  const admin = await mysql.createConnection({ ...SERVER, multipleStatements: true, timezone: 'Z' });
  await admin.query(`SET time_zone = '+00:00'`);
  const dbs = Array.from({ length: count }, () => `pigeon_t_${randomBytes(6).toString('hex')}`);
  try {
    for (const db of dbs) await admin.query(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4`);
    await fn(dbs, admin);
  } finally {
    for (const db of dbs) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await admin.end();
  }
}

async function connect(db: string, options?: Record<string, unknown>): Promise<MysqlConnector> {
  const create = await mysqlKind.load();
  const c = create(
    { name: 'my', type: 'mysql', url: `mysql://root@127.0.0.1:3306/${db}`, ...(options ? { options } : {}) },
    { cwd: process.cwd(), tmpDir: process.cwd() },
  ) as MysqlConnector;
  await c.open();
  return c;
}

function exportReq(table: string, extra: Partial<ExportRequest['source']> = {}): ExportRequest {
  return { node: 'n', source: { connection: 'my', table, ...extra } };
}

/** Exports every chunk into real chunk files of `dir` (the chunks the connector plans unless given). */
function exportChunks(c: Connector, req: ExportRequest, dir: string, specs?: readonly ChunkSpec[]) {
  return exportToFiles(c, req, dir, specs);
}

function feedOf(chunks: readonly StagedChunk[], total: number, taken: { count: number } = { count: 0 }): ChunkFeed {
  return {
    totalRows: async () => total,
    backlog: () => 0,
    async *[Symbol.asyncIterator]() {
      for (const c of chunks) {
        taken.count++;
        yield c;
      }
    },
  };
}

const importReq = importRequest;

/** Rows as text (bytes as hex): the exact comparison of two tables. */
async function rows(admin: mysql.Connection, sql: string): Promise<(string | null)[][]> {
  const [r] = await admin.query({
    sql,
    rowsAsArray: true,
    typeCast: (field) => {
      const b = field.buffer();
      return b === null ? null : b.toString('utf8');
    },
  });
  return r as (string | null)[][];
}

/** `SELECT i FROM …` for i = 1..n (portable: no recursive CTE, whose depth MySQL limits). */
function numbers(n: number): string {
  const digit = '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';
  const parts = Array.from({ length: 6 }, (_, k) => `${digit} AS d${k}`);
  const sum = Array.from({ length: 6 }, (_, k) => `d${k}.d * ${10 ** k}`).join(' + ');
  return `SELECT i FROM (SELECT ${sum} + 1 AS i FROM ${parts.join(' CROSS JOIN ')}) AS pigeon_numbers WHERE i <= ${n}`;
}

async function leftovers(admin: mysql.Connection, db: string): Promise<string[]> {
  const [r] = await admin.query(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND (TABLE_NAME LIKE '\\_pigeon\\_stg\\_%' OR TABLE_NAME LIKE '\\_pigeon\\_old\\_%')`, [db]);
  return (r as { TABLE_NAME: string }[]).map((x) => x.TABLE_NAME);
}


const NASTY_DDL = `(
  id INT PRIMARY KEY,
  s VARCHAR(200) NULL,
  t TEXT NULL,
  big LONGTEXT NULL,
  dec38 DECIMAL(38,10) NULL,
  ubig BIGINT UNSIGNED NULL,
  sbig BIGINT NULL,
  f FLOAT NULL,
  d DOUBLE NULL,
  dt DATETIME(6) NULL,
  ts TIMESTAMP(6) NULL DEFAULT NULL,
  dd DATE NULL,
  tm TIME(6) NULL,
  j JSON NULL,
  b BLOB NULL,
  vb VARBINARY(16) NULL,
  flag TINYINT(1) NULL,
  tiny TINYINT UNSIGNED NULL,
  yr YEAR NULL,
  bits BIT(10) NULL,
  e ENUM('a', 'b,c', 'd''e') NULL,
  st SET('x', 'y') NULL
) CHARACTER SET utf8mb4`;

const NASTY_STRINGS = [
  null,
  '',
  '\\N',
  'NULL',
  'say "hi", \'you\'',
  'a,b,,c',
  'line1\r\nline2\nline3\r',
  'tab\there\t',
  'back\\slash \\\\ \\t \\n not escapes',
  'emoji 🐦 and 𝄞 (4-byte UTF-8)',
  '  leading and trailing  ',
  'nul \u0000 inside',
  '"',
];

/** The nasty-values table; `bigBytes` sets the size of the one huge LONGTEXT (0: none). */
async function makeNasty(admin: mysql.Connection, db: string, table: string, bigBytes: number): Promise<number> {
  await admin.query(`CREATE TABLE \`${db}\`.\`${table}\` ${NASTY_DDL}`);
  const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const fixed: unknown[][] = [
    // id, dec38, ubig, sbig, f, d, dt, ts, dd, tm, j, b, vb, flag, tiny, yr, bits, e, st
    [1, '9999999999999999999999999999.9999999999', '18446744073709551615', '-9223372036854775808', 0.1, 0.1, '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000', '1000-01-01', '-838:59:59.000000', '{"a": [1, 2.5, "x\\"y"], "b": null, "e": "🐦"}', everyByte, Buffer.from([0, 255]), 0, 0, 1901, 0b1010101010, 'a', 'x,y'],
    [2, '-9999999999999999999999999999.9999999999', '0', '9223372036854775807', -0, -0, '1969-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '1969-12-31', '838:59:59.000000', '[]', Buffer.alloc(0), Buffer.alloc(0), 1, 255, 2155, 0, 'b,c', ''],
    [3, '0.0000000001', '9223372036854775808', '-1', 3.4028234663852886e38, 1.7976931348623157e308, '2038-01-20 03:14:08.000001', '2000-02-29 12:00:00.500000', '2038-01-20', '00:00:00.000001', '"str"', Buffer.from('\\N'), Buffer.from('\t\n'), null, 7, 2000, 1023, "d'e", 'y'],
    [4, '-0.0000000001', null, null, 1.401298464324817e-45, 5e-324, '9999-12-31 23:59:59.999999', null, '9999-12-31', '23:59:59.999999', 'null', null, null, null, null, null, null, null, null],
    [5, '0.0000000000', '1', '0', 16777216, 2.2250738585072014e-308, '2024-06-30 12:34:56.000000', '2024-06-30 12:34:56.123456', '2024-06-30', '12:00:00.000000', '{"deep": {"n": 12345678901234567890}}', Buffer.from('héllo'), Buffer.from([0]), 0, 1, 1999, 1, 'a', 'x'],
    [6, '1234567890123456789012345678.0123456789', '12345678901234567890', '-4611686018427387904', -1.5, 1 / 3, '2000-01-01 00:00:00.000000', '1999-12-31 23:59:59.000000', '2000-01-01', '-00:00:00.000001', '{}', Buffer.from([1, 2, 3]), Buffer.from([255]), 1, 128, 2024, 512, 'b,c', 'x,y'],
  ];
  let id = 0;
  for (const s of NASTY_STRINGS) {
    const base = fixed[id % fixed.length]!;
    id++;
    const values = [id, s, s === null ? null : `${s}${s}`, null, ...base.slice(1)];
    await admin.query(`INSERT INTO \`${db}\`.\`${table}\` VALUES (${values.map(() => '?').join(', ')})`, values);
  }
  if (bigBytes > 0) {
    // Built on the server in pieces: one statement of this size would exceed max_allowed_packet.
    await admin.query(`UPDATE \`${db}\`.\`${table}\` SET big = '' WHERE id = 2`);
    const piece = 'ab🐦\n\t\\"'.repeat(1024);
    const pieceBytes = Buffer.byteLength(piece);
    for (let done = 0; done < bigBytes; done += pieceBytes * 64) {
      await admin.query(`UPDATE \`${db}\`.\`${table}\` SET big = CONCAT(big, REPEAT(?, 64)) WHERE id = 2`, [piece]);
    }
  }
  return id;
}

/** Everything of the nasty table as comparable text; FLOAT/DOUBLE exactly, with the sign of zero. */
function nastyFingerprint(db: string, table: string): string {
  return (
    'SELECT id, s, t, MD5(big), LENGTH(big), dec38, ubig, sbig, HEX(f * 1e0), (f * 1e0), ATAN2(f, -1), (d * 1e0), ATAN2(d, -1), ' +
    `dt, ts, dd, tm, j, HEX(b), HEX(vb), flag, tiny, yr, bits + 0, e, st FROM \`${db}\`.\`${table}\` ORDER BY id`
  );
}

test('describe maps every MySQL type to its portable type from the metadata alone', async () => {
  await withDatabases(1, async ([db], admin) => {
    await makeNasty(admin, db!, 'nasty', 0);
    const c = await connect(db!);
    try {
      const cols = await c.describe(exportReq('nasty'));
      const byName = Object.fromEntries(cols.map((x) => [x.name, x]));
      const portable = (n: string) => {
        const x = byName[n]!;
        return [x.type, x.precision, x.scale, x.length].filter((v) => v !== undefined).join(':');
      };
      assert.deepEqual(
        Object.fromEntries(cols.map((x) => [x.name, portable(x.name)])),
        {
          id: 'int32', s: 'string:200', t: 'text', big: 'text', dec38: 'decimal:38:10', ubig: 'uint64', sbig: 'int64',
          f: 'float32', d: 'float64', dt: 'timestamp:6', ts: 'timestamptz:6', dd: 'date', tm: 'time:6', j: 'json', b: 'binary',
          vb: 'binary', flag: 'boolean', tiny: 'int16', yr: 'int16', bits: 'binary', e: 'string:3', st: 'string:3',
        },
      );
      assert.equal(byName.id!.nullable, false);
      assert.equal(byName.s!.nullable, true);
      assert.equal(byName.ubig!.source_type, 'bigint unsigned');
      assert.equal(byName.dt!.source_type, 'datetime(6)');
      assert.equal(byName.flag!.source_type, 'tinyint(1)');
      const asInt = await connect(db!, { tinyint1: 'integer' });
      try {
        assert.equal((await asInt.describe(exportReq('nasty', { columns: ['flag'] })))[0]!.type, 'int16');
      } finally {
        await asInt.close();
      }
    } finally {
      await c.close();
    }
  });
});

test('round trip mysql → mysql of a nasty-values table is exact, value by value, including a 16 MiB LONGTEXT', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(2, async ([src, dst], admin) => {
    await makeNasty(admin, src!, 'nasty', 16 * 1024 * 1024);
    await admin.query(`CREATE TABLE \`${dst}\`.\`nasty\` LIKE \`${src}\`.\`nasty\``);
    const from = await connect(src!);
    const to = await connect(dst!);
    try {
      const exp = await exportChunks(from, exportReq('nasty'), tmp.dir);
      assert.equal(exp.total, NASTY_STRINGS.length);
      const res = await to.import(importReq('nasty', exp.columns, 'overwrite'), feedOf(exp.chunks, exp.total));
      assert.equal(res.rows, NASTY_STRINGS.length);
      const [bigLen] = (await rows(admin, `SELECT LENGTH(big) FROM \`${dst}\`.nasty WHERE id = 2`))[0]!;
      assert.ok(Number(bigLen) >= 16 * 1024 * 1024);
      assert.deepEqual(await rows(admin, nastyFingerprint(dst!, 'nasty')), await rows(admin, nastyFingerprint(src!, 'nasty')));

      // Into a table pigeon creates from the sidecar: the documented types, the same values.
      await to.import(importReq('created', exp.columns, 'append'), feedOf(exp.chunks, exp.total));
      const [types] = await admin.query(`SELECT COLUMN_NAME AS n, COLUMN_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'created' ORDER BY ORDINAL_POSITION`, [dst]);
      const created = Object.fromEntries((types as { n: string; t: string }[]).map((x) => [x.n, x.t.toLowerCase()]));
      assert.deepEqual(created, {
        id: 'int(11)', s: 'varchar(200)', t: 'longtext', big: 'longtext', dec38: 'decimal(38,10)', ubig: 'bigint(20) unsigned',
        sbig: 'bigint(20)', f: 'float', d: 'double', dt: 'datetime(6)', ts: 'datetime(6)', dd: 'date', tm: 'time(6)', j: 'longtext',
        b: 'longblob', vb: 'longblob', flag: 'tinyint(1)', tiny: 'smallint(6)', yr: 'smallint(6)', bits: 'longblob', e: 'varchar(3)', st: 'varchar(3)',
      });
      const same = 'SELECT id, s, t, MD5(big), dec38, ubig, sbig, (f * 1e0), (d * 1e0), dt, ts, dd, tm, j, HEX(b), HEX(vb), flag, tiny, yr, e, st';
      assert.deepEqual(
        await rows(admin, `${same} FROM \`${dst}\`.created ORDER BY id`),
        await rows(admin, `${same} FROM \`${src}\`.nasty ORDER BY id`),
      );
      // BIT(10) travels as its bytes.
      assert.deepEqual(await rows(admin, `SELECT HEX(bits) FROM \`${dst}\`.created WHERE id = 1`), [['02AA']]);
    } finally {
      await from.close();
      await to.close();
      tmp.cleanup();
    }
  });
});

test('FLOAT and DOUBLE export as the shortest exact text; TIMESTAMP in UTC with +00', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(1, async ([db], admin) => {
    await makeNasty(admin, db!, 'nasty', 0);
    await admin.query(`SET time_zone = '+05:30'`);
    const c = await connect(db!);
    try {
      const exp = await exportChunks(c, exportReq('nasty', { columns: ['id', 'f', 'd', 'ts', 'flag', 'b', 'j'], where: 'id <= 6' }), tmp.dir);
      const csv = readFileSync(exp.chunks[0]!.name, 'utf8');
      const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('base64');
      assert.deepEqual(csv.split('\n'), [
        'id,f,d,ts,flag,b,j',
        `1,0.1,0.1,1970-01-01 00:00:01.000000+00,false,${everyByte},"{""a"": [1, 2.5, ""x\\""y""], ""b"": null, ""e"": ""🐦""}"`,
        // MariaDB stores -0 as 0 (MySQL keeps it, and its text says -0); the empty BLOB is "", not NULL.
        '2,0,0,2038-01-19 03:14:07.999999+00,true,"",[]',
        // FLT_MAX: the shortest float text 3.4028235e+38 is above FLT_MAX as a double, which MySQL refuses.
        '3,3.4028234663852886e+38,1.7976931348623157e+308,2000-02-29 12:00:00.500000+00,\\N,XE4=,"""str"""',
        '4,1e-45,5e-324,\\N,\\N,\\N,null',
        '5,16777216,2.2250738585072014e-308,2024-06-30 12:34:56.123456+00,false,aMOpbGxv,"{""deep"": {""n"": 12345678901234567890}}"',
        '6,-1.5,0.3333333333333333,1999-12-31 23:59:59.000000+00,true,AQID,{}',
        '',
      ]);
    } finally {
      await c.close();
      tmp.cleanup();
    }
  });
});

test('random FLOAT and DOUBLE values export to text that reads back to the exact stored value', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(1, async ([db], admin) => {
    await admin.query(`CREATE TABLE \`${db}\`.fl (id INT PRIMARY KEY, f FLOAT, d DOUBLE, d2 DOUBLE(12,4))`);
    const bits = Buffer.alloc(8);
    const values: number[] = [];
    for (let i = 0; i < 3000; i++) {
      let d: number;
      do {
        randomBytes(8).copy(bits);
        d = bits.readDoubleLE(0);
      } while (!Number.isFinite(d));
      let f: number;
      do {
        f = randomBytes(4).readFloatLE(0);
      } while (!Number.isFinite(f));
      values.push(i, f, i % 2 === 0 ? d : Math.random() * 10 ** (i % 40 - 20), Math.round(Math.random() * 1e10) / 1e4);
    }
    for (let at = 0; at < values.length; at += 4 * 500) {
      const part = values.slice(at, at + 4 * 500);
      await admin.execute(`INSERT INTO \`${db}\`.fl VALUES ${Array.from({ length: part.length / 4 }, () => '(?, ?, ?, ?)').join(', ')}`, part);
    }
    // The binary protocol gives the stored float and double exactly, as numbers.
    const [stored] = await admin.execute(`SELECT id, f, d, d2 FROM \`${db}\`.fl ORDER BY id`);
    const c = await connect(db!);
    try {
      const exp = await exportChunks(c, exportReq('fl'), tmp.dir);
      const lines = readFileSync(exp.chunks[0]!.name, 'utf8').trim().split('\n').slice(1);
      const byId = new Map(lines.map((l) => [Number(l.split(',')[0]), l.split(',').slice(1).map(Number)]));
      for (const row of stored as { id: number; f: number; d: number; d2: number }[]) {
        const [f, d, d2] = byId.get(row.id)!;
        assert.ok(Object.is(Math.fround(f!), row.f), `float ${row.f} exported as ${f}`);
        assert.ok(Object.is(d, row.d), `double ${row.d} exported as ${d}`);
        assert.ok(Object.is(d2, row.d2), `double(12,4) ${row.d2} exported as ${d2}`);
      }
    } finally {
      await c.close();
      tmp.cleanup();
    }
  });
});

test('GEOMETRY exports as WKB and loads back as a geometry; MariaDB UUID is uuid', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(2, async ([src, dst], admin) => {
    const [[{ v }]] = (await admin.query('SELECT VERSION() AS v')) as unknown as [[{ v: string }]];
    const mariadb = v.includes('MariaDB');
    await admin.query(`CREATE TABLE \`${src}\`.g (id INT, g GEOMETRY NULL${mariadb ? ', u UUID NULL' : ''})`);
    await admin.query(`INSERT INTO \`${src}\`.g (id, g) VALUES (1, ST_GeomFromText('POINT(1 2)')), (2, ST_GeomFromText('LINESTRING(0 0, 1 1)')), (3, NULL)`);
    if (mariadb) await admin.query(`UPDATE \`${src}\`.g SET u = '123e4567-e89b-12d3-a456-426614174000' WHERE id = 1`);
    await admin.query(`CREATE TABLE \`${dst}\`.g LIKE \`${src}\`.g`);
    const from = await connect(src!);
    const to = await connect(dst!);
    try {
      const exp = await exportChunks(from, exportReq('g'), tmp.dir);
      assert.equal(exp.columns[1]!.type, 'binary');
      if (mariadb) assert.equal(exp.columns[2]!.type, 'uuid');
      const text = readFileSync(exp.chunks[0]!.name, 'utf8');
      const wkb = Buffer.from(text.split('\n')[1]!.split(',')[1]!, 'base64').toString('hex').toUpperCase();
      assert.equal(wkb, '0101000000000000000000F03F0000000000000040');
      await to.import(importReq('g', exp.columns, 'append'), feedOf(exp.chunks, exp.total));
      await to.import(importReq('g_blob', exp.columns, 'append'), feedOf(exp.chunks, exp.total));
      const load = await connect(dst!, { local_infile: false });
      try {
        await load.import(importReq('g', exp.columns, 'append'), feedOf(exp.chunks, exp.total));
      } finally {
        await load.close();
      }
      const geo = await rows(admin, `SELECT id, ST_AsText(g) FROM \`${dst}\`.g ORDER BY id`);
      assert.deepEqual(geo, [['1', 'POINT(1 2)'], ['1', 'POINT(1 2)'], ['2', 'LINESTRING(0 0,1 1)'], ['2', 'LINESTRING(0 0,1 1)'], ['3', null], ['3', null]]);
      assert.deepEqual(await rows(admin, `SELECT HEX(g) FROM \`${dst}\`.g_blob WHERE id = 1`), [[wkb]]);
      if (mariadb) assert.deepEqual(await rows(admin, `SELECT u FROM \`${dst}\`.g_blob WHERE id = 1`), [['123e4567-e89b-12d3-a456-426614174000']]);
    } finally {
      await from.close();
      await to.close();
      tmp.cleanup();
    }
  });
});

test('every mode: overwrite keeps the target and its indexes, append adds, merge upserts with the last row of a key winning', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(2, async ([src, dst], admin) => {
    await admin.query(`CREATE TABLE \`${src}\`.u (id INT NULL, name VARCHAR(20), n INT)`);
    await admin.query(`INSERT INTO \`${src}\`.u VALUES (1, 'ann', 1), (2, 'bob', 1), (2, 'bobby', 2), (3, 'cy', 1), (NULL, 'nokey', 1), (NULL, 'nokey2', 2), (3, 'cyril', 3)`);
    await admin.query(`CREATE TABLE \`${dst}\`.ow (id INT PRIMARY KEY, name VARCHAR(20), n INT, extra INT DEFAULT 7, INDEX by_name (name))`);
    await admin.query(`INSERT INTO \`${dst}\`.ow (id, name, n) VALUES (9, 'old', 0)`);
    await admin.query(`CREATE TABLE \`${dst}\`.mk (id INT, name VARCHAR(20), n INT, UNIQUE KEY uk (id))`);
    await admin.query(`INSERT INTO \`${dst}\`.mk VALUES (1, 'old1', 0), (4, 'old4', 0)`);
    await admin.query(`CREATE TABLE \`${dst}\`.mn (id INT, name VARCHAR(20), n INT)`);
    await admin.query(`INSERT INTO \`${dst}\`.mn VALUES (1, 'old1', 0), (4, 'old4', 0), (NULL, 'oldnull', 0)`);
    const from = await connect(src!);
    const to = await connect(dst!);
    try {
      // Two chunks, so "last wins" has to hold across chunk files too.
      const exp = await exportChunks(from, exportReq('u', { where: 'id IS NULL OR id <> 3 OR name = \'cy\'' }), join(tmp.dir, 'a'));
      const exp2 = await exportChunks(from, exportReq('u', { where: "id = 3 AND name <> 'cy'" }), join(tmp.dir, 'b'));
      const chunks = [exp.chunks[0]!, { ...exp2.chunks[0]!, index: 2 }];
      const total = exp.total + exp2.total;

      // overwrite: a unique key on id would reject the duplicate ids, so this one loads the unique rows only.
      const uniq = await exportChunks(from, exportReq('u', { where: "id IS NOT NULL AND name NOT IN ('bob', 'cy')" }), join(tmp.dir, 'c'));
      await to.import(importReq('ow', uniq.columns, 'overwrite'), feedOf(uniq.chunks, uniq.total));
      assert.deepEqual(await rows(admin, `SELECT id, name, n, extra FROM \`${dst}\`.ow ORDER BY id`), [['1', 'ann', '1', '7'], ['2', 'bobby', '2', '7'], ['3', 'cyril', '3', '7']]);
      const [idx] = await admin.query(`SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'ow' ORDER BY INDEX_NAME`, [dst]);
      assert.deepEqual((idx as { INDEX_NAME: string }[]).map((x) => x.INDEX_NAME), ['by_name', 'PRIMARY']);

      // overwrite of a table with a trigger and a foreign key to it: replaced by key in one transaction (a kept key is
      // updated, so no ON DELETE rule fires on it), and trigger and key stay; the insert trigger sees the new keys.
      await admin.query(`CREATE TABLE \`${dst}\`.owt (id INT PRIMARY KEY, name VARCHAR(20), n INT)`);
      await admin.query(`INSERT INTO \`${dst}\`.owt VALUES (1, 'old', 0), (9, 'gone', 0)`);
      await admin.query(`CREATE TABLE \`${dst}\`.audit (id INT, FOREIGN KEY (id) REFERENCES \`${dst}\`.owt (id) ON DELETE SET NULL)`);
      await admin.query(`CREATE TRIGGER \`${dst}\`.owt_ins AFTER INSERT ON \`${dst}\`.owt FOR EACH ROW INSERT INTO \`${dst}\`.audit VALUES (NEW.id)`);
      await to.import(importReq('owt', uniq.columns, 'overwrite'), feedOf(uniq.chunks, uniq.total));
      assert.deepEqual(await rows(admin, `SELECT id, name FROM \`${dst}\`.owt ORDER BY id`), [['1', 'ann'], ['2', 'bobby'], ['3', 'cyril']]);
      assert.deepEqual(await rows(admin, `SELECT id FROM \`${dst}\`.audit ORDER BY id`), [['2'], ['3']]);
      const [trg] = await admin.query(`SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?`, [dst]);
      assert.equal((trg as unknown[]).length, 1);

      // append, twice: every row each time, in load order.
      await to.import(importReq('ap', exp.columns, 'append'), feedOf(chunks, total));
      await to.import(importReq('ap', exp.columns, 'append'), feedOf(chunks, total));
      assert.equal((await rows(admin, `SELECT COUNT(*) FROM \`${dst}\`.ap`))[0]![0], String(2 * total));

      // merge on a UNIQUE key: upsert, last row per key wins.
      await to.import(importReq('mk', exp.columns, 'merge', { key: ['id'] }), feedOf(chunks, total));
      assert.deepEqual(await rows(admin, `SELECT id, name, n FROM \`${dst}\`.mk ORDER BY id, name`), [
        [null, 'nokey2', '2'],
        ['1', 'ann', '1'],
        ['2', 'bobby', '2'],
        ['3', 'cyril', '3'],
        ['4', 'old4', '0'],
      ]);

      // merge without a unique key: delete the loaded keys (NULL too), insert the last row of each.
      await to.import(importReq('mn', exp.columns, 'merge', { key: ['id'] }), feedOf(chunks, total));
      assert.deepEqual(await rows(admin, `SELECT id, name, n FROM \`${dst}\`.mn ORDER BY id, name`), [
        [null, 'nokey2', '2'],
        ['1', 'ann', '1'],
        ['2', 'bobby', '2'],
        ['3', 'cyril', '3'],
        ['4', 'old4', '0'],
      ]);

      // merge into a missing table creates it.
      await to.import(importReq('mnew', exp.columns, 'merge', { key: ['id'] }), feedOf(chunks, total));
      assert.equal((await rows(admin, `SELECT COUNT(*) FROM \`${dst}\`.mnew`))[0]![0], '4');

      // create: never refuses a missing table, and leaves nothing behind.
      const never = await expectError(to.import(importReq('absent', exp.columns, 'append', { create: 'never' }), feedOf(chunks, total)));
      assert.equal(never.code, 'IMPORT_FAILED');
      assert.deepEqual(await leftovers(admin, dst!), []);
    } finally {
      await from.close();
      await to.close();
      tmp.cleanup();
    }
  });
});

test('the INSERT fallback loads the same values when local infile is off (by option, and refused by the server)', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(2, async ([src, dst], admin) => {
    await makeNasty(admin, src!, 'nasty', 1024 * 1024);
    await admin.query(`CREATE TABLE \`${dst}\`.a LIKE \`${src}\`.nasty`);
    await admin.query(`CREATE TABLE \`${dst}\`.b LIKE \`${src}\`.nasty`);
    const from = await connect(src!);
    try {
      const exp = await exportChunks(from, exportReq('nasty'), tmp.dir);
      const byOption = await connect(dst!, { local_infile: false });
      try {
        await byOption.import(importReq('a', exp.columns, 'append'), feedOf(exp.chunks, exp.total));
        await byOption.import(importReq('c', exp.columns, 'merge', { key: ['id'] }), feedOf(exp.chunks, exp.total));
      } finally {
        await byOption.close();
      }
      assert.deepEqual(await rows(admin, nastyFingerprint(dst!, 'a')), await rows(admin, nastyFingerprint(src!, 'nasty')));
      assert.equal((await rows(admin, `SELECT COUNT(*) FROM \`${dst}\`.c`))[0]![0], String(exp.total));

      const [[{ v }]] = (await admin.query('SELECT @@GLOBAL.local_infile AS v')) as unknown as [[{ v: number }]];
      await admin.query('SET GLOBAL local_infile = 0');
      try {
        const refused = await connect(dst!);
        try {
          await refused.import(importReq('b', exp.columns, 'overwrite'), feedOf(exp.chunks, exp.total));
        } finally {
          await refused.close();
        }
      } finally {
        await admin.query('SET GLOBAL local_infile = ?', [v]);
      }
      assert.deepEqual(await rows(admin, nastyFingerprint(dst!, 'b')), await rows(admin, nastyFingerprint(src!, 'nasty')));
    } finally {
      await from.close();
      tmp.cleanup();
    }
  });
});

for (const path of ['LOAD DATA', 'INSERT'] as const) {
  test(`${path}: a value too long for its column fails with BAD_VALUE naming column, chunk and line; the target is unchanged`, async () => {
    const tmp = tempDir('pigeon-mysql-');
    await withDatabases(2, async ([src, dst], admin) => {
      await admin.query(`CREATE TABLE \`${src}\`.v (id INT, note TEXT, code VARCHAR(400))`);
      await admin.query(`INSERT INTO \`${src}\`.v VALUES (1, 'two\nlines', 'ok'), (2, 'three\r\nlines\n', 'ok'), (3, 'x', ?), (4, 'y', 'ok')`, ['z'.repeat(300)]);
      await admin.query(`CREATE TABLE \`${dst}\`.v (id INT, note TEXT, code VARCHAR(10))`);
      await admin.query(`INSERT INTO \`${dst}\`.v VALUES (42, 'before', 'kept')`);
      const from = await connect(src!);
      const to = await connect(dst!, path === 'INSERT' ? { local_infile: false } : undefined);
      try {
        const exp = await exportChunks(from, exportReq('v'), tmp.dir);
        for (const mode of ['overwrite', 'append', 'merge'] as const) {
          const e = await expectError(to.import(importReq('v', exp.columns, mode, { key: ['id'] }), feedOf(exp.chunks, exp.total)));
          assert.equal(e.code, 'BAD_VALUE', `${mode}: ${e.message}`);
          assert.equal(e.location.column, 'code');
          assert.equal(e.location.chunk, exp.chunks[0]!.name);
          // Header, two lines of row 1, three of row 2: row 3 starts on line 7.
          assert.equal(e.location.chunkLine, 7);
          assert.equal(e.location.table, 'v');
          assert.ok(e.cause, 'the server message is kept as the cause');
          assert.deepEqual(await rows(admin, `SELECT id, note, code FROM \`${dst}\`.v`), [['42', 'before', 'kept']]);
          assert.deepEqual(await leftovers(admin, dst!), []);
        }
        // Into a table that did not exist: no table is left behind either.
        await admin.query(`CREATE TABLE \`${src}\`.w (id INT, n DECIMAL(5,2))`);
        await admin.query(`INSERT INTO \`${src}\`.w VALUES (1, 1.5)`);
        const w = await exportChunks(from, exportReq('w'), join(tmp.dir, 'w'));
        const bad = [{ ...w.columns[0]!, type: 'int16' as const }, w.columns[1]!];
        writeFileSync(w.chunks[0]!.name, 'id,n\n1,1.5\n99999999,2\n');
        const e = await expectError(to.import(importReq('w_new', bad, 'append'), feedOf(w.chunks, 2)));
        assert.equal(e.code, 'BAD_VALUE');
        assert.equal(e.location.column, 'id');
        assert.equal(e.location.chunkLine, 3);
        const [t] = await admin.query(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`, [dst]);
        assert.deepEqual((t as { TABLE_NAME: string }[]).map((x) => x.TABLE_NAME).sort(), ['_pigeon_loads', 'v']);
      } finally {
        await from.close();
        await to.close();
        tmp.cleanup();
      }
    });
  });
}

test('overwrite loads a backlog of chunks over spare sessions; one bad chunk stops them all, the target unchanged', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(2, async ([src, dst], admin) => {
    await admin.query(`CREATE TABLE \`${src}\`.p (id INT PRIMARY KEY, code VARCHAR(400))`);
    await admin.query(`INSERT INTO \`${src}\`.p SELECT i, CONCAT('c', i) FROM (${numbers(40000)}) AS n`);
    await admin.query(`CREATE TABLE \`${dst}\`.p (id INT PRIMARY KEY, code VARCHAR(10), KEY code_idx (code))`);
    await admin.query(`INSERT INTO \`${dst}\`.p VALUES (0, 'keep')`);
    let spares = 0;
    const spareSession = <T>(work: () => Promise<T>): Promise<T> | undefined => {
      spares++;
      return work();
    };
    const from = await connect(src!);
    const to = await connect(dst!);
    try {
      const req = exportReq('p');
      const specs = await from.planChunks({ ...req, source: { ...req.source, split: { column: 'id', chunks: 8 } } });
      const exp = await exportChunks(from, req, tmp.dir, specs);
      assert.equal(exp.chunks.length, 8);
      assert.deepEqual(await to.import(importReq('p', exp.columns, 'overwrite', { spareSession }), readyFeed(exp.chunks, exp.total)), { rows: 40000 });
      assert.ok(spares >= 1, 'a spare session was asked for');
      assert.deepEqual(await rows(admin, `SELECT COUNT(*), MIN(id), MAX(id), SUM(code = CONCAT('c', id)) FROM \`${dst}\`.p`), [['40000', '1', '40000', '40000']]);
      assert.deepEqual(await rows(admin, `SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '${dst}' AND TABLE_NAME = 'p' ORDER BY 1`), [['code_idx'], ['PRIMARY']]);

      // A value too long for the target in the sixth chunk: whichever session loads it, the load stops.
      await admin.query(`UPDATE \`${src}\`.p SET code = REPEAT('z', 300) WHERE id = 25003`);
      const bad = await exportChunks(from, req, join(tmp.dir, 'bad'), specs);
      const sixth = bad.chunks.find((c) => readFileSync(c.name, 'utf8').includes('z'.repeat(300)))!;
      assert.ok(sixth.index > 1, 'the bad row is not in the first chunk');
      spares = 0;
      const e = await expectError(to.import(importReq('p', bad.columns, 'overwrite', { spareSession }), readyFeed(bad.chunks, bad.total)));
      assert.equal(e.code, 'BAD_VALUE', e.message);
      assert.equal(e.location.column, 'code');
      assert.equal(e.location.chunk, sixth.name);
      assert.ok(spares >= 1, 'a spare session was asked for');
      assert.deepEqual(await rows(admin, `SELECT COUNT(*), MIN(code) FROM \`${dst}\`.p`), [['40000', 'c1']], 'the target is unchanged');
      assert.deepEqual(await leftovers(admin, dst!), []);
      const [busy] = await admin.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'LOAD DATA%'`);
      assert.equal(Number((busy as { n: number }[])[0]!.n), 0, 'no load is left running');
    } finally {
      await from.close();
      await to.close();
      tmp.cleanup();
    }
  });
});

test('a split export on a skewed key with NULL keys returns every row exactly once', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(1, async ([db], admin) => {
    await admin.query(`CREATE TABLE \`${db}\`.sk (id INT PRIMARY KEY, k BIGINT UNSIGNED NULL)`);
    const values: string[] = [];
    for (let i = 1; i <= 5000; i++) {
      const k = i <= 3000 ? '7' : i <= 3300 ? 'NULL' : i <= 4990 ? String(i) : `${18446744073709551615n - BigInt(i)}`;
      values.push(`(${i}, ${k})`);
    }
    await admin.query(`INSERT INTO \`${db}\`.sk VALUES ${values.join(',')}`);
    const c = await connect(db!);
    try {
      const req = exportReq('sk');
      const specs = await c.planChunks({ ...req, source: { ...req.source, split: { column: 'k', chunks: 8 } } });
      const boundaries = specs.slice(1).map((s) => s.range!.lower!.value);
      assert.ok(boundaries.length >= 2 && boundaries.length < 7, `skewed quantiles collapse: ${boundaries.join(' ')}`);
      assert.deepEqual([...boundaries].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)), boundaries);
      const exp = await exportChunks(c, req, tmp.dir, specs);
      assert.equal(exp.total, 5000);
      const ids: number[] = [];
      for (const chunk of exp.chunks) {
        const text = readFileSync(chunk.name, 'utf8');
        for (const line of text.trim().split('\n').slice(1)) ids.push(Number(line.split(',')[0]));
      }
      assert.equal(ids.length, 5000);
      assert.equal(new Set(ids).size, 5000);
      assert.equal(await c.maxValue(req, 'k'), String(18446744073709551615n - 4991n));
    } finally {
      await c.close();
      tmp.cleanup();
    }
  });
});

/** Server sessions on the test's database (other tests may run against the same server at the same time). */
async function processCount(admin: mysql.Connection, ...dbs: string[]): Promise<number> {
  const [r] = await admin.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB IN (?) AND COMMAND <> 'Daemon'`, [dbs]);
  return Number((r as { n: number }[])[0]!.n);
}

test('aborting an export mid-stream stops the query and leaves no connection open', async () => {
  await withDatabases(1, async ([db], admin) => {
    await admin.query(`CREATE TABLE \`${db}\`.big (id INT PRIMARY KEY, pad VARCHAR(200))`);
    await admin.query(`INSERT INTO \`${db}\`.big SELECT i, REPEAT('p', 200) FROM (${numbers(200000)}) AS s`);
    const baseline = await processCount(admin, db!);
    const c = await connect(db!);
    try {
      const ac = new AbortController();
      let seen = 0;
      // The export may write rows one by one or as encoded pieces: either way, one write and it must wait.
      const stalled = {
        row: () => {
          seen++;
          return false;
        },
        raw: () => {
          seen++;
          return false;
        },
        drain: () => new Promise<void>(() => {}),
      };
      const running = c.exportChunk(exportReq('big'), { index: 1 }, stalled, ac.signal);
      while (seen === 0) await new Promise((r) => setTimeout(r, 10));
      ac.abort(new Error('stop'));
      await assert.rejects(running, /stop/);
      assert.equal(seen, 1, 'nothing is written after the sink asked to wait');
      // The server thread is killed, not left streaming into a paused socket.
      for (let i = 0; i < 100 && (await processCount(admin, db!)) > baseline; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await processCount(admin, db!), baseline);
      // The connector is still usable.
      assert.equal((await c.describe(exportReq('big'))).length, 2);
    } finally {
      await c.close();
    }
    assert.equal(await processCount(admin, db!), baseline);
  });
});

test('aborting an import while it waits for the next chunk leaves the target as it was, no staging, no connection', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(2, async ([src, dst], admin) => {
    await admin.query(`CREATE TABLE \`${src}\`.e (id INT, v VARCHAR(5))`);
    await admin.query(`INSERT INTO \`${src}\`.e VALUES (1, 'a'), (2, 'b')`);
    await admin.query(`CREATE TABLE \`${dst}\`.e (id INT, v VARCHAR(5))`);
    await admin.query(`INSERT INTO \`${dst}\`.e VALUES (7, 'kept')`);
    const baseline = await processCount(admin, src!, dst!);
    const from = await connect(src!);
    const to = await connect(dst!);
    try {
      const exp = await exportChunks(from, exportReq('e'), tmp.dir);
      let served = false;
      const stalled: ChunkFeed = {
        totalRows: () => new Promise<number>(() => {}),
        backlog: () => 0,
        async *[Symbol.asyncIterator]() {
          yield exp.chunks[0]!;
          served = true;
          await new Promise<void>(() => {});
        },
      };
      for (const mode of ['overwrite', 'append'] as const) {
        const ac = new AbortController();
        served = false;
        const running = to.import(importReq('e', exp.columns, mode), stalled, ac.signal);
        while (!served) await new Promise((r) => setTimeout(r, 10));
        ac.abort(new Error('stop'));
        await assert.rejects(running, /stop/);
        assert.deepEqual(await rows(admin, `SELECT id, v FROM \`${dst}\`.e`), [['7', 'kept']]);
        assert.deepEqual(await leftovers(admin, dst!), []);
      }
    } finally {
      await from.close();
      await to.close();
      tmp.cleanup();
    }
    for (let i = 0; i < 100 && (await processCount(admin, src!, dst!)) > baseline; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await processCount(admin, src!, dst!), baseline);
  });
});

test('a load already recorded is not loaded again: the feed is drained and the exported count returned', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(2, async ([src, dst], admin) => {
    await admin.query(`CREATE TABLE \`${src}\`.e (id INT, v VARCHAR(5))`);
    await admin.query(`INSERT INTO \`${src}\`.e VALUES (1, 'a'), (2, 'b')`);
    const from = await connect(src!);
    const to = await connect(dst!);
    try {
      assert.equal(await to.isCommitted('e', 'L1'), false, 'no load table yet');
      const exp = await exportChunks(from, exportReq('e'), tmp.dir);
      const req = importReq('e', exp.columns, 'append', { loadId: 'L1' });
      assert.deepEqual(await to.import(req, feedOf(exp.chunks, exp.total)), { rows: 2 });
      assert.equal(await to.isCommitted('e', 'L1'), true);
      assert.equal(await to.isCommitted('e', 'L2'), false);
      assert.equal(await to.isCommitted('other', 'L1'), false);
      const drained = { count: 0 };
      assert.deepEqual(await to.import(req, feedOf(exp.chunks, exp.total, drained)), { rows: 2 });
      assert.equal(drained.count, exp.chunks.length, 'every chunk was taken from the feed');
      assert.equal((await rows(admin, `SELECT COUNT(*) FROM \`${dst}\`.e`))[0]![0], '2');
      assert.deepEqual(await rows(admin, `SELECT load_id, target, \`rows\` FROM \`${dst}\`._pigeon_loads`), [['L1', 'e', '2']]);

      // A feed whose export counted other rows than the chunks hold fails before any commit.
      const wrong = await expectError(to.import(importReq('e', exp.columns, 'append'), feedOf(exp.chunks, 3)));
      assert.equal(wrong.code, 'ROW_COUNT_MISMATCH');
      assert.equal((await rows(admin, `SELECT COUNT(*) FROM \`${dst}\`.e`))[0]![0], '2');
    } finally {
      await from.close();
      await to.close();
      tmp.cleanup();
    }
  });
});

test('hostile table and column names round-trip through every mode', async () => {
  const tmp = tempDir('pigeon-mysql-');
  const table = "we`ird 'tbl; ü";
  const cols = ['co`l', "qu'ote", 'semi;colon', 'sp ace', 'ünï', '"dq'];
  const q = (s: string) => `\`${s.replaceAll('`', '``')}\``;
  await withDatabases(2, async ([src, dst], admin) => {
    await admin.query(`CREATE TABLE ${q(src!)}.${q(table)} (${cols.map((c) => `${q(c)} VARCHAR(20)`).join(', ')})`);
    await admin.query(`INSERT INTO ${q(src!)}.${q(table)} VALUES ('k1', 'a', 'b', 'c', 'd', 'e'), ('k2', 'f', 'g', 'h', 'i', 'j'), ('k1', 'A', 'B', 'C', 'D', 'E')`);
    const from = await connect(src!);
    const to = await connect(dst!);
    try {
      const exp = await exportChunks(from, exportReq(table), tmp.dir);
      assert.deepEqual(exp.columns.map((c) => c.name), cols);
      for (const mode of ['overwrite', 'append', 'merge'] as const) {
        await to.import(importReq(`${table} ${mode}`, exp.columns, mode, { key: ['co`l'] }), feedOf(exp.chunks, exp.total));
      }
      await to.import(importReq(`${table} merge`, exp.columns, 'merge', { key: ['co`l'] }), feedOf(exp.chunks, exp.total));
      await to.import(importReq(`${table} overwrite`, exp.columns, 'overwrite'), feedOf(exp.chunks, exp.total));
      // Sorted here: the source's collation is case-insensitive, the one pigeon creates is binary.
      const sorted = async (sql: string) => (await rows(admin, sql)).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
      const all = (t: string) => sorted(`SELECT * FROM ${q(dst!)}.${q(t)}`);
      assert.deepEqual(await all(`${table} overwrite`), await sorted(`SELECT * FROM ${q(src!)}.${q(table)}`));
      assert.deepEqual(await all(`${table} merge`), [['k1', 'A', 'B', 'C', 'D', 'E'], ['k2', 'f', 'g', 'h', 'i', 'j']]);
      assert.equal((await all(`${table} append`)).length, 3);
      assert.deepEqual(await leftovers(admin, dst!), []);
      // schema.table names a table of another database.
      await to.import(importReq(`${src}.copy`, exp.columns, 'overwrite'), feedOf(exp.chunks, exp.total));
      assert.equal((await rows(admin, `SELECT COUNT(*) FROM ${q(src!)}.copy`))[0]![0], '3');
      assert.equal(await to.isCommitted(`${src}.copy`, 'nope'), false);
    } finally {
      await from.close();
      await to.close();
      tmp.cleanup();
    }
  });
});

test('values from other engines: timestamptz with an offset lands as the same instant in UTC, booleans in any spelling', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(1, async ([db], admin) => {
    const path = join(tmp.dir, 'chunk-00001.csv');
    writeFileSync(
      path,
      'at,ok,n\n2024-01-01 10:00:00.123456+05:30,t,NaN\n2024-03-01 00:30:00-01,false,-1.5\n1999-12-31 23:59:59+00,1,1e+21\n2024-06-30 12:00:00,F,\\N\n',
    );
    const chunk: StagedChunk = { index: 1, name: path, rows: 4, open: () => openChunkFile(path, false) };
    const columns: ColumnSchema[] = [
      { name: 'at', type: 'timestamptz', nullable: true },
      { name: 'ok', type: 'boolean', nullable: true },
      { name: 'n', type: 'float64', nullable: true },
    ];
    const c = await connect(db!);
    try {
      // NaN has no MySQL value: refused with its line, before anything commits.
      const nan = await expectError(c.import(importReq('tz', columns, 'append'), feedOf([chunk], 4)));
      assert.equal(nan.code, 'BAD_VALUE');
      assert.equal(nan.location.column, 'n');
      assert.equal(nan.location.chunkLine, 2);
      writeFileSync(path, readFileSync(path, 'utf8').replace('NaN', '2.5'));
      await c.import(importReq('tz', columns, 'append'), feedOf([chunk], 4));
      assert.deepEqual(await rows(admin, `SELECT at, ok, n * 1e0 FROM \`${db}\`.tz ORDER BY at`), [
        ['1999-12-31 23:59:59.000000', '1', '1e21'],
        ['2024-01-01 04:30:00.123456', '1', '2.5'],
        ['2024-03-01 01:30:00.000000', '0', '-1.5'],
        ['2024-06-30 12:00:00.000000', '0', null],
      ]);
    } finally {
      await c.close();
      tmp.cleanup();
    }
  });
});

test('a chunk file the byte-level import does not expect: loaded by the general reader, or failed with its exact error', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(1, async ([db], admin) => {
    const path = join(tmp.dir, 'chunk-00001.csv');
    const columns: ColumnSchema[] = [
      { name: 'id', type: 'int32', nullable: false },
      { name: 's', type: 'text', nullable: true },
    ];
    const chunk = (rows: number): StagedChunk => ({ index: 1, name: path, rows, open: () => openChunkFile(path, false) });
    const c = await connect(db!);
    try {
      // CRLF line ends from the header on (another writer): nothing is sent before the general reader takes over.
      writeFileSync(path, 'id,s\r\n1,"a\r\nb"\r\n2,\\N\r\n3,""\r\n');
      await c.import(importReq('t', columns, 'overwrite'), feedOf([chunk(3)], 3));
      assert.deepEqual(await rows(admin, `SELECT id, s FROM \`${db}\`.t ORDER BY id`), [['1', 'a\r\nb'], ['2', null], ['3', '']]);

      // A broken record far into the file, after rows were already sent: BAD_CSV at its line, target unchanged.
      const good = Array.from({ length: 50_000 }, (_, i) => `${i + 10},"row ${i}, with ""quotes"""\n`).join('');
      writeFileSync(path, `id,s\n${good}99,x"y\n`);
      const e = await expectError(c.import(importReq('t', columns, 'overwrite'), feedOf([chunk(50_001)], 50_001)));
      assert.equal(e.code, 'BAD_CSV');
      assert.equal(e.location.chunkLine, 50_002);
      assert.equal((await rows(admin, `SELECT COUNT(*) FROM \`${db}\`.t`))[0]![0], '3');
    } finally {
      await c.close();
      tmp.cleanup();
    }
  });
});

test('zero dates export as NULL (counted) or fail by option; a TINYINT(1) that is not 0/1 fails unless read as integer', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(1, async ([db], admin) => {
    await admin.query(`SET SESSION sql_mode = ''`);
    await admin.query(`CREATE TABLE \`${db}\`.z (id INT, d DATE, dt DATETIME, flag TINYINT(1))`);
    await admin.query(`INSERT INTO \`${db}\`.z VALUES (1, '0000-00-00', '0000-00-00 00:00:00', 1), (2, '2024-00-10', '2024-05-00 10:00:00', 0), (3, '2024-01-01', '2024-01-01 00:00:00', NULL)`);
    await admin.query(`INSERT INTO \`${db}\`.z VALUES (4, NULL, NULL, 2)`);
    const lax = await connect(db!);
    const strict = await connect(db!, { zero_dates: 'error', tinyint1: 'integer' });
    try {
      const exp = await exportChunks(lax, exportReq('z', { where: 'id < 4' }), join(tmp.dir, 'a'));
      const text = readFileSync(exp.chunks[0]!.name, 'utf8');
      assert.equal(text, 'id,d,dt,flag\n1,\\N,\\N,true\n2,\\N,\\N,false\n3,2024-01-01,2024-01-01 00:00:00,\\N\n');
      assert.deepEqual(exp.counts, { zero_dates: 4 });

      const bool = await expectError(exportChunks(lax, exportReq('z', { where: 'id = 4' }), join(tmp.dir, 'b')));
      assert.equal(bool.code, 'BAD_VALUE');
      assert.equal(bool.location.column, 'flag');

      const zero = await expectError(exportChunks(strict, exportReq('z'), join(tmp.dir, 'c')));
      assert.equal(zero.code, 'BAD_VALUE');
      assert.equal(zero.location.column, 'd');
      const asInt = await exportChunks(strict, exportReq('z', { where: 'id = 4' }), join(tmp.dir, 'd'));
      assert.equal(asInt.columns[3]!.type, 'int16');
      const t2 = readFileSync(asInt.chunks[0]!.name, 'utf8');
      assert.equal(t2, 'id,d,dt,flag\n4,\\N,\\N,2\n');
    } finally {
      await lax.close();
      await strict.close();
      tmp.cleanup();
    }
  });
});

test('connection problems: bad credentials are permanent and never show the password; a closed port is transient', async () => {
  const create = await mysqlKind.load();
  const opts = { cwd: process.cwd(), tmpDir: process.cwd() };
  await withDatabases(1, async ([db], admin) => {
    await admin.query(`CREATE USER IF NOT EXISTS 'pigeon_t_user'@'%' IDENTIFIED BY 'right-pass'`);
    try {
      const wrong = create({ name: 'my', type: 'mysql', url: `mysql://pigeon_t_user:s3cr3t-W0rd@127.0.0.1:3306/${db}` }, opts);
      const e = await expectError(wrong.open());
      assert.equal(e.code, 'CONNECT_FAILED');
      assert.equal(e.transient, false);
      assert.doesNotMatch(`${e.message} ${String((e.cause as Error)?.message)}`, /s3cr3t-W0rd/);
    } finally {
      await admin.query(`DROP USER IF EXISTS 'pigeon_t_user'@'%'`);
    }
    const down = create({ name: 'my', type: 'mysql', host: '127.0.0.1', port: 1, user: 'root', database: db! }, opts);
    const e2 = await expectError(down.open());
    assert.equal(e2.code, 'CONNECT_FAILED');
    assert.equal(e2.transient, true);
    const missing = await connect(db!);
    try {
      const e3 = await expectError(missing.describe(exportReq('nope')));
      assert.equal(e3.code, 'SOURCE_NOT_FOUND');
      assert.equal(e3.transient, false);
    } finally {
      await missing.close();
    }
  });
  assert.throws(() => create({ name: 'my', type: 'mysql', url: 'mysql://root@127.0.0.1/x', options: { zero_dates: 'zero' } }, opts), (e: unknown) => {
    return e instanceof PipelineError && e.code === 'INVALID_CONFIG' && e.location.connection === 'my';
  });
  assert.throws(() => create({ name: 'my', type: 'mysql', url: 'mysql://u:hunter2@127.0.0.1/x', options: { nope: 1 } }, opts), (e: unknown) => {
    return e instanceof PipelineError && e.code === 'INVALID_CONFIG' && !e.message.includes('hunter2');
  });
});

test('LOAD DATA and the INSERT fallback load the same 20k rows exactly (speed is the bench\'s to measure)', async () => {
  const tmp = tempDir('pigeon-mysql-');
  await withDatabases(2, async ([src, dst], admin) => {
    await admin.query(`CREATE TABLE \`${src}\`.wide (id INT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(12,2), at DATETIME(6), score DOUBLE, note TEXT, flag TINYINT(1))`);
    await admin.query(
      `INSERT INTO \`${src}\`.wide SELECT i, CONCAT('name ', i, ', "quoted"'), i / 100, TIMESTAMPADD(MICROSECOND, i * 1234567, '2024-01-01'), ` +
        `i / 7, IF(i % 10 = 0, NULL, REPEAT('n', i % 50)), i % 2 FROM (${numbers(20000)}) AS s`,
    );
    const from = await connect(src!);
    const to = await connect(dst!);
    const slow = await connect(dst!, { local_infile: false });
    try {
      const exp = await exportChunks(from, exportReq('wide'), tmp.dir);
      assert.equal(exp.total, 20000);
      await to.import(importReq('wide', exp.columns, 'overwrite'), feedOf(exp.chunks, exp.total));
      await slow.import(importReq('wide_insert', exp.columns, 'overwrite'), feedOf(exp.chunks, exp.total));
      const fp = (db: string, tbl: string) => `SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, name, amount, at, score * 1e0, note, flag))) FROM \`${db}\`.\`${tbl}\``;
      assert.deepEqual(await rows(admin, fp(dst!, 'wide')), await rows(admin, fp(src!, 'wide')));
      assert.deepEqual(await rows(admin, fp(dst!, 'wide_insert')), await rows(admin, fp(src!, 'wide')));
    } finally {
      await from.close();
      await to.close();
      await slow.close();
      tmp.cleanup();
    }
  });
});

test('pigeon run: mysql → mysql through the CLI, overwrite and merge, then a rerun changes nothing', async () => {
  const t = tempDir('pigeon-mysql-cli-');
  await withDatabases(2, async ([src, dst], admin) => {
    await makeNasty(admin, src!, 'nasty', 0);
    await admin.query(`CREATE TABLE \`${src}\`.orders (id BIGINT PRIMARY KEY, amount DECIMAL(12,2), updated_at DATETIME(6))`);
    await admin.query(`INSERT INTO \`${src}\`.orders VALUES (1, 10.50, '2026-01-01 00:00:00.000001'), (2, 20.00, '2026-01-02 00:00:00'), (3, NULL, '2026-01-03 00:00:00')`);
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1
name: mysqlcli
connections:
  src: { type: mysql, url: "mysql://root@127.0.0.1:3306/${src}", max_connections: 3 }
  dw: { type: mysql, url: "mysql://root@127.0.0.1:3306/${dst}", options: { local_infile: true } }
defaults: { retries: 0 }
nodes:
  nasty:
    source: { connection: src, table: nasty, split: { column: id, chunks: 3 } }
    target: { connection: dw, table: nasty_copy, mode: overwrite }
  orders:
    source: { connection: src, table: orders }
    incremental: { column: updated_at, strategy: watermark }
    target: { connection: dw, table: orders, mode: merge, key: [id] }
`,
    );
    const run = () => pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
    try {
      const r = await run();
      assert.equal(r.code, 0, r.stderr);
      const same = 'SELECT id, s, t, dec38, ubig, sbig, (f * 1e0), (d * 1e0), dt, ts, dd, tm, j, HEX(b), HEX(vb), flag, tiny, yr, e, st';
      assert.deepEqual(await rows(admin, `${same} FROM \`${dst}\`.nasty_copy ORDER BY id`), await rows(admin, `${same} FROM \`${src}\`.nasty ORDER BY id`));
      assert.deepEqual(await rows(admin, `SELECT id, amount, updated_at FROM \`${dst}\`.orders ORDER BY id`), [
        ['1', '10.50', '2026-01-01 00:00:00.000001'],
        ['2', '20.00', '2026-01-02 00:00:00.000000'],
        ['3', null, '2026-01-03 00:00:00.000000'],
      ]);
      await admin.query(`UPDATE \`${src}\`.orders SET amount = 99.99, updated_at = '2026-02-01 00:00:00' WHERE id = 2`);
      await admin.query(`INSERT INTO \`${src}\`.orders VALUES (4, 1.00, '2026-02-02 00:00:00')`);
      const r2 = await run();
      assert.equal(r2.code, 0, r2.stderr);
      assert.deepEqual(await rows(admin, `SELECT id, amount FROM \`${dst}\`.orders ORDER BY id`), [['1', '10.50'], ['2', '99.99'], ['3', null], ['4', '1.00']]);
      assert.deepEqual(await leftovers(admin, dst!), []);
      const loads = await rows(admin, `SELECT target, \`rows\` FROM \`${dst}\`._pigeon_loads ORDER BY committed_at, target`);
      assert.equal(loads.length, 4);
    } finally {
      t.cleanup();
    }
  });
});
