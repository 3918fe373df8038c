import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipelineGraph } from '../../src/dag/graph.js';
import { selectNodes } from '../../src/dag/select.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';

// a → b → d, a → c → d, e alone; tags: b,c are "facts", e is "dims"
const spec: Record<string, { deps: string[]; tags: string[] }> = {
  a: { deps: [], tags: [] },
  b: { deps: ['a'], tags: ['facts'] },
  c: { deps: ['a'], tags: ['facts'] },
  d: { deps: ['b', 'c'], tags: ['report'] },
  e: { deps: [], tags: ['dims'] },
};
const pipeline = {
  nodes: Object.fromEntries(Object.entries(spec).map(([name, s]) => [name, { name, depends_on: s.deps, tags: s.tags }])),
} as never;
const graph = PipelineGraph.fromDeps(new Map(Object.entries(spec).map(([n, s]) => [n, s.deps])));
const sel = (select: string[], exclude: string[] = []) => [...selectNodes(pipeline, graph, select, exclude)].sort();

test('no selection means every node', () => assert.deepEqual(sel([]), ['a', 'b', 'c', 'd', 'e']));
test('a plain name selects that node only', () => assert.deepEqual(sel(['b']), ['b']));
test('+name adds its ancestors', () => assert.deepEqual(sel(['+d']), ['a', 'b', 'c', 'd']));
test('name+ adds its descendants', () => assert.deepEqual(sel(['b+']), ['b', 'd']));
test('+name+ adds both', () => assert.deepEqual(sel(['+b+']), ['a', 'b', 'd']));
test('tag:x selects by tag, and composes with +', () => {
  assert.deepEqual(sel(['tag:facts']), ['b', 'c']);
  assert.deepEqual(sel(['tag:facts+']), ['b', 'c', 'd']);
});
test('several terms, comma or space separated, are a union', () => {
  assert.deepEqual(sel(['b,e']), ['b', 'e']);
  assert.deepEqual(sel(['b e', 'c']), ['b', 'c', 'e']);
});
test('--exclude removes with the same grammar', () => {
  assert.deepEqual(sel([], ['tag:facts']), ['a', 'd', 'e']);
  assert.deepEqual(sel(['+d'], ['a']), ['b', 'c', 'd']);
});
test('an unknown name is a SELECTION error with a suggestion', () => {
  assert.throws(
    () => sel(['dd']),
    (e: unknown) => e instanceof PipelineError && e.code === 'SELECTION' && /`d`/.test(e.hint ?? ''),
  );
  assert.throws(() => sel(['tag:fact']), (e: unknown) => e instanceof PipelineError && e.code === 'SELECTION');
});
test('run order puts dependencies first, waves sorted by name', () => {
  assert.deepEqual(graph.waves(), [['a', 'e'], ['b', 'c'], ['d']]);
  assert.deepEqual(graph.order(new Set(['d', 'b'])), ['b', 'd']);
});
