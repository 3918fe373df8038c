/**
 * Incremental nodes whose target lost its rows, full refreshes and the state commands (issue 13): a watermark must
 * never silently describe data that is gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pigeon, tempDir } from '../support/cli.js';
import { createDb, type EngineDb } from '../support/engines.js';

interface Status {
  nodes: { node: string; state: string; rows_imported?: number; note?: string; error?: { code: string; message: string } }[];
}

async function status(dir: string): Promise<Status> {
  return JSON.parse((await pigeon(['status', '--format', 'json'], { cwd: dir })).stdout) as Status;
}

async function withSetup(extraNode: string, fn: (src: EngineDb, dst: EngineDb, dir: string, run: (...args: string[]) => Promise<Status>) => Promise<void>): Promise<void> {
  const t = tempDir('pigeon-refresh-');
  const src = await createDb('mysql', t.dir);
  const dst = await createDb('postgres', t.dir);
  try {
    await src.exec('CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2), updated_at DATETIME(6) NOT NULL)');
    const values = Array.from({ length: 2000 }, (_, i) => `(${i + 1}, ${(i % 97) + 0.5}, '2026-01-01 00:00:00' + INTERVAL ${i} SECOND)`);
    await src.exec(`INSERT INTO orders VALUES ${values.join(', ')}`);
    writeFileSync(
      join(t.dir, 'p.yaml'),
      `version: 1
name: refresh
connections:
  src: ${src.yaml}
  dw: ${dst.yaml}
defaults: { retries: 0 }
nodes:
  orders:
    source: { connection: src, table: orders }
    incremental: { column: updated_at, strategy: watermark }
    target: { connection: dw, table: orders, mode: merge, key: [id] }
  ids:
    source: { connection: src, table: orders, columns: [id] }
    incremental: { column: id, strategy: watermark }
    target: { connection: dw, table: order_ids, mode: append }
${extraNode}`,
    );
    const run = async (...args: string[]) => {
      await pigeon(['run', 'p.yaml', '--progress', '0', ...args], { cwd: t.dir });
      return status(t.dir);
    };
    await fn(src, dst, t.dir, run);
  } finally {
    await src.drop().catch(() => {});
    await dst.drop().catch(() => {});
    t.cleanup();
  }
}

const count = async (db: EngineDb, table: string) => Number((await db.rows(`SELECT COUNT(*) FROM ${table}`))[0]![0]);

test('a dropped target fails the next incremental load clearly; --full-refresh loads every row again', async () => {
  await withSetup('', async (src, dst, dir, run) => {
    let s = await run();
    assert.deepEqual(s.nodes.map((n) => n.state), ['succeeded', 'succeeded']);
    await src.exec(`INSERT INTO orders VALUES (2001, 1.00, '2026-02-01 00:00:00')`);
    await dst.exec('DROP TABLE orders');
    await dst.exec('DELETE FROM order_ids');

    s = await run();
    for (const n of s.nodes) {
      assert.equal(n.state, 'failed', n.node);
      assert.equal(n.error?.code, 'TARGET_MISSING', n.node);
      assert.match(n.error?.message ?? '', /missing|empty/);
    }
    const rendered = await pigeon(['run', 'p.yaml', '--progress', '0'], { cwd: dir });
    assert.match(rendered.stderr, /--full-refresh/, 'the error says how to recover');

    s = await run('--full-refresh', '-s', 'orders');
    assert.equal(s.nodes.find((n) => n.node === 'orders')?.state, 'succeeded');
    assert.equal(await count(dst, 'orders'), 2001);
    s = await run('--full-refresh', '-s', 'ids');
    assert.equal(await count(dst, 'order_ids'), 2001);

    // The watermarks moved with the full load: the next run finds nothing new, and a full refresh of an append
    // node replaces its target rather than adding to it.
    s = await run();
    assert.deepEqual(s.nodes.map((n) => n.state), ['succeeded', 'succeeded']);
    assert.equal(await count(dst, 'orders'), 2001);
    assert.equal(await count(dst, 'order_ids'), 2001);
    s = await run('--full-refresh');
    assert.equal(await count(dst, 'order_ids'), 2001, 'no row twice');
  });
});

test('pigeon state ls shows the watermarks; state reset forgets one node, whose next run loads from the start', async () => {
  await withSetup('', async (_src, dst, dir, run) => {
    await run();
    const ls = await pigeon(['state', 'ls', 'p.yaml'], { cwd: dir });
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /orders\s.*updated_at = 2026-01-01 00:33:19/);
    assert.match(ls.stdout, /ids\s.*id = 2000/);
    const reset = await pigeon(['state', 'reset', 'p.yaml', 'ids'], { cwd: dir });
    assert.equal(reset.code, 0, reset.stderr);
    const show = JSON.parse((await pigeon(['state', 'show', 'p.yaml'], { cwd: dir })).stdout) as { node: string; watermark?: unknown }[];
    assert.equal(show.find((n) => n.node === 'ids')?.watermark, undefined);
    assert.notEqual(show.find((n) => n.node === 'orders')?.watermark, undefined);
    await dst.exec('DELETE FROM order_ids');
    const s = await run();
    assert.deepEqual(s.nodes.map((n) => n.state), ['succeeded', 'succeeded']);
    assert.equal(await count(dst, 'order_ids'), 2000, 'the reset node loaded from the start');
  });
});
