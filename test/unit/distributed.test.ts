import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPipeline } from '../../src/config/load.js';
import { attemptJobId, fromJobError, toJobError } from '../../src/distributed/job.js';
import { describeRedis, redisOptions } from '../../src/distributed/redis.js';
import { SessionLedger } from '../../src/distributed/session-ledger.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';

describe('session shares of a distributed run', () => {
  test('each attempt gets max_connections divided by the concurrency, at least one session', () => {
    const ledger = new SessionLedger(new Map([['shop', 8], ['dw', 1]]), 4);
    assert.deepEqual(ledger.shareOf(['shop', 'dw']), { shop: 2, dw: 1 });
    assert.deepEqual(ledger.shareOf(['shop', 'shop']), { shop: 2 }, 'a node reading and writing one connection takes one share');
  });

  test('grants never exceed max_connections over every attempt; a freed share is granted again', () => {
    const ledger = new SessionLedger(new Map([['shop', 4], ['dw', 1]]), 2);
    const a = ledger.shareOf(['shop', 'dw']);
    assert.equal(ledger.tryTake(a), true);
    assert.equal(ledger.tryTake(ledger.shareOf(['shop', 'dw'])), false, 'dw has its one session granted');
    assert.equal(ledger.inUse('shop'), 2, 'a refused grant takes nothing');
    assert.equal(ledger.tryTake(ledger.shareOf(['shop'])), true);
    assert.equal(ledger.tryTake(ledger.shareOf(['shop'])), false);
    ledger.give(a);
    assert.equal(ledger.inUse('dw'), 0);
    assert.equal(ledger.tryTake(ledger.shareOf(['shop', 'dw'])), true);
  });
});

describe('attempt jobs', () => {
  test('job ids are the same for the same pipeline, lineage, node and attempt, and hold no colon', () => {
    assert.equal(attemptJobId('nightly', '20260101-abc', 'orders', 2), attemptJobId('nightly', '20260101-abc', 'orders', 2));
    assert.notEqual(attemptJobId('nightly', 'l', 'orders', 1), attemptJobId('nightly', 'l', 'orders', 2));
    assert.equal(attemptJobId('a/b:c', 'l', 'n', 1), 'a%2Fb%3Ac/l/n/1');
  });

  test('an attempt error crosses Redis with its code, location, hint and transience', () => {
    const e = new PipelineError('CONNECT_FAILED', 'refused', { node: 'n', connection: 'shop', worker: 'w1', transient: true, hint: 'check it' });
    const back = fromJobError(JSON.parse(JSON.stringify(toJobError(e))));
    assert.equal(back.code, 'CONNECT_FAILED');
    assert.deepEqual(back.location, { node: 'n', connection: 'shop', worker: 'w1' });
    assert.equal(back.transient, true);
    assert.equal(back.hint, 'check it');
  });

  test('redis URLs: host, port, database, credentials; the password never in messages', () => {
    assert.deepEqual(
      (({ host, port, db, username, password }) => ({ host, port, db, username, password }))(redisOptions('redis://u:p%40ss@queue.internal:6380/2')),
      { host: 'queue.internal', port: 6380, db: 2, username: 'u', password: 'p@ss' },
    );
    assert.equal(describeRedis('redis://u:secret@h:6379'), 'redis://u:***@h:6379');
    assert.throws(() => redisOptions('http://h'), (e: PipelineError) => e.code === 'USAGE');
  });
});

describe('executor in the pipeline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-executor-'));
  const load = (staging: string, executor: string) => {
    const file = join(dir, `p${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, `version: 1\nname: p\nconnections:\n  a: { type: sqlite, path: a.db }\n${staging}${executor}nodes:\n  n: { source: { connection: a, table: x }, target: { connection: a, table: y, mode: overwrite } }\n`);
    return loadPipeline(file, { env: { REDIS: 'redis://r:6379' } });
  };

  test('a URL (with ${ENV}) or a URL and a queue', () => {
    const s = 'staging: { url: "s3://bucket/p" }\n';
    assert.deepEqual(load(s, 'executor: ${REDIS}\n').pipeline?.executor, { url: 'redis://r:6379', queue: 'pigeon' });
    assert.deepEqual(load(s, 'executor: { url: "redis://q:1", queue: nightly }\n').pipeline?.executor, { url: 'redis://q:1', queue: 'nightly' });
    assert.deepEqual(load(s, 'executor: http://q\n').errors.map((e) => e.code), ['SCHEMA']);
    assert.deepEqual(load(s, 'executor: { url: "redis://q:1", queue: "a b" }\n').errors.map((e) => e.code), ['SCHEMA']);
  });

  test('a local staging directory is refused unless it is said to be shared', () => {
    assert.deepEqual(load('', 'executor: redis://r:6379\n').errors.map((e) => e.code), ['STAGING_NOT_SHARED']);
    assert.deepEqual(load('staging: { dir: /mnt/pigeon }\n', 'executor: redis://r:6379\n').errors.map((e) => [e.code, e.location.line]), [['STAGING_NOT_SHARED', 5]]);
    assert.deepEqual(load('staging: { dir: /mnt/pigeon, shared: true }\n', 'executor: redis://r:6379\n').errors, []);
    assert.deepEqual(load('', '').errors, [], 'in-process: a local directory is fine');
  });

  after(() => rmSync(dir, { recursive: true, force: true }));
});
