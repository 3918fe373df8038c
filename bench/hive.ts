/**
 * MySQL → Hive in `npm run bench`: the Hive side, driven through pigeon's own Hive sessions (hive-driver). The
 * server is the test HiveServer2 (scripts/services/hive.sh, started when it is not running) unless BENCH_HIVE says
 * `host:port`.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { hiveConfig } from '../src/connectors/hive/hive-config.js';
import { HiveSessions } from '../src/connectors/hive/hive-session.js';
import type { Sample } from './measure.js';

export interface HiveServer {
  readonly host: string;
  readonly port: number;
  readonly auth: 'plain' | 'nosasl';
}

/** BENCH_HIVE, or the test server (started through its script, which says where it listens). */
export function hiveServer(env: NodeJS.ProcessEnv, repo: string): HiveServer {
  let endpoint = env.BENCH_HIVE;
  let auth = env.BENCH_HIVE_AUTH;
  if (!endpoint) {
    const out = execFileSync('bash', [join(repo, 'scripts/services/hive.sh'), 'start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    endpoint = /^PIGEON_TEST_HIVE=(.*)$/m.exec(out)?.[1];
    auth = /^PIGEON_TEST_HIVE_AUTH=(.*)$/m.exec(out)?.[1];
    if (!endpoint) throw new Error('scripts/services/hive.sh start printed no endpoint');
  }
  const [host, port] = endpoint.split(':');
  return { host: host!, port: Number(port), auth: auth === 'NOSASL' ? 'nosasl' : 'plain' };
}

/** Hive's copy of the orders table (bench/db.ts), as pigeon creates it from MySQL's types. */
export const HIVE_ORDERS_COLUMNS =
  'id BIGINT, customer_id INT, status VARCHAR(16), amount DECIMAL(12,2), note STRING, created_at TIMESTAMP, updated_at TIMESTAMP, priority SMALLINT';

/** The same count and checksum as MYSQL_CHECKSUM (bench/db.ts), in HiveQL: sums as decimals, which do not overflow. */
export const HIVE_CHECKSUM = (table: string) =>
  `SELECT COUNT(*), COALESCE(SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS('|', CAST(id AS STRING), CAST(customer_id AS STRING), status,
  IF(amount IS NULL, 'N', CONCAT('v', CAST(amount AS STRING))), IF(note IS NULL, 'N', CONCAT('v', note)), date_format(created_at, 'yyyy-MM-dd HH:mm:ss'),
  IF(updated_at IS NULL, 'N', CONCAT('v', date_format(updated_at, 'yyyy-MM-dd HH:mm:ss'))), CAST(priority AS STRING))), 1, 15), 16, 10) AS DECIMAL(38,0))), 0) FROM ${table}`;

/** One Hive session for the bench's own statements. */
export class HiveBench {
  readonly #sessions: HiveSessions;

  constructor(server: HiveServer, database: string) {
    this.#sessions = new HiveSessions(hiveConfig({ name: 'bench', type: 'hive', ...server, database }, 1, '/tmp', '/tmp'));
  }

  open(): Promise<void> {
    return this.#sessions.open();
  }

  close(): Promise<void> {
    return this.#sessions.close();
  }

  exec(...statements: string[]): Promise<void> {
    return this.#sessions.with(undefined, async (s) => {
      for (const sql of statements) await s.exec(sql);
    });
  }

  async rows(sql: string): Promise<string[][]> {
    return this.#sessions.with(undefined, async (s) => (await s.rows(sql)).map((r) => r.map((v) => (v !== null && typeof v === 'object' ? bigint(v) : String(v)))));
  }

  /** Wall time of statements run in this process (the server does the work; no client RSS worth reporting). */
  async timed(...statements: string[]): Promise<Sample> {
    const started = process.hrtime.bigint();
    await this.exec(...statements);
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, rssKiB: undefined };
  }
}

/** node-int64's Int64 (a COUNT) as text. */
function bigint(v: object): string {
  const x = v as { buffer?: Buffer; offset?: number };
  return x.buffer ? x.buffer.readBigInt64BE(x.offset ?? 0).toString() : String(v);
}
