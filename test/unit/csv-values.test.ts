import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  cellFromValue,
  fromBigInt,
  fromBoolean,
  fromBuffer,
  fromNumber,
  toBigInt,
  toBoolean,
  toBuffer,
  toNumber,
} from '../../src/csv/values.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';

function isBadValue(e: unknown): boolean {
  return e instanceof PipelineError && e.code === 'BAD_VALUE';
}

describe('exchange values', () => {
  it('writes doubles as the shortest text that reads back to the same double', () => {
    const cases: [number, string][] = [
      [0.1, '0.1'],
      [-0, '-0'],
      [0, '0'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      [Number.NEGATIVE_INFINITY, '-Infinity'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [0.1 + 0.2, '0.30000000000000004'],
      [2 ** 53 + 2, '9007199254740994'],
      [1e21, '1e+21'],
    ];
    for (const [n, text] of cases) {
      assert.equal(fromNumber(n), text);
      assert.ok(Object.is(toNumber(text), n), `${text} reads back`);
    }
  });

  it('round-trips every double bit for bit', () => {
    fc.assert(
      fc.property(fc.double(), (n) => Object.is(toNumber(fromNumber(n)), n)),
      { numRuns: 2000 },
    );
  });

  it('reads number spellings of other systems and refuses what Number() would guess', () => {
    assert.equal(toNumber('+1.5E3'), 1500);
    assert.equal(toNumber('.5'), 0.5);
    assert.equal(toNumber('1.7976931348623157e308'), Number.MAX_VALUE);
    assert.equal(toNumber('5.'), 5);
    assert.equal(toNumber('-inf'), Number.NEGATIVE_INFINITY);
    assert.equal(toNumber('INF'), Number.POSITIVE_INFINITY);
    assert.ok(Number.isNaN(toNumber('nan')));
    for (const bad of ['', ' 1', '1 ', '0x10', '0b1', '1e', 'abc', '1,5', '--1']) {
      assert.throws(() => toNumber(bad), isBadValue, JSON.stringify(bad));
    }
  });

  it('writes and reads integers of any size', () => {
    assert.equal(fromBigInt(18446744073709551615n), '18446744073709551615');
    assert.equal(toBigInt('18446744073709551615'), 18446744073709551615n);
    assert.equal(toBigInt('-9223372036854775808'), -9223372036854775808n);
    assert.equal(cellFromValue(18446744073709551615n), '18446744073709551615');
    for (const bad of ['', '1.0', '1e3', ' 1', '0x1']) assert.throws(() => toBigInt(bad), isBadValue);
  });

  it('writes bytes as base64 and reads every byte value back', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const text = fromBuffer(all);
    assert.deepEqual([...toBuffer(text)], [...all]);
    for (let b = 0; b < 256; b++) {
      const one = Uint8Array.of(b);
      assert.deepEqual([...toBuffer(fromBuffer(one))], [b]);
      assert.deepEqual([...toBuffer(fromBuffer(Uint8Array.of(b, 255 - b)))], [b, 255 - b]);
      assert.deepEqual([...toBuffer(fromBuffer(Uint8Array.of(b, 0, b)))], [b, 0, b]);
    }
    assert.equal(fromBuffer(new Uint8Array(0)), '');
    assert.equal(toBuffer('').length, 0);
    // A view into a larger buffer encodes only its own bytes.
    assert.equal(fromBuffer(Buffer.from('xxhixx').subarray(2, 4)), Buffer.from('hi').toString('base64'));
  });

  it('round-trips random bytes through base64', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => Buffer.from(bytes).equals(toBuffer(fromBuffer(bytes)))));
  });

  it('refuses base64 that is not strictly standard', () => {
    for (const bad of ['a', 'aGk', 'aGk=x', 'aG k=', 'aGk=\n', '-_8=', 'aGl=', '====', 'aGk==', '@@@@']) {
      assert.throws(() => toBuffer(bad), isBadValue, JSON.stringify(bad));
    }
  });

  it('writes booleans as true/false and reads the usual spellings', () => {
    assert.equal(fromBoolean(true), 'true');
    assert.equal(fromBoolean(false), 'false');
    for (const t of ['true', 'TRUE', 'True', 't', 'T', '1']) assert.equal(toBoolean(t), true, t);
    for (const f of ['false', 'FALSE', 'f', 'F', '0']) assert.equal(toBoolean(f), false, f);
    for (const bad of ['', 'yes', '2', ' true', 'tru']) assert.throws(() => toBoolean(bad), isBadValue);
  });

  it('turns driver values into cells', () => {
    assert.equal(cellFromValue(null), null);
    assert.equal(cellFromValue(undefined), null);
    assert.equal(cellFromValue(''), '');
    assert.equal(cellFromValue('\\N'), '\\N');
    assert.equal(cellFromValue(-0), '-0');
    assert.equal(cellFromValue(1.5), '1.5');
    assert.equal(cellFromValue(true), 'true');
    assert.equal(cellFromValue(Buffer.from([0, 255])), 'AP8=');
    assert.equal(cellFromValue(Uint8Array.of(1, 2, 3)), 'AQID');
    assert.equal(cellFromValue({ a: [1, 'x'], b: null }), '{"a":[1,"x"],"b":null}');
    assert.equal(cellFromValue([1, 2]), '[1,2]');
  });

  it('refuses Date objects, which have already been shifted through a time zone', () => {
    assert.throws(() => cellFromValue(new Date(Date.UTC(2026, 0, 1))), isBadValue);
  });

  it('refuses values with no text form', () => {
    assert.throws(() => cellFromValue(Symbol('x')), isBadValue);
    assert.throws(() => cellFromValue(() => 1), isBadValue);
    assert.throws(() => cellFromValue({ big: 1n }), isBadValue);
    assert.throws(() => cellFromValue({ toJSON: () => undefined }), isBadValue);
  });
});
