/** The checks that stand in for Hive's CAST, which turns what it cannot read into NULL without a word. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { columnCheck, valueCheck } from '../../src/connectors/hive/hive-checks.js';
import { parseHiveType } from '../../src/connectors/hive/hive-types.js';
import type { ColumnSchema } from '../../src/csv/types.js';

const text: ColumnSchema = { name: 'x', type: 'text', nullable: true };
const check = (target: string, from: ColumnSchema = text, lossy = false) => valueCheck(from, parseHiveType(target), lossy);
const ok = (target: string, values: readonly string[], from?: ColumnSchema, lossy?: boolean) => {
  const c = check(target, from, lossy)!;
  for (const v of values) assert.equal(c(v), undefined, `${JSON.stringify(v)} into ${target}`);
};
const bad = (target: string, values: readonly string[], from?: ColumnSchema, lossy?: boolean) => {
  const c = check(target, from, lossy)!;
  for (const v of values) assert.notEqual(c(v), undefined, `${JSON.stringify(v)} into ${target} must be refused`);
};

test('columns whose exported type fits are not checked at all', () => {
  assert.equal(check('int', { name: 'x', type: 'int32', nullable: true }), undefined);
  assert.equal(check('bigint', { name: 'x', type: 'int16', nullable: true }), undefined);
  assert.equal(check('decimal(12,2)', { name: 'x', type: 'decimal', precision: 10, scale: 2, nullable: true }), undefined);
  assert.equal(check('varchar(20)', { name: 'x', type: 'string', length: 20, nullable: true }), undefined);
  assert.equal(check('string'), undefined);
  assert.notEqual(check('int', { name: 'x', type: 'int64', nullable: true }), undefined);
  assert.notEqual(check('timestamp', { name: 'x', type: 'timestamp', nullable: true }), undefined, 'dates and timestamps are always checked');
});

test('integers: only integer text within the type range', () => {
  ok('tinyint', ['127', '-128', '0', '-0', '5.000']);
  bad('tinyint', ['128', '-129', '1.5', '1e2', ' 1', '+1', '', 'abc', '0x10']);
  ok('bigint', ['9223372036854775807', '-9223372036854775808']);
  bad('bigint', ['9223372036854775808', '-9223372036854775809']);
});

test('decimals: integer digits within p - s, places within s unless lossy values are allowed', () => {
  ok('decimal(5,2)', ['999.99', '-999.99', '0.5', '1.500', '0000012.30', '0']);
  bad('decimal(5,2)', ['1000', '1.234', '1e3', 'NaN', '-', '.5']);
  ok('decimal(5,2)', ['1.234', '999.994'], text, true);
  bad('decimal(5,2)', ['999.995', '1000'], text, true);
});

test('text into VARCHAR(n): at most n characters, counted as Hive does (code points)', () => {
  ok('varchar(3)', ['abc', '🐦🐦🐦', '']);
  bad('varchar(3)', ['abcd', '🐦🐦🐦🐦']);
});

test('dates and timestamps: real calendar days and times in years 0001 to 9999', () => {
  ok('timestamp', ['2026-01-01 00:00:00', '2024-02-29 23:59:59.123456789', '0001-01-01 00:00:00', '9999-12-31 23:59:59.999999']);
  bad('timestamp', ['2026-02-29 00:00:00', '2026-13-01 00:00:00', '0000-01-01 00:00:00', '2026-01-01 24:00:00', '2026-01-01', '2026-01-01T00:00:00', '2026-01-01 00:00:00.', '2026-01-01 00:00:00.1234567890', '10000-01-01 00:00:00']);
  ok('date', ['2026-01-01', '1000-01-01', '2026-01-01 12:00:00']);
  bad('date', ['2026-04-31', '2026-1-1', '']);
});

test('booleans and floats', () => {
  ok('boolean', ['true', 'false']);
  bad('boolean', ['1', 'TRUE', 't', '']);
  ok('double', ['0.1', '-1.5e+300', 'NaN', 'Infinity', '-Infinity', '-0', '5e-324']);
  bad('double', ['abc', '1,5', '', '0x1p3']);
  ok('float', ['3.4028234663852886e38', '1e-45']);
  bad('float', ['3.5e38', '1e39']);
});

test('the byte-level quick fit of dates and timestamps accepts exactly what their checks accept', () => {
  const ts: ColumnSchema = { name: 'x', type: 'timestamp', nullable: true };
  const values = [
    '2026-01-01 00:00:00', '2024-02-29 23:59:59.123456789', '0001-01-01 00:00:00', '9999-12-31 23:59:59.999999', '2026-01-01',
    '2026-02-29 00:00:00', '2026-13-01 00:00:00', '0000-01-01 00:00:00', '2026-01-01 24:00:00', '2026-01-01T00:00:00',
    '2026-01-01 00:00:00.', '2026-01-01 00:00:00.1234567890', '10000-01-01 00:00:00', '2026-04-31', '2026-1-1', '',
    '2026-01-01 00:00:0٠', '２026-01-01 00:00:00', '2026-01-01 00:00:00\u0130', '2026-01-01 00:00:0\u0130',
  ];
  for (const target of ['timestamp', 'date']) {
    const t = parseHiveType(target);
    const c = columnCheck(ts, t, false)!;
    assert.ok(c.fits, `${target} has a quick fit`);
    for (const v of values) {
      const bytes = Buffer.from(`,${v},`, 'utf8');
      assert.equal(c.fits(bytes, 1, bytes.length - 1), c.check(v) === undefined, `${JSON.stringify(v)} into ${target}`);
    }
  }
  assert.equal(columnCheck(ts, parseHiveType('string'), false), undefined, 'no check, no quick fit');
  assert.equal(columnCheck(text, parseHiveType('int'), false)?.fits, undefined, 'integers are checked without one');
});
