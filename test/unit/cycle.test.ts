import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findCycle, findCycles } from '../../src/dag/cycle.js';

const graph = (deps: Record<string, string[]>): Map<string, string[]> => new Map(Object.entries(deps));

describe('findCycle', () => {
  it('returns null for an acyclic graph, a diamond included', () => {
    assert.equal(findCycle(graph({})), null);
    assert.equal(findCycle(graph({ a: [], b: ['a'], c: ['a'], d: ['b', 'c'] })), null);
  });

  it('returns a cycle of three as a path that ends where it starts', () => {
    assert.deepEqual(findCycle(graph({ a: ['b'], b: ['c'], c: ['a'] })), ['a', 'b', 'c', 'a']);
  });

  it('returns a self-dependency as [a, a]', () => {
    assert.deepEqual(findCycle(graph({ a: [], b: ['b'] })), ['b', 'b']);
  });

  it('starts the path at the cycle, not at the node that led to it', () => {
    assert.deepEqual(findCycle(graph({ a: ['b'], b: ['c'], c: ['d'], d: ['b'] })), ['b', 'c', 'd', 'b']);
  });

  it('is deterministic whatever the order of nodes and dependencies', () => {
    const forward = graph({ a: ['c', 'b'], b: ['a'], c: ['a'] });
    const backward = new Map([...forward].reverse().map(([k, v]) => [k, [...v].reverse()]));
    assert.deepEqual(findCycle(forward), ['a', 'b', 'a']);
    assert.deepEqual(findCycle(backward), ['a', 'b', 'a']);
  });

  it('ignores dependencies on nodes that do not exist', () => {
    assert.equal(findCycle(graph({ a: ['ghost'], b: ['a', 'phantom'] })), null);
  });

  it('handles a chain of 100000 nodes without overflowing the stack', () => {
    const deps = new Map<string, string[]>();
    const n = 100_000;
    const name = (i: number): string => `n${String(i).padStart(6, '0')}`;
    for (let i = 0; i < n; i++) deps.set(name(i), i + 1 < n ? [name(i + 1)] : []);
    assert.equal(findCycle(deps), null);
    deps.set(name(n - 1), [name(0)]);
    const cycle = findCycle(deps);
    assert.equal(cycle?.length, n + 1);
    assert.equal(cycle?.[0], name(0));
  });
});

describe('findCycles', () => {
  it('finds each separate cycle once, a self-dependency included, and nothing in an acyclic part', () => {
    const deps = graph({ a: ['b'], b: ['c'], c: ['a'], d: ['d'], e: ['a'], f: [] });
    assert.deepEqual(findCycles(deps), [['a', 'b', 'c', 'a'], ['d', 'd']]);
  });

  it('finds each of 5000 separate cycles among 10000 nodes', () => {
    const deps = new Map<string, string[]>();
    for (let i = 0; i < 10_000; i++) deps.set(`n${i}`, [`n${i % 2 === 0 ? i + 1 : i - 1}`]);
    assert.equal(findCycles(deps).length, 5000);
  });
});

