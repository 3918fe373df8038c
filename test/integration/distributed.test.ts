// services: s3, redis
/**
 * Distributed runs (`pigeon run --executor redis://…` and `pigeon worker`), against real Redis, the S3 test server,
 * MariaDB and PostgreSQL, with every worker a process of its own in a working directory of its own (nothing local
 * is shared, as on other machines). Each test has a queue of its own, so no test sees another's jobs, and stops
 * its workers when it ends.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb, type EngineDb } from '../support/engines.js';
import { nodeOf, startPigeon, status, waitFor, type RunningPigeon } from '../support/reliability.js';
import { testBucket } from '../support/s3.js';
import { serviceEndpoint } from '../support/services.js';

const REDIS = serviceEndpoint('redis');
/** Workers of these tests notice a lost one after seconds instead of BullMQ's 30 s, with room for a loaded machine. */
const LOCK_MS = '4000';
const ROWS = 3000;
const STEP_TIMEOUT = 120_000;

/** Every worker started by a test of this file: stopped (SIGKILL) when the file ends, whatever happened. */
const workers: RunningPigeon[] = [];
after(() => {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
});

interface Setup {
  readonly dir: string;
  readonly src: EngineDb;
  readonly dst: EngineDb;
  readonly queue: string;
  readonly prefix: string;
}

