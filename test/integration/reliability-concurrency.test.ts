/**
 * One run of a pipeline at a time, with real processes: a run is held inside its import by a lock the test takes on
 * the PostgreSQL target table, so "while one runs" is a fact, not a race against a timer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { acquireLock } from '../../src/state/lock.js';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb, type EngineDb } from '../support/engines.js';
import { leftoverFiles, openSession, otherSessions, pigeonTempTables, sessionsWaitingOnLock, startPigeon, status, waitFor, type RunningPigeon } from '../support/reliability.js';

const DEAD_PID = 2 ** 22 + 4321;

async function withTarget(fn: (dst: EngineDb, dir: string) => Promise<void>): Promise<void> {
  const t = tempDir('pigeon-rel-conc-');
  const dst = await createDb('postgres', t.dir);
  const src = await createDb('sqlite', t.dir);
  try {
    await src.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`);
    for (let i = 1; i <= 200; i++) await src.exec(`INSERT INTO users VALUES (?, ?)`, [i, `user ${i}`]);
    await dst.exec(`CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT)`);
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1\nname: conc\nconnections:\n  src: ${src.yaml}\n  dst: ${dst.yaml}\ndefaults: { retries: 0 }\nnodes:\n  users:\n    source: { connection: src, table: users }\n    target: { connection: dst, table: users, mode: overwrite }\n`,
    );
    await fn(dst, t.dir);
  } finally {
    await src.drop().catch(() => {});
    await dst.drop().catch(() => {});
    t.cleanup();
  }
}

/** Holds an ACCESS EXCLUSIVE lock on the target table until released: a run blocks in its import. */
async function holdTarget(dst: EngineDb): Promise<() => Promise<void>> {
  const s = await openSession(dst);
  await s.exec('BEGIN');
  await s.exec('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  return async () => {
    await s.exec('ROLLBACK').catch(() => {});
    await s.close();
  };
}

async function startBlocked(dst: EngineDb, dir: string): Promise<RunningPigeon> {
  const p = startPigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir });
  await waitFor('the run to block on the target table', async () => (await sessionsWaitingOnLock(dst)).length > 0);
  return p;
}

async function users(dst: EngineDb): Promise<number> {
  return Number((await dst.rows('SELECT COUNT(DISTINCT id) * 1000 + COUNT(*) FROM users'))[0]![0]);
}

test('a second pigeon run while one runs exits 4 naming the running process, records nothing, and the first finishes', async () => {
  await withTarget(async (dst, dir) => {
    const release = await holdTarget(dst);
    let first: RunningPigeon | undefined;
    try {
      first = await startBlocked(dst, dir);
      const running = await status(dir);
      assert.equal(running.run.status, 'running');
      const second = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir });
      assert.equal(second.code, 4, second.stderr);
      // The message must name the process that holds the lock, so an operator can find it.
      assert.match(second.stderr, new RegExp(`pid ${first.child.pid}\\b`));
      assert.match(second.stderr, new RegExp(running.run.id));
      assert.equal((await status(dir)).run.id, running.run.id, 'the refused run left no run record');
      // retry is refused the same way.
      assert.equal((await pigeon(['retry', '--progress', '0'], { cwd: dir })).code, 4);
    } finally {
      await release();
    }
    const done = await first!.done;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(await users(dst), 200 * 1000 + 200);
    assert.equal((await status(dir)).run.status, 'succeeded');
    assert.ok(!existsSync(join(dir, '.pigeon/locks/conc.lock')), 'lock released');
  });
});

test('the lock of a SIGKILLed run is taken over by the next run, which succeeds and releases it', async () => {
  await withTarget(async (dst, dir) => {
    const release = await holdTarget(dst);
    let killed;
    try {
      const p = await startBlocked(dst, dir);
      p.child.kill('SIGKILL');
      killed = await p.done;
    } finally {
      await release();
    }
    assert.equal(killed.signal, 'SIGKILL');
    const lockFile = join(dir, '.pigeon/locks/conc.lock');
    const stale = JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number; run_id: string };
    await waitFor('the killed run’s session to end', async () => (await otherSessions(dst)) === 0);
    const retry = await pigeon(['retry', '--progress', '0', '--log-format', 'json'], { cwd: dir });
    assert.equal(retry.code, 0, retry.stderr);
    const warnings = retry.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; message: string });
    assert.ok(
      warnings.some((w) => w.level === 'warn' && w.message.includes(stale.run_id) && w.message.includes(String(stale.pid))),
      'the takeover is logged with the dead run and pid',
    );
    assert.equal(await users(dst), 200 * 1000 + 200);
    assert.ok(!existsSync(lockFile), 'lock released');
    assert.deepEqual(await pigeonTempTables(dst), []);
    assert.deepEqual(leftoverFiles(dir), []);
  });
});

test('runs started together over a stale lock: exactly one takes it over, the others exit 4', async () => {
  await withTarget(async (dst, dir) => {
    for (let round = 0; round < 3; round++) {
      mkdirSync(join(dir, '.pigeon/locks'), { recursive: true });
      writeFileSync(join(dir, '.pigeon/locks/conc.lock'), JSON.stringify({ pid: DEAD_PID, host: hostname(), run_id: `R${round}`, started_at: new Date().toISOString() }));
      const release = await holdTarget(dst);
      const runs = Array.from({ length: 4 }, () => startPigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir }));
      const refused: number[] = [];
      try {
        // The losers exit while the winner is held in its import.
        await waitFor('three runs to be refused', () => runs.filter((r) => r.child.exitCode !== null).length >= 3, 30_000);
        for (const r of runs) if (r.child.exitCode !== null) refused.push(r.child.exitCode);
        await waitFor('the winner to block on the target', async () => (await sessionsWaitingOnLock(dst)).length > 0);
      } catch (e) {
        // Leave no process behind writing into a directory that is about to be removed.
        for (const r of runs) if (r.child.exitCode === null) r.child.kill('SIGKILL');
        throw e;
      } finally {
        await release();
      }
      const results = await Promise.all(runs.map((r) => r.done));
      assert.deepEqual(refused, [4, 4, 4], `round ${round}: ${results.map((r) => r.stderr).join('\n---\n')}`);
      assert.deepEqual(results.map((r) => r.code).sort(), [0, 4, 4, 4], `round ${round}`);
      assert.equal(await users(dst), 200 * 1000 + 200);
    }
  });
});

test('acquireLock: of many takeovers of one stale lock in flight at once, exactly one wins', async () => {
  const t = tempDir('pigeon-rel-lock-');
  try {
    for (let round = 0; round < 40; round++) {
      const path = join(t.dir, `r${round}.lock`);
      writeFileSync(path, JSON.stringify({ pid: DEAD_PID, host: hostname(), run_id: 'R0', started_at: '' }));
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => acquireLock(path, `R${i + 1}`)));
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, `round ${round}: ${won.length} winners`);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'LOCKED');
    }
    assert.deepEqual(leftoverFiles(t.dir), [], 'no temp file of the lock left');
  } finally {
    t.cleanup();
  }
});
