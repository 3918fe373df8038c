/**
 * Hangs and leftovers that independent fault trials found (issue 16, items 1–4 and 11): a server that kills or
 * freezes a session, a damaged staging file, a cancelled statement. Faults that stop a server run against a
 * MariaDB of the test's own, never the shared one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb } from '../support/engines.js';
import { startPrivateMariadb } from '../support/private-mariadb.js';
import { nodeOf, openSession, startPigeon, status, waitFor } from '../support/reliability.js';

/** `SELECT i FROM … ` for i = 1..n, from digits (MariaDB limits recursive CTEs). */
function numbers(n: number): string {
  const digit = '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';
  const parts = Array.from({ length: 6 }, (_, k) => `${digit} AS d${k}`);
  const sum = Array.from({ length: 6 }, (_, k) => `d${k}.d * ${10 ** k}`).join(' + ');
  return `SELECT i FROM (SELECT ${sum} + 1 AS i FROM ${parts.join(' CROSS JOIN ')}) AS n WHERE i <= ${n}`;
}

test('a MySQL export session killed by the server fails the attempt at once, and the retry succeeds', async () => {
  const t = tempDir('pigeon-kill-export-');
  const src = await createDb('mysql', t.dir);
  const admin = await openSession(src);
  try {
    await src.exec(`CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(200))`);
    await src.exec(`INSERT INTO big SELECT i, REPEAT('p', 200) FROM (${numbers(300000)}) AS s`);
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1
name: killed
connections:
  src: ${src.yaml}
  out: { type: file, dir: out }
defaults: { retries: 1, retry_delay: 100ms, timeout: 10m }
nodes:
  big:
    source: { connection: src, query: "select b.id, b.pad, sleep(0) as z from big b" }
    target: { connection: out, table: big, mode: overwrite }
`,
    );
    const running = startPigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
    let killed = '';
    await waitFor('the export query', async () => {
      const rows = await admin.exec(`SELECT id FROM information_schema.processlist WHERE info LIKE '%sleep(0) as z%' AND info NOT LIKE '%processlist%' AND info NOT LIKE '%LIMIT 0%'`);
      killed = rows.length > 0 ? String(rows[0]![0]) : '';
      return killed !== '';
    });
    const killedAt = Date.now();
    await admin.exec(`KILL ${killed}`);
    const r = await running.done;
    assert.equal(r.code, 0, r.stderr);
    const node = nodeOf(await status(t.dir), 'big');
    assert.equal(node.attempts, 2, 'the lost session failed the first attempt, which was retried');
    assert.ok(Date.now() - killedAt < 60_000, 'the run did not wait for its 10 minute timeout');
  } finally {
    await admin.close();
    await src.drop().catch(() => {});
    t.cleanup();
  }
});

test('a server frozen mid-export: the attempt times out, and the process exits with the run', async () => {
  const t = tempDir('pigeon-frozen-');
  const server = await startPrivateMariadb();
  try {
    const c = await server.connect();
    await c.query(`CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(200))`);
    await c.query(`INSERT INTO big SELECT i, REPEAT('p', 200) FROM (${numbers(300000)}) AS s`);
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1
name: frozen
connections:
  src: ${server.yaml}
  out: { type: file, dir: out }
defaults: { retries: 0, timeout: 4s }
nodes:
  big:
    source: { connection: src, query: "select b.id, b.pad, sleep(0) as z from big b" }
    target: { connection: out, table: big, mode: overwrite }
`,
    );
    const running = startPigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
    await waitFor('the export query', async () => {
      const [rows] = await c.query(`SELECT id FROM information_schema.processlist WHERE info LIKE '%sleep(0) as z%' AND info NOT LIKE '%processlist%'`);
      return (rows as unknown[]).length > 0;
    });
    await c.end();
    server.pause();
    const started = Date.now();
    const r = await Promise.race([running.done, new Promise<'alive'>((res) => setTimeout(() => res('alive'), 60_000))]);
    server.resume();
    if (r === 'alive') running.child.kill('SIGKILL');
    assert.notEqual(r, 'alive', 'pigeon exited on its own while the server was frozen');
    assert.equal((r as { code: number }).code, 1);
    assert.ok(Date.now() - started < 45_000, `exited ${Date.now() - started} ms after the freeze`);
    assert.equal(nodeOf(await status(t.dir), 'big').error?.code, 'TIMEOUT');
  } finally {
    await server.stop();
    t.cleanup();
  }
});

