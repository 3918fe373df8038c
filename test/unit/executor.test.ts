import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeConfig, Pipeline } from '../../src/config/types.js';
import { execute, type AttemptRunner } from '../../src/dag/executor.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';

function node(name: string, deps: string[] = [], over: Partial<NodeConfig> = {}): NodeConfig {
  return {
    name,
    tags: [],
    depends_on: deps,
    source: { connection: 'src', table: name },
    target: { connection: 'dst', table: name, mode: 'overwrite', create: 'if_missing' },
    retries: 2,
    retry_delay: 1000,
    timeout: 60_000,
    ...over,
  };
}

function pipelineOf(nodes: NodeConfig[]): Pipeline {
  return {
    file: '/x.yaml',
    version: 1,
    name: 't',
    connections: {},
    staging: { dir: '.', compress: 'none', keep: false },
    concurrency: 4,
    nodes: Object.fromEntries(nodes.map((n) => [n.name, n])),
    secrets: [],
  };
}

const ok = { rowsExported: 1, rowsImported: 1, bytes: 1, chunks: 1, chunksResumed: 0 };

async function run(nodes: NodeConfig[], runAttempt: AttemptRunner, extra: { failFast?: boolean; signal?: AbortSignal } = {}) {
  const sleeps: number[] = [];
  const result = await execute({
    pipeline: pipelineOf(nodes),
    order: nodes.map((n) => n.name),
    concurrency: 4,
    failFast: extra.failFast ?? false,
    signal: extra.signal ?? new AbortController().signal,
    observers: [],
    runAttempt,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 1,
    stopGraceMs: 1000,
  });
  return { result, sleeps };
}

test('a transient error is retried with exponential backoff, then succeeds', async () => {
  let calls = 0;
  const { result, sleeps } = await run([node('a')], async () => {
    calls++;
    if (calls < 3) throw new PipelineError('EXPORT_FAILED', 'connection reset', { transient: true });
    return ok;
  });
  assert.equal(result.status, 'succeeded');
  assert.equal(result.nodes.get('a')?.attempts, 3);
  assert.deepEqual(sleeps, [1000, 2000], 'delay doubles each attempt (jitter pinned to its maximum)');
});

test('a permanent error is not retried', async () => {
  let calls = 0;
  const { result, sleeps } = await run([node('a')], async () => {
    calls++;
    throw new PipelineError('SOURCE_NOT_FOUND', 'no such table');
  });
  assert.equal(calls, 1);
  assert.deepEqual(sleeps, []);
  assert.equal(result.nodes.get('a')?.state, 'failed');
  assert.equal(result.nodes.get('a')?.error?.code, 'SOURCE_NOT_FOUND');
  assert.equal(result.status, 'failed');
});

test('retries stop after `retries` extra attempts', async () => {
  let calls = 0;
  const { result } = await run([node('a', [], { retries: 1 })], async () => {
    calls++;
    throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  });
  assert.equal(calls, 2);
  assert.equal(result.nodes.get('a')?.state, 'failed');
});

test('a network error or a connector\'s transient error deep in the cause chain is retried', async () => {
  for (const cause of [
    Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    new PipelineError('IMPORT_FAILED', 'deadlock', { transient: true, cause: Object.assign(new Error('deadlock'), { code: 'ER_LOCK_DEADLOCK' }) }),
  ]) {
    let calls = 0;
    const { result } = await run([node('a')], async () => {
      calls++;
      if (calls === 1) throw new PipelineError('IMPORT_FAILED', 'load failed', { cause });
      return ok;
    });
    assert.equal(result.status, 'succeeded');
    assert.equal(calls, 2);
  }
});

test('an attempt that exceeds its timeout is cancelled through its signal and retried', async () => {
  let calls = 0;
  const { result } = await run([node('a', [], { timeout: 50, retries: 1 })], (_n, _p, signal) => {
    calls++;
    if (calls === 2) return Promise.resolve(ok);
    return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  });
  assert.equal(calls, 2);
  assert.equal(result.status, 'succeeded');
});

test('a timeout on the last attempt fails the node with TIMEOUT', async () => {
  const { result } = await run([node('a', [], { timeout: 30, retries: 0 })], (_n, _p, signal) =>
    new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
  );
  assert.equal(result.nodes.get('a')?.state, 'failed');
  assert.equal(result.nodes.get('a')?.error?.code, 'TIMEOUT');
});

test('a failed node skips its dependants; an independent branch still runs', async () => {
  const ran: string[] = [];
  const { result } = await run([node('a'), node('b', ['a']), node('c')], async (n) => {
    ran.push(n.name);
    if (n.name === 'a') throw new PipelineError('IMPORT_FAILED', 'boom');
    return ok;
  });
  assert.deepEqual(ran.sort(), ['a', 'c']);
  assert.equal(result.nodes.get('b')?.state, 'skipped');
  assert.equal(result.nodes.get('c')?.state, 'succeeded');
  assert.equal(result.status, 'failed');
});

test('--fail-fast stops starting nodes after the first failure', async () => {
  const ran: string[] = [];
  const nodes = [node('a'), node('b', ['a']), node('z', ['a'])];
  const { result } = await run(
    [node('x'), ...nodes],
    async (n) => {
      ran.push(n.name);
      if (n.name === 'x') throw new PipelineError('IMPORT_FAILED', 'boom');
      await new Promise((r) => setTimeout(r, 20));
      return ok;
    },
    { failFast: true },
  );
  assert.ok(!ran.includes('b') && !ran.includes('z'), `ran ${ran.join(',')}`);
  assert.equal(result.status, 'failed');
});

test('concurrency bounds how many nodes run at once', async () => {
  let running = 0;
  let peak = 0;
  const nodes = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => node(n));
  const result = await execute({
    pipeline: pipelineOf(nodes),
    order: nodes.map((n) => n.name),
    concurrency: 2,
    failFast: false,
    signal: new AbortController().signal,
    observers: [],
    runAttempt: async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 10));
      running--;
      return ok;
    },
  });
  assert.equal(result.status, 'succeeded');
  assert.equal(peak, 2);
});

test('an interrupt cancels running nodes, records them interrupted, and reports the run interrupted', async () => {
  const ctl = new AbortController();
  const p = run(
    [node('a'), node('b', ['a'])],
    (_n, _p, signal) => {
      setTimeout(() => ctl.abort(new PipelineError('ABORTED', 'SIGINT')), 10);
      return new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    },
    { signal: ctl.signal },
  );
  const { result } = await p;
  assert.equal(result.status, 'interrupted');
  assert.equal(result.nodes.get('a')?.state, 'interrupted');
  assert.equal(result.nodes.get('b')?.state, 'skipped');
});
