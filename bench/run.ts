/**
 * `npm run bench [-- --rows N --rounds K --chunks C --connections M --only m2p,p2m,p2o,m2h --tools pigeon,native,pgloader --hog]`
 * `npm run bench -- --workers [--nodes N --node-rows R --wait S --rounds K]`: distributed runs, see bench/workers.ts.
 *
 * Creates a deterministic orders table of N rows in MariaDB (and the same rows in PostgreSQL, loaded by COPY), then
 * runs K alternating rounds of each tool in both directions, checks after every run that the target holds exactly
 * the source's rows (count and a checksum of every value, computed in SQL on both sides), and prints per tool the
 * median wall time, the peak RSS and the ratios to the native baseline and to pgloader. Results are also written as
 * JSON to bench/results/<timestamp>.json. Each run also records the CPU seconds of the tool's own processes (GNU
 * time) and of the local MariaDB and PostgreSQL servers (/proc, see cpu.ts), and the load average before the rounds.
 * `--hog` keeps one core busy with a spinning process during the rounds: the figures of a loaded machine.
 *
 * Tools:
 * - pigeon: `pigeon run` of a one-node overwrite pipeline, as a child process (its wall time and peak RSS);
 * - native: MySQL → PostgreSQL `SELECT … INTO OUTFILE` then `psql \copy` into the truncated table; PostgreSQL →
 *   MySQL `psql \copy … TO` then `LOAD DATA LOCAL INFILE`; sequential, both in MySQL's/PostgreSQL's text format;
 * - pigeon-s3 (MySQL → PostgreSQL only): the same pipeline with its staging in S3 (`staging.url`) on the S3 test
 *   server (scripts/services/s3.sh, started when not running), as a ratio to pigeon with local staging;
 * - pgloader (MySQL → PostgreSQL only), when installed;
 * - pigeon-baseline, with `--baseline DIR`: pigeon as built in another checkout (DIR/bin/pigeon.js), the same
 *   pipeline, so a change is measured before and after in one run.
 *
 * MySQL → Hive (bench/hive.ts; the test HiveServer2 unless BENCH_HIVE=host:port): pigeon into an existing ORC table;
 * native is what one writes by hand, `SELECT … INTO OUTFILE` in Hive's delimited text, then `LOAD DATA LOCAL
 * INPATH` into a text table of the same types and `INSERT OVERWRITE` of the ORC table from it.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  MYSQL_CHECKSUM,
  MYSQL_ORDERS_DDL,
  PG_CHECKSUM,
  PG_ORDERS_DDL,
  insertOrders,
  mysql,
  mysqlArgs,
  psql,
  psqlArgs,
  serversFromEnv,
  type Servers,
} from './db.js';
import { measure, median, sequence, type Sample } from './measure.js';
import { serverCpu, startHog } from './cpu.js';
import { HIVE_CHECKSUM, HIVE_ORDERS_COLUMNS, HiveBench, hiveServer, type HiveServer } from './hive.js';
import { serviceEndpoint } from '../test/support/services.js';
import { workersBench } from './workers.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DB = 'pigeon_bench';
/** Written by mysqld (INTO OUTFILE) and read by psql, or written by psql and read by the mysql client. */
const EXCHANGE_DIR = join(tmpdir(), 'pigeon-bench-native');
const WORK_DIR = join(tmpdir(), 'pigeon-bench-work');

type Direction = 'mysql→postgres' | 'postgres→mysql' | 'postgres→opensearch' | 'mysql→hive';

/** The OpenSearch of the search direction: the test server (scripts/services/opensearch.sh), started if need be. */
const OPENSEARCH = process.env.BENCH_OPENSEARCH_URL ?? 'http://127.0.0.1:9400';

/** The Hive side of mysql→hive, when that direction runs. */
let hive: { bench: HiveBench; server: HiveServer } | undefined;

