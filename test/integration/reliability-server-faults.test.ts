/**
 * Server faults on real MariaDB and PostgreSQL: a session killed from the server side (`KILL`,
 * `pg_terminate_backend`) and a lock wait timeout are transient, so the node is retried with backoff and the run
 * succeeds; bad credentials, a missing table and a denied permission are permanent, so the node fails at once
 * (one attempt, although retries are configured) with an error that names what is wrong.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { PipelineError } from '../../src/errors/pipeline-error.js';
import { isTransient } from '../../src/errors/transient.js';
import { mysqlError } from '../../src/connectors/mysql/mysql-errors.js';
import { pgError } from '../../src/connectors/postgres/postgres-errors.js';
import { tempDir } from '../support/cli.js';
import { createDb, type EngineDb, type EngineKind } from '../support/engines.js';
import {
  dbName,
  leftoverFiles,
  nodeOf,
  openSession,
  pigeonTempTables,
  sessionsRunning,
  sessionsWaitingOnLock,
  startPigeon,
  status,
  waitFor,
  type Session,
} from '../support/reliability.js';

const SERVERS: readonly EngineKind[] = ['mysql', 'postgres'];
const ROWS = 300;

interface Setup {
  readonly dir: string;
  readonly src: EngineDb;
  readonly dst: EngineDb;
}

/** A source on the other engine with `users` (ROWS rows), a target with an empty `users` keyed by id. */
async function withServers(target: EngineKind, fn: (s: Setup) => Promise<void>): Promise<void> {
  const t = tempDir('pigeon-rel-fault-');
  const dbs: EngineDb[] = [];
  try {
    const src = await createDb(target === 'mysql' ? 'postgres' : 'mysql', t.dir);
    dbs.push(src);
    const dst = await createDb(target, t.dir);
    dbs.push(dst);
    await src.exec(`CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(100))`);
    const values = Array.from({ length: ROWS }, (_, i) => `(${i + 1}, 'user ${i + 1}')`).join(', ');
    await src.exec(`INSERT INTO users VALUES ${values}`);
    await dst.exec(`CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(100))`);
    await fn({ dir: t.dir, src, dst });
  } finally {
    for (const db of dbs) await db.drop().catch(() => {});
    t.cleanup();
  }
}

function writePipeline(dir: string, connections: Record<string, string>, nodes: string, defaults = '{ retries: 4, retry_delay: 200ms }'): void {
  const conns = Object.entries(connections)
    .map(([n, y]) => `  ${n}: ${y}`)
    .join('\n');
  writeFileSync(join(dir, 'p.yaml'), `version: 1\nname: faults\nconnections:\n${conns}\ndefaults: ${defaults}\nnodes:\n${nodes}`);
}

async function targetRows(dst: EngineDb): Promise<string[]> {
  return (await dst.rows(`SELECT id, name FROM users ORDER BY id`)).map((r) => `${String(r[0])}|${String(r[1])}`);
}

async function sourceRows(src: EngineDb): Promise<string[]> {
  return (await src.rows(`SELECT id, name FROM users ORDER BY id`)).map((r) => `${String(r[0])}|${String(r[1])}`);
}

/** Ends a server session the way an administrator would: KILL on MariaDB, pg_terminate_backend on PostgreSQL. */
async function killSession(db: EngineDb, id: string): Promise<void> {
  if (db.kind === 'mysql') await db.exec(`KILL ${Number(id)}`);
  else await db.exec(`SELECT pg_terminate_backend($1::int)`, [id]);
}

interface LogLine {
  readonly level: string;
  readonly event?: string;
  readonly node?: string;
  readonly code?: string;
  readonly delay_ms?: number;
}

function logLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

const RUN = ['run', 'p.yaml', '--progress', '0', '--log-format', 'json'];

