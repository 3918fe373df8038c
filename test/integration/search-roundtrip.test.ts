// services: opensearch, elasticsearch
/**
 * Nasty values from MariaDB through a search index into PostgreSQL, by the real executable: every value and every
 * column type survives (the index keeps the export's portable types in its `_meta`, so the PostgreSQL table pigeon
 * creates has the types a direct MySQL → PostgreSQL copy would give).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getConnectorKind } from '../../src/connectors/registry.js';
import { pigeon, tempDir } from '../support/cli.js';
import { assertSameRows, Harness, type ContractPlace } from '../support/connector-contract.js';
import { allowLargePackets, createDb, type EngineDb } from '../support/engines.js';
import { SearchAdmin, searchEndpoint } from '../support/search.js';

const MYSQL_TABLE = `CREATE TABLE nasty (
  id BIGINT PRIMARY KEY, i INT, si SMALLINT, big BIGINT, ub BIGINT UNSIGNED,
  d DECIMAL(20,6), d2 DECIMAL(10,2), f DOUBLE, r FLOAT, flag TINYINT(1),
  s VARCHAR(40), t TEXT, day DATE, at DATETIME(6), ts TIMESTAMP(6) NULL, tm TIME(6),
  b VARBINARY(300), j JSON
)`;

const ROWS = [
  `(1, 2147483647, 32767, 9223372036854775807, 18446744073709551615, 99999999999999.999999, 12345678.91, 1.7976931348623157e308, 3.40282e38, 1,
    'say "hi", it''s', 'line1\\nline2\\r\\n\\ttab \\\\ back 🐦 𝄞', '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '23:59:59.999999',
    X'00FF5C4E0A0D22', '{"a": [1, 2.5, "x\\\\"y"], "b": null, "big": 12345678901234567890, "ü": {"2": 1, "1": 2}}')`,
  `(2, -2147483648, -32768, -9223372036854775808, 0, -0.000001, -0.01, 5e-324, -1.5, 0,
    '', '\\\\N', '1000-01-01', '1000-01-01 00:00:00', '1970-01-01 00:00:01', '00:00:00',
    X'', '[]')`,
  `(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
  `(4, 0, 0, 0, 1, 0, 0, 0.1, 0.1, 1, ' lead and trail ', 'x; DROP TABLE t', '2026-02-28', '2026-11-26 12:00:00.123456', '2026-11-26 12:00:00.5', '12:30:00.000001',
    X'5C2E', '"just a string"')`,
];

/** What a direct MySQL → PostgreSQL copy creates for these columns. */
const PG_TYPES: Record<string, string> = {
  id: 'bigint', i: 'integer', si: 'smallint', big: 'bigint', ub: 'numeric(20,0)', d: 'numeric(20,6)', d2: 'numeric(10,2)', f: 'double precision', r: 'real',
  flag: 'boolean', s: 'character varying(40)', t: 'text', day: 'date', at: 'timestamp(6) without time zone', ts: 'timestamp(6) with time zone',
  tm: 'time(6) without time zone', b: 'bytea', j: 'json',
};

for (const kind of ['opensearch', 'elasticsearch'] as const) {
  describe(`MySQL → ${kind} → PostgreSQL`, () => {
    let t: ReturnType<typeof tempDir>;
    let my: EngineDb;
    let pg: EngineDb;
    let admin: SearchAdmin;

    before(async () => {
      t = tempDir(`pigeon-roundtrip-${kind}-`);
      await allowLargePackets();
      my = await createDb('mysql', t.dir);
      pg = await createDb('postgres', t.dir);
      admin = new SearchAdmin(searchEndpoint(kind));
      await admin.wipe();
    });
    after(async () => {
      await admin.wipe();
      await my.drop();
      await pg.drop();
      t.cleanup();
    });

    /** Every row of a table, read through pigeon's own connector of that kind. */
    const read = (kindName: string, config: Record<string, unknown>, source?: Record<string, unknown>) => {
      const place: ContractPlace = { config, cleanup: async () => {} };
      const k = getConnectorKind(kindName)!;
      return new Harness({ kind: k, place: async () => place, ...(source ? { sourceOf: () => source as { index: string } } : {}) }, place, t.dir).read('nasty');
    };
    const urlOf = (db: EngineDb) => /url: "([^"]+)"/.exec(db.yaml)![1]!;

    test('every value and every column type survives', async () => {
      await my.exec(MYSQL_TABLE);
      await my.exec(`INSERT INTO nasty VALUES ${ROWS.join(',\n')}`);
      const yaml = [
        'version: 1',
        'name: roundtrip',
        'connections:',
        `  my: ${my.yaml}`,
        `  pg: ${pg.yaml}`,
        `  search: { type: ${kind}, url: "${admin.url}" }`,
        'staging: { dir: staging }',
        'nodes:',
        '  to_search:',
        '    source: { connection: my, table: nasty }',
        '    target: { connection: search, table: nasty, mode: overwrite, key: [id] }',
        '  to_pg:',
        '    depends_on: [to_search]',
        '    source: { connection: search, index: nasty }',
        '    target: { connection: pg, table: nasty, mode: overwrite }',
        '',
      ].join('\n');
      writeFileSync(join(t.dir, 'p.yaml'), yaml);
      const r = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
      assert.equal(r.code, 0, r.stderr);

      const types = await pg.rows(`SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'nasty'::regclass AND attnum > 0 ORDER BY attnum`);
      assert.deepEqual(Object.fromEntries(types.map(([n, ty]) => [String(n), String(ty)])), PG_TYPES);

      const source = await read('mysql', { url: urlOf(my) });
      const target = await read('postgres', { url: urlOf(pg) });
      const middle = await read(kind, { url: admin.url }, { index: 'nasty' });
      assert.equal(source.rows.length, 4);
      assertSameRows(middle, { columns: source.columns, rows: source.rows });
      assertSameRows(target, { columns: source.columns, rows: source.rows });
      // The index keeps the export's portable types: the column schema read back is the one MySQL gave.
      assert.deepEqual(middle.columns, source.columns);
      // Documents are typed: numbers, booleans and JSON as themselves, not as text.
      const doc = (await admin.req<{ _source: Record<string, unknown> }>('GET', '/nasty/_doc/1')).body._source;
      assert.equal(doc['i'], 2147483647);
      assert.equal(doc['flag'], true);
      assert.deepEqual((doc['j'] as Record<string, unknown>)['a'], [1, 2.5, 'x"y']);
      assert.equal(doc['at'], '9999-12-31T23:59:59.999999');
      assert.equal(doc['ts'], '2038-01-19T03:14:07.999999Z');
    });
  });
}