interface Options {
  readonly rows: number;
  readonly rounds: number;
  readonly chunks: number;
  readonly connections: number;
  readonly directions: readonly Direction[];
  /** postgres→opensearch: documents per _bulk request and requests in flight, the same for pigeon and the loader. */
  readonly batch: number;
  readonly concurrency: number;
  readonly tools: readonly string[];
  readonly profile: boolean;
  /** pigeon-s3's staging compression: `default` leaves `compress` out (S3 staging's default, gzip). */
  readonly s3Compress: 'none' | 'gzip' | 'default';
  /** A process spinning on one core during the rounds. */
  readonly hog: boolean;
  /** Another checkout of pigeon, built, run as the tool pigeon-baseline. */
  readonly baseline?: string;
  /** `--workers`: the distributed-run benchmark instead (bench/workers.ts). */
  readonly workers?: { readonly nodes: number; readonly nodeRows: number; readonly wait: number };
}

const DIRECTIONS: Readonly<Record<string, Direction>> = { m2p: 'mysql→postgres', p2m: 'postgres→mysql', p2o: 'postgres→opensearch', m2h: 'mysql→hive' };

interface Tool {
  readonly name: string;
  readonly direction: Direction;
  /** Why the tool is skipped, when it is. */
  readonly skip?: string;
  run(): Promise<Sample>;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      rounds: { type: 'string', default: '3' },
      chunks: { type: 'string', default: '8' },
      connections: { type: 'string', default: '2' },
      batch: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '2' },
      only: { type: 'string' },
      tools: { type: 'string', default: 'pigeon,pigeon-s3,native,pgloader' },
      profile: { type: 'boolean', default: false },
      's3-compress': { type: 'string', default: 'default' },
      hog: { type: 'boolean', default: false },
      baseline: { type: 'string' },
      workers: { type: 'boolean', default: false },
      nodes: { type: 'string', default: '12' },
      'node-rows': { type: 'string', default: '20000' },
      wait: { type: 'string', default: '2' },
    },
  });
  const int = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const only = values.only?.split(',').map((d) => d.trim());
  const unknown = only?.find((d) => DIRECTIONS[d] === undefined);
  if (unknown !== undefined) throw new Error(`--only takes a list of ${Object.keys(DIRECTIONS).join(', ')}; not ${unknown}`);
  return {
    rows: int('rows', values.rows),
    rounds: int('rounds', values.rounds),
    chunks: int('chunks', values.chunks),
    connections: int('connections', values.connections),
    directions: only ? only.map((d) => DIRECTIONS[d]!) : Object.values(DIRECTIONS),
    batch: int('batch', values.batch),
    concurrency: int('concurrency', values.concurrency),
    tools: (values.tools ?? '').split(',').map((t) => t.trim()),
    profile: values.profile ?? false,
    s3Compress: values['s3-compress'] === 'gzip' || values['s3-compress'] === 'none' ? values['s3-compress'] : 'default',
    hog: values.hog ?? false,
    ...(values.baseline !== undefined ? { baseline: resolve(values.baseline) } : {}),
    ...(values.workers ? { workers: { nodes: int('nodes', values.nodes), nodeRows: int('node-rows', values['node-rows']), wait: int('wait', values.wait) } } : {}),
  };
}

// ---- data ---------------------------------------------------------------------------------------------------------