for (const kind of SERVERS) {
  describe(`${kind}: transient faults are retried with backoff and the run succeeds`, () => {
    test(`the target session killed from the server while the import waits to commit`, async () => {
      await withServers(kind, async ({ dir, src, dst }) => {
        writePipeline(dir, { src: src.yaml, dst: dst.yaml }, `  users:\n    source: { connection: src, table: users }\n    target: { connection: dst, table: users, mode: merge, key: [id] }\n`);
        // The import blocks on a lock the test holds; the test kills that session from the server, then lets go.
        const holder = await openSession(dst);
        if (kind === 'mysql') await holder.exec('LOCK TABLES users READ');
        else await holder.exec('BEGIN').then(() => holder.exec('LOCK TABLE users IN SHARE MODE'));
        const run = startPigeon(RUN, { cwd: dir });
        try {
          await waitFor('the import to wait on the lock', async () => (await sessionsWaitingOnLock(dst)).length > 0);
          const [victim] = await sessionsWaitingOnLock(dst);
          await killSession(dst, victim!);
        } finally {
          await holder.exec(kind === 'mysql' ? 'UNLOCK TABLES' : 'ROLLBACK').catch(() => {});
          await holder.close();
        }
        const r = await run.done;
        assert.equal(r.code, 0, r.stderr);
        const node = nodeOf(await status(dir), 'users');
        assert.equal(node.state, 'succeeded');
        assert.equal(node.attempts, 2, 'one failed attempt, then one that succeeded');
        const retry = logLines(r.stderr).find((l) => l.event === 'node_retry');
        assert.ok(retry, 'the retry is logged');
        assert.ok(retry.delay_ms! >= 100 && retry.delay_ms! <= 200, `backoff with jitter in [50%, 100%] of 200ms: ${retry.delay_ms}`);
        assert.deepEqual(await targetRows(dst), await sourceRows(src));
        assert.deepEqual(await pigeonTempTables(dst), [], 'the killed attempt’s staging table is gone');
        assert.deepEqual(leftoverFiles(dir), []);
      });
    });

    test(`the source session killed from the server mid-export`, async () => {
      await withServers(kind, async ({ dir, src, dst }) => {
        // A source query that takes a second, once per statement, so the test can find it and kill it.
        const slow = src.kind === 'mysql' ? 'SELECT u.id, u.name FROM users u CROSS JOIN (SELECT SLEEP(1) AS s) AS slow' : 'SELECT u.id, u.name FROM users u CROSS JOIN (SELECT pg_sleep(1)) AS slow';
        const marker = src.kind === 'mysql' ? 'SLEEP(1)' : 'pg_sleep(1)';
        writePipeline(dir, { src: src.yaml, dst: dst.yaml }, `  users:\n    source: { connection: src, query: ${JSON.stringify(slow)} }\n    target: { connection: dst, table: users, mode: overwrite }\n`);
        const run = startPigeon(RUN, { cwd: dir });
        let killed = 0;
        await waitFor('the export query to run', async () => {
          for (const id of await sessionsRunning(src, marker)) {
            await killSession(src, id);
            killed++;
          }
          return killed > 0 || run.child.exitCode !== null;
        });
        const r = await run.done;
        assert.ok(killed >= 1, 'the test killed the export’s session');
        assert.equal(r.code, 0, r.stderr);
        const node = nodeOf(await status(dir), 'users');
        assert.equal(node.state, 'succeeded');
        assert.equal(node.attempts, 2);
        assert.ok(logLines(r.stderr).some((l) => l.event === 'node_retry' && l.node === 'users'));
        assert.deepEqual(await targetRows(dst), await sourceRows(src));
        assert.deepEqual(leftoverFiles(dir), []);
      });
    });

    test(`a lock wait timeout in the commit`, async () => {
      await withServers(kind, async ({ dir, src, dst }) => {
        let restore: (() => Promise<void>) | undefined;
        if (kind === 'mysql') {
          // InnoDB's row-lock wait has no per-database setting: lower the global one (sessions read it when they
          // connect) and put it back afterwards.
          const admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
          const [rows] = await admin.query('SELECT @@GLOBAL.innodb_lock_wait_timeout AS t');
          const before = Number((rows as { t: number }[])[0]!.t);
          await admin.query('SET GLOBAL innodb_lock_wait_timeout = 1');
          restore = async () => {
            await admin.query(`SET GLOBAL innodb_lock_wait_timeout = ${before}`);
            await admin.end();
          };
        } else {
          await dst.exec(`ALTER DATABASE ${dbName(dst)} SET lock_timeout = '1s'`);
        }
        try {
          await dst.exec(`INSERT INTO users VALUES (1, 'old')`);
          writePipeline(dir, { src: src.yaml, dst: dst.yaml }, `  users:\n    source: { connection: src, table: users }\n    target: { connection: dst, table: users, mode: merge, key: [id] }\n`, '{ retries: 6, retry_delay: 300ms }');
          // Row 1 stays locked by another transaction until pigeon has failed once on it.
          const holder: Session = await openSession(dst);
          await holder.exec(kind === 'mysql' ? 'START TRANSACTION' : 'BEGIN');
          await holder.exec(`SELECT * FROM users WHERE id = 1 FOR UPDATE`);
          const run = startPigeon(RUN, { cwd: dir });
          try {
            await waitFor('a first attempt to fail on the lock', async () => {
              const s = await status(dir).catch(() => undefined);
              return (s?.nodes.find((n) => n.node === 'users')?.attempts ?? 0) >= 2 || run.child.exitCode !== null;
            });
          } finally {
            await holder.exec('ROLLBACK').catch(() => {});
            await holder.close();
          }
          const r = await run.done;
          assert.equal(r.code, 0, r.stderr);
          const node = nodeOf(await status(dir), 'users');
          assert.equal(node.state, 'succeeded');
          assert.ok(node.attempts! >= 2, `retried after the timeout: ${node.attempts} attempts`);
          const retries = logLines(r.stderr).filter((l) => l.event === 'node_retry');
          assert.ok(retries.length >= 1 && retries.every((l) => l.code === 'IMPORT_FAILED'));
          assert.deepEqual(await targetRows(dst), await sourceRows(src));
          assert.deepEqual(await pigeonTempTables(dst), []);
        } finally {
          await restore?.();
        }
      });
    });
  });

  describe(`${kind}: permanent faults fail at once, are not retried, and say what is wrong`, () => {
    test('bad credentials, a missing source table, a missing target table, a denied permission', async () => {
      await withServers(kind, async ({ dir, src, dst }) => {
        const role = `pigeon_ro_${randomBytes(4).toString('hex')}`;
        const database = dbName(dst);
        const dropRole = await createReadOnlyUser(dst, role);
        try {
          const url = (user: string, password?: string) =>
            kind === 'mysql'
              ? `{ type: mysql, url: "mysql://${user}${password ? `:${password}` : ''}@127.0.0.1:3306/${database}" }`
              : `{ type: postgres, url: "postgres://${user}${password ? `:${password}` : ''}@127.0.0.1:5432/${database}" }`;
          // PostgreSQL trusts local connections here, so a role that does not exist is its bad login.
          const badLogin = kind === 'mysql' ? url('root', 'wrong-secret-pw') : url(`no_such_role_${randomBytes(3).toString('hex')}`);
          writePipeline(
            dir,
            { src: src.yaml, dst: dst.yaml, badlogin: badLogin, readonly: url(role, kind === 'mysql' ? 'ro-pass' : undefined) },
            `  bad_login:
    source: { connection: src, table: users }
    target: { connection: badlogin, table: users_a, mode: append }
  missing_source:
    source: { connection: src, table: no_such_table }
    target: { connection: dst, table: users_b, mode: append }
  missing_target:
    source: { connection: src, table: users }
    target: { connection: dst, table: no_such_target, mode: append, create: never }
  denied:
    source: { connection: src, table: users }
    target: { connection: readonly, table: users, mode: append }
`,
            // If any of these were retried, the run would take minutes and show more than one attempt.
            '{ retries: 3, retry_delay: 60s }',
          );
          const started = Date.now();
          const r = await startPigeon(RUN, { cwd: dir }).done;
          assert.equal(r.code, 1, r.stderr);
          assert.ok(Date.now() - started < 30_000, 'nothing waited for a retry');
          const s = await status(dir);
          const expect: Record<string, { code: string; names: RegExp }> = {
            bad_login: { code: 'CONNECT_FAILED', names: kind === 'mysql' ? /access denied/i : /role .* does not exist/i },
            missing_source: { code: 'SOURCE_NOT_FOUND', names: /no_such_table/ },
            missing_target: { code: 'IMPORT_FAILED', names: /no_such_target/ },
            denied: { code: 'IMPORT_FAILED', names: /denied/i },
          };
          for (const [name, want] of Object.entries(expect)) {
            const n = nodeOf(s, name);
            assert.equal(n.state, 'failed', name);
            assert.equal(n.attempts, 1, `${name}: not retried`);
            assert.equal(n.error?.code, want.code, `${name}: ${n.error?.message}`);
            assert.notEqual(n.error?.transient, true, `${name}: recorded as permanent`);
            assert.match(n.error!.message, want.names, `${name}: the message says what is wrong`);
          }
          assert.equal(nodeOf(s, 'bad_login').error?.location?.['connection'], 'badlogin', 'the failing connection is named');
          assert.ok(!r.stderr.includes('wrong-secret-pw') && !r.stdout.includes('wrong-secret-pw'), 'the password is not shown');
          assert.ok(!logLines(r.stderr).some((l) => l.event === 'node_retry'), 'no retry was scheduled');
          assert.deepEqual(await targetRows(dst), [], 'the target is unchanged');
          assert.deepEqual(await pigeonTempTables(dst), []);
        } finally {
          await dropRole();
        }
      });
    });
  });
}