/** `tables` source tables of ROWS rows each in MariaDB; a pipeline loading each into PostgreSQL through S3 staging. */
async function withPipeline(
  opts: { tables: number; mode?: 'append' | 'overwrite'; chain?: boolean; pause?: number; shopSessions?: number; executorKey?: boolean; timeout?: string; watermark?: boolean },
  fn: (s: Setup) => Promise<void>,
): Promise<void> {
  const s3 = testBucket();
  const t = tempDir('pigeon-dist-');
  const prefix = s3.prefix();
  const src = await createDb('mysql', t.dir);
  const dst = await createDb('postgres', t.dir);
  const queue = `t-${randomBytes(5).toString('hex')}`;
  try {
    await src.exec('SET SESSION max_recursive_iterations = 1000000');
    const nodes: string[] = [];
    for (let i = 1; i <= opts.tables; i++) {
      await src.exec(`CREATE TABLE t${i} (id BIGINT PRIMARY KEY, name TEXT, amount DECIMAL(12,2))`);
      await src.exec(
        `INSERT INTO t${i} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
         SELECT i, CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE CONCAT('row "${i}", #', i) END, i * 1.25 FROM n`,
      );
      // Every third node waits for the one before it: the DAG, not only a list, goes through the queue.
      const dep = opts.chain !== false && i % 3 === 0 ? `\n    depends_on: [n${i - 1}]` : '';
      nodes.push(`  n${i}:${dep}
    source: ${
      opts.pause
        ? // The export waits on the server first, so that a test can act while the attempt runs.
          `{ connection: shop, query: "SELECT t.* FROM t${i} t CROSS JOIN (SELECT SLEEP(${opts.pause}) AS w) AS pause" }`
        : `{ connection: shop, table: t${i}, split: { column: id, chunks: 3 } }`
    }
    target: { connection: dw, table: t${i}, mode: ${opts.mode ?? 'overwrite'} }${
      opts.watermark ? '\n    incremental: { column: id, strategy: watermark, wait_for_writers: false }' : ''
    }`);
    }
    const conn = Object.entries(s3.config(`${prefix}lake/`)).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ');
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1
name: dist
connections:
  shop: { type: mysql, url: "\${SHOP_URL}", max_connections: ${opts.shopSessions ?? 4} }
  dw: ${dst.yaml}
  lake: { type: s3, ${conn} }
staging: { url: "s3://${s3.bucket}/${prefix}staging", connection: lake }
defaults: { retries: 0${opts.timeout ? `, timeout: ${opts.timeout}` : ''} }
concurrency: 6${opts.executorKey ? '\nexecutor: "${COORDINATOR_REDIS}"' : ''}
nodes:
${nodes.join('\n')}
`,
    );
    await fn({ dir: t.dir, src, dst, queue, prefix });
  } finally {
    await src.drop().catch(() => {});
    await dst.drop().catch(() => {});
    await s3.clear(prefix).catch(() => {});
    t.cleanup();
  }
}

/** The URL of a source database, the way a worker's environment gives it (`${SHOP_URL}`). */
function shopUrl(src: EngineDb): string {
  return /url: "([^"]+)"/.exec(src.yaml)![1]!;
}

/** Starts `pigeon worker` in a working directory of its own under `dir`. */
function startWorker(s: Setup, name: string, env: Record<string, string> = {}): RunningPigeon & { log: () => string } {
  const cwd = join(s.dir, `machine-${name}`);
  mkdirSync(cwd, { recursive: true });
  const w = startPigeon(['worker', '--redis', REDIS, '--queue', s.queue, '--name', name, '--log-format', 'json'], {
    cwd,
    env: { SHOP_URL: shopUrl(s.src), PIGEON_WORKER_LOCK_MS: LOCK_MS, ...env },
  });
  let stderr = '';
  w.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  workers.push(w);
  return { ...w, log: () => stderr };
}

/** Log events of a worker's JSON log lines. */
function events(log: string, event: string): Record<string, unknown>[] {
  return log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e['event'] === event);
}

async function stop(w: RunningPigeon): Promise<void> {
  if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  await w.done;
}

async function tableText(db: EngineDb, table: string): Promise<string> {
  const rows = await db.rows(`SELECT id, name, amount::text FROM ${table} ORDER BY id`);
  return JSON.stringify(rows.map((r) => r.map((v) => (v === null ? null : String(v)))));
}

/** `pigeon run` of the setup's pipeline on its queue; `executorKey`: the pipeline's `executor:` names Redis, not `--executor`. */
function coordinator(s: Setup, how: { executorKey?: boolean } = {}): RunningPigeon {
  const executor = how.executorKey ? [] : ['--executor', REDIS];
  return startPigeon(['run', 'p.yaml', ...executor, '--queue', s.queue, '--progress', '0'], { cwd: s.dir, env: { SHOP_URL: shopUrl(s.src), COORDINATOR_REDIS: REDIS } });
}

describe('distributed runs', { timeout: 10 * 60_000 }, () => {
  test('12 nodes on 3 workers load the same targets as an in-process run; the run record names the worker of each attempt', async () => {
    await withPipeline({ tables: 12 }, async (s) => {
      const ws = ['w1', 'w2', 'w3'].map((n) => startWorker(s, n));
      const run = coordinator(s);
      const r = await run.done;
      assert.equal(r.code, 0, r.stderr);
      const st = await status(s.dir);
      assert.equal(st.run.status, 'succeeded');
      const used = new Set<string>();
      for (let i = 1; i <= 12; i++) {
        const n = nodeOf(st, `n${i}`) as ReturnType<typeof nodeOf> & { workers?: { attempt: number; worker: string }[] };
        assert.equal(n.state, 'succeeded');
        assert.equal(n.rows_imported, ROWS);
        assert.ok(n.workers && n.workers.length === 1 && ['w1', 'w2', 'w3'].includes(n.workers[0]!.worker), JSON.stringify(n));
        assert.equal(n.workers[0]!.attempt, 1);
        used.add(n.workers[0]!.worker);
      }
      // `pigeon status` (text) has a worker column.
      const text = await pigeon(['status'], { cwd: s.dir });
      assert.match(text.stdout, /\bworker\b/);
      for (let i = 1; i <= 12; i++) assert.match(text.stdout, new RegExp(`^n${i} .*\\bw[123]\\s*$`, 'm'));
      // Each worker logged the attempts it ran, and every node ran once.
      const started = ws.flatMap((w) => events(w.log(), 'node_start').map((e) => `${String(e['node'])}@${String(e['worker'])}`));
      assert.equal(started.length, 12, started.join(' '));
      for (const w of ws) await stop(w);

      // The same pipeline in-process, into a second PostgreSQL database: the same rows in every table.
      const other = await createDb('postgres', s.dir);
      try {
        const text = readFileSync(join(s.dir, 'p.yaml'), 'utf8').replace(/^  dw: .*$/m, `  dw: ${other.yaml}`);
        mkdirSync(join(s.dir, 'local'));
        writeFileSync(join(s.dir, 'local', 'p.yaml'), text);
        const local = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: join(s.dir, 'local'), env: { SHOP_URL: shopUrl(s.src) } });
        assert.equal(local.code, 0, local.stderr);
        for (let i = 1; i <= 12; i++) assert.equal(await tableText(s.dst, `t${i}`), await tableText(other, `t${i}`), `t${i}`);
      } finally {
        await other.drop().catch(() => {});
      }
    });
  });

  test('a worker SIGKILLed in the middle of a node: another worker completes it and the rows load exactly once', async () => {
    await withPipeline({ tables: 1, mode: 'append', chain: false }, async (s) => {
      // The first worker kills itself right after the import committed, before it could record that it did.
      const doomed = startWorker(s, 'doomed', { PIGEON_CRASH_AT: 'n1:imported' });
      const run = coordinator(s);
      const gone = await doomed.done;
      assert.equal(gone.signal, 'SIGKILL', doomed.log());
      // Only now is there another worker: the attempt can only reach it through BullMQ's stalled-job check.
      const rescuer = startWorker(s, 'rescuer');
      const r = await run.done;
      assert.equal(r.code, 0, r.stderr);
      const n = nodeOf(await status(s.dir), 'n1') as ReturnType<typeof nodeOf> & { workers?: { attempt: number; worker: string }[] };
      assert.equal(n.state, 'succeeded');
      assert.deepEqual(
        n.workers?.map((w) => w.worker).filter((w) => w === 'rescuer'),
        ['rescuer'],
        JSON.stringify(n.workers),
      );
      assert.deepEqual(await s.dst.rows('SELECT count(*)::int, count(DISTINCT id)::int FROM t1'), [[ROWS, ROWS]], 'loaded exactly once');
      assert.equal(events(rescuer.log(), 'node_start').length, 1);
      await stop(rescuer);
    });
  });

  test('a coordinator SIGKILLed mid-run, then pigeon retry: the run finishes and no attempt runs twice', async () => {
    await withPipeline({ tables: 4, chain: false }, async (s) => {
      const w = startWorker(s, 'solo');
      const first = coordinator(s);
      await waitFor('a node running on the worker', () => events(w.log(), 'node_start').length > 0, STEP_TIMEOUT);
      first.child.kill('SIGKILL');
      assert.equal((await first.done).signal, 'SIGKILL');

      const retry = await pigeon(['retry', '--progress', '0', '--log-format', 'json'], { cwd: s.dir, env: { SHOP_URL: shopUrl(s.src) } });
      assert.equal(retry.code, 0, retry.stderr);
      const st = await status(s.dir);
      assert.equal(st.run.status, 'succeeded');
      assert.ok(st.run.retry_of);
      // The worker started each node's attempt once: the retry waited for the one already running (or took its result).
      const started = events(w.log(), 'node_start').map((e) => String(e['node'])).sort();
      assert.deepEqual(started, ['n1', 'n2', 'n3', 'n4']);
      assert.ok(events(retry.stderr, 'job_adopted').length >= 1, retry.stderr);
      for (let i = 1; i <= 4; i++) assert.deepEqual(await s.dst.rows(`SELECT count(*)::int FROM t${i}`), [[ROWS]]);
      await stop(w);
    });
  });

  test('SIGTERM: a worker finishes its running attempt, then exits; a second SIGTERM hands the attempt to another worker', async () => {
    await withPipeline({ tables: 1, chain: false, pause: 2 }, async (s) => {
      const patient = startWorker(s, 'patient');
      const run = coordinator(s);
      await waitFor('the attempt running', () => events(patient.log(), 'node_start').length > 0, STEP_TIMEOUT);
      patient.child.kill('SIGTERM');
      const exited = await patient.done;
      assert.equal(exited.code, 0, patient.log());
      assert.equal(events(patient.log(), 'node_end').length, 1, 'the attempt finished before the worker exited');
      assert.equal((await run.done).code, 0);

      const hasty = startWorker(s, 'hasty');
      const again = coordinator(s);
      await waitFor('the attempt running', () => events(hasty.log(), 'node_start').length > 0, STEP_TIMEOUT);
      hasty.child.kill('SIGTERM');
      await waitFor('the first SIGTERM taken', () => events(hasty.log(), 'worker_stopping').length > 0, STEP_TIMEOUT);
      hasty.child.kill('SIGTERM');
      assert.equal((await hasty.done).code, 0, hasty.log());
      const heir = startWorker(s, 'heir');
      const r = await again.done;
      assert.equal(r.code, 0, r.stderr);
      const n = nodeOf(await status(s.dir), 'n1') as ReturnType<typeof nodeOf> & { workers?: { attempt: number; worker: string }[] };
      assert.deepEqual(n.workers?.map((w) => w.worker), ['hasty', 'heir'], 'the same attempt, handed back and taken up by another worker');
      assert.equal(n.attempts, 1, 'handing back is not a failed attempt');
      assert.deepEqual(await s.dst.rows('SELECT count(*)::int FROM t1'), [[ROWS]]);
      await stop(heir);
    });
  });

  test('max_connections holds over every worker together (the executor named in the pipeline, from the coordinator\'s environment)', async () => {
    await withPipeline({ tables: 4, chain: false, pause: 1, shopSessions: 1, executorKey: true }, async (s) => {
      // The workers' environment has no COORDINATOR_REDIS: a worker never uses the pipeline's `executor:`.
      const ws = ['m1', 'm2', 'm3'].map((n) => startWorker(s, n));
      const run = coordinator(s, { executorKey: true });
      // Sessions of the source database other than this checker's, sampled while the run goes on.
      let most = 0;
      let finished = false;
      void run.done.then(() => (finished = true));
      while (!finished) {
        const [[n]] = (await s.src.rows('SELECT count(*) FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()')) as [[number]];
        most = Math.max(most, Number(n));
        await new Promise((r) => setTimeout(r, 20));
      }
      const r = await run.done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(most, 1, 'the source (max_connections: 1) never had more than one session of all the workers');
      const started = ws.flatMap((w) => events(w.log(), 'node_start'));
      assert.equal(started.length, 4);
      for (const w of ws) await stop(w);
    });
  });

  test('attempts that run out of time: the running one is cancelled on its worker (which stays up), the queued one taken off the queue', async () => {
    await withPipeline({ tables: 2, chain: false, pause: 6, timeout: '2s' }, async (s) => {
      const w = startWorker(s, 'busy');
      const r = await coordinator(s).done;
      assert.equal(r.code, 1, r.stderr);
      const st = await status(s.dir);
      for (const node of ['n1', 'n2']) assert.equal(nodeOf(st, node).error?.code, 'TIMEOUT', JSON.stringify(nodeOf(st, node)));
      // One attempt was cancelled on the worker; the other never left the queue (one worker slot) and was taken off it.
      assert.equal(events(w.log(), 'job_cancelled').length, 1, w.log());
      assert.equal(events(w.log(), 'node_start').length, 1, w.log());
      assert.equal(w.child.exitCode, null, 'the worker is still running');
      await stop(w);
    });
  });

  test('a watermark lives in the S3 staging: the next run on another worker loads only the new rows', async () => {
    await withPipeline({ tables: 1, chain: false, mode: 'append', watermark: true }, async (s) => {
      const first = startWorker(s, 'monday');
      assert.equal((await coordinator(s).done).code, 0);
      await stop(first);
      await s.src.exec(`INSERT INTO t1 SELECT id + ${ROWS}, name, amount FROM t1 WHERE id <= 500`);
      // Another machine, which has never seen this pipeline: the watermark can only come from the staging.
      const second = startWorker(s, 'tuesday');
      const r = await coordinator(s).done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(nodeOf(await status(s.dir), 'n1').rows_imported, 500);
      assert.deepEqual(await s.dst.rows('SELECT count(*)::int, count(DISTINCT id)::int, max(id)::int FROM t1'), [[ROWS + 500, ROWS + 500, ROWS + 500]]);
      assert.deepEqual(await testBucket().keys(`${s.prefix}staging/dist/_watermarks/`), ['n1.json']);
      for (const machine of ['machine-monday', 'machine-tuesday']) {
        assert.equal(existsSync(join(s.dir, machine, '.pigeon', 'watermarks')), false, `${machine} kept no watermark of its own`);
      }
      await stop(second);
    });
  });

  test('a worker that cannot reach a connection fails the attempt with an error naming the worker', async () => {
    await withPipeline({ tables: 1, chain: false }, async (s) => {
      // This worker's environment points the source at a port where nothing listens.
      const w = startWorker(s, 'cut-off', { SHOP_URL: 'mysql://root@127.0.0.1:1/nothing' });
      const r = await coordinator(s).done;
      assert.equal(r.code, 1, r.stderr);
      const n = nodeOf(await status(s.dir), 'n1');
      assert.equal(n.state, 'failed');
      assert.equal(n.error?.code, 'CONNECT_FAILED', JSON.stringify(n.error));
      assert.equal(n.error?.location?.['worker'], 'cut-off');
      assert.match(r.stderr, /worker cut-off/);
      await stop(w);
    });
  });

  test('a local staging directory is refused for a distributed run, and an unreachable Redis is a clear error', async () => {
    const t = tempDir('pigeon-dist-');
    try {
      writeFileSync(
        join(t.dir, 'p.yaml'),
        `version: 1
name: local
connections:
  a: { type: sqlite, path: a.db }
executor: redis://127.0.0.1:1
nodes:
  n: { source: { connection: a, table: x }, target: { connection: a, table: y, mode: overwrite } }
`,
      );
      const v = await pigeon(['validate', 'p.yaml', '--format', 'json'], { cwd: t.dir });
      assert.equal(v.code, 3);
      assert.match(v.stdout + v.stderr, /STAGING_NOT_SHARED/);
      writeFileSync(join(t.dir, 'q.yaml'), readFileSync(join(t.dir, 'p.yaml'), 'utf8').replace('executor: redis://127.0.0.1:1\n', ''));
      const r = await pigeon(['run', 'q.yaml', '--executor', 'redis://127.0.0.1:1'], { cwd: t.dir });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /STAGING_NOT_SHARED/);
      const q = await pigeon(['run', 'q.yaml', '--queue', 'nightly'], { cwd: t.dir });
      assert.equal(q.code, 2, 'a queue without an executor is a usage error');
      writeFileSync(join(t.dir, 's.yaml'), readFileSync(join(t.dir, 'p.yaml'), 'utf8').replace('executor:', 'staging: { dir: shared, shared: true }\nexecutor:'));
      const u = await pigeon(['run', 's.yaml', '--log-format', 'json'], { cwd: t.dir });
      assert.notEqual(u.code, 0);
      assert.match(u.stderr, /EXECUTOR_FAILED/);
      assert.equal(readdirSync(t.dir).includes('.pigeon') && readdirSync(join(t.dir, '.pigeon')).includes('runs') ? readdirSync(join(t.dir, '.pigeon', 'runs')).length : 0, 0, 'no run was recorded');
    } finally {
      t.cleanup();
    }
  });
});