/** Creates the source tables (unless they already hold the same N rows) and empty targets; returns the checksum. */
async function setup(s: Servers, rows: number): Promise<string> {
  await mkdir(EXCHANGE_DIR, { recursive: true });
  await chmod(EXCHANGE_DIR, 0o777);
  await mysql(s, `CREATE DATABASE IF NOT EXISTS ${DB}`);
  const exists = (await psql(s, 'postgres', `SELECT 1 FROM pg_database WHERE datname = '${DB}'`)).trim() === '1';
  if (!exists) await psql(s, 'postgres', `CREATE DATABASE ${DB}`);

  const have = await mysql(s, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${DB}' AND TABLE_NAME = 'orders'`);
  const mysqlRows = have.trim() === '1' ? Number((await mysql(s, 'SELECT COUNT(*) FROM orders', DB)).trim()) : -1;
  const pgHave = (await psql(s, DB, `SELECT count(*) FROM pg_class WHERE relname = 'orders_src'`)).trim() === '1';
  const pgRows = pgHave ? Number((await psql(s, DB, 'SELECT count(*) FROM orders_src')).trim()) : -1;
  if (mysqlRows !== rows || pgRows !== rows) {
    log(`creating ${rows.toLocaleString('en')} rows in MariaDB ${DB}.orders and PostgreSQL ${DB}.orders_src`);
    await mysql(s, `DROP TABLE IF EXISTS orders; ${MYSQL_ORDERS_DDL('orders')}`, DB);
    const batch = 1_000_000;
    for (let from = 1; from <= rows; from += batch) {
      await mysql(s, insertOrders('orders', from, Math.min(rows, from + batch - 1)), DB);
    }
    const file = join(EXCHANGE_DIR, 'source.tsv');
    await rm(file, { force: true });
    await mysql(s, `SET time_zone = '+00:00'; SELECT * INTO OUTFILE '${file}' FROM orders ORDER BY id`, DB);
    await psql(s, DB, 'DROP TABLE IF EXISTS orders_src', PG_ORDERS_DDL('orders_src'), "SET TIME ZONE 'UTC'", `\\copy orders_src FROM '${file}' (FORMAT text)`, 'VACUUM ANALYZE orders_src');
    await rm(file, { force: true });
  }
  await mysql(s, `DROP TABLE IF EXISTS orders_rev; ${MYSQL_ORDERS_DDL('orders_rev')}`, DB);
  await psql(s, DB, 'DROP TABLE IF EXISTS orders', PG_ORDERS_DDL('orders'));

  const mine = await mysqlChecksum(s, 'orders');
  const theirs = await pgChecksum(s, 'orders_src');
  if (mine !== theirs) throw new Error(`the PostgreSQL copy of the source differs: ${theirs} against ${mine}`);
  return mine;
}

async function mysqlChecksum(s: Servers, table: string): Promise<string> {
  return (await mysql(s, MYSQL_CHECKSUM(table), DB)).trim();
}

async function pgChecksum(s: Servers, table: string): Promise<string> {
  return (await psql(s, DB, PG_CHECKSUM(table))).trim();
}

// ---- tools --------------------------------------------------------------------------------------------------------

/** Where pigeon-s3 stages: the S3 test server, bucket `pigeon`. */
interface S3Staging {
  readonly endpoint: string;
  readonly bucket: string;
  readonly compress: 'none' | 'gzip' | 'default';
}

function pigeonTool(s: Servers, o: Options, direction: Direction, s3?: S3Staging, home = REPO): Tool {
  if (direction === 'postgres→opensearch') return pigeonSearchTool(s, o);
  const m2p = direction === 'mysql→postgres';
  const m2h = direction === 'mysql→hive';
  const baseline = home !== REPO;
  const name = `${m2h ? 'm2h' : m2p ? 'm2p' : 'p2m'}${s3 ? '_s3' : ''}${baseline ? '_baseline' : ''}`;
  const dir = join(WORK_DIR, `pigeon-${name}`);
  const my = `mysql://${s.mysql.user}@${s.mysql.host}:${s.mysql.port}/${DB}`;
  const pg = `postgres://${s.postgres.user}@${s.postgres.host}:${s.postgres.port}/${DB}`;
  const pipeline = [
    'version: 1',
    `name: bench_${name}`,
    'connections:',
    `  my: { type: mysql, url: "${my}", max_connections: ${o.connections} }`,
    `  pg: { type: postgres, url: "${pg}", max_connections: ${o.connections} }`,
    ...(hive ? [`  hv: { type: hive, host: ${hive.server.host}, port: ${hive.server.port}, auth: ${hive.server.auth}, database: ${DB}, max_connections: ${o.connections} }`] : []),
    ...(s3
      ? [
          `  lake: { type: s3, bucket: ${s3.bucket}, endpoint: "${s3.endpoint}", region: us-east-1, force_path_style: true, access_key_id: bench, secret_access_key: bench }`,
          `staging: { url: "s3://${s3.bucket}/bench-staging", connection: lake${s3.compress === 'default' ? '' : `, compress: ${s3.compress}`} }`,
        ]
      : ['staging: { dir: staging }']),
    'nodes:',
    '  orders:',
    `    source: { connection: ${m2p || m2h ? 'my' : 'pg'}, table: ${m2p || m2h ? 'orders' : 'orders_src'}, split: { column: id, chunks: ${o.chunks} } }`,
    // PostgreSQL's timestamp columns keep 6 fractional digits, MariaDB's DATETIME none: the rows hold whole seconds
    // (they were made in MariaDB), which pigeon is told, since it refuses a target that could round values.
    `    target: { connection: ${m2h ? 'hv' : m2p ? 'pg' : 'my'}, table: ${m2p || m2h ? 'orders' : 'orders_rev'}, mode: overwrite${m2p || m2h ? '' : ', lossy: allow'} }`,
    '',
  ].join('\n');
  return {
    name: s3 ? 'pigeon-s3' : baseline ? 'pigeon-baseline' : 'pigeon',
    direction,
    async run() {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'pipeline.yaml'), pipeline);
      const bin = join(home, 'bin', 'pigeon.js');
      const args = ['run', 'pipeline.yaml', '--state-dir', 'state'];
      // The SDK's notice that its releases of 2027 will need Node 22 is not pigeon's output.
      const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
      // The executable itself, as users run it: its first lines start node with the flags pigeon runs with. node
      // refuses --cpu-prof in NODE_OPTIONS, so a profiled run is node with those flags, then the profiler's.
      if (!o.profile) return measure(bin, args, { cwd: dir, env });
      const flags = (/exec node (.*?) "\$0"/.exec(await readFile(bin, 'utf8'))?.[1] ?? '').split(/\s+/).filter((f) => f.startsWith('--'));
      return measure(process.execPath, [...flags, '--cpu-prof', '--cpu-prof-dir', join(WORK_DIR, 'profiles'), bin, ...args], { cwd: dir, env });
    },
  };
}

