/**
 * `npm run bench -- --workers [--nodes N --node-rows R --wait S --rounds K]`: the wall time of one pipeline of N
 * I/O-bound nodes (MariaDB → PostgreSQL through S3 staging, each source query waiting S seconds on the server
 * first, as a query on a busy or distant database does) run
 * - in-process with concurrency 1 and 3 (the reference on one machine), and
 * - as a coordinator (`run --executor`) with 1 and with 3 `pigeon worker` processes of concurrency 1 each,
 * K alternating rounds, median per setup. Each run is checked: every target holds its R rows. Redis and the S3
 * server are the test servers (scripts/services/redis.sh, s3.sh), started when not running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { mysql, psql, type Servers } from './db.js';
import { measure, median, type Sample } from './measure.js';
import { serviceEndpoint } from '../test/support/services.js';

const DB = 'pigeon_bench_workers';

export interface WorkersOptions {
  readonly nodes: number;
  readonly nodeRows: number;
  /** Seconds each node's source query waits on the server before it returns rows. */
  readonly wait: number;
  readonly rounds: number;
  readonly repo: string;
  readonly workDir: string;
  readonly log: (message: string) => void;
}

interface Setup {
  readonly name: string;
  /** Worker processes; 0: in-process. */
  readonly workers: number;
  readonly concurrency: number;
}

const SETUPS: readonly Setup[] = [
  { name: 'in-process, concurrency 1', workers: 0, concurrency: 1 },
  { name: 'in-process, concurrency 3', workers: 0, concurrency: 3 },
  { name: '1 worker', workers: 1, concurrency: 3 },
  { name: '3 workers', workers: 3, concurrency: 3 },
];

export async function workersBench(s: Servers, o: WorkersOptions): Promise<void> {
  const redis = serviceEndpoint('redis');
  const s3 = serviceEndpoint('s3');
  const bucket = process.env['PIGEON_TEST_S3_BUCKET'] ?? 'pigeon';
  await setup(s, o);
  const dir = join(o.workDir, 'workers');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'pipeline.yaml'), pipelineText(s, o, s3, bucket));
  const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  const bin = join(o.repo, 'bin', 'pigeon.js');
  const samples = new Map<string, Sample[]>(SETUPS.map((x) => [x.name, []]));

  for (let round = 1; round <= o.rounds; round++) {
    for (const x of SETUPS) {
      await psql(s, DB, ...Array.from({ length: o.nodes }, (_, i) => `DROP TABLE IF EXISTS t${i + 1}`));
      const queue = `bench-${randomBytes(4).toString('hex')}`;
      const workers = await Promise.all(Array.from({ length: x.workers }, (_, i) => startWorker(bin, redis, queue, join(dir, `worker-${i + 1}`), env)));
      try {
        const args = ['run', 'pipeline.yaml', '--state-dir', `state-${round}-${x.workers}-${x.concurrency}`, '--concurrency', String(x.concurrency), '--progress', '0'];
        const sample = await measure(bin, x.workers > 0 ? [...args, '--executor', redis, '--queue', queue] : args, { cwd: dir, env });
        await check(s, o);
        samples.get(x.name)!.push(sample);
        o.log(`round ${round}, ${x.name}: ${(sample.ms / 1000).toFixed(1)} s`);
      } finally {
        await Promise.all(workers.map(stopWorker));
      }
    }
  }

  const cores = availableParallelism();
  const base = median(samples.get(SETUPS[2]!.name)!.map((x) => x.ms));
  console.log(
    `\n${o.nodes} nodes of ${o.nodeRows.toLocaleString('en')} rows, each waiting ${o.wait} s on its source first; MariaDB → PostgreSQL, S3 staging; ` +
      `${cores} cores (${cpus()[0]?.model ?? 'unknown CPU'}), node ${process.version}, median of ${o.rounds} round${o.rounds === 1 ? '' : 's'}\n`,
  );
  console.log('| setup | wall time | to 1 worker |');
  console.log('| --- | --- | --- |');
  for (const x of SETUPS) {
    const ms = median(samples.get(x.name)!.map((v) => v.ms));
    console.log(`| ${x.name} | ${(ms / 1000).toFixed(1)} s | ${(ms / base).toFixed(2)} |`);
  }
}

function pipelineText(s: Servers, o: WorkersOptions, s3: string, bucket: string): string {
  const my = `mysql://${s.mysql.user}@${s.mysql.host}:${s.mysql.port}/${DB}`;
  const pg = `postgres://${s.postgres.user}@${s.postgres.host}:${s.postgres.port}/${DB}`;
  const nodes = Array.from({ length: o.nodes }, (_, i) => {
    const t = `t${i + 1}`;
    // SLEEP in a derived table runs once per query: the node waits on the server, not on this machine's CPU.
    return [
      `  ${t}:`,
      `    source: { connection: my, query: "SELECT t.* FROM src t CROSS JOIN (SELECT SLEEP(${o.wait}) AS w) AS pause" }`,
      `    target: { connection: pg, table: ${t}, mode: overwrite }`,
    ].join('\n');
  });
  return [
    'version: 1',
    'name: bench_workers',
    'connections:',
    `  my: { type: mysql, url: "${my}", max_connections: 6 }`,
    `  pg: { type: postgres, url: "${pg}", max_connections: 6 }`,
    `  lake: { type: s3, bucket: ${bucket}, endpoint: "${s3}", region: us-east-1, force_path_style: true, access_key_id: bench, secret_access_key: bench }`,
    `staging: { url: "s3://${bucket}/bench-workers", connection: lake }`,
    'defaults: { retries: 0 }',
    'nodes:',
    ...nodes,
    '',
  ].join('\n');
}

async function setup(s: Servers, o: WorkersOptions): Promise<void> {
  await mysql(s, `CREATE DATABASE IF NOT EXISTS ${DB}`);
  const exists = (await psql(s, 'postgres', `SELECT 1 FROM pg_database WHERE datname = '${DB}'`)).trim() === '1';
  if (!exists) await psql(s, 'postgres', `CREATE DATABASE ${DB}`);
  await mysql(
    s,
    `DROP TABLE IF EXISTS src; CREATE TABLE src (id BIGINT PRIMARY KEY, name VARCHAR(64), amount DECIMAL(12,2));
     INSERT INTO src SELECT seq, CONCAT('row ', seq), seq * 1.25 FROM seq_1_to_${o.nodeRows}`,
    DB,
  );
}

async function check(s: Servers, o: WorkersOptions): Promise<void> {
  for (let i = 1; i <= o.nodes; i++) {
    const n = Number((await psql(s, DB, `SELECT count(*) FROM t${i}`)).trim());
    if (n !== o.nodeRows) throw new Error(`t${i} holds ${n} rows, not ${o.nodeRows}`);
  }
}

/** A `pigeon worker` in a directory of its own; resolves once it takes attempts. */
async function startWorker(bin: string, redis: string, queue: string, cwd: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  await mkdir(cwd, { recursive: true });
  const child = spawn(bin, ['worker', '--redis', redis, '--queue', queue, '--log-format', 'json'], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('"worker_start"')) resolve();
    });
    child.on('close', (code) => reject(new Error(`pigeon worker exited with ${code}: ${err}`)));
  });
  child.stderr!.resume();
  return child;
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise((resolve) => child.on('close', resolve));
  child.kill('SIGTERM');
  await closed;
}