for (const compress of ['gzip', 'none'] as const) {
  test(`a staged chunk damaged before a retry is exported again, with a warning (${compress})`, async () => {
    const t = tempDir('pigeon-damaged-');
    const src = await createDb('postgres', t.dir);
    const dst = await createDb('postgres', t.dir);
    try {
      await src.exec(`CREATE TABLE s AS SELECT i AS id, md5(i::text) AS v FROM generate_series(1, 20000) AS i`);
      writeFileSync(
        join(t.dir, 'p.yaml'),
        `version: 1
name: damaged
connections:
  src: ${src.yaml}
  dst: ${dst.yaml}
staging: { compress: ${compress} }
defaults: { retries: 0 }
nodes:
  s:
    source: { connection: src, table: s, split: { column: id, chunks: 4 } }
    target: { connection: dst, table: s, mode: overwrite }
`,
      );
      const crashed = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir, env: { PIGEON_CRASH_AT: 's:chunk:4' } });
      assert.equal(crashed.signal, 'SIGKILL');
      const area = join(t.dir, '.pigeon/staging/damaged');
      const lineage = readdirSync(area)[0]!;
      const dir = join(area, lineage, 's');
      // A chunk the checkpoint records as exported (others may have been cut off mid-write by the kill).
      const checkpoint = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { chunks: { file: string; done: boolean }[] };
      const chunk = checkpoint.chunks.find((c) => c.done)!.file;
      const bytes = readFileSync(join(dir, chunk));
      // Bytes changed in the middle of the file: same size, other content.
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      bytes[Math.floor(bytes.length / 2) + 7] ^= 0x55;
      writeFileSync(join(dir, chunk), bytes);
      const r = await pigeon(['retry', '--progress', '0'], { cwd: t.dir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr + r.stdout, /does not match the checksum/);
      assert.deepEqual(await dst.rows(`SELECT count(*), sum(id), max(v) FROM s`), await src.rows(`SELECT count(*), sum(id), max(v) FROM s`));
    } finally {
      await src.drop().catch(() => {});
      await dst.drop().catch(() => {});
      t.cleanup();
    }
  });
}

test('a PostgreSQL export cancelled by pg_cancel_backend is retried like a killed MySQL query', async () => {
  const t = tempDir('pigeon-cancel-');
  const src = await createDb('postgres', t.dir);
  const admin = await openSession(src);
  try {
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1
name: cancelled
connections:
  src: ${src.yaml}
  out: { type: file, dir: out }
defaults: { retries: 1, retry_delay: 100ms }
nodes:
  slow:
    source: { connection: src, query: "select i, pg_sleep(0.002) as z from generate_series(1, 1500) as i" }
    target: { connection: out, table: slow, mode: overwrite }
`,
    );
    const running = startPigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
    await waitFor('the export query', async () => {
      const rows = await admin.exec(`SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY%pg_sleep%' AND state = 'active'`);
      if (rows.length === 0) return false;
      await admin.exec(`SELECT pg_cancel_backend(${Number(rows[0]![0])})`);
      return true;
    });
    const r = await running.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(nodeOf(await status(t.dir), 'slow').attempts, 2);
  } finally {
    await admin.close();
    await src.drop().catch(() => {});
    t.cleanup();
  }
});

test('many chunks at once print no MaxListenersExceededWarning; `pigeon runs` shows a killed run as interrupted', async () => {
  const t = tempDir('pigeon-listeners-');
  const src = await createDb('postgres', t.dir);
  try {
    await src.exec(`CREATE TABLE s AS SELECT i AS id FROM generate_series(1, 5000) AS i`);
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1
name: listeners
connections:
  src: { type: postgres, url: ${JSON.stringify(/url: "([^"]+)"/.exec(src.yaml)![1])}, max_connections: 16 }
  out: { type: file, dir: out }
defaults: { retries: 0 }
nodes:
  s:
    source: { connection: src, table: s, split: { column: id, chunks: 32 } }
    target: { connection: out, table: s, mode: overwrite }
`,
    );
    const r = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /MaxListenersExceededWarning/);
    const killed = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir, env: { PIGEON_CRASH_AT: 's:chunk:1' } });
    assert.equal(killed.signal, 'SIGKILL');
    const runs = await pigeon(['runs'], { cwd: t.dir });
    assert.match(runs.stdout.split('\n').find((l) => l.includes('listeners') && !l.includes('succeeded')) ?? '', /interrupted/);
  } finally {
    await src.drop().catch(() => {});
    t.cleanup();
  }
});

test('a commit that times out waiting for a lock on the target says so', async () => {
  const t = tempDir('pigeon-lock-timeout-');
  const src = await createDb('postgres', t.dir);
  const dst = await createDb('postgres', t.dir);
  const holder = await openSession(dst);
  try {
    await src.exec(`CREATE TABLE s AS SELECT i AS id FROM generate_series(1, 100) AS i`);
    await dst.exec(`CREATE TABLE s (id int)`);
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1
name: locked
connections:
  src: ${src.yaml}
  dst: ${dst.yaml}
defaults: { retries: 0, timeout: 3s }
nodes:
  s:
    source: { connection: src, table: s }
    target: { connection: dst, table: s, mode: append }
`,
    );
    // Readers pass, writers wait: the load fills its staging table and then blocks in the commit.
    await holder.exec('BEGIN');
    await holder.exec('LOCK TABLE s IN SHARE ROW EXCLUSIVE MODE');
    const r = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: t.dir });
    assert.equal(r.code, 1);
    const node = nodeOf(await status(t.dir), 's');
    assert.equal(node.error?.code, 'TIMEOUT');
    assert.match(node.error?.message ?? '', /while committing into s/);
    assert.match(r.stderr, /lock/);
  } finally {
    await holder.exec('ROLLBACK').catch(() => {});
    await holder.close();
    await src.drop().catch(() => {});
    await dst.drop().catch(() => {});
    t.cleanup();
  }
});
