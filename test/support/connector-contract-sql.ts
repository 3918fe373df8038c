/**
 * The part of the connector contract that only SQL targets can be asked: loads into tables the user made, with
 * constraints, indexes and column types of their own. Each test is a way a run could succeed while changing data
 * it should not (an independent audit found them): pigeon must write exactly what it was asked to, into exactly
 * the table it was asked to write, or fail naming why.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ColumnSchema } from '../../src/csv/types.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';
import type { Dataset } from './contract-source.js';
import { assertSameRows, withPlace, type ContractSubject } from './connector-contract.js';

export type SqlDialect = 'mysql' | 'postgres' | 'sqlite' | 'hive' | 'spark';

/**
 * What a dialect's tables can express. Hive has no foreign keys, no enforced primary or unique keys, no column
 * defaults that an INSERT … SELECT applies, and one timestamp precision (nanoseconds): the tests that need those
 * are skipped for it, never weakened for the others.
 */
function expressible(dialect: SqlDialect) {
  const hive = dialect === 'hive' || dialect === 'spark';
  // Spark SQL cannot change the type of a column of a Hive table (ALTER TABLE … CHANGE COLUMN).
  return { foreignKeys: !hive, uniqueKeys: !hive, defaults: !hive, timestampPrecision: !hive, widenColumns: dialect !== 'spark' };
}

const int = (name: string, nullable = true): ColumnSchema => ({ name, type: 'int64', nullable });
const text = (name: string): ColumnSchema => ({ name, type: 'text', nullable: true });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function data(columns: readonly ColumnSchema[], rows: readonly (readonly (string | null)[])[]): Dataset {
  return { columns, rows };
}