/** A login that may read but not write or create anything in `db`; returns its clean-up. */
async function createReadOnlyUser(db: EngineDb, name: string): Promise<() => Promise<void>> {
  const database = dbName(db);
  if (db.kind === 'mysql') {
    const hosts = ['%', 'localhost', '127.0.0.1'];
    for (const h of hosts) {
      await db.exec(`CREATE USER '${name}'@'${h}' IDENTIFIED BY 'ro-pass'`);
      await db.exec(`GRANT SELECT ON \`${database}\`.* TO '${name}'@'${h}'`);
    }
    return async () => {
      for (const h of hosts) await db.exec(`DROP USER IF EXISTS '${name}'@'${h}'`).catch(() => {});
    };
  }
  await db.exec(`CREATE ROLE ${name} LOGIN`);
  await db.exec(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
  await db.exec(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${name}`);
  return async () => {
    // The role owns nothing; its grants go with the database, which the caller drops after this.
    await db.exec(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${name}`).catch(() => {});
    const admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
    await admin.connect();
    try {
      // Dropped after the test's database is gone would be cleaner, but withServers drops it later: retry then.
      await admin.query(`DROP ROLE IF EXISTS ${name}`).catch(async () => {
        await db.exec(`DROP OWNED BY ${name}`).catch(() => {});
        await admin.query(`DROP ROLE IF EXISTS ${name}`).catch(() => {});
      });
    } finally {
      await admin.end();
    }
  };
}