function pigeonSearchTool(s: Servers, o: Options): Tool {
  const dir = join(WORK_DIR, 'pigeon-p2o');
  const pg = `postgres://${s.postgres.user}@${s.postgres.host}:${s.postgres.port}/${DB}`;
  const pipeline = [
    'version: 1',
    'name: bench_p2o',
    'connections:',
    `  pg: { type: postgres, url: "${pg}", max_connections: ${o.connections} }`,
    `  os: { type: opensearch, url: "${OPENSEARCH}", options: { batch_docs: ${o.batch}, batch_bytes: 104857600, concurrency: ${o.concurrency} } }`,
    'staging: { dir: staging }',
    'nodes:',
    '  orders:',
    `    source: { connection: pg, table: orders_src, split: { column: id, chunks: ${o.chunks} } }`,
    '    target: { connection: os, table: orders, mode: overwrite, key: [id] }',
    '',
  ].join('\n');
  return {
    name: 'pigeon',
    direction: 'postgres→opensearch',
    async run() {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'pipeline.yaml'), pipeline);
      return measure(join(REPO, 'bin', 'pigeon.js'), ['run', 'pipeline.yaml', '--state-dir', 'state'], { cwd: dir });
    },
  };
}

/** The plain _bulk loader of bench/search-loader.ts, with pigeon's batch size and concurrency. */
function bulkLoaderTool(s: Servers, o: Options): Tool {
  const pg = `postgres://${s.postgres.user}@${s.postgres.host}:${s.postgres.port}/${DB}`;
  return {
    name: 'native',
    direction: 'postgres→opensearch',
    run: () => measure(process.execPath, [join(REPO, 'dist', 'bench', 'search-loader.js'), pg, 'orders_src', OPENSEARCH, 'orders', String(o.batch), String(o.concurrency)]),
  };
}

