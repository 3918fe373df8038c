/**
 * Helpers for the reliability tests: a seeded PRNG, a search for files a run must never leave behind, leftover
 * staging tables, saved watermarks, `pigeon status --format json`, and waiting for a server session to block.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { pigeon, type CliResult } from './cli.js';
import type { EngineDb } from './engines.js';
import { pigeonBin } from './paths.js';
import { mulberry32 } from '../../scripts/prng.js';

/** A seeded PRNG (mulberry32), so a failing trial can be replayed from its seed. */
export const prng = mulberry32;

/** Every file under `dir` whose name says it is temporary or partial (`.tmp`, `.partial`), relative to `dir`. */
export function leftoverFiles(dir: string): string[] {
  return filesUnder(dir).filter((f) => /\.(tmp|partial)$/.test(f));
}

/** Every file under `dir` (relative paths): for "the staging directory is empty". */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      if (statSync(p).isDirectory()) walk(p, r);
      else out.push(r);
    }
  };
  walk(dir, '');
  return out;
}

/** Tables pigeon uses while loading (`_pigeon_stg_…`, `_pigeon_old_…`) that are still in the database. */
export async function pigeonTempTables(db: EngineDb): Promise<string[]> {
  const sql =
    db.kind === 'mysql'
      ? `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()
           AND (table_name LIKE '\\_pigeon\\_stg\\_%' OR table_name LIKE '\\_pigeon\\_old\\_%')`
      : db.kind === 'postgres'
        ? `SELECT tablename FROM pg_tables WHERE tablename LIKE '\\_pigeon\\_stg\\_%' OR tablename LIKE '\\_pigeon\\_old\\_%'`
        : `SELECT name FROM sqlite_master WHERE name LIKE '\\_pigeon\\_stg\\_%' ESCAPE '\\' OR name LIKE '\\_pigeon\\_old\\_%' ESCAPE '\\'`;
  return (await db.rows(sql)).map((r) => String(r[0]));
}

export interface SavedWatermark {
  readonly column: string;
  readonly value: string | null;
  readonly pending?: unknown;
}

/** The watermark pigeon saved for a node, read from the state directory as a user would find it. */
export function savedWatermark(dir: string, pipeline: string, node: string, stateDir = '.pigeon'): SavedWatermark | undefined {
  const p = join(dir, stateDir, 'watermarks', encodeURIComponent(pipeline), `${encodeURIComponent(node)}.json`);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as SavedWatermark) : undefined;
}

export interface StatusNode {
  readonly node: string;
  readonly state: string;
  readonly attempts?: number;
  readonly rows_imported?: number;
  readonly error?: { readonly code: string; readonly message: string; readonly location?: Record<string, unknown>; readonly transient?: boolean };
  readonly note?: string;
}

export interface Status {
  readonly run: { readonly id: string; readonly status: string; readonly lineage: string; readonly pid: number; readonly retry_of?: string };
  readonly nodes: readonly StatusNode[];
}

/** `pigeon status [RUN] --format json`, parsed; fails the test when the command does. */
export async function status(dir: string, run?: string): Promise<Status> {
  const r = await pigeon(['status', ...(run ? [run] : []), '--format', 'json'], { cwd: dir });
  if (r.code !== 0) throw new Error(`pigeon status failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Status;
}

export function nodeOf(s: Status, node: string): StatusNode {
  const n = s.nodes.find((x) => x.node === node);
  if (!n) throw new Error(`node ${node} is not in run ${s.run.id}`);
  return n;
}

/** Polls `check` every 25 ms until it returns true; throws after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Ids of the server sessions (MySQL thread ids, PostgreSQL backend pids) other than the checker's own that wait on
 * a lock in `db`'s database: pigeon blocked by a lock the test holds.
 */
export async function sessionsWaitingOnLock(db: EngineDb): Promise<string[]> {
  const sql =
    db.kind === 'mysql'
      ? `SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()
           AND (state LIKE 'Waiting for%lock%' OR state LIKE '%lock wait%' OR state = 'Locked'
                OR id IN (SELECT trx_mysql_thread_id FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'))`
      : `SELECT pid::text FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`;
  return (await db.rows(sql)).map((r) => String(r[0]));
}

/** Sessions in `db`'s database running a statement that contains `text` (not the checker's own). */
export async function sessionsRunning(db: EngineDb, text: string): Promise<string[]> {
  const sql =
    db.kind === 'mysql'
      ? `SELECT id FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND info LIKE ?`
      : `SELECT pid::text FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state = 'active' AND query LIKE $1`;
  return (await db.rows(sql, [`%${text}%`])).map((r) => String(r[0]));
}

/** A `pigeon` process the test can watch and kill while it runs. */
export interface RunningPigeon {
  readonly child: ChildProcess;
  readonly done: Promise<CliResult>;
}

export function startPigeon(args: readonly string[], opts: { cwd: string; env?: Record<string, string> }): RunningPigeon {
  const child = spawn(pigeonBin, [...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** The database name of an engine's test database (from its connection URL). */
export function dbName(db: EngineDb): string {
  const m = /\/(pigeon_t_[0-9a-f]+)"/.exec(db.yaml);
  if (!m) throw new Error(`no database name in ${db.yaml}`);
  return m[1]!;
}

/** A second session on `db`'s database, for holding locks while pigeon runs and for killing its sessions. */
export interface Session {
  exec(sql: string, params?: readonly unknown[]): Promise<unknown[][]>;
  close(): Promise<void>;
}

export async function openSession(db: EngineDb, as: { user?: string; password?: string } = {}): Promise<Session> {
  const database = dbName(db);
  if (db.kind === 'mysql') {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: as.user ?? 'root', ...(as.password ? { password: as.password } : {}), database });
    return {
      exec: async (sql, params) => (await conn.query({ sql, rowsAsArray: true }, params as unknown[]))[0] as unknown[][],
      close: async () => void (await conn.end().catch(() => conn.destroy())),
    };
  }
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: as.user ?? 'postgres', database });
  await client.connect();
  client.on('error', () => {});
  return {
    exec: async (sql, params) => (await client.query({ text: sql, values: params as unknown[], rowMode: 'array' })).rows as unknown[][],
    close: async () => void (await client.end().catch(() => {})),
  };
}

/** Sessions on `db`'s database other than the checker's own: zombies of a killed pigeon. */
export async function otherSessions(db: EngineDb): Promise<number> {
  const sql =
    db.kind === 'mysql'
      ? `SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()`
      : `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`;
  return Number((await db.rows(sql))[0]![0]);
}
