import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionManager } from '../../src/connectors/runtime.js';
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
