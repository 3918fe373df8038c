import { test } from 'node:test';
import assert from 'node:assert/strict';
import { watermarkBounds } from '../../src/nodes/watermark-bounds.js';

test('merge reads both ends again: ties are re-upserted, never lost', () => {
  assert.deepEqual(watermarkBounds('merge', 'timestamp'), { lowerInclusive: true, upperInclusive: true });
  assert.deepEqual(watermarkBounds('merge', 'int64'), { lowerInclusive: true, upperInclusive: true });
});

test('append on an increasing integer id takes (saved, max]', () => {
  assert.deepEqual(watermarkBounds('append', 'int64'), { lowerInclusive: false, upperInclusive: true });
  assert.deepEqual(watermarkBounds('append', 'uint64'), { lowerInclusive: false, upperInclusive: true });
});

test('append on a timestamp takes [saved, max): the newest value waits for the next run', () => {
  assert.deepEqual(watermarkBounds('append', 'timestamp'), { lowerInclusive: true, upperInclusive: false });
  assert.deepEqual(watermarkBounds('overwrite', undefined), { lowerInclusive: true, upperInclusive: false });
});