async function searchCall<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(`${OPENSEARCH}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return (await r.json()) as T;
}

/** Documents in the index `orders` and the sum of their ids, as `count\tsum` (the source's: count(*), sum(id)). */
async function searchChecksum(): Promise<string> {
  await searchCall('POST', '/orders/_refresh');
  const r = await searchCall<{ hits: { total: { value: number } }; aggregations: { ids: { value: number } } }>('POST', '/orders/_search', {
    size: 0,
    track_total_hits: true,
    aggs: { ids: { sum: { field: 'id' } } },
  });
  return `${r.hits.total.value}\t${r.aggregations.ids.value}`;
}

function nativeTool(s: Servers, direction: Direction, o?: Options): Tool {
  if (direction === 'postgres→opensearch') return bulkLoaderTool(s, o!);
  const file = join(EXCHANGE_DIR, direction === 'mysql→postgres' ? 'm2p.tsv' : direction === 'mysql→hive' ? 'm2h.tsv' : 'p2m.tsv');
  if (direction === 'mysql→hive') {
    const h = hive!;
    // Hive's delimited text by hand: no escaping by MySQL (ESCAPED BY ''), backslash, tab, CR and LF escaped as
    // LazySimpleSerDe reads them (a raw line feed would end the row), NULL as \N.
    const text = (c: string) =>
      String.raw`IFNULL(REPLACE(REPLACE(REPLACE(REPLACE(${c}, '\\', '\\\\'), '\t', '\\\t'), '\r', '\\r'), '\n', '\\n'), '\\N')`;
    const select =
      String.raw`SELECT id, customer_id, status, IFNULL(amount, '\\N'), ${text('note')}, created_at, IFNULL(updated_at, '\\N'), priority ` +
      String.raw`INTO OUTFILE '${file}' FIELDS TERMINATED BY '\t' ESCAPED BY '' LINES TERMINATED BY '\n' FROM orders`;
    return {
      name: 'native',
      direction,
      async run() {
        await rm(file, { force: true });
        const dump = await measure('mysql', [...mysqlArgs(s, DB), '-e', `SET time_zone = '+00:00'; ${select}`]);
        const load = await h.bench.timed(`LOAD DATA LOCAL INPATH '${file}' OVERWRITE INTO TABLE orders_native_stg`, 'INSERT OVERWRITE TABLE orders SELECT * FROM orders_native_stg');
        await rm(file, { force: true });
        return sequence([dump, load]);
      },
    };
  }
  if (direction === 'mysql→postgres') {
    return {
      name: 'native',
      direction,
      async run() {
        // INTO OUTFILE refuses to overwrite a file.
        await rm(file, { force: true });
        const dump = await measure('mysql', [
          ...mysqlArgs(s, DB),
          '-e',
          `SET time_zone = '+00:00'; SELECT * INTO OUTFILE '${file}' FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' FROM orders`,
        ]);
        // MySQL writes a newline or tab of a value as a backslash before it, which COPY's text format reads back.
        const load = await measure('psql', [...psqlArgs(s, DB), '-c', "SET TIME ZONE 'UTC'", '-c', 'TRUNCATE orders', '-c', `\\copy orders FROM '${file}' (FORMAT text)`]);
        await rm(file, { force: true });
        return sequence([dump, load]);
      },
    };
  }
  return {
    name: 'native',
    direction,
    async run() {
      await rm(file, { force: true });
      // MariaDB reads no time-zone offset: timestamptz goes out as UTC wall-clock time.
      const select = "SELECT id, customer_id, status, amount, note, created_at, updated_at AT TIME ZONE 'UTC', priority FROM orders_src";
      const dump = await measure('psql', [...psqlArgs(s, DB), '-c', `\\copy (${select}) TO '${file}' (FORMAT text)`]);
      const load = await measure('mysql', [
        ...mysqlArgs(s, DB),
        '-e',
        `SET time_zone = '+00:00'; TRUNCATE orders_rev; LOAD DATA LOCAL INFILE '${file}' INTO TABLE orders_rev CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'`,
      ]);
      await rm(file, { force: true });
      return sequence([dump, load]);
    },
  };
}

function pgloaderTool(s: Servers): Tool {
  const direction: Direction = 'mysql→postgres';
  let installed = true;
  try {
    execFileSync('pgloader', ['--version'], { stdio: 'ignore' });
  } catch {
    installed = false;
  }
  const command = join(WORK_DIR, 'pgloader.load');
  const text = [
    'LOAD DATABASE',
    `  FROM mysql://${s.mysql.user}@${s.mysql.host}:${s.mysql.port}/${DB}`,
    `  INTO postgresql://${s.postgres.user}@${s.postgres.host}:${s.postgres.port}/${DB}`,
    'WITH data only, truncate',
    "SET PostgreSQL PARAMETERS timezone = 'UTC'",
    "INCLUDING ONLY TABLE NAMES MATCHING 'orders'",
    `ALTER SCHEMA '${DB}' RENAME TO 'public';`,
    '',
  ].join('\n');
  return {
    name: 'pgloader',
    direction,
    ...(installed ? {} : { skip: 'pgloader is not installed (Debian: apt-get install pgloader)' }),
    async run() {
      await writeFile(command, text);
      return measure('pgloader', ['--on-error-stop', command], { cwd: WORK_DIR });
    },
  };
}

// ---- server CPU ---------------------------------------------------------------------------------------------------

