import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where the benchmark's servers are; the defaults are the local test servers. */
export interface Servers {
  readonly mysql: { readonly host: string; readonly port: number; readonly user: string };
  readonly postgres: { readonly host: string; readonly port: number; readonly user: string };
}

export function serversFromEnv(env: NodeJS.ProcessEnv): Servers {
  return {
    mysql: { host: env.BENCH_MYSQL_HOST ?? '127.0.0.1', port: Number(env.BENCH_MYSQL_PORT ?? 3306), user: env.BENCH_MYSQL_USER ?? 'root' },
    postgres: { host: env.BENCH_PG_HOST ?? '127.0.0.1', port: Number(env.BENCH_PG_PORT ?? 5432), user: env.BENCH_PG_USER ?? 'postgres' },
  };
}

/** The `mysql` command line client's arguments for one database (batch mode, no column names). */
export function mysqlArgs(s: Servers, database?: string): string[] {
  const m = s.mysql;
  return ['-h', m.host, '-P', String(m.port), '-u', m.user, '--batch', '--skip-column-names', '--local-infile=1', ...(database ? ['-D', database] : [])];
}

export function psqlArgs(s: Servers, database: string): string[] {
  const p = s.postgres;
  return ['-h', p.host, '-p', String(p.port), '-U', p.user, '-d', database, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'];
}

const BIG = { maxBuffer: 64 * 1024 * 1024 };

/** Runs statements through the mysql client; returns its output (tab-separated rows). */
export async function mysql(s: Servers, sql: string, database?: string): Promise<string> {
  return (await run('mysql', [...mysqlArgs(s, database), '-e', sql], BIG)).stdout;
}

/** Runs each command (SQL or a psql meta-command such as `\copy`) in one psql session; returns its output. */
export async function psql(s: Servers, database: string, ...commands: string[]): Promise<string> {
  return (await run('psql', [...psqlArgs(s, database), ...commands.flatMap((c) => ['-c', c])], BIG)).stdout;
}

// ---- the orders table ------------------------------------------------------------------------------------------

export const MYSQL_ORDERS_DDL = (table: string) =>
  `CREATE TABLE ${table} (
  id BIGINT NOT NULL PRIMARY KEY,
  customer_id INT NOT NULL,
  status VARCHAR(16) NOT NULL,
  amount DECIMAL(12,2) NULL,
  note TEXT NULL,
  created_at DATETIME NOT NULL,
  updated_at TIMESTAMP NULL,
  priority TINYINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;

export const PG_ORDERS_DDL = (table: string) =>
  `CREATE TABLE ${table} (
  id bigint NOT NULL PRIMARY KEY,
  customer_id integer NOT NULL,
  status varchar(16) NOT NULL,
  amount numeric(12,2),
  note text,
  created_at timestamp NOT NULL,
  updated_at timestamptz,
  priority smallint NOT NULL
)`;

/**
 * Rows `from`..`to` of the deterministic orders data, from MariaDB's sequence engine. About 110 bytes per row as
 * CSV: every 13th amount is NULL; notes are NULL, empty, quoted, two lines with a comma, or plain text with an
 * accent, in turn.
 */
export function insertOrders(table: string, from: number, to: number): string {
  return `INSERT INTO ${table} SELECT seq,
  (seq * 7919) % 100000 + 1,
  ELT(seq % 5 + 1, 'new', 'paid', 'shipped', 'delivered', 'cancelled'),
  IF(seq % 13 = 0, NULL, ((seq * 104729) % 10000000) / 100),
  CASE seq % 10
    WHEN 0 THEN NULL
    WHEN 1 THEN ''
    WHEN 2 THEN CONCAT('customer said "leave it at the door", order ', seq)
    WHEN 3 THEN CONCAT('first line\\nsecond line, with a comma ', seq)
    ELSE CONCAT('regular delivery note for order ', seq, ' — café')
  END,
  TIMESTAMP('2020-01-01') + INTERVAL ((seq * 37) % 126230400) SECOND,
  IF(seq % 11 = 0, NULL, TIMESTAMP('2020-01-01') + INTERVAL ((seq * 37) % 126230400 + seq % 86400) SECOND),
  seq % 10
FROM seq_${from}_to_${to}`;
}

/**
 * Count and a checksum of every value: each row's canonical text (NULL distinct from any string) hashed with MD5,
 * the first 60 bits of each hash summed. The same text on both engines, TIMESTAMP read in UTC.
 */
export const MYSQL_CHECKSUM = (table: string) =>
  `SET time_zone = '+00:00'; SELECT COUNT(*), COALESCE(SUM(CAST(CONV(SUBSTRING(MD5(CONCAT_WS('|', id, customer_id, status,
  IFNULL(CONCAT('v', amount), 'N'), IFNULL(CONCAT('v', note), 'N'), DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s'),
  IFNULL(CONCAT('v', DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s')), 'N'), priority)), 1, 15), 16, 10) AS UNSIGNED)), 0) FROM ${table}`;

export const PG_CHECKSUM = (table: string) =>
  `SELECT count(*) || E'\\t' || coalesce(sum(('x' || substr(md5(concat_ws('|', id, customer_id, status,
  coalesce('v' || amount, 'N'), coalesce('v' || note, 'N'), to_char(created_at, 'YYYY-MM-DD HH24:MI:SS'),
  coalesce('v' || to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), 'N'), priority)), 1, 15))::bit(60)::bigint), 0) FROM ${table}`;
