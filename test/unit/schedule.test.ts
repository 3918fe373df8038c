import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Schedule } from '../../src/dag/schedule.js';

const deps = (spec: Record<string, string[]>) => new Map(Object.entries(spec));

test('only nodes whose dependencies succeeded are ready', () => {
  const s = new Schedule(['a', 'b', 'c'], deps({ a: [], b: ['a'], c: ['b'] }));
  assert.deepEqual(s.ready(), ['a']);
  s.start('a');
  assert.deepEqual(s.ready(), []);
  s.finish('a', 'succeeded');
  assert.deepEqual(s.ready(), ['b']);
});

test('independent nodes are ready together (fan-out)', () => {
  const s = new Schedule(['a', 'b', 'c', 'd'], deps({ a: [], b: ['a'], c: ['a'], d: ['b', 'c'] }));
  s.start('a');
  s.finish('a', 'succeeded');
  assert.deepEqual(s.ready(), ['b', 'c']);
  s.start('b');
  s.finish('b', 'succeeded');
  assert.deepEqual(s.ready(), ['c'], 'd waits for both of its dependencies');
});

test('a failure skips every descendant and leaves other branches running', () => {
  const s = new Schedule(['a', 'x', 'b', 'c'], deps({ a: [], x: [], b: ['a'], c: ['b'] }));
  s.start('a');
  s.start('x');
  const skipped = s.finish('a', 'failed');
  assert.deepEqual(skipped.sort(), ['b', 'c']);
  assert.equal(s.state('c'), 'skipped');
  assert.match(s.skippedBecause('c') ?? '', /`a` failed/);
  assert.equal(s.done(), false, 'x still runs');
  s.finish('x', 'succeeded');
  assert.equal(s.done(), true);
});

test('dependencies outside the schedule count as satisfied (retry of part of a run)', () => {
  const s = new Schedule(['b'], deps({ b: ['a'] }));
  assert.deepEqual(s.ready(), ['b']);
});

test('skipPending marks what never started', () => {
  const s = new Schedule(['a', 'b'], deps({ a: [], b: [] }));
  s.start('a');
  assert.deepEqual(s.skipPending('stopped'), ['b']);
  assert.equal(s.done(), false);
  s.finish('a', 'interrupted');
  assert.equal(s.done(), true);
});

test('finishing a node that is not running is a bug and throws', () => {
  const s = new Schedule(['a'], deps({ a: [] }));
  assert.throws(() => s.finish('a', 'succeeded'));
});