for (const kind of SERVERS) {
  test(`${kind}: a real deadlock error, as the driver reports it, is classified transient (so the node is retried)`, async () => {
    const t = tempDir('pigeon-rel-deadlock-');
    const db = await createDb(kind, t.dir);
    const a = await openSession(db);
    const b = await openSession(db);
    try {
      await db.exec(`CREATE TABLE d (id INTEGER PRIMARY KEY, v INTEGER)`);
      await db.exec(`INSERT INTO d VALUES (1, 0), (2, 0)`);
      const upd = (id: number) => `UPDATE d SET v = v + 1 WHERE id = ${id}`;
      await a.exec('BEGIN');
      await b.exec('BEGIN');
      await a.exec(upd(1));
      await b.exec(upd(2));
      // Each waits for the other's row: the server picks a victim.
      const results = await Promise.allSettled([a.exec(upd(2)), b.exec(upd(1))]);
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(failed.length, 1, 'one session was chosen as the deadlock victim');
      const err = failed[0]!.reason as { code?: string };
      assert.equal(err.code, kind === 'mysql' ? 'ER_LOCK_DEADLOCK' : '40P01');
      // Each connector knows its own driver's codes: the error it raises from this one is transient.
      const raised = kind === 'mysql' ? mysqlError(err, 'IMPORT_FAILED', {}) : pgError(err, 'IMPORT_FAILED', {}, []);
      assert.equal(raised.transient, true);
      assert.equal(isTransient(raised), true);
      assert.equal(isTransient(new PipelineError('IMPORT_FAILED', 'wrapped', { cause: raised })), true, 'also when wrapped');
    } finally {
      await a.exec('ROLLBACK').catch(() => {});
      await b.exec('ROLLBACK').catch(() => {});
      await a.close();
      await b.close();
      await db.drop().catch(() => {});
      t.cleanup();
    }
  });
}
