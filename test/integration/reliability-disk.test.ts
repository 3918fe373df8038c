/**
 * The staging directory full, read-only or not a directory: the node fails with STAGING_FAILED and a message that
 * names the staging path and the reason, the target keeps its rows, and no partial or temp file stays behind.
 * A full and a read-only disk are real: a 256 KiB tmpfs mounted on the staging directory (skipped where mounting
 * is not permitted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb, type EngineDb, type EngineKind } from '../support/engines.js';
import { leftoverFiles, nodeOf, pigeonTempTables, status } from '../support/reliability.js';

const ROWS = 3000;

async function withPipeline(target: EngineKind, stagingDir: string, fn: (dir: string, dst: EngineDb) => Promise<void>): Promise<void> {
  const t = tempDir('pigeon-rel-disk-');
  const src = await createDb('sqlite', t.dir);
  const dst = await createDb(target, t.dir);
  try {
    // About 600 KB of CSV: more than the small disk holds.
    await src.exec(`CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT)`);
    await src.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS}) INSERT INTO docs SELECT i, printf('%0200d', i) FROM n`);
    await dst.exec(`CREATE TABLE docs (id BIGINT PRIMARY KEY, body TEXT)`);
    await dst.exec(`INSERT INTO docs VALUES (1, 'kept'), (2, 'kept too')`);
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1\nname: disk\nconnections:\n  src: ${src.yaml}\n  dst: ${dst.yaml}\nstaging: { dir: ${JSON.stringify(stagingDir)} }\ndefaults: { retries: 2, retry_delay: 100ms }\nnodes:\n  docs:\n    source: { connection: src, table: docs, split: { column: id, chunks: 3 } }\n    target: { connection: dst, table: docs, mode: overwrite }\n`,
    );
    await fn(t.dir, dst);
  } finally {
    await src.drop().catch(() => {});
    await dst.drop().catch(() => {});
    t.cleanup();
  }
}

async function assertFailedCleanly(dir: string, dst: EngineDb, stagingPath: string, reason: RegExp): Promise<void> {
  const r = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir });
  assert.equal(r.code, 1, r.stderr);
  const node = nodeOf(await status(dir), 'docs');
  assert.equal(node.state, 'failed');
  assert.equal(node.error?.code, 'STAGING_FAILED', node.error?.message);
  assert.equal(node.attempts, 1, 'a disk problem is not retried');
  assert.ok(node.error!.message.includes(stagingPath), `the message names the staging path: ${node.error!.message}`);
  assert.match(node.error!.message, reason);
  assert.ok(r.stderr.includes(stagingPath), 'and so does the printed error');
  const rows = await dst.rows(`SELECT id, body FROM docs ORDER BY id`);
  assert.deepEqual(rows.map((x) => `${String(x[0])}|${String(x[1])}`), ['1|kept', '2|kept too'], 'the target is unchanged');
  assert.deepEqual(await pigeonTempTables(dst), []);
  assert.deepEqual(leftoverFiles(dir), [], 'no partial or temp file left');
}

function mount(args: readonly string[]): boolean {
  return spawnSync('mount', args, { stdio: 'ignore' }).status === 0;
}

function umount(path: string): void {
  spawnSync('umount', ['-l', path], { stdio: 'ignore' });
}

test('the staging directory is a file: STAGING_FAILED naming it, the target unchanged', async () => {
  for (const kind of ['mysql', 'postgres'] as const) {
    await withPipeline(kind, 'blocker/staging', async (dir, dst) => {
      writeFileSync(join(dir, 'blocker'), 'a file where a directory should be\n');
      await assertFailedCleanly(dir, dst, join(dir, 'blocker'), /not a directory|ENOTDIR/i);
    });
  }
});

test('the staging disk is full: STAGING_FAILED saying so, partial chunks removed, retry after freeing space finishes', async (ctx) => {
  await withPipeline('postgres', 'small', async (dir, dst) => {
    const disk = join(dir, 'small');
    mkdirSync(disk);
    if (!mount(['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', disk])) return ctx.skip('mounting a tmpfs is not permitted here');
    try {
      await assertFailedCleanly(dir, dst, disk, /no space left|ENOSPC/i);
    } finally {
      umount(disk);
    }
    // Space again (the small disk is gone): retry exports what it could not and loads everything once.
    const retry = await pigeon(['retry', '--progress', '0'], { cwd: dir });
    assert.equal(retry.code, 0, retry.stderr);
    const count = await dst.rows(`SELECT COUNT(*), COUNT(DISTINCT id) FROM docs`);
    assert.deepEqual(count[0]!.map(Number), [ROWS, ROWS]);
    assert.deepEqual(leftoverFiles(dir), []);
  });
});

test('the staging disk is read-only: STAGING_FAILED saying so, the target unchanged', async (ctx) => {
  await withPipeline('mysql', 'ro', async (dir, dst) => {
    const disk = join(dir, 'ro');
    mkdirSync(disk);
    if (!mount(['-t', 'tmpfs', '-o', 'size=256k,ro', 'tmpfs', disk])) return ctx.skip('mounting a tmpfs is not permitted here');
    try {
      await assertFailedCleanly(dir, dst, disk, /read-only|EROFS/i);
    } finally {
      umount(disk);
    }
  });
});
