import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChunkFeed } from '../../src/connectors/contract.js';
import { spreadChunks } from '../../src/connectors/feed.js';
import { ConnectionManager } from '../../src/connectors/runtime.js';
import { readyFeed } from '../support/feeds.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('sessions on one connection never exceed its max_connections, over all callers', async () => {
  const m = new ConnectionManager(
    { app: { name: 'app', type: 'sqlite', path: 'x.db', max_connections: 2 }, dw: { name: 'dw', type: 'sqlite', path: 'y.db' } },
    { cwd: '/tmp', tmpDir: '/tmp' },
  );
  let open = 0;
  let peak = 0;
  const work = () =>
    m.session('app', async () => {
      open++;
      peak = Math.max(peak, open);
      await sleep(5);
      open--;
    });
  await Promise.all(Array.from({ length: 10 }, work));
  assert.equal(peak, 2);
  assert.equal(m.maxConnections('dw'), 4, 'the kind default applies without max_connections');
});

test('a connection is opened once and refused after close', async () => {
  const m = new ConnectionManager({ app: { name: 'app', type: 'sqlite', path: 'x.db' } }, { cwd: '/tmp', tmpDir: '/tmp' });
  const [a, b] = await Promise.all([m.get('app'), m.get('app')]);
  assert.equal(a, b);
  assert.deepEqual(await m.closeAll(), []);
  await assert.rejects(m.get('app'), (e: unknown) => e instanceof PipelineError && e.code === 'INTERNAL');
});

test('trySession runs only in a free slot, never queues, and frees the slot when done', async () => {
  const m = new ConnectionManager({ app: { name: 'app', type: 'sqlite', path: 'x.db', max_connections: 2 } }, { cwd: '/tmp', tmpDir: '/tmp' });
  let release!: () => void;
  const held = m.session('app', () => new Promise<void>((r) => (release = r)));
  const spare = m.trySession('app', async () => 'ran');
  assert.ok(spare, 'one slot of two is free');
  // The spare session is still running (it starts on a later tick): the connection is full.
  assert.equal(m.trySession('app', async () => 'never'), undefined);
  assert.equal(await spare, 'ran');
  assert.ok(m.trySession('app', async () => 'again'), 'its slot is free again');
  release();
  await held;
});

/** `n` exported chunks of `rowsEach` rows (their files are never opened here). */
function readyChunks(n: number, rowsEach = 10): ChunkFeed {
  const chunks = Array.from({ length: n }, (_, i) => ({
    index: i + 1,
    name: `chunk-${i + 1}`,
    rows: rowsEach,
    open: () => Promise.reject(new Error('not read here')),
  }));
  return readyFeed(chunks, n * rowsEach);
}

test('spreadChunks: a backlog goes over spare sessions, at most maxSessions at once, every chunk exactly once', async () => {
  const loadedBy = new Map<number, string>();
  let open = 0;
  let peak = 0;
  let spares = 0;
  const rows = await spreadChunks<string>({
    feed: readyChunks(12),
    session: 'main',
    maxSessions: 3,
    spare: (use) => use(`spare-${++spares}`),
    load: async (session, chunk) => {
      open++;
      peak = Math.max(peak, open);
      await sleep(2);
      open--;
      assert.ok(!loadedBy.has(chunk.index), `chunk ${chunk.index} loaded twice`);
      loadedBy.set(chunk.index, session);
      return chunk.rows;
    },
  });
  assert.equal(rows, 120);
  assert.deepEqual([...loadedBy.keys()].sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i + 1));
  assert.equal(peak, 3);
  assert.equal(spares, 2);
  assert.ok(new Set(loadedBy.values()).size === 3, 'all three sessions loaded chunks');
});

test('spreadChunks: no backlog, no spare session; one session alone loads in order', async () => {
  const order: number[] = [];
  let taken = 0;
  const feed: ChunkFeed = { ...readyChunks(4), backlog: () => 0 };
  const rows = await spreadChunks<string>({
    feed,
    session: 'main',
    maxSessions: 4,
    spare: () => {
      taken++;
      return undefined;
    },
    load: async (_s, chunk) => {
      order.push(chunk.index);
      return chunk.rows;
    },
  });
  assert.equal(rows, 40);
  assert.deepEqual(order, [1, 2, 3, 4]);
  assert.equal(taken, 0);
});

test('spreadChunks: the first failure aborts the other sessions and is the error reported', async () => {
  const bad = new PipelineError('BAD_VALUE', 'chunk 3 is bad');
  let abortedWhileLoading = 0;
  const err = await spreadChunks<string>({
    feed: readyChunks(8),
    session: 'main',
    maxSessions: 2,
    spare: (use) => use('spare'),
    load: (_s, chunk, signal) => {
      if (chunk.index === 3) return Promise.reject(bad);
      // Others load until aborted: a load in flight learns of the failure through its signal.
      return new Promise<number>((resolve, reject) => {
        const t = setTimeout(() => resolve(chunk.rows), 200);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          abortedWhileLoading++;
          reject(signal.reason as Error);
        });
      });
    },
  }).then(
    () => assert.fail('should fail'),
    (e: unknown) => e,
  );
  assert.equal(err, bad);
  assert.ok(abortedWhileLoading >= 1, 'a load in flight was aborted');
});