/** Registers the SQL-target tests of a subject whose places can run statements (`place.exec`). */
export function sqlTargetContract(subject: ContractSubject, dialect: SqlDialect): void {
  const engine = dialect === 'mysql' ? ' ENGINE=InnoDB' : '';
  const can = expressible(dialect);
  const ifCan = (yes: boolean) => (yes ? test : test.skip);

  describe(`connector contract, SQL targets: ${subject.kind.kind}`, () => {
    for (const action of ['CASCADE', 'SET NULL', 'RESTRICT']) {
      ifCan(can.foreignKeys)(`overwrite of a table that a foreign key references (ON DELETE ${action}) leaves the referencing table as it was`, async () => {
        await withPlace(subject, async (h) => {
          await h.exec(`CREATE TABLE parent (id INTEGER PRIMARY KEY, v VARCHAR(20))${engine}`);
          await h.exec(`CREATE TABLE child (id INTEGER PRIMARY KEY, pid INTEGER, FOREIGN KEY (pid) REFERENCES parent (id) ON DELETE ${action})${engine}`);
          await h.exec(`INSERT INTO parent VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
          await h.exec(`INSERT INTO child VALUES (10, 1), (11, 2)`);
          const next = data([int('id', false), text('v')], [['1', 'A'], ['2', 'B'], ['3', 'C'], ['4', 'D']]);
          await h.load('parent', 'overwrite', next);
          assertSameRows(await h.read('parent'), next);
          assertSameRows(await h.read('child'), data([int('id', false), int('pid')], [['10', '1'], ['11', '2']]));

          // Removing a row the child references would change the child (or fail on it): refused, naming it.
          const e = await h.load('parent', 'overwrite', data([int('id', false), text('v')], [['2', 'X'], ['3', 'Y']])).then(
            () => assert.fail('the overwrite must fail'),
            (err: unknown) => err as PipelineError,
          );
          assert.ok(e instanceof PipelineError, String(e));
          assert.match(e.message, /child/, e.message);
          assertSameRows(await h.read('parent'), next);
          assertSameRows(await h.read('child'), data([int('id', false), int('pid')], [['10', '1'], ['11', '2']]));
        });
      });
    }

    ifCan(can.uniqueKeys)('merge on a unique key that is not the primary key never updates another row', async () => {
      await withPlace(subject, async (h) => {
        await h.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER NOT NULL UNIQUE, v VARCHAR(20))${engine}`);
        await h.exec(`INSERT INTO t VALUES (1, 100, 'a'), (2, 200, 'b')`);
        const cols = [int('id', false), int('k', false), text('v')];
        // k = 300 is new, but its id 2 is taken by the row k = 200: the insert must fail, not update that row.
        await assert.rejects(h.load('t', 'merge', data(cols, [['2', '300', 'x']]), { key: ['k'] }));
        assertSameRows(await h.read('t'), data(cols, [['1', '100', 'a'], ['2', '200', 'b']]));
        await h.load('t', 'merge', data(cols, [['1', '100', 'z'], ['3', '300', 'y']]), { key: ['k'] });
        assertSameRows(await h.read('t'), data(cols, [['1', '100', 'z'], ['2', '200', 'b'], ['3', '300', 'y']]));
      });
    });

    for (const indexed of [true, false]) {
      ifCan(!indexed || can.uniqueKeys)(`merge keeps the target's columns that the export does not carry (${indexed ? 'unique index on the key' : 'no index on the key'})`, async () => {
        await withPlace(subject, async (h) => {
          // Without column defaults, a new row's other columns are NULL.
          await h.exec(`CREATE TABLE t (id INTEGER${indexed ? ' PRIMARY KEY' : ''}, v VARCHAR(20), extra VARCHAR(20)${can.defaults ? " DEFAULT 'dflt'" : ''})${engine}`);
          await h.exec(`INSERT INTO t VALUES (1, 'a', 'e1'), (2, 'b', 'e2')`);
          await h.load('t', 'merge', data([int('id'), text('v')], [['2', 'B'], ['3', 'C']]), { key: ['id'] });
          const fresh = can.defaults ? 'dflt' : null;
          assertSameRows(await h.read('t'), data([int('id'), text('v'), text('extra')], [['1', 'a', 'e1'], ['2', 'B', 'e2'], ['3', 'C', fresh]]));
        });
      });
    }

    test('a window append run twice for the same interval holds the interval once', async () => {
      await withPlace(subject, async (h) => {
        const cols: ColumnSchema[] = [int('id'), { name: 'at', type: 'timestamp', nullable: true }];
        const day = data(cols, [['1', '2025-12-31 23:59:59'], ['2', '2026-01-01 00:00:00'], ['3', '2026-01-01 12:00:00'], ['4', '2026-01-02 00:00:00']]);
        const window = { incremental: { column: 'at', strategy: 'window' as const } };
        await h.load('t', 'append', day, window);
        await h.load('t', 'append', day, window);
        assertSameRows(await h.read('t'), data(cols, [['2', '2026-01-01 00:00:00'], ['3', '2026-01-01 12:00:00']]));
      });
    });

    test('a column added to the source fails the next load by default, naming it and the setting; add_columns adds it', async () => {
      await withPlace(subject, async (h) => {
        const before = data([int('id'), text('v')], [['1', 'a'], ['2', 'b']]);
        await h.load('t', 'append', before);
        const next = data([int('id'), text('v'), text('segment')], [['3', 'c', 'gold']]);
        const e = await h.load('t', 'append', next).then(
          () => assert.fail('the load must fail'),
          (err: unknown) => err as PipelineError,
        );
        assert.ok(e instanceof PipelineError, String(e));
        assert.equal(e.code, 'SCHEMA_CHANGED');
        assert.equal(e.location.column, 'segment');
        assert.match(e.hint ?? '', /schema_changes/);
        assertSameRows(await h.read('t'), before);
        const r = await h.load('t', 'append', next, { schemaChanges: 'add_columns' });
        assert.match(r.note ?? '', /segment/, 'the change is kept in the node\'s record');
        assertSameRows(await h.read('t'), data([int('id'), text('v'), text('segment')], [['1', 'a', null], ['2', 'b', null], ['3', 'c', 'gold']]));
        // A column the source no longer has is loaded as NULL.
        await h.load('t', 'append', data([int('id'), text('segment')], [['4', 'silver']]), { schemaChanges: 'add_columns' });
        assertSameRows(await h.read('t'), data([int('id'), text('v'), text('segment')], [['1', 'a', null], ['2', 'b', null], ['3', 'c', 'gold'], ['4', null, 'silver']]));
      });
    });

    ifCan(can.widenColumns)('add_columns widens a column the export has grown out of', async () => {
      await withPlace(subject, async (h) => {
        await h.exec(`CREATE TABLE t (id INTEGER, v VARCHAR(5), n SMALLINT)${engine}`);
        await h.exec(`INSERT INTO t VALUES (1, 'short', 7)`);
        const wide: ColumnSchema[] = [int('id'), { name: 'v', type: 'string', length: 50, nullable: true }, int('n')];
        await h.load('t', 'append', data(wide, [['2', 'a good deal longer than five', '4000000000']]), { schemaChanges: 'add_columns' });
        assertSameRows(await h.read('t'), data(wide, [['1', 'short', '7'], ['2', 'a good deal longer than five', '4000000000']]));
      });
    });

    test('recreate rebuilds a table from the export when an overwrite brings another schema', async () => {
      await withPlace(subject, async (h) => {
        await h.exec(`CREATE TABLE t (id INTEGER, v VARCHAR(5), old_col INTEGER)${engine}`);
        await h.exec(`INSERT INTO t VALUES (1, 'a', 1)`);
        const next = data([int('id'), text('w')], [['2', 'new']]);
        await h.load('t', 'overwrite', next, { schemaChanges: 'recreate' });
        const back = await h.read('t');
        assert.deepEqual(back.columns.map((c) => c.name), ['id', 'w']);
        assertSameRows(back, next);
      });
    });

    test('deletes: detect removes the target rows whose key the source no longer has, in the merge', async () => {
      await withPlace(subject, async (h) => {
        const cols = [int('id'), text('v')];
        const all = range(1, 300).map((i) => [String(i), `v${i}`]);
        await h.load('t', 'merge', data(cols, all), { key: ['id'], deletes: 'detect' });
        await h.exec(`INSERT INTO t VALUES (NULL, 'null key')`);
        // 1% of the keys are gone from the source, one row changed; the NULL key is gone too.
        const kept = all.filter(([id]) => Number(id) % 100 !== 0).map((r) => (r[0] === '5' ? ['5', 'changed'] : r));
        const r = await h.load('t', 'merge', data(cols, kept), { key: ['id'], deletes: 'detect', behaviour: { chunks: 3 } });
        assert.equal(r.counts?.['deleted'], 4, 'three keys and the NULL key deleted');
        assertSameRows(await h.read('t'), data(cols, kept));
      });
    });

    const narrowings: { what: string; target: string; column: ColumnSchema; value: string }[] = [
      { what: 'a decimal into fewer decimal places', target: 'DECIMAL(10,2)', column: { name: 'x', type: 'decimal', precision: 10, scale: 4, nullable: true }, value: '1.2345' },
      {
        what: 'fractional seconds into a column without them',
        target: dialect === 'mysql' ? 'DATETIME' : 'TIMESTAMP(0)',
        column: { name: 'x', type: 'timestamp', precision: 6, nullable: true },
        value: '2026-01-01 00:00:00.5',
      },
      { what: 'a double into a single-precision float', target: dialect === 'mysql' || dialect === 'hive' || dialect === 'spark' ? 'FLOAT' : 'REAL', column: { name: 'x', type: 'float64', nullable: true }, value: '0.1' },
    ];
    for (const n of narrowings) {
      if (dialect === 'sqlite' && n.what !== 'a decimal into fewer decimal places') continue;
      ifCan(can.timestampPrecision || n.column.type !== 'timestamp')(`${n.what} fails naming the column, unless the node allows lossy values`, async () => {
        await withPlace(subject, async (h) => {
          const target = dialect === 'sqlite' ? 'DECIMAL(10,2)' : n.target;
          await h.exec(`CREATE TABLE t (id INTEGER, x ${target})${engine}`);
          await h.exec(`INSERT INTO t VALUES (1, NULL)`);
          const column = dialect === 'sqlite' ? { ...n.column, precision: 20 } : n.column;
          const e = await h.load('t', 'append', data([int('id'), column], [['2', n.value]])).then(
            () => assert.fail('the load must fail'),
            (err: unknown) => err as PipelineError,
          );
          assert.ok(e instanceof PipelineError, String(e));
          assert.equal(e.location.column, 'x', e.message);
          assertSameRows(await h.read('t'), data([int('id'), text('x')], [['1', null]]));
          await h.load('t', 'append', data([int('id'), column], [['2', n.value]]), { lossy: true });
          assert.equal((await h.read('t')).rows.length, 2);
        });
      });
    }
  });
}