/** The local servers' processes, when they can be found (a remote server's CPU is not measured). */
interface ServerPids {
  readonly mariadbd?: number;
  readonly postgres?: number;
}

async function serverPids(s: Servers): Promise<ServerPids> {
  const out: { mariadbd?: number; postgres?: number } = {};
  try {
    const file = (await mysql(s, 'SELECT @@pid_file')).trim();
    out.mariadbd = Number((await readFile(file, 'utf8')).trim());
  } catch {
    // Not local, or the pid file is not readable.
  }
  try {
    // The first line of postmaster.pid in the data directory (a backend's parent is gone with psql's session).
    const dir = (await psql(s, DB, 'SHOW data_directory')).trim();
    out.postgres = Number((await readFile(join(dir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    // Not local.
  }
  return out;
}

async function serversCpu(p: ServerPids): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  if (p.mariadbd !== undefined) {
    const c = await serverCpu(p.mariadbd, false);
    if (c !== undefined) out['mariadbd'] = c;
  }
  if (p.postgres !== undefined) {
    const c = await serverCpu(p.postgres, true);
    if (c !== undefined) out['postgres'] = c;
  }
  return out;
}

/** A run's sample with the servers' CPU seconds during it. */
async function withServerCpu(p: ServerPids, run: () => Promise<Sample>): Promise<Sample> {
  const before = await serversCpu(p);
  const sample = await run();
  const after = await serversCpu(p);
  const servers = Object.fromEntries(Object.keys(after).filter((k) => before[k] !== undefined).map((k) => [k, round(after[k]! - before[k]!, 2)]));
  return { ...sample, servers };
}

// ---- rounds and report --------------------------------------------------------------------------------------------

interface Result {
  readonly tool: string;
  readonly direction: Direction;
  readonly samples: Sample[];
  skipped?: string;
}

async function main(): Promise<void> {
  const o = parseOptions();
  const s = serversFromEnv(process.env);
  await mkdir(WORK_DIR, { recursive: true });
  if (o.workers) return workersBench(s, { ...o.workers, rounds: o.rounds, repo: REPO, workDir: WORK_DIR, log });
  const sum = await setup(s, o.rows);
  log(`source ready: ${sum.replace('\t', ' rows, checksum ')}`);
  let searchSum = '';
  if (o.directions.includes('postgres→opensearch')) {
    execFileSync('bash', [join(REPO, 'scripts', 'services', 'opensearch.sh'), 'start'], { stdio: ['ignore', 'ignore', 'inherit'] });
    searchSum = (await psql(s, DB, `SELECT count(*) || E'\\t' || sum(id) FROM orders_src`)).trim();
  }
  if (o.directions.includes('mysql→hive')) {
    const server = hiveServer(process.env, REPO);
    const bench = new HiveBench(server, 'default');
    await bench.open();
    await bench.exec(
      `CREATE DATABASE IF NOT EXISTS ${DB}`,
      `DROP TABLE IF EXISTS ${DB}.orders_native_stg PURGE`,
      String.raw`CREATE TABLE ${DB}.orders_native_stg (${HIVE_ORDERS_COLUMNS}) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t' ESCAPED BY '\\' NULL DEFINED AS '\\N' STORED AS TEXTFILE TBLPROPERTIES ('serialization.escape.crlf'='true')`,
    );
    await bench.close();
    hive = { bench: new HiveBench(server, DB), server };
    await hive.bench.open();
  }

  const tools: Tool[] = [];
  for (const d of o.directions) {
    if (o.tools.includes('pigeon')) tools.push(pigeonTool(s, o, d));
    if (o.baseline !== undefined && d !== 'postgres→opensearch') tools.push(pigeonTool(s, o, d, undefined, o.baseline));
    if (o.tools.includes('pigeon-s3') && d === 'mysql→postgres') {
      tools.push(pigeonTool(s, o, d, { endpoint: serviceEndpoint('s3'), bucket: process.env['PIGEON_TEST_S3_BUCKET'] ?? 'pigeon', compress: o.s3Compress }));
    }
    if (o.tools.includes('native')) tools.push(nativeTool(s, d, o));
    if (o.tools.includes('pgloader') && d === 'mysql→postgres') tools.push(pgloaderTool(s));
  }
  const results: Result[] = tools.map((t) => ({ tool: t.name, direction: t.direction, samples: [], ...(t.skip ? { skipped: t.skip } : {}) }));

  const pids = await serverPids(s);
  const load = loadavg().map((l) => round(l, 2));
  log(`load average before the rounds: ${load.join(', ')}${o.hog ? '; a CPU hog spins on one core during the rounds' : ''}`);
  const hog = o.hog ? startHog() : undefined;
  try {
    await rounds(o, s, tools, results, pids, sum, searchSum);
  } finally {
    hog?.stop();
  }
  report(o, results, load);
  await hive?.bench.close();
}

async function rounds(o: Options, s: Servers, tools: readonly Tool[], results: Result[], pids: ServerPids, sum: string, searchSum: string): Promise<void> {
  for (let round = 1; round <= o.rounds; round++) {
    // Alternate the order each round, so no tool always runs on a warm (or cold) cache.
    const order = tools.map((_, i) => i);
    if (round % 2 === 0) order.reverse();
    for (const i of order) {
      const tool = tools[i]!;
      if (tool.skip) continue;
      await resetTarget(s, tool.direction);
      const sample = await withServerCpu(pids, () => tool.run());
      const expected = tool.direction === 'postgres→opensearch' ? searchSum : sum;
      const got =
        tool.direction === 'mysql→hive'
          ? (await hive!.bench.rows(HIVE_CHECKSUM('orders')))[0]!.join('\t')
          : tool.direction === 'mysql→postgres' ? await pgChecksum(s, 'orders') : tool.direction === 'postgres→mysql' ? await mysqlChecksum(s, 'orders_rev') : await searchChecksum();
      if (got !== expected) throw new Error(`${tool.name} ${tool.direction}: the target holds ${got}, the source ${expected}`);
      results[i]!.samples.push(sample);
      log(`round ${round}: ${tool.direction} ${tool.name} ${(sample.ms / 1000).toFixed(2)} s, ${mib(sample.rssKiB)}, CPU ${cpuLine(sample)} (target verified)`);
    }
  }
}

function cpuLine(sample: Sample): string {
  const parts = [`tool ${sample.cpuS === undefined ? '?' : sample.cpuS.toFixed(2)} s`, ...Object.entries(sample.servers ?? {}).map(([k, v]) => `${k} ${v.toFixed(2)} s`)];
  return parts.join(', ');
}

async function resetTarget(s: Servers, d: Direction): Promise<void> {
  if (d === 'mysql→hive') await hive!.bench.exec('DROP TABLE IF EXISTS orders PURGE', `CREATE TABLE orders (${HIVE_ORDERS_COLUMNS}) STORED AS ORC`);
  else if (d === 'postgres→opensearch') {
    // The index, what an overwrite left behind it, and pigeon's load records.
    const indices = await searchCall<{ index: string }[]>('GET', '/_cat/indices?format=json&h=index');
    for (const { index } of indices.filter((i) => i.index === 'orders' || i.index.startsWith('orders_') || i.index === 'pigeon_loads')) {
      await searchCall('DELETE', `/${index}`);
    }
  } else if (d === 'mysql→postgres') await psql(s, DB, 'TRUNCATE orders', 'CHECKPOINT');
  else await mysql(s, 'TRUNCATE orders_rev', DB);
}

function report(o: Options, results: readonly Result[], load: readonly number[]): void {
  const cores = availableParallelism();
  const rows = results.map((r) => {
    const native = results.find((x) => x.direction === r.direction && x.tool === 'native');
    const pgl = results.find((x) => x.direction === r.direction && x.tool === 'pgloader');
    const local = results.find((x) => x.direction === r.direction && x.tool === 'pigeon');
    const med = (x: Result | undefined) => (x && x.samples.length > 0 ? median(x.samples.map((v) => v.ms)) : undefined);
    const ms = med(r);
    const rss = r.samples.map((v) => v.rssKiB ?? 0);
    const cpu = (pick: (v: Sample) => number | undefined) => {
      const known = r.samples.map(pick).filter((v): v is number => v !== undefined);
      return known.length > 0 ? round(median(known), 2) : null;
    };
    return {
      direction: r.direction,
      tool: r.tool,
      ...(r.skipped ? { skipped: r.skipped } : {}),
      runs_s: r.samples.map((v) => round(v.ms / 1000, 2)),
      median_s: ms === undefined ? null : round(ms / 1000, 2),
      peak_rss_mib: rss.length > 0 && Math.max(...rss) > 0 ? round(Math.max(...rss) / 1024, 1) : null,
      vs_native: ms !== undefined && med(native) ? round(ms / med(native)!, 2) : null,
      vs_pgloader: ms !== undefined && med(pgl) ? round(ms / med(pgl)!, 2) : null,
      vs_local_staging: r.tool === 'pigeon-s3' && ms !== undefined && med(local) ? round(ms / med(local)!, 2) : null,
      cpu_tool_s: cpu((v) => v.cpuS),
      cpu_mariadbd_s: cpu((v) => v.servers?.['mariadbd']),
      cpu_postgres_s: cpu((v) => v.servers?.['postgres']),
    };
  });
  const header = ['direction', 'tool', 'median', 'peak RSS', '× native', '× pgloader', '× local staging', 'CPU s: tool / mariadbd / postgres'];
  const lines = rows.map((r) => [
    r.direction,
    r.tool,
    r.median_s === null ? `skipped: ${r.skipped ?? 'no runs'}` : `${r.median_s.toFixed(2)} s`,
    r.peak_rss_mib === null ? '—' : `${r.peak_rss_mib} MiB`,
    r.vs_native === null ? '—' : r.vs_native.toFixed(2),
    r.vs_pgloader === null ? '—' : r.vs_pgloader.toFixed(2),
    r.vs_local_staging === null ? '—' : r.vs_local_staging.toFixed(2),
    [r.cpu_tool_s, r.cpu_mariadbd_s, r.cpu_postgres_s].map((c) => (c === null ? '—' : c.toFixed(2))).join(' / '),
  ]);
  const table = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...lines.map((l) => `| ${l.join(' | ')} |`)].join('\n');
  const title = `${o.rows.toLocaleString('en')} rows, ${o.rounds} rounds, median wall time; ${cores} cores (${cpus()[0]?.model ?? 'unknown CPU'}); pigeon: split ${o.chunks} chunks, max_connections ${o.connections}; pigeon-s3: S3 staging (S3Mock on loopback), compress ${o.s3Compress === 'default' ? 'gzip (the default)' : o.s3Compress}`;
  console.log(`\n${title}\nload average before the rounds: ${load.join(', ')}${o.hog ? '; with a CPU hog spinning on one core' : ''}\n\n${table}\n`);
  console.log('CPU s: medians of user + system seconds of the tool\'s own processes, and of the servers\' during its runs');
  console.log('peak RSS: the pigeon process; for native and pgloader, the largest client process (the servers do most of their work)');
  const search = rows.filter((r) => r.direction === 'postgres→opensearch' && r.median_s !== null);
  if (search.length > 0) {
    const rate = (r: (typeof search)[number]) => Math.round(o.rows / r.median_s!);
    const line = search.map((r) => `${r.tool === 'native' ? 'plain _bulk loader' : r.tool} ${rate(r).toLocaleString('en')} documents/s`).join(', ');
    const p = search.find((r) => r.tool === 'pigeon');
    const n = search.find((r) => r.tool === 'native');
    console.log(`postgres→opensearch (batch ${o.batch} documents, ${o.concurrency} requests in flight): ${line}${p && n ? `; pigeon/loader ${(rate(p) / rate(n)).toFixed(2)}×` : ''}`);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = join(REPO, 'bench', 'results', `${stamp}.json`);
  void mkdir(dirname(out), { recursive: true })
    .then(() =>
      writeFile(out, JSON.stringify({ date: new Date().toISOString(), rows: o.rows, rounds: o.rounds, cores, cpu: cpus()[0]?.model, node: process.version, load_average: load, hog: o.hog, chunks: o.chunks, max_connections: o.connections, s3_compress: o.s3Compress, results: rows }, null, 2) + '\n'),
    )
    .then(() => console.log(`written to ${out}`));
}

function round(n: number, digits: number): number {
  return Number(n.toFixed(digits));
}

function mib(kib: number | undefined): string {
  return kib === undefined ? 'RSS unknown' : `${(kib / 1024).toFixed(0)} MiB`;
}

function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
